//! The Rollcall server: command line, configuration, the embedded PostgreSQL cluster, and the
//! axum application that serves the Leptos UI, its server functions and the auth routes.

pub mod cli;
pub mod config;
pub mod embedded_pg;
pub mod http;
pub mod mailer;
pub mod startup;
pub mod telemetry;

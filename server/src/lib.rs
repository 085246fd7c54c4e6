//! The Rollcall server: command line (`cli`, `config`), the embedded PostgreSQL cluster
//! (`embedded_pg`), the HTTP surface (`http`: pages, server functions, `/auth`, health,
//! static files), background workers (`workers`) and the SMTP client they deliver mail with
//! (`smtp`); `startup` assembles them.

pub mod cli;
pub mod config;
pub mod embedded_pg;
pub mod http;
pub mod scim;
pub mod smtp;
pub mod startup;
pub mod telemetry;
pub mod workers;

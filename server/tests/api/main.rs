//! Integration tests: the real server on port 0 against a fresh PostgreSQL database per test.

mod helpers;
mod mail_server;

mod auth;
mod cli;
mod health_and_static;
mod hostile_input;
mod invites;
mod scale_out;
mod static_files;
mod users;

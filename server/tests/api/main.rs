//! Integration tests: the real server on port 0 against a fresh PostgreSQL database per test.

mod helpers;
mod mail_server;

mod auth;
mod cli;
mod directory_fetch;
mod directory_import;
mod health_and_static;
mod hostile_input;
mod invites;
mod plain_pages;
mod provider_sign_in;
mod scale_out;
mod scim;
mod security_cookies;
mod security_embedded_database;
mod security_malformed_bodies;
mod security_password_hashing;
mod security_same_origin_writes;
mod security_sign_in;
mod static_files;
mod users;

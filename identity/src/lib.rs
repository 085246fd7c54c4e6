//! The identity engine: everything Rollcall knows about organisations, people and how they
//! sign in, with no knowledge of HTTP or Leptos. The `server` crate adapts requests to it and
//! the `app` crate's server functions call it.
//!
//! One folder per feature, each with a module doc: `db` (pool, migrations, paging, column
//! tables, the read lane), `secrets`, `orgs`, `users`, `sessions`, `auth`, `invites`, `mail`,
//! `jobs`, `audit`; and `error`, the one error type of this layer.

pub mod access_links;
pub mod audit;
pub mod auth;
pub mod db;
pub mod directory;
pub mod error;
pub mod identities;
pub mod integrations;
pub mod invites;
pub mod jobs;
pub mod mail;
pub mod orgs;
pub mod providers;
pub mod scim;
pub mod secrets;
pub mod sessions;
pub mod users;

pub use db::Db;
pub use error::{Error, Result};
pub use users::EmailAddress;

//! The identity engine: everything Rollcall knows about organisations, people and how they
//! sign in, with no knowledge of HTTP or Leptos. The `server` crate adapts requests to it and
//! the `app` crate's server functions call it.

pub mod audit;
pub mod auth;
pub mod db;
pub mod email;
pub mod error;
pub mod invites;
pub mod mail;
pub mod orgs;
pub mod outbox;
pub mod password;
pub mod secret_key;
pub mod sessions;
pub mod throttle;
pub mod token;
pub mod users;

pub use db::Db;
pub use email::EmailAddress;
pub use error::{Error, Result};

//! Secrets: random bearer tokens stored only as digests (`token`), the server's secret key that
//! one-time links are derived from (`secret_key`), password policy and hashing (`password`), and
//! secrets Rollcall must read back, sealed at rest (`sealed`: providers' directory tokens). Every secret value is held in a redacting type, so `Debug` and logs never show
//! it; code that needs the value says so with `expose_secret()`.

pub mod password;
pub mod sealed;
pub mod secret_key;
pub mod token;

pub use secrecy::{ExposeSecret, SecretString};
pub use secret_key::SecretKey;
pub use token::Secret;

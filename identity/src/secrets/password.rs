//! Password policy and argon2id hashing. Hashing is CPU-heavy, so callers run it on the
//! blocking pool.

use crate::error::{Error, Result};
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use std::sync::OnceLock;

pub const MIN_LENGTH: usize = 10;
/// Long enough for any passphrase; short enough that hashing cannot be used to burn CPU.
pub const MAX_LENGTH: usize = 256;

fn hasher() -> Argon2<'static> {
    // OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19 * 1024, 2, 1, None).expect("valid argon2 params"),
    )
}

pub fn check_policy(password: &str) -> Result<()> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(Error::invalid(
            "password",
            format!("Use at least {MIN_LENGTH} characters."),
        ));
    }
    if password.len() > MAX_LENGTH {
        return Err(Error::invalid(
            "password",
            format!("Use at most {MAX_LENGTH} characters."),
        ));
    }
    if password.trim().is_empty() {
        return Err(Error::invalid("password", "A password cannot be only spaces."));
    }
    Ok(())
}

pub async fn hash(password: SecretString) -> Result<String> {
    check_policy(password.expose_secret())?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(e.to_string()))
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?
}

/// Verifies `password` against `stored`; with no stored hash, verifies against a fixed dummy so
/// that unknown accounts take as long as known ones.
pub async fn verify(password: SecretString, stored: Option<String>) -> bool {
    if password.expose_secret().len() > MAX_LENGTH {
        return false;
    }
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| dummy_hash().to_owned());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        hasher()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok()
            && known
    })
    .await
    .unwrap_or(false)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(b"rollcall-timing-equaliser", &salt)
            .expect("hash dummy")
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hashed_password_verifies_and_a_wrong_one_does_not() {
        let stored = hash("correct horse battery".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("correct horse battery".into(), Some(stored.clone())).await);
        assert!(!verify("correct horse battery!".into(), Some(stored)).await);
    }

    #[test]
    fn a_password_never_shows_in_debug_output() {
        let password = SecretString::from("correct horse battery");
        assert!(!format!("{password:?}").contains("horse"));
    }

    #[tokio::test]
    async fn an_account_without_a_password_never_verifies() {
        assert!(!verify("rollcall-timing-equaliser".into(), None).await);
    }

    #[test]
    fn short_and_oversized_passwords_are_refused() {
        assert!(check_policy("short").is_err());
        assert!(check_policy(&"x".repeat(MAX_LENGTH + 1)).is_err());
        assert!(check_policy("long enough pass").is_ok());
    }
}

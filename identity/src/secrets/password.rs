//! Password policy and argon2id hashing. Hashing is CPU-heavy, so callers run it on the
//! blocking pool.

use crate::error::{Error, Result};
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;
use tokio::sync::Semaphore;

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

/// Where argon2 runs: at most one computation per core, so hashing never takes more CPU and
/// memory (19 MiB each) than the machine has, with a bounded queue in front. Past the queue (a
/// flood of sign-ins), new work is refused at once with `Error::Busy` rather than left waiting.
struct HashQueue {
    permits: Semaphore,
    waiting: AtomicUsize,
    max_waiting: usize,
    max_wait: Duration,
}

impl HashQueue {
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::Busy);
        }
        let permit = tokio::time::timeout(self.max_wait, self.permits.acquire()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let _permit = permit
            .map_err(|_| Error::Busy)?
            .map_err(|e| Error::Internal(e.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| Error::Internal(e.to_string()))
    }
}

static HASHERS: LazyLock<HashQueue> = LazyLock::new(|| HashQueue {
    permits: Semaphore::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)),
    waiting: AtomicUsize::new(0),
    max_waiting: 64,
    max_wait: Duration::from_secs(10),
});

async fn on_a_hasher<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    HASHERS.run(work).await
}

#[tracing::instrument(name = "password_hash", skip_all)]
pub async fn hash(password: SecretString) -> Result<String> {
    check_policy(password.expose_secret())?;
    on_a_hasher(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(e.to_string()))
    })
    .await?
}

/// Verifies `password` against `stored`; with no stored hash, verifies against a fixed dummy so
/// that unknown accounts take as long as known ones. `Error::Busy` when no hasher is free.
pub async fn verify(password: SecretString, stored: Option<String>) -> Result<bool> {
    if password.expose_secret().len() > MAX_LENGTH {
        return Ok(false);
    }
    on_a_hasher(move || {
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
        assert!(verify("correct horse battery".into(), Some(stored.clone()))
            .await
            .unwrap());
        assert!(!verify("correct horse battery!".into(), Some(stored)).await.unwrap());
    }

    #[test]
    fn a_password_never_shows_in_debug_output() {
        let password = SecretString::from("correct horse battery");
        assert!(!format!("{password:?}").contains("horse"));
    }

    #[tokio::test]
    async fn an_account_without_a_password_never_verifies() {
        assert!(!verify("rollcall-timing-equaliser".into(), None).await.unwrap());
    }

    #[test]
    fn short_and_oversized_passwords_are_refused() {
        assert!(check_policy("short").is_err());
        assert!(check_policy(&"x".repeat(MAX_LENGTH + 1)).is_err());
        assert!(check_policy("long enough pass").is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_hashing_runs_as_many_at_once_as_allowed_and_refuses_past_the_queue() {
        let queue = std::sync::Arc::new(HashQueue {
            permits: Semaphore::new(1),
            waiting: AtomicUsize::new(0),
            max_waiting: 3,
            max_wait: Duration::from_secs(5),
        });
        let running = std::sync::Arc::new(AtomicUsize::new(0));
        let most = std::sync::Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..10)
            .map(|_| {
                let (queue, running, most) = (queue.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    queue
                        .run(move || {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(30));
                            running.fetch_sub(1, Ordering::SeqCst);
                        })
                        .await
                })
            })
            .collect();
        let mut done = 0;
        let mut busy = 0;
        for handle in handles {
            match handle.await.unwrap() {
                Ok(()) => done += 1,
                Err(Error::Busy) => busy += 1,
                Err(other) => panic!("{other}"),
            }
        }
        assert_eq!(most.load(Ordering::SeqCst), 1, "more ran at once than allowed");
        assert!(
            (1..=4).contains(&done),
            "{done} ran: at most one running and three waiting"
        );
        assert_eq!(done + busy, 10);
    }
}

//! Retrying a directory request: a rate limit waits what the provider's `Retry-After` says
//! (fractional seconds too), other passing failures (5xx, a dropped connection) wait an
//! exponentially growing, jittered time; anything else is returned at once.

use super::fetch::FetchError;
use rand::Rng;
use std::future::Future;
use std::time::Duration;

/// How long to wait between attempts.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_millis(500),
            max: Duration::from_secs(60),
            max_attempts: 8,
        }
    }
}

impl Backoff {
    /// The wait before attempt `attempt` + 1 (0-based) after `error`: the provider's word when it
    /// gave one (never more than `max`), else full jitter over `first × 2^attempt`.
    pub fn wait(&self, attempt: u32, error: &FetchError) -> Duration {
        if let FetchError::RateLimited {
            retry_after: Some(after),
        } = error
        {
            return (*after).min(self.max);
        }
        let ceiling = self
            .first
            .saturating_mul(2u32.saturating_pow(attempt.min(20)))
            .min(self.max);
        let millis = ceiling.as_millis().max(1) as u64;
        Duration::from_millis(rand::thread_rng().gen_range(millis / 2..=millis))
    }
}

/// Runs `request` until it succeeds, fails for good, or has used `backoff.max_attempts`;
/// `waited` hears each wait (to show "rate limited, retrying" while it lasts).
pub async fn with_retries<T, F, Fut>(
    backoff: Backoff,
    mut waited: impl FnMut(&FetchError, Duration),
    mut request: F,
) -> Result<T, FetchError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, FetchError>>,
{
    let mut attempt = 0;
    loop {
        match request().await {
            Ok(value) => return Ok(value),
            Err(err) if err.is_passing() && attempt + 1 < backoff.max_attempts => {
                let wait = backoff.wait(attempt, &err);
                waited(&err, wait);
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

/// Reads `Retry-After`: seconds, possibly fractional (Graph sends `2.128`). HTTP dates are not
/// used by these providers and read as absent.
pub fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    let seconds: f64 = value?.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(3600.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_whole_and_fractional_seconds_and_nothing_else() {
        assert_eq!(parse_retry_after(Some("2")), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(Some(" 2.128 ")), Some(Duration::from_millis(2128)));
        assert_eq!(parse_retry_after(Some("-1")), None);
        assert_eq!(parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(parse_retry_after(None), None);
    }

    #[test]
    fn waits_follow_the_providers_word_or_grow_with_jitter_up_to_the_cap() {
        let backoff = Backoff::default();
        let limited = FetchError::RateLimited {
            retry_after: Some(Duration::from_millis(1500)),
        };
        assert_eq!(backoff.wait(5, &limited), Duration::from_millis(1500));
        let huge = FetchError::RateLimited {
            retry_after: Some(Duration::from_secs(3000)),
        };
        assert_eq!(backoff.wait(0, &huge), backoff.max);
        let failed = FetchError::Transient("503".into());
        for attempt in 0..12 {
            let wait = backoff.wait(attempt, &failed);
            let ceiling = (backoff.first * 2u32.pow(attempt)).min(backoff.max);
            assert!(wait >= ceiling / 2 && wait <= ceiling, "{attempt}: {wait:?}");
        }
    }
}

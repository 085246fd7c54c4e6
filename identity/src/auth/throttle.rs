//! Failed sign-in throttling per account and per client address. Counters live in Postgres so
//! that every app server enforces the same limits.

use crate::error::{Error, Result};
use crate::Db;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub struct ThrottlePolicy {
    pub window_secs: i64,
    pub max_failures_per_account: i32,
    pub max_failures_per_ip: i32,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            window_secs: 15 * 60,
            max_failures_per_account: 10,
            max_failures_per_ip: 50,
        }
    }
}

pub fn account_key(email: &str) -> String {
    format!("account:{}", email.trim().to_lowercase())
}

pub fn ip_key(ip: &str) -> String {
    format!("ip:{ip}")
}

/// Counts an attempt against every key before its password is checked, and refuses when any
/// key is over its limit inside the current window. Counting first, in one statement, means
/// parallel attempts cannot all pass a check made before any of them failed; a sign-in that
/// succeeds takes its own attempt back ([`forgive`]).
#[tracing::instrument(skip_all)]
pub async fn begin_attempt(db: &Db, policy: &ThrottlePolicy, keys: &[(String, i32)]) -> Result<()> {
    let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    let rows: Vec<(String, DateTime<Utc>, i32)> = sqlx::query_as(
        "insert into login_throttle (key, window_started_at, failures)
         select key, now(), 1 from unnest($1::text[]) as k(key)
         on conflict (key) do update set
           failures = case when login_throttle.window_started_at < now() - make_interval(secs => $2) then 1 else login_throttle.failures + 1 end,
           window_started_at = case when login_throttle.window_started_at < now() - make_interval(secs => $2) then now() else login_throttle.window_started_at end
         returning key, window_started_at, failures",
    )
    .bind(&names)
    .bind(policy.window_secs as f64)
    .fetch_all(db)
    .await?;
    let now = Utc::now();
    for (key, started, attempts) in rows {
        let limit = keys
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, l)| *l)
            .unwrap_or(i32::MAX);
        if attempts > limit {
            let elapsed = (now - started).num_seconds();
            return Err(Error::RateLimited {
                retry_after_secs: (policy.window_secs - elapsed).max(1),
            });
        }
    }
    Ok(())
}

/// Takes back the attempt [`begin_attempt`] counted, for a sign-in that succeeded. Only that
/// one: earlier failures (say, someone guessing at the same email in another workspace) still
/// count until their window ends.
#[tracing::instrument(skip_all)]
pub async fn forgive(db: &Db, keys: &[(String, i32)]) -> Result<()> {
    let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    sqlx::query("update login_throttle set failures = greatest(failures - 1, 0) where key = any($1)")
        .bind(&names)
        .execute(db)
        .await?;
    Ok(())
}

/// Refuses when any key is already over its limit in the current window, counting nothing: for
/// attempts whose cost is bounded elsewhere (a provider callback needs a state only a started
/// sign-in has), where a success should cost one read, not a count and its forgiveness.
#[tracing::instrument(skip_all)]
pub async fn check(db: &Db, policy: &ThrottlePolicy, keys: &[(String, i32)]) -> Result<()> {
    let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    let rows: Vec<(String, DateTime<Utc>, i32)> = sqlx::query_as(
        "select key, window_started_at, failures from login_throttle
         where key = any($1) and window_started_at >= now() - make_interval(secs => $2)",
    )
    .bind(&names)
    .bind(policy.window_secs as f64)
    .fetch_all(db)
    .await?;
    let now = Utc::now();
    for (key, started, failures) in rows {
        let limit = keys.iter().find(|(k, _)| *k == key).map_or(i32::MAX, |(_, l)| *l);
        if failures >= limit {
            return Err(Error::RateLimited {
                retry_after_secs: (policy.window_secs - (now - started).num_seconds()).max(1),
            });
        }
    }
    Ok(())
}

/// Counts a failed attempt against every key (after [`check`]).
#[tracing::instrument(skip_all)]
pub async fn count_failure(db: &Db, policy: &ThrottlePolicy, keys: &[(String, i32)]) -> Result<()> {
    match begin_attempt(db, policy, keys).await {
        Ok(()) | Err(Error::RateLimited { .. }) => Ok(()),
        Err(err) => Err(err),
    }
}

/// Housekeeping: windows that ended long ago are forgotten.
pub async fn purge_expired(db: &Db, policy: &ThrottlePolicy) -> Result<u64> {
    Ok(
        sqlx::query("delete from login_throttle where window_started_at < now() - make_interval(secs => $1)")
            .bind(policy.window_secs as f64)
            .execute(db)
            .await?
            .rows_affected(),
    )
}

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

/// Refuses when any key has used up its failures inside the current window.
#[tracing::instrument(skip_all)]
pub async fn check(db: &Db, policy: &ThrottlePolicy, keys: &[(String, i32)]) -> Result<()> {
    let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    let rows: Vec<(String, DateTime<Utc>, i32)> =
        sqlx::query_as("select key, window_started_at, failures from login_throttle where key = any($1)")
            .bind(&names)
            .fetch_all(db)
            .await?;
    let now = Utc::now();
    for (key, started, failures) in rows {
        let limit = keys
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, l)| *l)
            .unwrap_or(i32::MAX);
        let elapsed = (now - started).num_seconds();
        if failures >= limit && elapsed < policy.window_secs {
            return Err(Error::RateLimited {
                retry_after_secs: (policy.window_secs - elapsed).max(1),
            });
        }
    }
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn record_failure(db: &Db, policy: &ThrottlePolicy, key: &str) -> Result<()> {
    sqlx::query(
        "insert into login_throttle (key, window_started_at, failures) values ($1, now(), 1)
         on conflict (key) do update set
           failures = case when login_throttle.window_started_at < now() - make_interval(secs => $2) then 1 else login_throttle.failures + 1 end,
           window_started_at = case when login_throttle.window_started_at < now() - make_interval(secs => $2) then now() else login_throttle.window_started_at end",
    )
    .bind(key)
    .bind(policy.window_secs as f64)
    .execute(db)
    .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn clear(db: &Db, key: &str) -> Result<()> {
    sqlx::query("delete from login_throttle where key = $1")
        .bind(key)
        .execute(db)
        .await?;
    Ok(())
}

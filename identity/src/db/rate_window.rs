//! Usage counted in fixed windows in PostgreSQL, so every app server enforces the same limits
//! (table `rate_windows`, migration 0008).

use crate::error::{Error, Result};
use sqlx::PgConnection;

/// A limit: at most `limit` uses per `window_secs`, named `key`; `used` says what was used, for
/// the refusal ("This workspace has sent {n} invitations").
pub(crate) struct Window<'a> {
    pub key: &'a str,
    pub limit: i64,
    pub window_secs: i64,
    pub used: fn(&str) -> String,
}

/// Uses `amount` of every window at once, or none of them: when any would go over its limit,
/// nothing is counted and the error says when that window starts afresh. Inside the caller's
/// transaction, so a change that rolls back gives its uses back.
pub(crate) async fn take(conn: &mut PgConnection, windows: &[Window<'_>], amount: i64) -> Result<()> {
    for window in windows {
        debug_assert!(
            window.window_secs <= LONGEST_WINDOW_SECS,
            "{}: a window longer than LONGEST_WINDOW_SECS would be purged while current",
            window.key
        );
        let (used, resets_in): (i64, f64) = sqlx::query_as(
            "insert into rate_windows (key, window_started_at, used) values ($1, now(), 0)
             on conflict (key) do update set
               used = case when rate_windows.window_started_at < now() - make_interval(secs => $2) then 0 else rate_windows.used end,
               window_started_at = case when rate_windows.window_started_at < now() - make_interval(secs => $2) then now() else rate_windows.window_started_at end
             returning used, extract(epoch from window_started_at + make_interval(secs => $2) - now())::float8",
        )
        .bind(window.key)
        .bind(window.window_secs as f64)
        .fetch_one(&mut *conn)
        .await?;
        if used + amount > window.limit {
            let hours = (resets_in / 3600.0).ceil().max(1.0) as i64;
            return Err(Error::QuotaReached {
                message: format!(
                    "{} in the last day, of at most {}: {} more now, or wait {hours} hour{} for a new day's allowance.",
                    (window.used)(&grouped(used)),
                    grouped(window.limit),
                    grouped((window.limit - used).max(0)),
                    if hours == 1 { "" } else { "s" }
                ),
                retry_after_secs: resets_in.ceil().max(1.0) as i64,
            });
        }
    }
    for window in windows {
        sqlx::query("update rate_windows set used = used + $2 where key = $1")
            .bind(window.key)
            .bind(amount)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The longest window any limit uses (a day): a row whose window started before that is spent,
/// and `take` would start it afresh anyway.
pub const LONGEST_WINDOW_SECS: i64 = 24 * 60 * 60;

/// Deletes the windows that have ended, so the table holds only current usage. Idempotent; any
/// server may run it.
#[tracing::instrument(skip_all)]
pub async fn purge_ended(db: &crate::db::Db) -> Result<u64> {
    Ok(
        sqlx::query("delete from rate_windows where window_started_at < now() - make_interval(secs => $1)")
            .bind(LONGEST_WINDOW_SECS as f64)
            .execute(db)
            .await?
            .rows_affected(),
    )
}

fn grouped(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_read_in_thousands() {
        assert_eq!(super::grouped(20_000), "20,000");
        assert_eq!(super::grouped(999), "999");
    }
}

//! Background work, leased and retried: one mechanism for every queue (the mail outbox today;
//! directory fetches, scheduled syncs and purges next).
//!
//! A queue is a table with one row per piece of work and the lease's columns: `org_id`, `id`
//! (bigint), `attempts`, `next_attempt_at`, `locked_until`, `last_error` and `failed_at`. Any
//! number of app servers claim rows with `FOR UPDATE SKIP LOCKED`: each row goes to one worker at
//! a time, and one whose worker died comes back when its lease runs out. A failed attempt is
//! retried after an exponential back-off, and the row is marked failed after its queue's
//! `max_attempts`, waiting for an admin's retry. The loop that drains a queue is the server's
//! (`server::workers`).

use crate::error::Result;
use chrono::Duration;
use rand::Rng;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::Db;

/// A table of work and how it is leased and retried. Every text here is a constant of ours,
/// written into statements, never request text.
#[derive(Debug)]
pub struct Queue {
    pub table: &'static str,
    /// What else makes a row still to do, beyond not having failed (e.g. `sent_at is null`).
    pub pending: &'static str,
    /// How long a claimed row stays with its worker.
    pub lease: Duration,
    pub backoff: Backoff,
    /// Workers `LISTEN` here to wake when work is added (see [`notify`]).
    pub channel: &'static str,
}

/// When a failed attempt is tried again: `first`, then doubling up to `max`, each delay shortened
/// by a random part of up to `jitter` of it, so that many rows failed together do not come back
/// together; after `max_attempts` attempts the row is marked failed.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    /// 0.0 to 1.0.
    pub jitter: f64,
    pub max_attempts: i32,
}

impl Backoff {
    /// The wait after the `attempts`-th failed attempt (1-based), before jitter.
    pub fn delay_after(&self, attempts: i32) -> Duration {
        let doublings = (attempts - 1).clamp(0, 30) as u32;
        let delay = self.first.num_milliseconds().saturating_mul(1i64 << doublings.min(62));
        Duration::milliseconds(delay.min(self.max.num_milliseconds()))
    }

    fn jittered_delay_after(&self, attempts: i32) -> Duration {
        let delay = self.delay_after(attempts);
        if self.jitter <= 0.0 {
            return delay;
        }
        let cut = rand::thread_rng().gen_range(0.0..=self.jitter.min(1.0));
        Duration::milliseconds((delay.num_milliseconds() as f64 * (1.0 - cut)) as i64)
    }
}

/// A row claimed by this worker, with the attempt it is on (1 for the first).
#[derive(Debug, Clone, FromRow)]
pub struct Claim {
    pub org_id: Uuid,
    pub id: i64,
    pub attempts: i32,
}

/// Claims up to `limit` rows that are due, oldest due first, and leases them to this worker.
pub async fn claim(db: &Db, queue: &Queue, limit: i64) -> Result<Vec<Claim>> {
    let statement = format!(
        "update {table} q set locked_until = now() + make_interval(secs => $2), attempts = q.attempts + 1
         from (select org_id, id from {table}
               where {pending} and failed_at is null and next_attempt_at <= now()
                 and (locked_until is null or locked_until < now())
               order by next_attempt_at, id limit $1 for update skip locked) due
         where q.org_id = due.org_id and q.id = due.id
         returning q.org_id, q.id, q.attempts",
        table = queue.table,
        pending = queue.pending,
    );
    Ok(sqlx::query_as(&statement)
        .bind(limit)
        .bind(queue.lease.num_seconds() as f64)
        .fetch_all(db)
        .await?)
}

/// The claimed work is done: `done` says how (e.g. `sent_at = now()`), and the lease ends.
pub async fn succeeded(db: &Db, queue: &Queue, claim: &Claim, done: &'static str) -> Result<()> {
    let statement = format!(
        "update {} set {done}, locked_until = null, last_error = null where org_id = $1 and id = $2",
        queue.table
    );
    sqlx::query(&statement)
        .bind(claim.org_id)
        .bind(claim.id)
        .execute(db)
        .await?;
    Ok(())
}

/// The claimed work must not be done any more (what it was for went away): it ends, failed,
/// with `why` for whoever looks at it.
pub async fn cancelled(db: &Db, queue: &Queue, claim: &Claim, why: &str) -> Result<()> {
    let statement = format!(
        "update {} set failed_at = now(), locked_until = null, last_error = $3 where org_id = $1 and id = $2",
        queue.table
    );
    sqlx::query(&statement)
        .bind(claim.org_id)
        .bind(claim.id)
        .bind(why)
        .execute(db)
        .await?;
    Ok(())
}

/// Longest error kept on a row, in characters.
const MAX_ERROR_CHARS: usize = 500;

/// Records a failed attempt: tried again after the queue's back-off, or marked failed after its
/// last attempt.
pub async fn failed(db: &Db, queue: &Queue, claim: &Claim, error: &str) -> Result<()> {
    let delay = queue.backoff.jittered_delay_after(claim.attempts);
    let give_up = claim.attempts >= queue.backoff.max_attempts;
    let statement = format!(
        "update {} set locked_until = null, last_error = $3,
                next_attempt_at = now() + make_interval(secs => $4), failed_at = case when $5 then now() end
         where org_id = $1 and id = $2",
        queue.table
    );
    sqlx::query(&statement)
        .bind(claim.org_id)
        .bind(claim.id)
        .bind(error.chars().take(MAX_ERROR_CHARS).collect::<String>())
        .bind(delay.num_milliseconds() as f64 / 1000.0)
        .bind(give_up)
        .execute(db)
        .await?;
    Ok(())
}

/// Puts a row that is still to do (failed or waiting) back in the queue now, with its attempts
/// counted afresh; `false` when no such row exists in `org_id`, or a worker holds it right now
/// (it is being tried already: taking its lease away could send it twice).
pub async fn retry_now(conn: &mut PgConnection, queue: &Queue, org_id: Uuid, id: i64) -> Result<bool> {
    let statement = format!(
        "update {} set failed_at = null, attempts = 0, next_attempt_at = now(), locked_until = null
         where org_id = $1 and id = $2 and {} and (locked_until is null or locked_until < now())",
        queue.table, queue.pending
    );
    let retried = sqlx::query(&statement)
        .bind(org_id)
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(retried > 0)
}

/// Wakes the queue's workers on every server when the transaction commits.
pub async fn notify(conn: &mut PgConnection, queue: &Queue) -> Result<()> {
    sqlx::query("select pg_notify($1, '')")
        .bind(queue.channel)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKOFF: Backoff = Backoff {
        first: Duration::seconds(30),
        max: Duration::hours(1),
        jitter: 0.0,
        max_attempts: 8,
    };

    #[test]
    fn the_back_off_doubles_from_its_first_delay_up_to_its_ceiling() {
        let delays: Vec<i64> = (1..=9).map(|n| BACKOFF.delay_after(n).num_seconds()).collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(BACKOFF.delay_after(1_000).num_seconds(), 3600);
    }

    #[test]
    fn jitter_only_ever_shortens_a_delay_and_by_at_most_its_share() {
        let jittered = Backoff {
            jitter: 0.25,
            ..BACKOFF
        };
        for _ in 0..200 {
            let delay = jittered.jittered_delay_after(3).num_milliseconds();
            assert!((90_000..=120_000).contains(&delay), "{delay}");
        }
    }
}

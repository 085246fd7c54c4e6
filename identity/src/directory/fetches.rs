//! A durable read of a whole directory: a `directory_fetches` row, claimed with a lease through
//! the jobs mechanism by any app server's worker. Each page is written in one transaction with
//! the fetch's new cursor: the page's people in one statement (not one per person), so a crash
//! or restart resumes from the last page written, with no duplicates. A worker whose lease was
//! taken over (it stalled past it) stops at its next page. A finished full read marks everyone
//! it did not see as removed upstream; a Graph delta read marks those it reports removed.

use super::fetch::{fetch_page, DirectorySource, FetchError, Page};
use super::retry::{with_retries, Backoff as RetryBackoff};
use crate::error::{Error, Result};
use crate::jobs::{self, Backoff, Claim, Queue};
use crate::providers::Provider;
use crate::Db;
use chrono::Duration;
use uuid::Uuid;

/// Fetches as a queue of the jobs mechanism. A claimed fetch is leased for five minutes and the
/// lease is renewed with every page written; a failed fetch is tried again after 1, 2, 4 …
/// minutes (at most an hour apart), and after six attempts waits for an admin.
pub const QUEUE: Queue = Queue {
    table: "directory_fetches",
    pending: "finished_at is null",
    lease: Duration::minutes(5),
    backoff: Backoff {
        first: Duration::minutes(1),
        max: Duration::hours(1),
        jitter: 0.2,
        max_attempts: 6,
    },
    channel: "rollcall_directory_fetches",
};

/// Asks for a read of a workspace's directory; at most one runs per workspace and provider
/// (the one under way is returned instead). `delta` (Graph): read only the changes since the
/// last finished delta read, from the link it kept (everyone, the first time).
pub async fn enqueue(db: &Db, org_id: Uuid, provider: Provider, delta: bool) -> Result<i64> {
    enqueue_by(db, org_id, provider, delta, "").await
}

/// [`enqueue`], saying who asked (an admin's label, "automatic sync") for the card and the
/// Activity entry.
pub async fn enqueue_by(db: &Db, org_id: Uuid, provider: Provider, delta: bool, requested_by: &str) -> Result<i64> {
    let mut tx = db.begin().await?;
    let running: Option<i64> = sqlx::query_scalar(
        "select id from directory_fetches
         where org_id = $1 and provider = $2 and finished_at is null and failed_at is null",
    )
    .bind(org_id)
    .bind(provider.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(id) = running {
        return Ok(id);
    }
    let id: i64 = sqlx::query_scalar(
        "insert into directory_fetches (org_id, provider, delta, requested_by, cursor)
         values ($1, $2, $3, nullif($4, ''), case when $3 then (select delta_link from directory_fetches
                                               where org_id = $1 and provider = $2 and delta and finished_at is not null
                                               order by id desc limit 1) end)
         returning id",
    )
    .bind(org_id)
    .bind(provider.as_str())
    .bind(delta)
    .bind(requested_by)
    .fetch_one(&mut *tx)
    .await?;
    jobs::notify(&mut tx, &QUEUE).await?;
    tx.commit().await?;
    Ok(id)
}

/// How a run of a claimed fetch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The last page is written.
    Finished { pages: i32, people: i32 },
    /// Stopped after `page_budget` pages (the fetch stays claimed until its lease ends).
    Paused,
    /// Another worker holds the fetch now: this one stopped without writing.
    LostLease,
}

/// Reads a claimed fetch's directory from its saved cursor to the end (or for at most
/// `page_budget` pages), page by page. `source` and `token` say where and with what.
pub async fn run(
    db: &Db,
    http: &reqwest::Client,
    claim: &Claim,
    source: &DirectorySource,
    token: &str,
    retries: RetryBackoff,
    page_budget: Option<usize>,
) -> std::result::Result<Outcome, RunError> {
    let (provider, mut cursor): (String, Option<String>) = sqlx::query_as(
        "update directory_fetches set started_at = coalesce(started_at, now())
         where org_id = $1 and id = $2 returning provider, cursor",
    )
    .bind(claim.org_id)
    .bind(claim.id)
    .fetch_one(db)
    .await
    .map_err(Error::from)?;
    let mut pages_run = 0;
    loop {
        if page_budget.is_some_and(|budget| pages_run >= budget) {
            return Ok(Outcome::Paused);
        }
        let page = with_retries(
            retries,
            |error, wait| note_retry(db, claim, error, wait),
            || fetch_page(http, source, token, cursor.as_deref()),
        )
        .await
        .map_err(RunError::Fetch)?;
        let last = page.next.is_none();
        match write_page(db, claim, &provider, &page).await? {
            Some((pages, people)) if last => {
                return Ok(Outcome::Finished { pages, people });
            }
            Some(_) => {}
            None => return Ok(Outcome::LostLease),
        }
        cursor = page.next;
        pages_run += 1;
    }
}

/// Says on the fetch, for the card and the progress bar, that it is waiting to try again.
fn note_retry(db: &Db, claim: &Claim, error: &FetchError, wait: std::time::Duration) {
    let note = match error {
        FetchError::RateLimited { .. } => format!(
            "Rate limited by the directory; retrying in {:.0} s.",
            wait.as_secs_f64().ceil()
        ),
        other => format!("{other}; retrying in {:.0} s.", wait.as_secs_f64().ceil()),
    };
    let (db, org_id, id) = (db.clone(), claim.org_id, claim.id);
    tokio::spawn(async move {
        let _ = sqlx::query("update directory_fetches set last_error = $3 where org_id = $1 and id = $2")
            .bind(org_id)
            .bind(id)
            .bind(note)
            .execute(&db)
            .await;
    });
}

/// A claimed fetch's provider and whether it reads Graph's delta.
pub async fn describe(db: &Db, claim: &Claim) -> Result<Option<(Provider, bool)>> {
    let row: Option<(String, bool)> =
        sqlx::query_as("select provider, delta from directory_fetches where org_id = $1 and id = $2")
            .bind(claim.org_id)
            .bind(claim.id)
            .fetch_optional(db)
            .await?;
    Ok(row.and_then(|(p, delta)| Some((Provider::parse(&p)?, delta))))
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Fetch(FetchError),
    #[error(transparent)]
    Store(#[from] Error),
}

/// Writes one page and the fetch's progress in one transaction, renewing the lease; `None` when
/// the lease is another worker's now (nothing is written). Returns the fetch's pages and people.
async fn write_page(db: &Db, claim: &Claim, provider: &str, page: &Page) -> Result<Option<(i32, i32)>> {
    let mut tx = db.begin().await?;
    // Ours while `attempts` is still the one we claimed with: a worker that took the fetch over
    // after our lease ran out counted another attempt.
    let progress: Option<(i32, i32)> = sqlx::query_as(
        "update directory_fetches
            set cursor = $4, pages = pages + 1, people = people + $5, removed = removed + $6,
                locked_until = now() + make_interval(secs => $7),
                finished_at = case when $4::text is null then now() end,
                delta_link = coalesce($8, delta_link)
          where org_id = $1 and id = $2 and attempts = $3 and finished_at is null
          returning pages, people",
    )
    .bind(claim.org_id)
    .bind(claim.id)
    .bind(claim.attempts)
    .bind(&page.next)
    .bind(page.users.len() as i32)
    .bind(page.removed.len() as i32)
    .bind(QUEUE.lease.num_seconds() as f64)
    .bind(&page.delta_link)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(progress) = progress else {
        return Ok(None);
    };
    let users = &page.users;
    sqlx::query(
        "insert into directory_entries
             (org_id, provider, upstream_id, email, given_name, family_name, skip_reason, org_unit, user_type, fetch_id)
         select $1, $2, u.id, u.email, u.given, u.family, u.skip, u.unit, u.kind, $3
         from unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
              as u(id, email, given, family, skip, unit, kind)
         on conflict (org_id, provider, upstream_id) do update set
             email = excluded.email, given_name = excluded.given_name, family_name = excluded.family_name,
             skip_reason = excluded.skip_reason, org_unit = excluded.org_unit, user_type = excluded.user_type,
             fetch_id = excluded.fetch_id, seen_at = now(), removed_at = null",
    )
    .bind(claim.org_id)
    .bind(provider)
    .bind(claim.id)
    .bind(users.iter().map(|u| u.upstream_id.as_str()).collect::<Vec<_>>())
    .bind(users.iter().map(|u| u.email.as_deref()).collect::<Vec<_>>())
    .bind(users.iter().map(|u| u.given_name.as_str()).collect::<Vec<_>>())
    .bind(users.iter().map(|u| u.family_name.as_str()).collect::<Vec<_>>())
    .bind(users.iter().map(|u| u.skip.map(|s| s.as_str())).collect::<Vec<_>>())
    .bind(users.iter().map(|u| u.org_unit.as_deref()).collect::<Vec<_>>())
    .bind(users.iter().map(|u| u.user_type.as_deref()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    if !page.removed.is_empty() {
        sqlx::query(
            "update directory_entries set removed_at = now()
             where org_id = $1 and provider = $2 and upstream_id = any($3) and removed_at is null",
        )
        .bind(claim.org_id)
        .bind(provider)
        .bind(page.removed.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    if page.next.is_none() {
        // Done: the lease ends; and after a whole directory was read (not a delta), whoever it
        // no longer lists is gone upstream.
        let delta: bool = sqlx::query_scalar(
            "update directory_fetches set locked_until = null, last_error = null
             where org_id = $1 and id = $2 returning delta",
        )
        .bind(claim.org_id)
        .bind(claim.id)
        .fetch_one(&mut *tx)
        .await?;
        if !delta {
            sqlx::query(
                "update directory_entries set removed_at = now()
                 where org_id = $1 and provider = $2 and fetch_id <> $3 and removed_at is null",
            )
            .bind(claim.org_id)
            .bind(provider)
            .bind(claim.id)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(Some(progress))
}

//! Reading connected directories: the fetch queue of the jobs mechanism (any server's worker
//! claims a fetch with a lease and pages through the directory, `identity::directory::fetches`),
//! and the automatic syncs, started when due by whichever server looks first.

use super::queue;
use app::ssr::SharedState;
use identity::audit::{self, Actor};
use identity::directory::connections::{self, ReadError};
use identity::directory::fetches::{self, Outcome, RunError};
use identity::directory::{Backoff, FetchError};
use identity::jobs::{self, Claim};
use identity::secrets::sealed::Sealer;
use identity::secrets::ExposeSecret;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// How often a server looks for automatic syncs that are due.
const SCHEDULE_EVERY: Duration = Duration::from_secs(60);

pub async fn run(state: SharedState) {
    let sealer = Arc::new(Sealer::new(&state.secret_key));
    let scheduler = tokio::spawn(schedule(state.clone()));
    let db = state.db.clone();
    queue::drain(db, &fetches::QUEUE, move |claim| {
        let (state, sealer) = (state.clone(), sealer.clone());
        async move { fetch(&state, &sealer, claim).await }
    })
    .await;
    scheduler.abort();
}

async fn schedule(state: SharedState) {
    loop {
        match connections::start_due_syncs(&state.db).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(syncs = n, "automatic directory syncs started"),
            Err(err) => tracing::warn!(error = ?err, "could not start automatic directory syncs"),
        }
        tokio::time::sleep(SCHEDULE_EVERY).await;
    }
}

/// Plain words for the card and the Activity tab.
fn explain(error: &FetchError) -> String {
    match error {
        FetchError::Revoked => "Rollcall lost access to the directory: reconnect.".into(),
        FetchError::MissingScope(scope) => format!("The directory access lacks {scope}: reconnect and grant it."),
        FetchError::RateLimited { .. } => "The directory kept rate limiting Rollcall; trying again later.".into(),
        FetchError::Transient(_) => "The directory could not be reached; trying again later.".into(),
        FetchError::DeltaExpired => "The directory asked for a full read; starting one.".into(),
        FetchError::Refused(why) => format!("The directory refused the read: {why}."),
    }
}

#[tracing::instrument(name = "directory_fetch", skip_all, fields(fetch_id = claim.id, attempt = claim.attempts))]
async fn fetch(state: &SharedState, sealer: &Sealer, claim: Claim) {
    let db = &state.db;
    let Ok(Some((provider, delta))) = fetches::describe(db, &claim).await else {
        return;
    };
    let started = std::time::Instant::now();
    let reader = match connections::reader(db, sealer, &state.providers, claim.org_id, provider, delta).await {
        Ok(reader) => reader,
        Err(ReadError::Fetch(error)) => return failed(state, &claim, provider, error).await,
        Err(ReadError::NotConnected) => {
            let _ = jobs::cancelled(db, &fetches::QUEUE, &claim, "The directory was disconnected.").await;
            return;
        }
        Err(err) => {
            let _ = jobs::failed(db, &fetches::QUEUE, &claim, &err.to_string()).await;
            return;
        }
    };
    let outcome = fetches::run(
        db,
        state.providers.http(),
        &claim,
        &reader.source,
        reader.token.expose_secret(),
        Backoff::default(),
        None,
    )
    .await;
    match outcome {
        Ok(Outcome::Finished { pages, people }) => {
            // A first read can take the table from nothing to 100,000 rows: the import view's
            // plans need the new counts (see `import::import`).
            if people > 1_000 {
                let _ = sqlx::query("analyze directory_entries").execute(db).await;
            }
            let actor = Actor {
                org_id: claim.org_id,
                user_id: None,
                label: "Directory sync".into(),
                ip: None,
                request_id: None,
            };
            let removed: i64 = sqlx::query_scalar(
                "select count(*) from directory_entries where org_id = $1 and provider = $2 and removed_at is not null",
            )
            .bind(claim.org_id)
            .bind(provider.as_str())
            .fetch_one(db)
            .await
            .unwrap_or(0);
            let mut tx = match db.begin().await {
                Ok(tx) => tx,
                Err(_) => return,
            };
            let recorded = audit::record(
                &mut tx,
                &actor,
                "directory.fetched",
                None,
                json!({
                    "provider": provider.as_str(),
                    "pages": pages,
                    "people": people,
                    "removed_upstream": removed,
                    "seconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
                }),
            )
            .await;
            if recorded.is_ok() {
                let _ = tx.commit().await;
            }
        }
        Ok(Outcome::Paused) | Ok(Outcome::LostLease) => {}
        Err(RunError::Fetch(error)) => failed(state, &claim, provider, error).await,
        Err(RunError::Store(err)) => {
            tracing::warn!(error = ?err, "a directory fetch could not be saved");
            let _ = jobs::failed(
                db,
                &fetches::QUEUE,
                &claim,
                "Rollcall could not save what it read; trying again.",
            )
            .await;
        }
    }
}

async fn failed(state: &SharedState, claim: &Claim, provider: identity::providers::Provider, error: FetchError) {
    let db = &state.db;
    let words = explain(&error);
    tracing::info!(provider = %provider, error = %error, "a directory fetch failed");
    let result = match &error {
        FetchError::Revoked | FetchError::MissingScope(_) => {
            let _ = connections::mark_needs_admin(db, claim.org_id, provider, &error).await;
            let _ =
                sqlx::query("update directory_fetches set error_kind = 'needs_admin' where org_id = $1 and id = $2")
                    .bind(claim.org_id)
                    .bind(claim.id)
                    .execute(db)
                    .await;
            jobs::cancelled(db, &fetches::QUEUE, claim, &words).await
        }
        FetchError::DeltaExpired => {
            // The kept delta link is no good: this fetch ends and a fresh full delta read starts.
            let _ = sqlx::query("update directory_fetches set delta_link = null where org_id = $1 and provider = $2")
                .bind(claim.org_id)
                .bind(provider.as_str())
                .execute(db)
                .await;
            let cancelled = jobs::cancelled(db, &fetches::QUEUE, claim, &words).await;
            let _ = fetches::enqueue_by(db, claim.org_id, provider, true, "full read after an expired delta").await;
            cancelled
        }
        _ => jobs::failed(db, &fetches::QUEUE, claim, &words).await,
    };
    if let Err(err) = result {
        tracing::error!(error = ?err, "could not record a directory fetch's failure");
    }
}

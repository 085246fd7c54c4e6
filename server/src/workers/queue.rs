//! The loop that drains one queue of the jobs mechanism: claim what is due, handle each claimed
//! row concurrently, and sleep until work is added (a `NOTIFY` on the queue's channel) or a
//! retry comes due.

use identity::jobs::{Claim, Queue};
use identity::Db;
use std::future::Future;
use std::time::Duration;

/// How many rows a worker claims at once.
const BATCH: i64 = 32;
/// Longest sleep between claims: retries come due without a notification.
const POLL: Duration = Duration::from_secs(2);

/// Drains `queue` for as long as the server runs, `handle` doing each claimed row's work and
/// recording its outcome.
pub async fn drain<F, Fut>(db: Db, queue: &'static Queue, handle: F)
where
    F: Fn(Claim) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut listener = identity::db::listen(&db, queue.channel).await.ok();
    loop {
        let claimed = match identity::jobs::claim(&db, queue, BATCH).await {
            Ok(claimed) => claimed,
            Err(err) => {
                tracing::warn!(queue = queue.table, error = ?err, "claiming work failed");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        if claimed.is_empty() {
            match listener.as_mut() {
                Some(listener) => {
                    let _ = tokio::time::timeout(POLL, listener.recv()).await;
                }
                None => tokio::time::sleep(POLL / 2).await,
            }
            continue;
        }
        let mut running = tokio::task::JoinSet::new();
        for claim in claimed {
            running.spawn(handle(claim));
        }
        while running.join_next().await.is_some() {}
    }
}

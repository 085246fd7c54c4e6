//! Writes combined: requests that arrive while a write is in flight wait for the next statement,
//! and each statement writes everyone waiting (with their audit entries) in one transaction, so
//! a directory's burst shares its commits.
//!
//! Why: a SCIM write is one short statement, and its commit's WAL flush was most of its time
//! (bench/scim, 32 clients on 2 cores: with `synchronous_commit` off, creates ran 43% faster,
//! 2,586/s → 3,690/s; the pool's few connections spent their time waiting for flushes).
//! Combined, creates ran at 4,452–5,728/s against 2,492–2,588/s one by one, every create still
//! durable before its answer.
//!
//! Used for creates (`creates`); combining PATCHes the same way did not pay (bench/scim's mix:
//! PATCH p99 28 → 39 ms, the read and the write then on two connections). Each write is
//! answered with its row, or `None` when it was not written here: its statement's conditions
//! did not hold for it, or the statement failed; the caller then writes it by itself, which
//! says exactly what went wrong, and for whom.

use super::users::Row;
use crate::Db;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Mutex};
use uuid::Uuid;

/// Most writes in one statement.
const MOST_AT_ONCE: usize = 64;
/// Statements in flight at once: while one is written, the next gathers what arrives.
const WRITERS: usize = 2;

/// One kind of combined write.
pub(super) trait Combined: Send + Sync + Sized + 'static {
    /// The person written: one write per person in a statement, and the written rows are
    /// matched back by it.
    fn person(&self) -> Uuid;

    /// Writes them all in one statement; returns the rows written.
    fn write_all<'a>(
        db: &'a Db,
        all: &'a [Self],
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Row>, sqlx::Error>> + Send + 'a>>;
}

struct Waiting<T> {
    write: T,
    answer: oneshot::Sender<Option<Row>>,
}

/// The queue writes of one kind wait in; cheap to clone. Its writers stop when the last clone
/// is dropped.
pub(super) struct Combiner<T> {
    queue: mpsc::Sender<Waiting<T>>,
}

impl<T> Clone for Combiner<T> {
    fn clone(&self) -> Self {
        Combiner {
            queue: self.queue.clone(),
        }
    }
}

impl<T: Combined> Combiner<T> {
    /// Starts the writers on `db`.
    pub(super) fn start(db: Db) -> Combiner<T> {
        let (queue, waiting) = mpsc::channel(4 * MOST_AT_ONCE);
        let waiting = Arc::new(Mutex::new(waiting));
        for _ in 0..WRITERS {
            tokio::spawn(writer(db.clone(), waiting.clone()));
        }
        Combiner { queue }
    }

    /// Writes `write` with the next statement: the row written, or `None` when it was not.
    pub(super) async fn write(&self, write: T) -> Option<Row> {
        let (answer, answered) = oneshot::channel();
        self.queue.send(Waiting { write, answer }).await.ok()?;
        answered.await.ok().flatten()
    }
}

async fn writer<T: Combined>(db: Db, waiting: Arc<Mutex<mpsc::Receiver<Waiting<T>>>>) {
    // A second write of someone already in the statement waits for the next one.
    let mut next: Vec<Waiting<T>> = Vec::new();
    loop {
        let mut batch = Vec::new();
        let mut people = HashSet::new();
        for held in std::mem::take(&mut next) {
            if people.insert(held.write.person()) {
                batch.push(held);
            } else {
                next.push(held);
            }
        }
        {
            let mut waiting = waiting.lock().await;
            if batch.is_empty() {
                let Some(first) = waiting.recv().await else {
                    return;
                };
                people.insert(first.write.person());
                batch.push(first);
            }
            while batch.len() < MOST_AT_ONCE {
                let Ok(more) = waiting.try_recv() else { break };
                if people.insert(more.write.person()) {
                    batch.push(more);
                } else {
                    next.push(more);
                }
            }
        }
        let (writes, answers): (Vec<T>, Vec<oneshot::Sender<Option<Row>>>) =
            batch.into_iter().map(|w| (w.write, w.answer)).unzip();
        match T::write_all(&db, &writes).await {
            Ok(rows) => {
                let mut written: HashMap<Uuid, Row> = rows.into_iter().map(|row| (row.id, row)).collect();
                for (write, answer) in writes.iter().zip(answers) {
                    let _ = answer.send(written.remove(&write.person()));
                }
            }
            Err(err) => {
                tracing::debug!(error = %err, writes = writes.len(), "a combined SCIM write failed; each is written alone");
                for answer in answers {
                    let _ = answer.send(None);
                }
            }
        }
    }
}

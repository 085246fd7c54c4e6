//! The read lane: connections kept for the read every request starts with (see
//! `sessions::SessionStore`). Only the engine uses it.

use crate::Db;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connections kept for the read every request starts with: its session and, on the Users tab,
/// the page read in the same statement (`sessions::SessionStore`).
///
/// sqlx's pool tests each connection it gets back with a ping, a second round trip to
/// PostgreSQL for every request (on the Users tab, the lane served 15% more pages per second
/// than the pool; bench/users-page). A connection whose statement ran to completion is idle and
/// in a known state, so the lane hands it to the next request as it is. One abandoned
/// mid-statement (its request was cancelled) is drained in the background and kept if it
/// finishes promptly; one that failed is closed. Either way a new one is opened on demand.
#[derive(Clone)]
pub struct ReadLane {
    inner: Arc<LaneInner>,
}

struct LaneInner {
    options: PgConnectOptions,
    /// Fair (first come, first served), so a busy lane queues requests in order.
    permits: Arc<Semaphore>,
    idle: std::sync::Mutex<Vec<IdleConnection>>,
}

struct IdleConnection {
    conn: PgConnection,
    opened_at: Instant,
    idle_since: Instant,
}

/// As long as a request waits for a connection before it fails, as with the pool.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection idle this long is pinged before use: PostgreSQL, or something between, may have
/// closed it meanwhile. One in steady use needs no test; its last statement just worked.
const TEST_AFTER_IDLE: Duration = Duration::from_secs(5);
/// Connections are replaced after this long, as sqlx's pool does, so none holds memory or a
/// stale server-side state forever.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// How long an abandoned statement may take to finish before its connection is closed instead.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

impl ReadLane {
    /// A lane of at most `size` connections to the database `pool` connects to; opened lazily.
    pub fn new(pool: &Db, size: u32) -> ReadLane {
        ReadLane {
            inner: Arc::new(LaneInner {
                options: (*pool.connect_options()).clone(),
                permits: Arc::new(Semaphore::new(size.max(1) as usize)),
                idle: std::sync::Mutex::new(Vec::new()),
            }),
        }
    }

    /// Waits for a turn on the lane and a live connection (at most 10 s, like the pool). Call
    /// [`LaneConnection::finished`] once its statement has completed.
    pub async fn acquire(&self) -> Result<LaneConnection, sqlx::Error> {
        tokio::time::timeout(ACQUIRE_TIMEOUT, self.acquire_unbounded())
            .await
            .unwrap_or(Err(sqlx::Error::PoolTimedOut))
    }

    async fn acquire_unbounded(&self) -> Result<LaneConnection, sqlx::Error> {
        let permit = Arc::clone(&self.inner.permits)
            .acquire_owned()
            .await
            .expect("the lane's semaphore is never closed");
        loop {
            let reused = self.inner.idle.lock().expect("lane lock").pop();
            let Some(mut idle) = reused else {
                let conn = PgConnection::connect_with(&self.inner.options).await?;
                return Ok(self.lend(permit, conn, Instant::now()));
            };
            if idle.opened_at.elapsed() > MAX_LIFETIME {
                // Politely, but without keeping the request waiting for the goodbye.
                tokio::spawn(async move {
                    let _ = idle.conn.close().await;
                });
                continue;
            }
            if idle.idle_since.elapsed() > TEST_AFTER_IDLE && idle.conn.ping().await.is_err() {
                continue;
            }
            return Ok(self.lend(permit, idle.conn, idle.opened_at));
        }
    }

    fn lend(&self, permit: OwnedSemaphorePermit, conn: PgConnection, opened_at: Instant) -> LaneConnection {
        LaneConnection {
            lane: self.clone(),
            permit: Some(permit),
            conn: Some(conn),
            opened_at,
            finished: false,
        }
    }

    fn give_back(&self, conn: PgConnection, opened_at: Instant) {
        self.inner.idle.lock().expect("lane lock").push(IdleConnection {
            conn,
            opened_at,
            idle_since: Instant::now(),
        });
    }
}

/// A connection of the [`ReadLane`]; its turn on the lane lasts until it is dropped.
pub struct LaneConnection {
    lane: ReadLane,
    permit: Option<OwnedSemaphorePermit>,
    conn: Option<PgConnection>,
    opened_at: Instant,
    finished: bool,
}

impl LaneConnection {
    /// The statement ran to completion: the connection goes back to the lane as it is.
    pub fn finished(mut self) {
        self.finished = true;
    }
}

impl std::ops::Deref for LaneConnection {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        self.conn.as_ref().expect("present until dropped")
    }
}

impl std::ops::DerefMut for LaneConnection {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn.as_mut().expect("present until dropped")
    }
}

impl Drop for LaneConnection {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else { return };
        if self.finished {
            self.lane.give_back(conn, self.opened_at);
            return;
        }
        // Dropped mid-statement (or after an error). sqlx's ping first reads whatever the
        // abandoned statement still sends; the connection keeps its turn on the lane meanwhile,
        // so the lane never holds more connections than its size.
        let (lane, permit, opened_at) = (self.lane.clone(), self.permit.take(), self.opened_at);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Ok(Ok(())) = tokio::time::timeout(DRAIN_TIMEOUT, conn.ping()).await {
                    lane.give_back(conn, opened_at);
                }
                drop(permit);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    //! Against the cluster the server's integration tests use (started by whichever test binary
    //! comes first), on its maintenance database: these need no tables.
    use super::*;

    /// Started (or joined) once per process: tests run in parallel, and two starting one cluster
    /// at once would race.
    async fn test_database() -> Db {
        static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let url = URL.get_or_init(|| {
            let dir = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/tmp/test-pg"));
            std::thread::spawn(move || {
                tokio::runtime::Runtime::new().unwrap().block_on(async {
                    rollcall_server::embedded_pg::EmbeddedPostgres::start(&dir)
                        .await
                        .expect("start the test cluster")
                        .url("postgres")
                })
            })
            .join()
            .unwrap()
        });
        crate::db::connect(url, 2).await.unwrap()
    }

    async fn backend_pid(conn: &mut LaneConnection) -> i32 {
        sqlx::query_scalar("select pg_backend_pid()")
            .fetch_one(&mut **conn)
            .await
            .unwrap()
    }

    /// Runs `sql` on a connection of the lane and abandons it after `after`, as a cancelled
    /// request does; returns the connection's backend.
    async fn abandon(lane: &ReadLane, sql: &str, after: Duration) -> i32 {
        let mut conn = lane.acquire().await.unwrap();
        let pid = backend_pid(&mut conn).await;
        let run = tokio::time::timeout(after, sqlx::query(sql).execute(&mut *conn)).await;
        assert!(run.is_err(), "`{sql}` should still have been running");
        pid
    }

    #[tokio::test]
    async fn a_finished_connection_is_reused_and_an_abandoned_one_is_kept_only_if_it_drains() {
        let db = test_database().await;
        let lane = ReadLane::new(&db, 1);

        let mut conn = lane.acquire().await.unwrap();
        let first = backend_pid(&mut conn).await;
        conn.finished();
        let mut conn = lane.acquire().await.unwrap();
        assert_eq!(
            backend_pid(&mut conn).await,
            first,
            "a finished connection was not reused"
        );
        conn.finished();

        // Abandoned while a short statement ran: the lane reads the rest and keeps it.
        let pid = abandon(&lane, "select pg_sleep(0.3)", Duration::from_millis(50)).await;
        assert_eq!(pid, first);
        let mut conn = lane.acquire().await.unwrap();
        assert_eq!(
            backend_pid(&mut conn).await,
            first,
            "a connection whose abandoned statement soon finished was not kept"
        );
        conn.finished();

        // Abandoned in a long statement: closed after a second, and the next read gets a new one.
        abandon(&lane, "select pg_sleep(30)", Duration::from_millis(50)).await;
        let mut conn = tokio::time::timeout(Duration::from_secs(5), lane.acquire())
            .await
            .expect("the next read waited for the abandoned statement")
            .unwrap();
        let second = backend_pid(&mut conn).await;
        assert_ne!(
            second, first,
            "a connection still busy with an abandoned statement was reused"
        );

        // One whose server side died fails its statement, and is replaced.
        sqlx::query("select pg_terminate_backend($1)")
            .bind(second)
            .execute(&db)
            .await
            .unwrap();
        assert!(sqlx::query("select 1").execute(&mut *conn).await.is_err());
        drop(conn);
        let mut conn = lane.acquire().await.unwrap();
        let third = backend_pid(&mut conn).await;
        assert!(
            third != second && third != first,
            "a dead connection was handed out again"
        );
        conn.finished();
    }

    #[tokio::test]
    async fn the_lane_never_holds_more_connections_than_its_size_and_hands_a_waiter_the_one_finished_with() {
        let db = test_database().await;
        let lane = ReadLane::new(&db, 1);
        let mut held = lane.acquire().await.unwrap();
        let only = backend_pid(&mut held).await;
        assert!(
            tokio::time::timeout(Duration::from_millis(200), lane.acquire())
                .await
                .is_err(),
            "a second connection was handed out while the only one was in use"
        );
        let waiter = async {
            let mut conn = lane.acquire().await.unwrap();
            let pid = backend_pid(&mut conn).await;
            conn.finished();
            pid
        };
        let release = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            held.finished();
        };
        let (pid, ()) = tokio::join!(waiter, release);
        assert_eq!(
            pid, only,
            "the waiter was given a new connection instead of the lane's one"
        );
    }
}

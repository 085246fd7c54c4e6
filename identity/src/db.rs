//! Connection pool and migrations.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub type Db = PgPool;

/// The migrations this release knows. A database that a newer release has already migrated
/// further is accepted: while app servers are upgraded one by one, an older one may restart
/// against it. So each migration only adds what older code can ignore (tables, columns with
/// defaults, indexes, triggers that keep data consistent for old and new code alike); dropping
/// what an older release still reads waits for a later release.
fn migrator() -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator
}

pub async fn connect(url: &str, max_connections: u32) -> Result<Db, sqlx::Error> {
    // JIT off: every query here is short OLTP, and a cached generic plan for a paged list
    // (its LIMIT unknown, so costed as if it read 10% of a big table) crossed `jit_above_cost`
    // and spent ~10 ms compiling on every execution.
    let options = PgConnectOptions::from_str(url)?
        .application_name("rollcall")
        .options([("jit", "off")]);
    PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        // No ping before every checkout: it doubled the round trips of a page's queries. A
        // connection that died while idle fails its next query, is dropped, and is replaced;
        // idle connections are also closed after 10 minutes (sqlx's default).
        .test_before_acquire(false)
        .connect_with(options)
        .await
}

/// Applies pending migrations. Safe to run from several servers at once: sqlx takes an
/// advisory lock while migrating.
pub async fn migrate(db: &Db) -> Result<(), sqlx::migrate::MigrateError> {
    migrator().run(db).await
}

/// Splits a keyset page fetched with `limit + 1` rows into the page and the cursor for the next
/// (older) one, if there is one.
pub fn keyset_page<T>(mut rows: Vec<T>, limit: i64, id: impl Fn(&T) -> i64) -> (Vec<T>, Option<i64>) {
    if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        let cursor = rows.last().map(&id);
        (rows, cursor)
    } else {
        (rows, None)
    }
}

/// Connections kept for the read every request starts with: its session and, on the Users tab,
/// the page read in the same statement (`sessions::resolve*`).
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

//! Connection pool and migrations.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::Connection;
use sqlx::PgPool;
use std::str::FromStr;
use std::time::{Duration, Instant};

pub type Db = PgPool;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

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
    MIGRATOR.run(db).await
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
/// PostgreSQL for every request that cost 3-6% of the Users tab's throughput (bench/users-page).
/// A connection whose statement ran to completion is idle and in a known state, so the lane
/// hands it to the next request as it is. One abandoned mid-statement (its request cancelled)
/// or that failed is closed instead, and replaced on demand.
pub struct ReadLane {
    options: PgConnectOptions,
    /// Fair (first come, first served), so a busy lane queues requests in order.
    permits: tokio::sync::Semaphore,
    idle: std::sync::Mutex<Vec<IdleConnection>>,
}

struct IdleConnection {
    conn: sqlx::PgConnection,
    opened_at: Instant,
    idle_since: Instant,
}

/// A connection idle this long is pinged before use: PostgreSQL, or something between, may have
/// closed it meanwhile. One in steady use needs no test; its last statement just worked.
const TEST_AFTER_IDLE: Duration = Duration::from_secs(5);
/// Connections are replaced after this long, as sqlx's pool does, so none holds memory or a
/// stale server-side state forever.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

impl ReadLane {
    /// A lane of at most `size` connections to the database `pool` connects to; opened lazily.
    pub fn new(pool: &Db, size: u32) -> ReadLane {
        ReadLane {
            options: (*pool.connect_options()).clone(),
            permits: tokio::sync::Semaphore::new(size.max(1) as usize),
            idle: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Waits for a turn on the lane and a live connection. Call [`LaneConnection::finished`]
    /// once its statement has completed, or the connection is closed when dropped.
    pub async fn acquire(&self) -> Result<LaneConnection<'_>, sqlx::Error> {
        let permit = self
            .permits
            .acquire()
            .await
            .expect("the lane's semaphore is never closed");
        loop {
            let reused = self.idle.lock().expect("lane lock").pop();
            let Some(mut idle) = reused else {
                let conn = sqlx::PgConnection::connect_with(&self.options).await?;
                return Ok(LaneConnection::new(self, permit, conn, Instant::now()));
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
            return Ok(LaneConnection::new(self, permit, idle.conn, idle.opened_at));
        }
    }
}

/// A connection of the [`ReadLane`], returned to it only when marked finished.
pub struct LaneConnection<'a> {
    lane: &'a ReadLane,
    _permit: tokio::sync::SemaphorePermit<'a>,
    conn: Option<sqlx::PgConnection>,
    opened_at: Instant,
    finished: bool,
}

impl<'a> LaneConnection<'a> {
    fn new(
        lane: &'a ReadLane,
        permit: tokio::sync::SemaphorePermit<'a>,
        conn: sqlx::PgConnection,
        opened_at: Instant,
    ) -> Self {
        LaneConnection {
            lane,
            _permit: permit,
            conn: Some(conn),
            opened_at,
            finished: false,
        }
    }

    /// The statement ran to completion: the connection goes back to the lane as it is.
    pub fn finished(mut self) {
        self.finished = true;
    }
}

impl std::ops::Deref for LaneConnection<'_> {
    type Target = sqlx::PgConnection;
    fn deref(&self) -> &sqlx::PgConnection {
        self.conn.as_ref().expect("present until dropped")
    }
}

impl std::ops::DerefMut for LaneConnection<'_> {
    fn deref_mut(&mut self) -> &mut sqlx::PgConnection {
        self.conn.as_mut().expect("present until dropped")
    }
}

impl Drop for LaneConnection<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if self.finished {
            self.lane.idle.lock().expect("lane lock").push(IdleConnection {
                conn,
                opened_at: self.opened_at,
                idle_since: Instant::now(),
            });
        }
        // Otherwise the connection may be mid-statement: dropping it closes the socket, and
        // PostgreSQL ends that session.
    }
}

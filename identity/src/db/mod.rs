//! The database: the connection pool, migrations, keyset paging, the typed column tables that
//! long statements are written and decoded from, and the read lane (private to the engine) that
//! serves the session read every request starts with.

pub(crate) mod columns;
pub(crate) mod lane;
mod paging;
pub mod rate_window;

pub use paging::keyset_page;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::str::FromStr;
use std::time::Duration;

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

/// A listener for `NOTIFY` on `channel`, on a connection of its own rather than one of the
/// pool's: a listener holds its connection for as long as it listens, and the pool's few
/// connections serve requests (one held by a listener cost a tenth of SCIM's lookups a second
/// on a 2-core machine, bench/scim). Reconnects as `PgListener` does.
pub async fn listen(db: &Db, channel: &str) -> Result<sqlx::postgres::PgListener, sqlx::Error> {
    let own = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_with((*db.connect_options()).clone())
        .await?;
    let mut listener = sqlx::postgres::PgListener::connect_with(&own).await?;
    listener.listen(channel).await?;
    Ok(listener)
}

/// Applies pending migrations. Safe to run from several servers at once: sqlx takes an
/// advisory lock while migrating.
pub async fn migrate(db: &Db) -> Result<(), sqlx::migrate::MigrateError> {
    migrator().run(db).await
}

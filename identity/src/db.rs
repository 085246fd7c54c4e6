//! Connection pool and migrations.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::str::FromStr;
use std::time::Duration;

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

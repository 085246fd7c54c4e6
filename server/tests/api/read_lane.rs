//! The connections the session read of every request uses (`identity::db::ReadLane`).

use crate::helpers::*;
use identity::db::{LaneConnection, ReadLane};
use std::time::Duration;

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
    let app = spawn_app().await;
    let lane = ReadLane::new(&app.db, 1);

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
        .execute(&app.db)
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
    let app = spawn_app().await;
    let lane = ReadLane::new(&app.db, 1);
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

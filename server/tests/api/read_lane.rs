//! The connections the session read of every request uses (`identity::db::ReadLane`).

use crate::helpers::*;
use identity::db::{LaneConnection, ReadLane};
use std::time::Duration;

async fn backend_pid(conn: &mut LaneConnection<'_>) -> i32 {
    sqlx::query_scalar("select pg_backend_pid()")
        .fetch_one(&mut **conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_finished_connection_is_reused_and_an_unfinished_one_is_replaced() {
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
    // Dropped without `finished`: it may be mid-statement, so it is closed, not reused.
    drop(conn);

    let mut conn = lane.acquire().await.unwrap();
    let second = backend_pid(&mut conn).await;
    assert_ne!(second, first, "an unfinished connection was handed out again");
    conn.finished();

    // A request cancelled mid-statement (a client hung up): the next read gets a fresh
    // connection at once, not one still busy with the abandoned statement.
    let mut conn = lane.acquire().await.unwrap();
    let abandoned = tokio::time::timeout(
        Duration::from_millis(200),
        sqlx::query("select pg_sleep(30)").execute(&mut *conn),
    )
    .await;
    assert!(abandoned.is_err(), "the statement should still have been running");
    drop(conn);
    let mut conn = tokio::time::timeout(Duration::from_secs(5), lane.acquire())
        .await
        .expect("the next read waited for the abandoned statement")
        .unwrap();
    let third = backend_pid(&mut conn).await;
    assert!(third != second && third != first);
    conn.finished();
}

#[tokio::test]
async fn the_lane_never_holds_more_connections_than_its_size_and_serves_waiters_in_turn() {
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
    // A waiter gets the connection as soon as it is finished with, the same one.
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

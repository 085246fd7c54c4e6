//! Health checks, and what static files do not do.

use crate::helpers::*;
use std::time::Duration;

#[tokio::test]
async fn readyz_says_not_ready_while_the_database_refuses_connections_and_recovers_after() {
    let app = spawn_app().await;
    let ready = reqwest::get(format!("{}/readyz", app.address)).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.unwrap(), "ready");

    // The database stops taking connections, and the server's are ended.
    let name = database_name(&app.database_url);
    let admin = admin_connection().await;
    sqlx::query(&format!("alter database {name} allow_connections false"))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query(
        "select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
    )
    .bind(&name)
    .execute(&admin)
    .await
    .unwrap();

    let not_ready = reqwest::get(format!("{}/readyz", app.address)).await.unwrap();
    assert_eq!(not_ready.status(), 503);
    assert_eq!(not_ready.text().await.unwrap(), "database unavailable");
    // The process itself is still up.
    let alive = reqwest::get(format!("{}/healthz", app.address)).await.unwrap();
    assert_eq!(alive.status(), 200);

    sqlx::query(&format!("alter database {name} allow_connections true"))
        .execute(&admin)
        .await
        .unwrap();
    let mut recovered = false;
    for _ in 0..50 {
        if reqwest::get(format!("{}/readyz", app.address)).await.unwrap().status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "readyz stayed unavailable after the database came back");
}

#[tokio::test]
async fn static_files_are_served_without_a_session_lookup() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    let cookie = session_cookie(&admin.sign_in("ada@acme.test", PASSWORD).await);
    // A session last seen two minutes ago is touched by the next request that reads it.
    let stale = |db: sqlx::PgPool| async move {
        sqlx::query("update sessions set last_seen_at = now() - interval '2 minutes'")
            .execute(&db)
            .await
            .unwrap();
    };
    let last_seen = |db: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, bool>("select bool_and(last_seen_at < now() - interval '1 minute') from sessions")
            .fetch_one(&db)
            .await
            .unwrap()
    };
    let client = reqwest::Client::new();
    stale(app.db.clone()).await;
    for path in ["/favicon.svg", "/pkg/rollcall.css"] {
        let res = client
            .get(format!("{}{path}", app.address))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
    }
    assert!(last_seen(app.db.clone()).await, "a static file read the session");

    // The same check sees a page's session read.
    let page = client
        .get(format!("{}/profile", app.address))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(!last_seen(app.db.clone()).await, "the page did not read the session");
}

/// Attack: slow or silent clients hold connections (and file descriptors) open until the
/// server can take no one else.
#[tokio::test]
async fn silent_connections_are_closed_and_past_the_limit_new_ones_are_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(|s| s.max_connections = 3).await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    // Three silent connections fill the server.
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fourth = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let _ = fourth.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(2), fourth.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "a connection past the limit was served: {read:?}"
    );
    // The silent ones are closed once their time to send headers is up.
    let started = std::time::Instant::now();
    for conn in &mut silent {
        let read = tokio::time::timeout(Duration::from_secs(15), conn.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "a silent connection was kept open or answered: {read:?}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(15));
    // And the server takes new clients again.
    let res = reqwest::get(format!("{}/healthz", app.address)).await.unwrap();
    assert_eq!(res.status(), 200);
}

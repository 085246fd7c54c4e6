//! Attack: another OS user on the machine connects to the embedded cluster (once, with trust
//! authentication and a world-reachable socket, as its superuser) to plant a session or run
//! programs as the cluster's user. Only Rollcall's own OS user may connect.

use crate::helpers::*;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

#[tokio::test]
async fn another_os_user_cannot_connect_to_the_embedded_database_nor_read_its_files() {
    spawn_app().await; // the test cluster is up
    let url = rollcall_server::embedded_pg::EmbeddedPostgres::running_url(&cluster_dir())
        .await
        .unwrap()
        .expect("the test cluster runs");
    // Inside the data directory, or relocated when the postgres user cannot reach it: the
    // socket directory the URL names is `<cluster>/run`.
    let socket_dir = std::path::PathBuf::from(url.split("host=").nth(1).expect("a socket directory"));
    let root = socket_dir.parent().expect("the cluster directory").to_path_buf();
    for (dir, what) in [
        (root.clone(), "cluster"),
        (root.join("run"), "socket"),
        (root.join("data"), "data"),
    ] {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode & 0o077,
            0,
            "the {what} directory {} is open to others ({mode:o})",
            dir.display()
        );
    }

    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        // Switching to another user needs root: as an unprivileged user the modes above are
        // what keeps others out, and they were checked.
        return;
    }
    let as_nobody = Command::new("runuser")
        .args(["-u", "nobody", "--", "psql", &url, "-tAc", "select 1"])
        .output()
        .expect("runuser and psql");
    assert!(
        !as_nobody.status.success(),
        "another OS user connected: {}",
        String::from_utf8_lossy(&as_nobody.stdout)
    );
    // Rollcall's own user still can.
    let as_rollcall = Command::new("psql").args([&url, "-tAc", "select 1"]).output().unwrap();
    assert!(
        as_rollcall.status.success(),
        "{}",
        String::from_utf8_lossy(&as_rollcall.stderr)
    );
}

#[tokio::test]
async fn a_fresh_data_directory_gets_a_fresh_cluster_and_the_old_one_is_an_orphan_to_remove() {
    use rollcall_server::embedded_pg::{orphans, remove_orphan, EmbeddedPostgres};
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        // Clusters are relocated only when root runs them as the postgres user; otherwise the
        // cluster always lives inside its data directory and goes with it.
        return;
    }
    // A private parent the postgres user cannot enter, as a checkout under /root would be.
    let private = std::env::temp_dir().join(format!("rollcall-private-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let data_dir = private.join("data");

    let first = EmbeddedPostgres::start(&data_dir).await.unwrap();
    let first_url = first.url("rollcall");
    first.stop().await.unwrap();
    std::fs::remove_dir_all(&data_dir).unwrap();

    // The same path again, fresh: a cluster of its own, not the one left behind.
    let second = EmbeddedPostgres::start(&data_dir).await.unwrap();
    assert_ne!(
        second.url("rollcall"),
        first_url,
        "a fresh data directory adopted an old cluster"
    );
    let left = orphans().unwrap();
    let orphan = left
        .iter()
        .find(|o| o.data_dir.as_deref() == Some(data_dir.to_str().unwrap()))
        .expect("the first cluster is listed as an orphan");
    assert!(!second.url("rollcall").contains(orphan.cluster.to_str().unwrap()));
    remove_orphan(orphan).await.unwrap();
    assert!(!orphan.cluster.exists());
    assert!(
        !orphans()
            .unwrap()
            .iter()
            .any(|o| o.data_dir.as_deref() == Some(data_dir.to_str().unwrap())),
        "the cluster in use was taken for an orphan"
    );
    second.stop().await.unwrap();
    std::fs::remove_dir_all(&data_dir).unwrap();
    for o in orphans()
        .unwrap()
        .into_iter()
        .filter(|o| o.data_dir.as_deref() == Some(data_dir.to_str().unwrap()))
    {
        remove_orphan(&o).await.unwrap();
    }
    let _ = std::fs::remove_dir_all(&private);
}

#[tokio::test]
async fn servers_and_commands_started_at_once_on_one_data_directory_all_get_in() {
    use rollcall_server::embedded_pg::EmbeddedPostgres;
    use sqlx::Connection;
    // What the end-to-end suite does: a server starts, and CLI commands start beside it on the
    // same data directory. Each start rewrites the access rules and reloads a running cluster;
    // a rules file caught half-written by another's reload once shut a command out ("Peer
    // authentication failed"), and two first starts both ran initdb.
    let data_dir = std::env::temp_dir().join(format!("rollcall-concurrent-{}", uuid::Uuid::new_v4().simple()));
    let mut starts = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let data_dir = data_dir.clone();
        starts.spawn(async move { EmbeddedPostgres::start(&data_dir).await });
    }
    let started: Vec<_> = starts
        .join_all()
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("every first start succeeds");
    assert_eq!(
        started.iter().filter(|pg| pg.started_here()).count(),
        1,
        "exactly one start ran the cluster"
    );
    for round in 0..3 {
        let mut joins = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let data_dir = data_dir.clone();
            joins.spawn(async move {
                let pg = EmbeddedPostgres::start(&data_dir).await?;
                let mut conn = sqlx::PgConnection::connect(&pg.url("rollcall")).await?;
                let one: i32 = sqlx::query_scalar("select 1").fetch_one(&mut conn).await?;
                anyhow::Ok(one)
            });
        }
        for joined in joins.join_all().await {
            assert_eq!(joined.unwrap_or_else(|e| panic!("round {round}: {e:#}")), 1);
        }
    }
    let running = started
        .into_iter()
        .find(|pg| pg.started_here())
        .expect("the one that started it");
    running.stop().await.unwrap();
    std::fs::remove_dir_all(&data_dir).unwrap();
}

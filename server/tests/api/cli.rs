use crate::helpers::*;
use std::io::Write;
use std::process::{Command, Stdio};

fn spawn_rollcall(database_url: &str, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn rollcall(database_url: &str, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = spawn_rollcall(database_url, args);
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn org_create_prints_the_slug_first_and_the_admin_can_sign_in() {
    let app = spawn_app().await;
    let out = rollcall(
        &app.database_url,
        &[
            "org",
            "create",
            "--name",
            "Gamma Labs",
            "--admin-email",
            "gus@gamma.test",
            "--admin-password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().next(), Some("gamma-labs"));
    assert!(!stdout.contains(PASSWORD) && !String::from_utf8_lossy(&out.stderr).contains(PASSWORD));

    let user = rollcall(
        &app.database_url,
        &[
            "user",
            "create",
            "--org",
            "gamma-labs",
            "--email",
            "m@gamma.test",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(user.status.success(), "{}", String::from_utf8_lossy(&user.stderr));

    let browser = app.browser();
    browser.sign_in("m@gamma.test", PASSWORD).await;
    assert_eq!(browser.whoami().await.as_deref(), Some("m@gamma.test"));
}

#[tokio::test]
async fn org_create_with_a_weak_password_fails_clearly_and_creates_nothing() {
    let app = spawn_app().await;
    let out = rollcall(
        &app.database_url,
        &[
            "org",
            "create",
            "--name",
            "Weak",
            "--admin-email",
            "w@weak.test",
            "--admin-password-stdin",
        ],
        "short\n",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 10 characters"));
    let orgs: i64 = sqlx::query_scalar("select count(*) from orgs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(orgs, 0);
}

#[tokio::test]
async fn a_reader_that_stops_early_does_not_make_a_command_fail() {
    let app = spawn_app().await;
    app.first_admin().await;
    // `rollcall org create … | head -0`: the org is created even though nobody reads the slug.
    let mut child = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .args([
            "org",
            "create",
            "--name",
            "Delta",
            "--admin-email",
            "d@delta.test",
            "--admin-password-stdin",
        ])
        .env("DATABASE_URL", &app.database_url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader is gone before anything is printed
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    let orgs: i64 = sqlx::query_scalar("select count(*) from orgs where slug = 'delta'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(orgs, 1);
}

#[tokio::test]
async fn servers_starting_together_on_a_new_data_directory_agree_on_one_secret_key() {
    let dir = std::env::temp_dir().join(format!("rollcall-key-{}", uuid::Uuid::new_v4()));
    let mut settings = settings(String::new());
    settings.data_dir = dir.clone();
    settings.secret_key = None;
    let keys: Vec<String> = std::thread::scope(|scope| {
        let starts: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| settings.load_secret_key().unwrap().to_hex()))
            .collect();
        starts.into_iter().map(|s| s.join().unwrap()).collect()
    });
    assert!(
        keys.iter().all(|k| *k == keys[0]),
        "servers disagree on the key: {keys:?}"
    );
    assert_eq!(std::fs::read_to_string(dir.join("secret.key")).unwrap(), keys[0]);
    let leftovers = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(leftovers, 1, "only secret.key remains in the data directory");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn integration_set_and_list_follow_the_apps_rules_and_one_organisation_belongs_to_one_workspace() {
    let app = spawn_app_with(|s| s.open_signup = true).await;
    app.first_admin().await;
    app.another_workspace("Globex", "gus@globex.test").await;
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_rollcall"))
            .args(args)
            .env("DATABASE_URL", &app.database_url)
            .env("ROLLCALL_DATA_DIR", cluster_dir())
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let set = |org: &str, provider: &str, mode: &str, key: Option<&str>| {
        let mut args = vec![
            "integration",
            "set",
            "--org",
            org,
            "--provider",
            provider,
            "--mode",
            mode,
        ];
        if let Some(key) = key {
            args.extend(["--org-key", key]);
        }
        run(&args)
    };
    let (ok, out, err) = set("acme", "google", "org-connected", Some("Acme.TEST"));
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "google\torg-connected\tacme.test\t0 linked");
    // Organisation connected needs an organisation.
    let (ok, _, err) = set("acme", "slack", "org-connected", None);
    assert!(!ok && err.contains("Connect your organisation first"), "{err}");
    // The same domain for another workspace is refused, naming the rule.
    let (ok, _, err) = set("globex", "google", "org-connected", Some("acme.test"));
    assert!(
        !ok && err.contains("already connected to another Rollcall workspace"),
        "{err}"
    );
    let (ok, out, _) = run(&["integration", "list", "--org", "acme"]);
    assert!(ok);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "google\torg-connected\tacme.test\t0 linked",
            "microsoft\toff\t-\t0 linked",
            "slack\toff\t-\t0 linked"
        ]
    );
    // Off frees the domain, and is audited like the app's Disable.
    let (ok, _, err) = set("acme", "google", "off", None);
    assert!(ok, "{err}");
    let (ok, _, err) = set("globex", "google", "org-connected", Some("acme.test"));
    assert!(ok, "{err}");
    let actions: Vec<String> = sqlx::query_scalar(
        "select action from audit_events where action like 'integration.%' order by occurred_at, id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            "integration.mode_changed",
            "integration.disabled",
            "integration.mode_changed"
        ]
    );
    let (ok, _, err) = run(&["integration", "list", "--org", "nope"]);
    assert!(!ok && err.contains("no workspace with that slug"), "{err}");
}

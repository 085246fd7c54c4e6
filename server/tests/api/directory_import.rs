//! Connecting the organisation's directory and importing people (#19), end to end through the
//! server's routes and its worker, against the fakes serving each provider's sign-in, consent
//! and directory on one origin (`FakeDirectory::start_with_idp`).

use crate::helpers::*;
use fakes::directory::{generate, DirectoryFlavor, DirectoryPerson, FakeDirectory, PersonKind, DEFAULT_DOMAIN};
use fakes::{FakeIdp, Persona};
use rollcall_server::config::Settings;
use std::time::Duration;

fn configure(settings: &mut Settings, dir: &FakeDirectory) {
    let (id, secret, origin, api) = (
        Some(dir.client_id().to_owned()),
        Some(dir.client_secret().to_owned().into()),
        dir.origin(),
        dir.base_url(),
    );
    match dir.flavor() {
        DirectoryFlavor::Google => {
            settings.google_client_id = id;
            settings.google_client_secret = secret;
            settings.google_issuer = origin;
            settings.google_directory_url = api;
        }
        DirectoryFlavor::Microsoft => {
            settings.microsoft_client_id = id;
            settings.microsoft_client_secret = secret;
            settings.microsoft_authority = origin;
            settings.graph_url = api;
        }
        DirectoryFlavor::Slack => {
            settings.slack_client_id = id;
            settings.slack_client_secret = secret;
            settings.slack_issuer = origin;
            settings.slack_api_url = api;
        }
    }
}

/// A server whose first workspace (Acme, admin ada@acme.test) has `flavor` connected to
/// `org_key`, and a fake directory of `people` with the provider's sign-in beside it.
async fn connected(
    flavor: DirectoryFlavor,
    people: Vec<DirectoryPerson>,
    org_key: &str,
) -> (TestApp, FakeDirectory, FakeIdp, Browser) {
    let (dir, idp) = FakeDirectory::start_with_idp(flavor, "127.0.0.1:0".parse().unwrap(), people)
        .await
        .unwrap();
    let app = spawn_app_with(|s| configure(s, &dir)).await;
    let admin = app.first_admin().await;
    sqlx::query("insert into integrations (org_id, provider, mode, org_key) values ($1, $2, 'org_connected', $3)")
        .bind(app.org_id("acme").await)
        .bind(flavor.name())
        .bind(org_key)
        .execute(&app.db)
        .await
        .unwrap();
    (app, dir, idp, admin)
}

/// "Import people" on the card: through the provider's consent (which answers at once) and
/// back to Rollcall's callback. Returns the callback's answer.
async fn grant_access(browser: &Browser, provider: &str) -> reqwest::Response {
    through_provider(browser, &format!("/integrations/{provider}/directory/connect")).await
}

/// Waits for the workspace's latest read of `provider` to end; returns (people, failed note).
async fn read_finished(app: &TestApp, provider: &str) -> (i32, Option<String>) {
    for _ in 0..300 {
        let row: Option<(i32, bool, Option<String>)> = sqlx::query_as(
            "select people, finished_at is not null, case when failed_at is not null then coalesce(last_error, 'failed') end
             from directory_fetches where provider = $1 order by id desc limit 1",
        )
        .bind(provider)
        .fetch_optional(&app.db)
        .await
        .unwrap();
        match row {
            Some((people, true, _)) => return (people, None),
            Some((people, false, Some(failed))) => return (people, Some(failed)),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    panic!("the directory read did not finish");
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

/// Every user row's version of itself: any update changes a row's `xmin`.
async fn user_rows(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("select xmin::text from users order by id")
        .fetch_all(&app.db)
        .await
        .unwrap()
}

async fn state_counts(admin: &Browser, provider: &str) -> serde_json::Value {
    admin
        .call_json::<serde_json::Value>(
            "directory_view",
            &[
                ("provider", provider),
                ("state", ""),
                ("q", ""),
                ("group", ""),
                ("page", "1"),
            ],
        )
        .await
}

fn count_of(view: &serde_json::Value, state: &str) -> i64 {
    view["counts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c[0] == state)
        .map(|c| c[2].as_i64().unwrap())
        .unwrap()
}

#[tokio::test]
async fn a_google_admin_grants_access_the_directory_is_read_and_everyone_ready_is_imported_once() {
    let people = generate(DirectoryFlavor::Google, 1_234, 7);
    let (app, dir, idp, admin) = connected(DirectoryFlavor::Google, people, DEFAULT_DOMAIN).await;
    let res = grant_access(&admin, "google").await;
    assert_eq!(
        location(&res),
        "/integrations/google/import?connected=1",
        "{}",
        flash_error(&admin).await
    );
    assert_eq!(idp.refresh_tokens(), 1, "offline consent hands out a refresh token");
    // The tokens are sealed, never stored as they are.
    let sealed: Vec<u8> = sqlx::query_scalar("select refresh_token from directory_connections")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains("1//fake-"));

    let (read, failed) = read_finished(&app, "google").await;
    // Google does not list deleted people.
    let listed = dir.people().iter().filter(|p| p.kind != PersonKind::Deleted).count();
    assert_eq!((read as usize, failed), (listed, None));
    let view = state_counts(&admin, "google").await;
    let ready = count_of(&view, "ready");
    let skipped = count_of(&view, "skipped");
    let expected_skips = dir
        .people()
        .iter()
        .filter(|p| matches!(p.kind, PersonKind::Suspended | PersonKind::Archived))
        .count();
    assert_eq!(
        skipped as usize, expected_skips,
        "suspended and archived people are skipped"
    );
    assert_eq!((ready + skipped) as usize, listed);

    let res = admin.form("/integrations/google/import", &[("all", "1")]).await;
    assert_eq!(res.status(), 303);
    let imported = count(
        &app,
        "select count(*) from users where status = 'imported' and source = 'google'",
    )
    .await;
    assert_eq!(imported, ready);
    let view = state_counts(&admin, "google").await;
    assert_eq!((count_of(&view, "ready"), count_of(&view, "imported")), (0, ready));

    // Importing the same people again writes no row at all.
    let before = user_rows(&app).await;
    admin.form("/integrations/google/import", &[("all", "1")]).await;
    assert_eq!(user_rows(&app).await, before, "an unchanged re-import updated rows");

    // Every step is in the Activity tab with its counts.
    let details: serde_json::Value =
        sqlx::query_scalar("select details from audit_events where action = 'directory.imported'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(details["created"], ready);
    assert_eq!(
        count(
            &app,
            "select count(*) from audit_events where action = 'directory.fetched'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &app,
            "select count(*) from audit_events where action = 'directory.connected'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_directory_of_another_organisation_is_refused_naming_both() {
    let people = generate(DirectoryFlavor::Google, 20, 1);
    let (app, _dir, _idp, admin) = connected(DirectoryFlavor::Google, people, "acme.test").await;
    let res = grant_access(&admin, "google").await;
    assert_eq!(location(&res), "/auth/problem");
    let message = flash_error(&admin).await;
    assert!(
        message.contains("example.com") && message.contains("acme.test"),
        "{message}"
    );
    assert_eq!(count(&app, "select count(*) from directory_connections").await, 0);
    assert_eq!(count(&app, "select count(*) from directory_fetches").await, 0);
}

#[tokio::test]
async fn the_directory_cannot_be_connected_before_the_organisation_is() {
    let (dir, _idp) = FakeDirectory::start_with_idp(DirectoryFlavor::Slack, "127.0.0.1:0".parse().unwrap(), vec![])
        .await
        .unwrap();
    let app = spawn_app_with(|s| configure(s, &dir)).await;
    let admin = app.first_admin().await;
    let res = admin.get("/integrations/slack/directory/connect").await;
    assert_eq!(location(&res), "/auth/problem");
    assert!(flash_error(&admin).await.contains("Connect your organisation"));
}

#[tokio::test]
async fn selected_people_are_imported_and_an_existing_person_with_their_email_is_linked_not_duplicated() {
    let people = vec![
        DirectoryPerson::new("U0ADA", Some("ada@example.com"), "Ada", "Lovelace").kind(PersonKind::Admin),
        DirectoryPerson::new("U0BOB", Some("Bob@Example.com"), "Bob", "Builder"),
        DirectoryPerson::new("U0CY", Some("cy@example.com"), "Cy", "Twombly"),
        DirectoryPerson::new("U0BOT", None, "Deploy", "Bot").kind(PersonKind::Bot),
    ];
    let (app, _dir, _idp, admin) = connected(DirectoryFlavor::Slack, people, fakes::directory::DEFAULT_TEAM).await;
    // Bob is already in Rollcall, by hand.
    let res = admin
        .call(
            "create_user",
            &[
                ("email", "bob@example.com"),
                ("given_name", ""),
                ("family_name", ""),
                ("role", "member"),
            ],
        )
        .await;
    assert!(res.status().is_success());
    let res = grant_access(&admin, "slack").await;
    assert_eq!(
        location(&res),
        "/integrations/slack/import?connected=1",
        "{}",
        flash_error(&admin).await
    );
    read_finished(&app, "slack").await;
    let users_before = count(&app, "select count(*) from users").await;
    let res = admin
        .form(
            "/integrations/slack/import",
            &[("id", "U0BOB"), ("id", "U0CY"), ("id", "U0BOT")],
        )
        .await;
    assert_eq!(res.status(), 303);
    // Cy is new; Bob is linked (one row, his upstream id recorded); the bot is left out.
    assert_eq!(count(&app, "select count(*) from users").await, users_before + 1);
    let bob: (String, serde_json::Value) =
        sqlx::query_as("select status, external_ids from users where lower(email) = 'bob@example.com'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(bob.1["slack"], "U0BOB");
    let cy: (String, String) = sqlx::query_as("select status, source from users where email = 'cy@example.com'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(cy, ("imported".to_owned(), "slack".to_owned()));
    assert_eq!(
        count(
            &app,
            "select count(*) from users where external_ids ? 'slack' and email like '%bot%'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn people_removed_upstream_are_deactivated_only_when_the_admin_confirms_with_the_count() {
    let people = generate(DirectoryFlavor::Microsoft, 60, 3);
    let (app, dir, _idp, admin) = connected(
        DirectoryFlavor::Microsoft,
        people.clone(),
        fakes::directory::DEFAULT_TENANT,
    )
    .await;
    let res = grant_access(&admin, "microsoft").await;
    assert_eq!(
        location(&res),
        "/integrations/microsoft/import?connected=1",
        "{}",
        flash_error(&admin).await
    );
    read_finished(&app, "microsoft").await;
    admin.form("/integrations/microsoft/import", &[("all", "1")]).await;
    let imported = count(&app, "select count(*) from users where source = 'microsoft'").await;
    assert!(imported > 20, "{imported}");

    // A third of the importable people leave the directory; the next (delta) read reports them.
    let importable: Vec<&DirectoryPerson> = people
        .iter()
        .filter(|p| matches!(p.kind, PersonKind::Member | PersonKind::Admin) && p.email.is_some())
        .collect();
    let leaving: Vec<String> = importable
        .iter()
        .take(importable.len() / 3)
        .map(|p| p.id.clone())
        .collect();
    dir.set_people(people.iter().filter(|p| !leaving.contains(&p.id)).cloned().collect());
    let res = admin.form("/integrations/microsoft/directory/sync", &[]).await;
    assert_eq!(location(&res), "/integrations/microsoft/import");
    read_finished(&app, "microsoft").await;
    let view = state_counts(&admin, "microsoft").await;
    assert_eq!(count_of(&view, "removed") as usize, leaving.len());
    // The sync itself deactivated nobody.
    assert_eq!(
        count(&app, "select count(*) from users where status = 'deactivated'").await,
        0
    );

    // More than a tenth of the workspace: refused until the count is typed in.
    let all_removed = [("all", "1"), ("state", "removed")];
    admin
        .form("/integrations/microsoft/deactivate-removed", &all_removed)
        .await;
    assert!(flash_error(&admin).await.contains(&format!("Type {}", leaving.len())));
    assert_eq!(
        count(&app, "select count(*) from users where status = 'deactivated'").await,
        0
    );
    let typed = leaving.len().to_string();
    admin
        .form(
            "/integrations/microsoft/deactivate-removed",
            &[("all", "1"), ("state", "removed"), ("confirm", &typed)],
        )
        .await;
    assert_eq!(
        count(&app, "select count(*) from users where status = 'deactivated'").await as usize,
        leaving.len()
    );
    assert_eq!(
        count(
            &app,
            "select count(*) from audit_events where action = 'directory.deactivated'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn consent_revoked_upstream_shows_as_lost_access_and_stops_the_read() {
    let people = generate(DirectoryFlavor::Google, 30, 2);
    let (app, _dir, idp, admin) = connected(DirectoryFlavor::Google, people, DEFAULT_DOMAIN).await;
    grant_access(&admin, "google").await;
    read_finished(&app, "google").await;
    // The admin removes Rollcall's access; the kept access token has run out.
    idp.revoke_refresh_tokens();
    sqlx::query("update directory_connections set access_expires_at = now()")
        .execute(&app.db)
        .await
        .unwrap();
    admin.form("/integrations/google/directory/sync", &[]).await;
    let (_, failed) = read_finished(&app, "google").await;
    assert!(failed.unwrap().contains("lost access"));
    let status: String = sqlx::query_scalar("select status from directory_connections")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "lost_access");
    let page = admin.get("/integrations").await.text().await.unwrap();
    assert!(
        page.contains("Rollcall lost access to the directory: reconnect."),
        "the card says so"
    );
}

const ADA_OID: &str = "3f0a7c52-1b6e-4d2a-9e8f-5c4b3a2d1e0f";
const BO_OID: &str = "8d2e4f6a-0b1c-4e3d-a5f7-9b8c7d6e5f4a";

#[tokio::test]
async fn an_imported_person_signs_in_with_the_provider_by_upstream_id_once_invited() {
    let people = vec![
        DirectoryPerson::new(ADA_OID, Some("ada@example.com"), "Ada", "L").kind(PersonKind::Admin),
        DirectoryPerson::new(BO_OID, Some("bo@example.com"), "Bo", "Diddley"),
    ];
    let (dir, idp) = FakeDirectory::start_with_idp(DirectoryFlavor::Microsoft, "127.0.0.1:0".parse().unwrap(), people)
        .await
        .unwrap();
    let app = spawn_app_with(|s| configure(s, &dir)).await;
    let admin = app.first_admin().await;
    let tenant = fakes::directory::DEFAULT_TENANT;
    sqlx::query(
        "insert into integrations (org_id, provider, mode, org_key) values ($1, 'microsoft', 'org_connected', $2)",
    )
    .bind(app.org_id("acme").await)
    .bind(tenant)
    .execute(&app.db)
    .await
    .unwrap();
    grant_access(&admin, "microsoft").await;
    read_finished(&app, "microsoft").await;
    admin.form("/integrations/microsoft/import", &[("id", BO_OID)]).await;

    // Bo's Entra account: his object id in the tenant; the email the sign-in shows differs.
    let mut bo = Persona::new(BO_OID, "bo.diddley@elsewhere.test").org(tenant);
    bo.email_verified = Some(false);
    idp.sign_in_as(bo);
    let sign_in = |browser: Browser| async move {
        let res = through_provider(&browser, "/auth/microsoft/start").await;
        (browser, res)
    };
    // Imported but not invited yet: told to wait for the invitation.
    let (browser, res) = sign_in(app.browser()).await;
    assert_eq!(location(&res), "/auth/problem");
    let message = flash_error(&browser).await;
    assert!(message.contains("has not invited you"), "{message}");

    let bo_id = app.user_id("bo@example.com").await;
    let res = admin.call("invite_users", &[("ids[0]", &bo_id.to_string())]).await;
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    let (browser, res) = sign_in(app.browser()).await;
    assert_eq!(location(&res), "/", "{}", flash_error(&browser).await);
    assert_eq!(browser.whoami().await.as_deref(), Some("bo@example.com"));
    let status: String = sqlx::query_scalar("select status from users where id = $1")
        .bind(bo_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "active");
}

#[tokio::test]
async fn another_workspace_can_neither_see_nor_import_nor_deactivate_a_workspace_s_directory_people() {
    let people = generate(DirectoryFlavor::Slack, 40, 5);
    let (dir, _idp) = FakeDirectory::start_with_idp(DirectoryFlavor::Slack, "127.0.0.1:0".parse().unwrap(), people)
        .await
        .unwrap();
    let app = spawn_app_with(|s| {
        configure(s, &dir);
        s.open_signup = true;
    })
    .await;
    let admin = app.first_admin().await;
    sqlx::query("insert into integrations (org_id, provider, mode, org_key) values ($1, 'slack', 'org_connected', $2)")
        .bind(app.org_id("acme").await)
        .bind(fakes::directory::DEFAULT_TEAM)
        .execute(&app.db)
        .await
        .unwrap();
    grant_access(&admin, "slack").await;
    read_finished(&app, "slack").await;
    let ids: Vec<String> = sqlx::query_scalar("select upstream_id from directory_entries limit 10")
        .fetch_all(&app.db)
        .await
        .unwrap();

    app.another_workspace("Globex", "hank@globex.test").await;
    let hank = app.browser();
    hank.sign_in("hank@globex.test", PASSWORD).await;
    let view = state_counts(&hank, "slack").await;
    assert_eq!(view["entries"].as_array().unwrap().len(), 0);
    assert_eq!(view["connected"], false);
    let fields: Vec<(&str, &str)> = ids.iter().map(|id| ("id", id.as_str())).collect();
    hank.form("/integrations/slack/import", &fields).await;
    hank.form("/integrations/slack/import", &[("all", "1")]).await;
    hank.form(
        "/integrations/slack/deactivate-removed",
        &[("all", "1"), ("confirm", "40")],
    )
    .await;
    let res = hank.form("/integrations/slack/directory/sync", &[]).await;
    assert_eq!(location(&res), "/integrations");
    assert_eq!(
        count(&app, "select count(*) from users where source = 'slack'").await,
        0
    );
    assert_eq!(count(&app, "select count(*) from directory_fetches").await, 1);
    // A member of the workspace itself cannot either.
    let res = hank.get("/integrations/slack/directory/connect").await;
    assert_eq!(location(&res), "/auth/problem");
}

#[tokio::test]
async fn an_automatic_sync_starts_once_when_due_however_many_servers_look_and_deactivates_nobody() {
    let people = generate(DirectoryFlavor::Slack, 50, 9);
    let (app, dir, _idp, admin) =
        connected(DirectoryFlavor::Slack, people.clone(), fakes::directory::DEFAULT_TEAM).await;
    grant_access(&admin, "slack").await;
    read_finished(&app, "slack").await;
    admin.form("/integrations/slack/import", &[("all", "1")]).await;
    let res = admin
        .form("/integrations/slack/directory/schedule", &[("every", "6")])
        .await;
    assert_eq!(res.status(), 303);
    let due: Option<bool> =
        sqlx::query_scalar("select next_sync_at > now() + interval '5 hours' from directory_connections")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(due, Some(true), "the next automatic sync is six hours away");

    // Everyone leaves upstream; the sync comes due, and two servers look at once.
    dir.set_people(vec![]);
    sqlx::query("update directory_connections set next_sync_at = now() - interval '1 minute'")
        .execute(&app.db)
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        identity::directory::connections::start_due_syncs(&app.db),
        identity::directory::connections::start_due_syncs(&app.db)
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(count(&app, "select count(*) from directory_fetches").await, 2);
    for _ in 0..300 {
        if count(
            &app,
            "select count(*) from directory_fetches where finished_at is not null",
        )
        .await
            == 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let view = state_counts(&admin, "slack").await;
    assert!(count_of(&view, "removed") > 0);
    assert_eq!(
        count(&app, "select count(*) from users where status = 'deactivated'").await,
        0
    );
    let bad = admin
        .form("/integrations/slack/directory/schedule", &[("every", "5")])
        .await;
    assert_eq!(location(&bad), "/integrations");
    assert!(flash_error(&admin).await.contains("every 6, 12 or 24 hours"));
}

#[tokio::test]
async fn a_directory_entry_with_an_admin_s_email_is_never_linked_to_the_admin() {
    // The directory's administrator gives an account they control the Rollcall admin's address.
    let people = vec![
        DirectoryPerson::new(ADA_OID, Some("ada@example.com"), "Ada", "L").kind(PersonKind::Admin),
        DirectoryPerson::new(BO_OID, Some("ADA@acme.test"), "Mallory", "M"),
    ];
    let (app, _dir, idp, admin) = connected(DirectoryFlavor::Microsoft, people, fakes::directory::DEFAULT_TENANT).await;
    grant_access(&admin, "microsoft").await;
    read_finished(&app, "microsoft").await;
    admin.form("/integrations/microsoft/import", &[("all", "1")]).await;
    let ada: serde_json::Value = sqlx::query_scalar("select external_ids from users where email = 'ada@acme.test'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        ada,
        serde_json::json!({}),
        "the admin was linked to a directory account"
    );
    let view = state_counts(&admin, "microsoft").await;
    assert_eq!(count_of(&view, "skipped"), 1);

    // Signing in as that directory account gets nowhere near the admin.
    idp.sign_in_as(Persona::new(BO_OID, "ada@acme.test").org(fakes::directory::DEFAULT_TENANT));
    let browser = app.browser();
    let res = through_provider(&browser, "/auth/microsoft/start").await;
    assert_eq!(location(&res), "/auth/problem");
    assert_eq!(browser.whoami().await, None);
}

#[tokio::test]
async fn connecting_another_organisation_forgets_the_directory_of_the_first() {
    let people = generate(DirectoryFlavor::Slack, 30, 4);
    let (app, _dir, _idp, admin) = connected(DirectoryFlavor::Slack, people, fakes::directory::DEFAULT_TEAM).await;
    grant_access(&admin, "slack").await;
    read_finished(&app, "slack").await;
    assert!(count(&app, "select count(*) from directory_entries").await > 0);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .args([
            "integration",
            "set",
            "--org",
            "acme",
            "--provider",
            "slack",
            "--mode",
            "org-connected",
            "--org-key",
            "T0OTHERTEAM",
        ])
        .env("DATABASE_URL", &app.database_url)
        .env("ROLLCALL_DATA_DIR", cluster_dir())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(count(&app, "select count(*) from directory_connections").await, 0);
    assert_eq!(count(&app, "select count(*) from directory_entries").await, 0);
}

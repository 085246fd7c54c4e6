use crate::helpers::*;

#[tokio::test]
async fn two_app_servers_on_one_database_behave_as_one_app() {
    let first = spawn_app().await;
    let second = spawn_on(first.database_url.clone(), |_| {}).await;
    assert_ne!(first.address, second.address);

    let admin = first.first_admin().await;
    // A session issued by the first server...
    let cookie = session_cookie(&first.browser().sign_in("ada@acme.test", PASSWORD).await);
    // ...is honoured by the second.
    let me = call_with_cookie(&second.address, &cookie, "whoami", &[]).await;
    assert!(me.contains("ada@acme.test"), "{me}");

    // A user created through one server is listed by the other.
    admin
        .call(
            "create_user",
            &[
                ("email", "x@acme.test"),
                ("given_name", ""),
                ("family_name", ""),
                ("role", "member"),
            ],
        )
        .await;
    let list = call_with_cookie(&second.address, &cookie, "list_users", &[("query[q]", "x@acme")]).await;
    assert!(list.contains("x@acme.test"), "{list}");

    // Signing out on the second server ends the session on the first.
    reqwest::Client::new()
        .post(format!("{}/auth/logout", second.address))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(call_with_cookie(&first.address, &cookie, "whoami", &[]).await, "null");
}

#[tokio::test]
async fn a_server_of_the_previous_release_still_starts_once_a_newer_one_has_migrated() {
    let app = spawn_app().await;
    // What a newer release leaves behind: a migration this one does not know.
    sqlx::query(
        "insert into _sqlx_migrations (version, description, success, checksum, execution_time)
         values (99990101000000, 'from a newer release', true, '\\x00', 1)",
    )
    .execute(&app.db)
    .await
    .unwrap();
    app.first_admin().await;
    // What every server runs at start, then serves: this release's migrations are all there,
    // and the newer one it does not know is left alone.
    identity::db::migrate(&app.db)
        .await
        .expect("an older server refused a database a newer one had migrated");
    let restarted = spawn_on(app.database_url.clone(), |_| {}).await;
    let ready = reqwest::get(format!("{}/readyz", restarted.address)).await.unwrap();
    assert_eq!(ready.status(), 200, "the restarted server is not ready");
    let signed_in = restarted.browser().sign_in("ada@acme.test", PASSWORD).await;
    assert_eq!(signed_in.status(), 303, "the restarted server does not sign people in");
    let cookie = session_cookie(&signed_in);
    let me = call_with_cookie(&restarted.address, &cookie, "whoami", &[]).await;
    assert!(me.contains("ada@acme.test"), "{me}");
    let newer: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations where version = 99990101000000")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(newer, 1, "the newer release's migration record was touched");
}

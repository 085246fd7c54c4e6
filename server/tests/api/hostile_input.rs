use crate::helpers::*;

#[tokio::test]
async fn another_organisations_user_id_is_not_found() {
    let app = spawn_app_with(|s| s.open_signup = true).await;
    let acme = app.first_admin().await;
    app.another_workspace("Beta", "bo@beta.test").await;
    let bo = app.user_id("bo@beta.test").await.to_string();
    assert_eq!(acme.call("get_user", &[("id", &bo)]).await.status(), 404);
    let edit = acme
        .call(
            "update_user",
            &[
                ("id", &bo),
                ("email", "pwned@acme.test"),
                ("given_name", ""),
                ("family_name", ""),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(edit.status(), 404);
    assert_eq!(
        acme.call("set_user_active", &[("id", &bo), ("active", "false")])
            .await
            .status(),
        404
    );
    let status: String = sqlx::query_scalar("select status || email from users where email = 'bo@beta.test'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "activebo@beta.test");
}

#[tokio::test]
async fn calls_without_a_session_are_unauthorised() {
    let app = spawn_app().await;
    app.first_admin().await;
    let anonymous = app.browser();
    let res = anonymous.call("list_users", &[]).await;
    assert_eq!(res.status(), 401);
    let forged = reqwest::Client::new()
        .post(anonymous.url("/api/list_users"))
        .header("cookie", format!("rollcall_session={}", "a".repeat(64)))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
}

#[tokio::test]
async fn a_malformed_body_is_a_bad_request_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    admin
        .call(
            "create_user",
            &[
                ("email", "mo@acme.test"),
                ("given_name", ""),
                ("family_name", ""),
                ("role", "member"),
                ("password", PASSWORD),
            ],
        )
        .await;
    // Mo is active and Bo deactivated: whichever way a malformed `active` were read, one of the
    // two would change.
    admin
        .call(
            "create_user",
            &[
                ("email", "bo@acme.test"),
                ("given_name", ""),
                ("family_name", ""),
                ("role", "member"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let bo = app.user_id("bo@acme.test").await.to_string();
    assert_eq!(
        admin
            .call("set_user_active", &[("id", &bo), ("active", "false")])
            .await
            .status(),
        200
    );
    let mo = app.user_id("mo@acme.test").await.to_string();
    let before: Vec<(String, String, i64)> = sqlx::query_as(
        "select email, status, version from users where email in ('mo@acme.test', 'bo@acme.test') order by email",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        before
            .iter()
            .map(|(e, s, _)| (e.as_str(), s.as_str()))
            .collect::<Vec<_>>(),
        [("bo@acme.test", "deactivated"), ("mo@acme.test", "active")]
    );
    for id in [&mo, &bo] {
        let res = admin.call("set_user_active", &[("id", id), ("active", "maybe")]).await;
        assert_eq!(res.status(), 400);
        let err: serde_json::Value = res.json().await.unwrap();
        assert!(err.get("BadRequest").is_some(), "{err}");
    }
    assert_eq!(admin.call("get_user", &[("id", "not-a-uuid")]).await.status(), 400);
    let after: Vec<(String, String, i64)> = sqlx::query_as(
        "select email, status, version from users where email in ('mo@acme.test', 'bo@acme.test') order by email",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(after, before, "a malformed value changed someone");

    // A JSON body where a form is expected is refused, and nobody is signed in.
    let stranger = app.browser();
    let json = stranger
        .client
        .post(stranger.url("/auth/login"))
        .header("origin", &stranger.base)
        .header("content-type", "application/json")
        .body(r#"{"email":"ada@acme.test","password":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 415);
    assert_eq!(stranger.whoami().await, None);
}

#[tokio::test]
async fn an_oversized_body_is_refused_before_it_is_read() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    let huge = "x".repeat(2 * 1024 * 1024);
    let res = admin
        .client
        .post(admin.url("/api/update_my_names"))
        .header("origin", &admin.base)
        .form(&[("given_name", huge.as_str()), ("family_name", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
}

#[tokio::test]
async fn an_unknown_route_is_a_clear_not_found() {
    let app = spawn_app().await;
    let res = app.browser().get("/no/such/page").await;
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains("Page not found"));
}

#[tokio::test]
async fn a_state_changing_request_from_another_origin_is_refused() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    let res = admin
        .client
        .post(admin.url("/api/create_user"))
        .header("origin", "https://evil.example")
        .form(&[
            ("email", "planted@acme.test"),
            ("given_name", ""),
            ("family_name", ""),
            ("role", "admin"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let cross_site = admin
        .client
        .post(admin.url("/auth/logout"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    let users: i64 = sqlx::query_scalar("select count(*) from users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(users, 1);
    assert!(admin.whoami().await.is_some(), "the cross-site sign-out did nothing");
}

/// Attack: a client-chosen request id, which reaches logs, error bodies and the audit log,
/// carries forged log lines or markup.
#[tokio::test]
async fn a_request_id_a_client_chose_is_kept_only_when_short_and_plain() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    let id_of = |res: &reqwest::Response| res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let plain = client
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", "trace-1234.abc_DEF")
        .send()
        .await
        .unwrap();
    assert_eq!(id_of(&plain), "trace-1234.abc_DEF");
    for hostile in ["x\" injected=\"yes", "<script>", &"a".repeat(65), "id with spaces"] {
        let res = client
            .get(format!("{}/healthz", app.address))
            .header("x-request-id", hostile)
            .send()
            .await
            .unwrap();
        let id = id_of(&res);
        assert_ne!(id, hostile);
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{hostile:?} became {id:?}");
    }
}

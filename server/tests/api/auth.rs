use crate::helpers::*;

#[tokio::test]
async fn first_run_creates_the_workspace_and_signs_the_admin_in() {
    let app = spawn_app().await;
    let browser = app.browser();
    let res = browser
        .form(
            "/auth/setup",
            &[
                ("org_name", "Acme Corp."),
                ("given_name", "Ada"),
                ("email", "Ada@Acme.TEST"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let cookies = set_cookies(&res);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("rollcall_session="))
        .expect("session cookie");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax") && !session.contains("Secure"));
    assert_eq!(browser.whoami().await.as_deref(), Some("Ada@acme.test"));
    let slug: String = sqlx::query_scalar("select slug from orgs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(slug, "acme-corp");
}

#[tokio::test]
async fn setup_with_a_short_password_keeps_what_was_typed_and_says_why() {
    let app = spawn_app().await;
    let browser = app.browser();
    let res = browser
        .form(
            "/auth/setup",
            &[("org_name", "Acme"), ("email", "ada@acme.test"), ("password", "short")],
        )
        .await;
    assert_eq!(location(&res), "/setup");
    let flash: serde_json::Value = browser.call_json("take_flash", &[]).await;
    assert_eq!(flash["field"], "password");
    assert!(flash["error"].as_str().unwrap().contains("10 characters"));
    assert_eq!(flash["values"]["org_name"], "Acme");
    let orgs: i64 = sqlx::query_scalar("select count(*) from orgs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(orgs, 0, "nothing is half-applied");
}

#[tokio::test]
async fn a_second_workspace_needs_open_signup() {
    let app = spawn_app().await;
    app.first_admin().await;
    let stranger = app.browser();
    let res = stranger
        .form(
            "/auth/setup",
            &[("org_name", "Evil"), ("email", "eve@evil.test"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(location(&res), "/setup");
    assert!(flash_error(&stranger).await.contains("does not allow new ones"));
    let orgs: i64 = sqlx::query_scalar("select count(*) from orgs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(orgs, 1);

    let open = spawn_on(app.database_url.clone(), |s| s.open_signup = true).await;
    let res = open
        .browser()
        .form(
            "/auth/setup",
            &[("org_name", "Beta"), ("email", "bo@beta.test"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(location(&res), "/users");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_generic_error() {
    let app = spawn_app().await;
    app.first_admin().await;
    for (email, password) in [("ada@acme.test", "wrong password here"), ("nobody@acme.test", PASSWORD)] {
        let browser = app.browser();
        let res = browser.sign_in(email, password).await;
        assert_eq!(location(&res), "/login");
        assert_eq!(flash_error(&browser).await, "Email or password is incorrect.");
        assert_eq!(browser.whoami().await, None);
    }
}

#[tokio::test]
async fn signing_in_rotates_the_session_and_signing_out_revokes_it() {
    let app = spawn_app().await;
    app.first_admin().await;
    let browser = app.browser();
    let first = browser.sign_in("ada@acme.test", PASSWORD).await;
    assert_eq!(location(&first), "/");
    let first_token = set_cookies(&first)
        .into_iter()
        .find(|c| c.starts_with("rollcall_session="))
        .unwrap();
    let second = browser.sign_in("ada@acme.test", PASSWORD).await;
    let second_token = set_cookies(&second)
        .into_iter()
        .find(|c| c.starts_with("rollcall_session="))
        .unwrap();
    assert_ne!(first_token, second_token);

    // The first session was revoked by the second sign-in.
    let old = first_token.split(';').next().unwrap().to_owned();
    let replay = reqwest::Client::new()
        .post(browser.url("/api/whoami"))
        .header("cookie", &old)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.text().await.unwrap(), "null");

    let current = second_token.split(';').next().unwrap().to_owned();
    browser.form("/auth/logout", &[]).await;
    let after = reqwest::Client::new()
        .post(browser.url("/api/whoami"))
        .header("cookie", &current)
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.text().await.unwrap(),
        "null",
        "a signed-out session cannot be replayed"
    );
}

#[tokio::test]
async fn repeated_failures_lock_the_account_even_for_the_right_password() {
    let app = spawn_app().await;
    app.first_admin().await;
    let attacker = app.browser();
    for _ in 0..5 {
        attacker.sign_in("ada@acme.test", "guess guess guess").await;
    }
    let owner = app.browser();
    owner.sign_in("ada@acme.test", PASSWORD).await;
    assert!(flash_error(&owner).await.starts_with("Too many attempts"));
    assert_eq!(owner.whoami().await, None);
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_throttled_across_accounts() {
    let app = spawn_app().await;
    app.first_admin().await;
    let attacker = app.browser();
    for i in 0..20 {
        attacker
            .sign_in(&format!("user{i}@acme.test"), "guess guess guess")
            .await;
    }
    attacker.sign_in("ada@acme.test", PASSWORD).await;
    assert!(flash_error(&attacker).await.starts_with("Too many attempts"));
}

#[tokio::test]
async fn one_email_in_two_workspaces_is_asked_which_one() {
    let app = spawn_app_with(|s| s.open_signup = true).await;
    app.first_admin().await;
    app.another_workspace("Beta", "ada@acme.test").await;

    let browser = app.browser();
    let res = browser.sign_in("ADA@acme.test", PASSWORD).await;
    assert_eq!(location(&res), "/login/workspace");
    let choices: serde_json::Value = browser.call_json("pending_workspaces", &[]).await;
    assert_eq!(choices.as_array().unwrap().len(), 2);

    let res = browser.form("/auth/login/workspace", &[("workspace", "beta")]).await;
    assert_eq!(location(&res), "/");
    let me: serde_json::Value = browser.call_json("whoami", &[]).await;
    assert_eq!(me["org_slug"], "beta");

    // The choice is single use.
    let again = browser.form("/auth/login/workspace", &[("workspace", "acme")]).await;
    assert_eq!(location(&again), "/login");
}

#[tokio::test]
async fn a_workspace_sign_in_address_signs_straight_into_that_workspace() {
    let app = spawn_app_with(|s| s.open_signup = true).await;
    app.first_admin().await;
    app.another_workspace("Beta", "ada@acme.test").await;
    let browser = app.browser();
    let res = browser
        .form(
            "/auth/login",
            &[
                ("email", "ada@acme.test"),
                ("password", PASSWORD),
                ("workspace", "acme"),
            ],
        )
        .await;
    assert_eq!(location(&res), "/");
    let me: serde_json::Value = browser.call_json("whoami", &[]).await;
    assert_eq!(me["org_slug"], "acme");
}

#[tokio::test]
async fn the_next_parameter_cannot_redirect_off_site() {
    let app = spawn_app().await;
    app.first_admin().await;
    let res = app
        .browser()
        .form(
            "/auth/login",
            &[
                ("email", "ada@acme.test"),
                ("password", PASSWORD),
                ("next", "//evil.example/x"),
            ],
        )
        .await;
    assert_eq!(location(&res), "/");
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    let browser = app.browser();
    assert_eq!(browser.get("/healthz").await.status(), 200);
    let ready = browser.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    assert!(ready.headers().contains_key("x-request-id"));
}

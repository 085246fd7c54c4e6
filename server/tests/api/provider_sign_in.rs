//! Sign in with Google, Microsoft or Slack against the signing fakes (`fakes`): the journeys,
//! and every way a provider's answer can be wrong. Each refusal must leave no session and no
//! linked account, and land on the problem page with a clear message.

use crate::helpers::*;
use fakes::{FakeIdp, Flavor, Persona, Sabotage};
use rollcall_server::config::Settings;

const TENANT: &str = "4a1f6b0e-2c3d-4e5f-8a9b-0c1d2e3f4a5b";
const OTHER_TENANT: &str = "7b2e9c1a-0d3f-4a5b-9c8d-1e2f3a4b5c6d";
const CONSUMER_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

fn configure(settings: &mut Settings, idp: &FakeIdp) {
    let (id, secret, base) = (
        Some(idp.client_id().to_owned()),
        Some(idp.client_secret().to_owned().into()),
        idp.base_url(),
    );
    match idp.flavor() {
        Flavor::Google => {
            settings.google_client_id = id;
            settings.google_client_secret = secret;
            settings.google_issuer = base;
        }
        Flavor::Microsoft => {
            settings.microsoft_client_id = id;
            settings.microsoft_client_secret = secret;
            settings.microsoft_authority = base;
        }
        Flavor::Slack => {
            settings.slack_client_id = id;
            settings.slack_client_secret = secret;
            settings.slack_issuer = base;
        }
    }
}

fn provider_name(flavor: Flavor) -> &'static str {
    flavor.name()
}

/// A server configured for one fake provider, with the first workspace (Acme, admin
/// ada@acme.test, member mo@acme.test) set to `mode` for it.
async fn app_with(flavor: Flavor, mode: &str, org_key: Option<&str>) -> (TestApp, FakeIdp, Browser) {
    let idp = FakeIdp::start(flavor).await;
    let app = spawn_app_with(|s| configure(s, &idp)).await;
    let admin = app.first_admin().await;
    set_mode(&app, "acme", flavor, mode, org_key).await;
    add_member(&app, "mo@acme.test").await;
    (app, idp, admin)
}

async fn set_mode(app: &TestApp, slug: &str, flavor: Flavor, mode: &str, org_key: Option<&str>) {
    let org_id = app.org_id(slug).await;
    sqlx::query(
        "insert into integrations (org_id, provider, mode, org_key) values ($1, $2, $3, $4)
         on conflict (org_id, provider) do update set mode = excluded.mode, org_key = excluded.org_key",
    )
    .bind(org_id)
    .bind(provider_name(flavor))
    .bind(mode)
    .bind(org_key)
    .execute(&app.db)
    .await
    .unwrap();
}

async fn identities(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from identities")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// The problem page's message, read from the flash the refusal left.
async fn refused_with(browser: &Browser, res: &reqwest::Response) -> String {
    assert_eq!(
        location(res),
        "/auth/problem",
        "expected a refusal, got {}",
        res.status()
    );
    let message = flash_error(browser).await;
    assert!(!message.is_empty(), "the problem page has no message");
    message
}

async fn add_member(app: &TestApp, email: &str) -> uuid::Uuid {
    let org_id = app.org_id("acme").await;
    let id = uuid::Uuid::new_v4();
    sqlx::query(
        "insert into users (org_id, id, email, role, status, source) values ($1, $2, $3, 'member', 'active', 'manual')",
    )
    .bind(org_id)
    .bind(id)
    .bind(email)
    .execute(&app.db)
    .await
    .unwrap();
    id
}

#[tokio::test]
async fn a_verified_account_of_the_connected_organisation_signs_in_and_is_linked_to_the_person_with_that_email() {
    let (app, idp, _admin) = app_with(Flavor::Google, "org_connected", Some("acme.test")).await;
    idp.sign_in_as(Persona::new("110248495921238986420", "mo@acme.test").org("acme.test"));
    let browser = app.browser();
    let res = through_provider(&browser, "/auth/google/start?workspace=acme").await;
    assert_eq!(location(&res), "/", "{:?}", flash_error(&browser).await);
    assert_eq!(browser.whoami().await.as_deref(), Some("mo@acme.test"));
    let (tenant, subject): (String, String) = sqlx::query_as("select tenant, subject from identities")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!((tenant.as_str(), subject.as_str()), ("", "110248495921238986420"));
    let google_sessions: i64 = sqlx::query_scalar("select count(*) from sessions where method = 'google'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(google_sessions, 1, "the session records how it began");
    // The callback says how long it took, without the provider's own time.
    let timing = res.headers().get("server-timing").unwrap().to_str().unwrap();
    assert!(
        timing.starts_with("app;dur=") && timing.contains("provider;dur="),
        "{timing}"
    );
    // Next time the account is found by its subject, whatever its email has become.
    idp.sign_in_as(Persona::new("110248495921238986420", "renamed@acme.test").org("acme.test"));
    let again = app.browser();
    let res = through_provider(&again, "/auth/google/start").await;
    assert_eq!(location(&res), "/");
    assert_eq!(again.whoami().await.as_deref(), Some("mo@acme.test"));

    // An admin is never linked by email: an administrator of the provider's directory can give
    // any account any address. Admins link from their profile.
    idp.sign_in_as(Persona::new("110248495921238986999", "ada@acme.test").org("acme.test"));
    let admin_try = app.browser();
    let res = through_provider(&admin_try, "/auth/google/start").await;
    assert!(refused_with(&admin_try, &res)
        .await
        .contains("No Rollcall account is linked"));
}

#[tokio::test]
async fn every_forged_or_broken_id_token_is_refused_with_no_session_and_no_linked_account() {
    let (app, idp, _admin) = app_with(Flavor::Google, "org_connected", Some("acme.test")).await;
    idp.sign_in_as(Persona::new("110248495921238986420", "mo@acme.test").org("acme.test"));
    for sabotage in [
        Sabotage::BadSignature,
        Sabotage::WrongAudience,
        Sabotage::WrongIssuer,
        Sabotage::WrongAuthorizedParty,
        Sabotage::Expired,
        Sabotage::IssuedInFuture,
        Sabotage::NonceMismatch,
        Sabotage::NoNonce,
        Sabotage::AlgNone,
        Sabotage::Hs256WithPublicKey,
        Sabotage::MissingSubject,
        Sabotage::TokenEndpointError,
    ] {
        idp.sabotage(sabotage);
        let browser = app.browser();
        let res = through_provider(&browser, "/auth/google/start").await;
        let message = refused_with(&browser, &res).await;
        assert!(
            message.contains("could not be verified") || message.contains("did not confirm"),
            "{sabotage:?}: {message}"
        );
        assert_eq!(browser.whoami().await, None, "{sabotage:?} signed someone in");
        assert_eq!(identities(&app).await, 0, "{sabotage:?} linked an account");
    }
    // Google's documented legacy issuer spelling is accepted.
    idp.sabotage(Sabotage::LegacyGoogleIssuer);
    let browser = app.browser();
    let res = through_provider(&browser, "/auth/google/start").await;
    assert_eq!(location(&res), "/", "{}", flash_error(&browser).await);
}

#[tokio::test]
async fn an_unknown_signing_key_is_fetched_once_then_refused_and_a_newly_published_one_is_accepted() {
    let (app, idp, _admin) = app_with(Flavor::Google, "org_connected", Some("acme.test")).await;
    idp.sign_in_as(Persona::new("110248495921238986420", "mo@acme.test").org("acme.test"));
    // Discovery (at start-up, or on the first sign-in) has fetched the keys once.
    let browser = app.browser();
    idp.sabotage(Sabotage::UnknownKidPublishedLater);
    let res = through_provider(&browser, "/auth/google/start").await;
    assert_eq!(location(&res), "/", "{}", flash_error(&browser).await);
    let after_first = idp.jwks_requests();
    assert_eq!(
        after_first, 2,
        "keys fetched at discovery and once more for the new kid"
    );

    // A kid that is never published: refetching is rate-limited, so the token is simply refused.
    idp.sabotage(Sabotage::UnknownKid);
    let browser = app.browser();
    let res = through_provider(&browser, "/auth/google/start").await;
    assert!(refused_with(&browser, &res).await.contains("could not be verified"));
    assert_eq!(idp.jwks_requests(), after_first, "refetched again within the interval");
    assert_eq!(browser.whoami().await, None);
}

#[tokio::test]
async fn a_token_without_a_key_id_is_refused_when_the_provider_publishes_several_keys() {
    let idp = FakeIdp::start(Flavor::Google).await;
    // Before the server starts, so the keys it fetches are the two.
    idp.sabotage(Sabotage::NoKidTwoKeys);
    let app = spawn_app_with(|s| configure(s, &idp)).await;
    app.first_admin().await;
    set_mode(&app, "acme", Flavor::Google, "org_connected", Some("acme.test")).await;
    idp.sign_in_as(Persona::new("5", "mo@acme.test").org("acme.test"));
    let browser = app.browser();
    let res = through_provider(&browser, "/auth/google/start").await;
    assert!(refused_with(&browser, &res).await.contains("could not be verified"));
    assert_eq!(identities(&app).await, 0);
}

#[tokio::test]
async fn a_callback_is_single_use_and_belongs_to_the_browser_that_started_it() {
    let (app, idp, _admin) = app_with(Flavor::Google, "org_connected", Some("acme.test")).await;
    idp.sign_in_as(Persona::new("110248495921238986420", "mo@acme.test").org("acme.test"));

    // Replayed: the second use of one callback finds no attempt.
    let browser = app.browser();
    let started = browser.get("/auth/google/start").await;
    let callback = authorize(&location(&started)).await;
    let first = browser.client.get(&callback).send().await.unwrap();
    assert_eq!(location(&first), "/");
    let replay = app.browser();
    let replayed = replay.client.get(&callback).send().await.unwrap();
    assert!(refused_with(&replay, &replayed)
        .await
        .contains("expired or was already used"));

    // Planted: a callback started in the attacker's browser, opened in the victim's.
    let attacker = app.browser();
    let started = attacker.get("/auth/google/start").await;
    let callback = authorize(&location(&started)).await;
    let victim = app.browser();
    let planted = victim.client.get(&callback).send().await.unwrap();
    assert!(refused_with(&victim, &planted)
        .await
        .contains("expired or was already used"));
    assert_eq!(victim.whoami().await, None);
    // And the attempt is spent: the attacker cannot use it afterwards either.
    let late = attacker.client.get(&callback).send().await.unwrap();
    assert_eq!(location(&late), "/auth/problem");

    // A made-up state, or none.
    for forged in [
        "/auth/google/callback?state=00&code=x",
        "/auth/google/callback?code=x",
        "/auth/google/callback",
    ] {
        let browser = app.browser();
        let res = browser.get(forged).await;
        assert!(
            refused_with(&browser, &res)
                .await
                .contains("expired or was already used"),
            "{forged}"
        );
    }
}

#[tokio::test]
async fn accounts_outside_the_connected_organisation_and_unverified_emails_are_not_let_in() {
    let (app, idp, _admin) = app_with(Flavor::Google, "org_connected", Some("acme.test")).await;
    // Another Workspace domain, with the right email: the signed hd decides, not the address.
    idp.sign_in_as(Persona::new("1", "mo@acme.test").org("evil.test"));
    let browser = app.browser();
    let res = through_provider(&browser, "/auth/google/start").await;
    assert!(refused_with(&browser, &res)
        .await
        .contains("No Rollcall account is linked"));
    // A personal account.
    idp.sign_in_as(Persona::new("2", "mo@acme.test").personal());
    let res = through_provider(&browser, "/auth/google/start").await;
    refused_with(&browser, &res).await;
    // The right organisation but an unverified email: never linked by email.
    idp.sign_in_as(Persona::new("3", "mo@acme.test").org("acme.test").unverified());
    let res = through_provider(&browser, "/auth/google/start").await;
    assert!(refused_with(&browser, &res)
        .await
        .contains("ask your workspace's admin for an invitation"));
    assert_eq!(identities(&app).await, 0);
    assert_eq!(browser.whoami().await, None);

    // Once linked, an account whose org claim no longer matches is refused by name.
    idp.sign_in_as(Persona::new("4", "mo@acme.test").org("acme.test"));
    let res = through_provider(&browser, "/auth/google/start").await;
    assert_eq!(location(&res), "/");
    idp.sign_in_as(Persona::new("4", "mo@acme.test").org("moved.test"));
    let other = app.browser();
    let res = through_provider(&other, "/auth/google/start").await;
    let message = refused_with(&other, &res).await;
    assert!(
        message.contains("accepts only Google accounts of its own organisation"),
        "{message}"
    );
}

#[tokio::test]
async fn microsoft_checks_the_tenant_template_refuses_consumer_accounts_and_never_trusts_an_unverified_email() {
    let (app, idp, _admin) = app_with(Flavor::Microsoft, "org_connected", Some(TENANT)).await;
    let oid = "00000000-0000-0000-0000-0000000000a1";
    // Entra's email claim without xms_edov is not a verified email (nOAuth): no link by email.
    idp.sign_in_as(Persona::new(oid, "mo@acme.test").org(TENANT).verification_unknown());
    let browser = app.browser();
    let res = through_provider(&browser, "/auth/microsoft/start").await;
    assert!(refused_with(&browser, &res)
        .await
        .contains("No Rollcall account is linked"));
    // The issuer's tenant differs from the tid claim.
    idp.sign_in_as(Persona::new(oid, "mo@acme.test").org(TENANT));
    idp.sabotage(Sabotage::MicrosoftIssuerTenantMismatch);
    let res = through_provider(&browser, "/auth/microsoft/start").await;
    assert!(refused_with(&browser, &res).await.contains("could not be verified"));
    idp.clear_sabotage();
    // Another tenant, and the consumer tenant.
    for tenant in [OTHER_TENANT, CONSUMER_TENANT] {
        idp.sign_in_as(Persona::new(oid, "mo@acme.test").org(tenant));
        let res = through_provider(&browser, "/auth/microsoft/start").await;
        refused_with(&browser, &res).await;
    }
    assert_eq!(identities(&app).await, 0);
    // The connected tenant with a verified email links (tid, oid).
    idp.sign_in_as(Persona::new(oid, "mo@acme.test").org(TENANT));
    let res = through_provider(&browser, "/auth/microsoft/start").await;
    assert_eq!(location(&res), "/", "{}", flash_error(&browser).await);
    let (tenant, subject): (String, String) = sqlx::query_as("select tenant, subject from identities")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!((tenant.as_str(), subject.as_str()), (TENANT, oid));
}

#[tokio::test]
async fn slack_errors_sent_as_http_200_and_other_teams_are_refused_clearly() {
    let (app, idp, _admin) = app_with(Flavor::Slack, "org_connected", Some("T0ACME")).await;
    idp.sign_in_as(Persona::new("U0ADA", "mo@acme.test").org("T0ACME"));
    idp.sabotage(Sabotage::TokenEndpointError);
    let browser = app.browser();
    let res = through_provider(&browser, "/auth/slack/start").await;
    assert!(refused_with(&browser, &res)
        .await
        .contains("Slack did not confirm this sign-in"));
    idp.clear_sabotage();
    idp.sign_in_as(Persona::new("U0ADA", "mo@acme.test").org("T0OTHER"));
    let res = through_provider(&browser, "/auth/slack/start").await;
    refused_with(&browser, &res).await;
    idp.sign_in_as(Persona::new("U0ADA", "mo@acme.test").org("T0ACME"));
    let res = through_provider(&browser, "/auth/slack/start").await;
    assert_eq!(location(&res), "/");
    // Cancelling at the provider is said plainly.
    idp.sabotage(Sabotage::DenyConsent);
    let other = app.browser();
    let res = through_provider(&other, "/auth/slack/start").await;
    assert!(refused_with(&other, &res).await.contains("cancelled"));
}

#[tokio::test]
async fn a_person_of_another_workspace_cannot_use_their_link_to_enter_this_one_and_a_deactivated_person_cannot_sign_in()
{
    let (app, idp, _admin) = app_with(Flavor::Google, "sso_only", None).await;
    // Linked in Acme only.
    let member = app.user_id("mo@acme.test").await;
    let org_id = app.org_id("acme").await;
    sqlx::query(
        "insert into identities (org_id, user_id, provider, tenant, subject) values ($1, $2, 'google', '', '42')",
    )
    .bind(org_id)
    .bind(member)
    .execute(&app.db)
    .await
    .unwrap();
    // A second workspace, also using Google.
    sqlx::query("insert into orgs (id, slug, name) values ($1, 'globex', 'Globex')")
        .bind(uuid::Uuid::new_v4())
        .execute(&app.db)
        .await
        .unwrap();
    set_mode(&app, "globex", Flavor::Google, "sso_only", None).await;
    idp.sign_in_as(Persona::new("42", "mo@acme.test"));
    let browser = app.browser();
    let res = through_provider(&browser, "/auth/google/start?workspace=globex").await;
    assert!(refused_with(&browser, &res)
        .await
        .contains("No Rollcall account is linked"));
    assert_eq!(browser.whoami().await, None);

    sqlx::query("update users set status = 'deactivated' where id = $1")
        .bind(member)
        .execute(&app.db)
        .await
        .unwrap();
    let res = through_provider(&browser, "/auth/google/start").await;
    assert!(refused_with(&browser, &res).await.contains("deactivated"));
    assert_eq!(browser.whoami().await, None);
}

#[tokio::test]
async fn a_sign_in_started_on_one_server_completes_on_another() {
    let idp = FakeIdp::start(Flavor::Google).await;
    let first = spawn_app_with(|s| configure(s, &idp)).await;
    // Servers behind one load balancer share one public URL, so one redirect URI.
    let second = spawn_on(first.database_url.clone(), |s| {
        configure(s, &idp);
        s.public_url = Some(first.address.clone());
    })
    .await;
    first.first_admin().await;
    set_mode(&first, "acme", Flavor::Google, "org_connected", Some("acme.test")).await;
    add_member(&first, "mo@acme.test").await;
    idp.sign_in_as(Persona::new("7", "mo@acme.test").org("acme.test"));
    let browser = first.browser();
    let started = browser.get("/auth/google/start").await;
    let callback = authorize(&location(&started)).await;
    let query = callback.split_once('?').unwrap().1;
    // The browser's cookie jar covers both servers (same host, other port).
    let res = browser
        .client
        .get(format!("{}/auth/google/callback?{query}", second.address))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/");
    let who = call_with_cookie(&first.address, &session_cookie(&res), "whoami", &[]).await;
    assert!(who.contains("mo@acme.test"), "{who}");
}

#[tokio::test]
async fn linking_from_the_profile_follows_the_mode_and_nobody_can_unlink_their_last_way_in() {
    let (app, idp, admin) = app_with(Flavor::Google, "org_connected", Some("acme.test")).await;
    // A link started from another site is not followed.
    let res = admin
        .client
        .get(admin.url("/auth/google/link"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert!(refused_with(&admin, &res).await.contains("opened from another site"));

    idp.sign_in_as(Persona::new("9", "ada.private@gmail.test").personal());
    let res = through_provider(&admin, "/auth/google/link").await;
    assert!(refused_with(&admin, &res).await.contains("personal Google account"));
    idp.sign_in_as(Persona::new("9", "mo@acme.test").org("acme.test"));
    let res = through_provider(&admin, "/auth/google/link").await;
    assert_eq!(location(&res), "/profile?linked=google");
    assert_eq!(identities(&app).await, 1);

    // Without a password, Google is Ada's last way in: unlinking is refused.
    sqlx::query("update users set password_hash = null")
        .execute(&app.db)
        .await
        .unwrap();
    let res = admin.form("/profile/accounts/google/unlink", &[]).await;
    assert_eq!(location(&res), "/profile");
    assert!(flash_error(&admin).await.contains("only way to sign in"));
    assert_eq!(identities(&app).await, 1);
}

#[tokio::test]
async fn disabling_a_provider_unlinks_everyone_ends_its_sessions_and_sends_a_single_use_way_back_in() {
    let (app, idp, admin) = app_with(Flavor::Slack, "sso_only", None).await;
    let member = app.user_id("mo@acme.test").await;
    let org_id = app.org_id("acme").await;
    sqlx::query(
        "insert into identities (org_id, user_id, provider, tenant, subject) values ($1, $2, 'slack', 'T1', 'U1')",
    )
    .bind(org_id)
    .bind(member)
    .execute(&app.db)
    .await
    .unwrap();
    idp.sign_in_as(Persona::new("U1", "mo@acme.test").org("T1"));
    let mo = app.browser();
    assert_eq!(location(&through_provider(&mo, "/auth/slack/start").await), "/");
    assert_eq!(mo.whoami().await.as_deref(), Some("mo@acme.test"));

    let preview: serde_json::Value = admin.call_json("disable_preview", &[("provider", "slack")]).await;
    assert_eq!(
        (
            preview["linked"].as_i64(),
            preview["no_other_way"].as_i64(),
            preview["with_password"].as_i64()
        ),
        (Some(1), Some(1), Some(0))
    );
    // Without the confirmation, nothing happens.
    let res = admin.form("/integrations/slack/disable", &[]).await;
    assert_eq!(location(&res), "/integrations");
    assert_eq!(identities(&app).await, 1);
    let res = admin
        .form("/integrations/slack/disable", &[("confirm", "disable")])
        .await;
    assert_eq!(location(&res), "/integrations");
    assert_eq!(identities(&app).await, 0);
    assert_eq!(mo.whoami().await, None, "the Slack session survived");
    assert!(admin.whoami().await.is_some(), "the admin's password session ended too");
    let audit: serde_json::Value =
        sqlx::query_scalar("select details from audit_events where action = 'integration.disabled'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(audit["unlinked"], 1);
    assert_eq!(audit["links_sent"], 1);

    // The mail's link, rendered as the outbox would send it.
    let (outbox_id,): (i64,) = sqlx::query_as("select id from outbox where kind = 'access_link'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let key =
        identity::secrets::SecretKey::from_hex(&std::fs::read_to_string(cluster_dir().join("secret.key")).unwrap())
            .unwrap();
    let mail = identity::mail::outbox::render(&app.db, &key, &app.address, org_id, outbox_id)
        .await
        .unwrap()
        .expect("a mail with a link");
    let link = mail
        .text
        .split_whitespace()
        .find(|w| w.contains("/access/"))
        .unwrap()
        .to_owned();
    let token = link.rsplit('/').next().unwrap().to_owned();
    let page = mo.get(&format!("/access/{token}")).await.text().await.unwrap();
    assert!(page.contains("Slack sign-in was turned off"), "{page}");
    let res = mo
        .form(
            "/auth/access",
            &[("token", &token), ("password", "mo's new password here")],
        )
        .await;
    assert_eq!(location(&res), "/");
    assert_eq!(mo.whoami().await.as_deref(), Some("mo@acme.test"));
    // Single use.
    let again = app.browser();
    let res = again
        .form(
            "/auth/access",
            &[("token", &token), ("password", "someone else's password")],
        )
        .await;
    assert_eq!(location(&res), format!("/access/{token}"));
    assert!(flash_error(&again).await.contains("already been used"));
}

#[tokio::test]
async fn a_provider_that_cannot_be_reached_is_reported_and_password_sign_in_still_works() {
    let idp = FakeIdp::start(Flavor::Google).await;
    idp.sabotage(Sabotage::DiscoveryBroken);
    let app = spawn_app_with(|s| configure(s, &idp)).await;
    app.first_admin().await;
    let browser = app.browser();
    let res = browser.get("/auth/google/start").await;
    assert!(refused_with(&browser, &res)
        .await
        .contains("Google could not be reached"));
    let ready = reqwest::get(format!("{}/readyz", app.address)).await.unwrap();
    assert_eq!(ready.status(), 200);
    let body = ready.text().await.unwrap();
    assert!(body.contains("google: unavailable"), "{body}");
    let res = browser.sign_in("ada@acme.test", PASSWORD).await;
    assert_eq!(location(&res), "/");
}

#[tokio::test]
async fn a_provider_with_no_client_is_not_offered_and_its_links_say_so() {
    let app = spawn_app().await;
    app.first_admin().await;
    let page = app.browser().get("/login").await.text().await.unwrap();
    assert!(!page.contains("Continue with"), "{page}");
    let browser = app.browser();
    let res = browser.get("/auth/google/start").await;
    assert!(refused_with(&browser, &res)
        .await
        .contains("not available on this server"));
}

#[tokio::test]
async fn under_require_sso_an_access_link_offers_only_providers_and_turning_it_on_signs_members_out_of_password_sessions(
) {
    let (app, idp, admin) = app_with(Flavor::Google, "sso_only", None).await;
    sqlx::query("update users set password_hash = (select password_hash from users where email = 'ada@acme.test') where email = 'mo@acme.test'")
        .execute(&app.db)
        .await
        .unwrap();
    let mo = app.browser();
    assert_eq!(location(&mo.sign_in("mo@acme.test", PASSWORD).await), "/");
    let res = admin.form("/integrations/require-sso", &[("on", "true")]).await;
    assert_eq!(location(&res), "/integrations");
    assert_eq!(
        mo.whoami().await,
        None,
        "a member's password session outlived Require SSO"
    );
    assert!(admin.whoami().await.is_some(), "the admin's password session ended");

    // Mo, linked with Google only, loses it when Google is disabled: no password counts for a
    // member under Require SSO, so Mo is among those with no other way in.
    let member = app.user_id("mo@acme.test").await;
    let org_id = app.org_id("acme").await;
    sqlx::query(
        "insert into identities (org_id, user_id, provider, tenant, subject) values ($1, $2, 'google', '', 'g-mo')",
    )
    .bind(org_id)
    .bind(member)
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query("insert into integrations (org_id, provider, mode) values ($1, 'slack', 'sso_only')")
        .bind(org_id)
        .execute(&app.db)
        .await
        .unwrap();
    let impact: serde_json::Value = admin.call_json("disable_preview", &[("provider", "google")]).await;
    assert_eq!(
        (impact["no_other_way"].as_i64(), impact["with_password"].as_i64()),
        (Some(1), Some(0))
    );
    admin
        .form("/integrations/google/disable", &[("confirm", "disable")])
        .await;
    let (link_id,): (uuid::Uuid,) = sqlx::query_as("select id from access_links")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let nonce: Vec<u8> = sqlx::query_scalar("select nonce from access_links")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let key =
        identity::secrets::SecretKey::from_hex(&std::fs::read_to_string(cluster_dir().join("secret.key")).unwrap())
            .unwrap();
    let token = identity::access_links::token_for(&key, link_id, &nonce);
    let res = mo
        .form(
            "/auth/access",
            &[("token", &token), ("password", "a new password for mo")],
        )
        .await;
    assert_eq!(location(&res), format!("/access/{token}"));
    assert!(flash_error(&mo).await.contains("requires single sign-on"));
    drop(idp);
}

#[tokio::test]
async fn disabling_the_last_provider_turns_require_sso_off_so_members_keep_a_way_in() {
    let (app, _idp, admin) = app_with(Flavor::Google, "sso_only", None).await;
    admin.form("/integrations/require-sso", &[("on", "true")]).await;
    admin
        .form("/integrations/google/disable", &[("confirm", "disable")])
        .await;
    let on: bool = sqlx::query_scalar("select require_sso from orgs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!on);
}

#[tokio::test]
async fn an_account_linked_in_two_workspaces_asks_which_one_and_reveals_nothing_before_the_provider_proved_it() {
    let (app, idp, _admin) = app_with(Flavor::Google, "sso_only", None).await;
    let globex = uuid::Uuid::new_v4();
    sqlx::query("insert into orgs (id, slug, name) values ($1, 'globex', 'Globex')")
        .bind(globex)
        .execute(&app.db)
        .await
        .unwrap();
    set_mode(&app, "globex", Flavor::Google, "sso_only", None).await;
    let acme = app.org_id("acme").await;
    let mo_in_acme = app.user_id("mo@acme.test").await;
    let mo_in_globex = uuid::Uuid::new_v4();
    sqlx::query(
        "insert into users (org_id, id, email, role, status, source) values ($1, $2, 'mo@globex.test', 'member', 'active', 'manual')",
    )
    .bind(globex)
    .bind(mo_in_globex)
    .execute(&app.db)
    .await
    .unwrap();
    for (org, user) in [(acme, mo_in_acme), (globex, mo_in_globex)] {
        sqlx::query(
            "insert into identities (org_id, user_id, provider, tenant, subject) values ($1, $2, 'google', '', 'g-mo')",
        )
        .bind(org)
        .bind(user)
        .execute(&app.db)
        .await
        .unwrap();
    }
    // The generic page offers the provider without knowing anyone's workspaces.
    let page = app.browser().get("/login").await.text().await.unwrap();
    assert!(
        page.contains("Continue with Google") && !page.contains("Globex"),
        "{page}"
    );

    idp.sign_in_as(Persona::new("g-mo", "mo@acme.test"));
    let browser = app.browser();
    let res = through_provider(&browser, "/auth/google/start").await;
    assert_eq!(location(&res), "/login/workspace");
    let choices: serde_json::Value = browser.call_json("pending_workspaces", &[]).await;
    let names: Vec<&str> = choices
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Acme", "Globex"]);
    let res = browser.form("/auth/login/workspace", &[("workspace", "globex")]).await;
    assert_eq!(location(&res), "/");
    assert_eq!(browser.whoami().await.as_deref(), Some("mo@globex.test"));
    let method: String = sqlx::query_scalar("select method from sessions where user_id = $1")
        .bind(mo_in_globex)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        method, "google",
        "the chosen session records the provider it came through"
    );
}

#[tokio::test]
async fn an_admin_sees_and_unlinks_an_account_a_person_linked_and_its_sessions_end() {
    let (app, idp, admin) = app_with(Flavor::Google, "sso_only", None).await;
    let mo_id = app.user_id("mo@acme.test").await;
    let org_id = app.org_id("acme").await;
    sqlx::query("insert into identities (org_id, user_id, provider, tenant, subject, email) values ($1, $2, 'google', '', 'g-mo', 'mo@gmail.test')")
        .bind(org_id)
        .bind(mo_id)
        .execute(&app.db)
        .await
        .unwrap();
    idp.sign_in_as(Persona::new("g-mo", "mo@gmail.test"));
    let mo = app.browser();
    assert_eq!(location(&through_provider(&mo, "/auth/google/start").await), "/");

    let page = admin.get(&format!("/users/{mo_id}")).await.text().await.unwrap();
    assert!(page.contains("mo@gmail.test") && page.contains("Unlink"), "{page}");
    // Mo has no password: Google is Mo's only way in, so it stays.
    let res = admin.form(&format!("/users/{mo_id}/accounts/google/unlink"), &[]).await;
    assert_eq!(location(&res), format!("/users/{mo_id}"));
    assert!(flash_error(&admin).await.contains("this person's only way to sign in"));
    // Another workspace's admin: Mo is not found there, and stays linked.
    identity::orgs::create_with_admin(
        &app.db,
        identity::orgs::NewOrg {
            name: "Globex".into(),
            admin_email: identity::EmailAddress::parse("gus@globex.test").unwrap(),
            admin_given_name: String::new(),
            admin_family_name: String::new(),
            admin_password: PASSWORD.into(),
        },
        identity::orgs::Creation::Additional,
        None,
    )
    .await
    .unwrap();
    let gus = app.browser();
    assert_eq!(location(&gus.sign_in("gus@globex.test", PASSWORD).await), "/");
    let res = gus.form(&format!("/users/{mo_id}/accounts/google/unlink"), &[]).await;
    assert_eq!(location(&res), format!("/users/{mo_id}"));
    assert!(flash_error(&gus).await.contains("no longer exists"));
    assert_eq!(identities(&app).await, 1, "another workspace's admin unlinked Mo");
    let page = gus.get(&format!("/users/{mo_id}")).await.text().await.unwrap();
    assert!(
        !page.contains("mo@gmail.test"),
        "another workspace's admin saw Mo's account"
    );
    // With a password, the admin's unlink goes through and Mo's Google session ends.
    sqlx::query("update users set password_hash = (select password_hash from users where email = 'ada@acme.test') where id = $1")
        .bind(mo_id)
        .execute(&app.db)
        .await
        .unwrap();
    admin.form(&format!("/users/{mo_id}/accounts/google/unlink"), &[]).await;
    assert_eq!(identities(&app).await, 0);
    assert_eq!(mo.whoami().await, None);
    // Without a session, nothing is unlinked.
    let anonymous = app.browser();
    anonymous
        .form(&format!("/users/{mo_id}/accounts/google/unlink"), &[])
        .await;
    assert!(flash_error(&anonymous).await.contains("Sign in again"));
}

use crate::helpers::*;
use crate::mail_server::{free_port, link_in, MailServer};
use std::time::Duration;

fn token_of(link: &str) -> String {
    link.rsplit('/').next().unwrap().to_owned()
}

async fn landing(browser: &Browser, token: &str) -> serde_json::Value {
    browser.call_json("invite_landing", &[("token", token)]).await
}

#[tokio::test]
async fn an_invited_person_gets_one_mail_whose_link_works_once() {
    let smtp = MailServer::start();
    let app = spawn_app_with(|s| s.smtp_url = Some(smtp.url().into())).await;
    let admin = app.first_admin().await;
    let res = admin
        .call(
            "send_invites",
            &[
                ("list", "mo@acme.test, not-an-address\nada@acme.test"),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let summary: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        (
            summary["invited"].as_u64(),
            summary["skipped"].as_u64(),
            summary["invalid"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );

    let mails = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.to, "mo@acme.test");
    assert_eq!(mail.subject, "Ada Admin invited you to join Acme");
    assert!(mail.text.contains("expires on") && mail.html.contains("Accept invitation"));
    let link = link_in(&mail.text);
    assert!(link.starts_with(&format!("{}/invite/", app.address)), "{link}");
    let token = token_of(&link);
    assert_eq!(token.len(), 64);

    let invitee = app.browser();
    assert_eq!(landing(&invitee, &token).await["Open"]["email"], "mo@acme.test");
    let res = accept_invitation(&invitee, &token, "mo's long password").await;
    assert_eq!(location(&res), "/");
    assert_eq!(invitee.whoami().await.as_deref(), Some("mo@acme.test"));

    let again = app.browser();
    let res = accept_invitation(&again, &token, "an attacker's password").await;
    assert!(location(&res).starts_with("/invite/"));
    assert!(flash_error(&again).await.contains("already been used"));
    assert!(landing(&again, &token).await.get("Used").is_some());

    let status: String = sqlx::query_scalar("select status from users where email = 'mo@acme.test'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "active");
    let log: serde_json::Value = admin.call_json("list_activity", &[]).await;
    let actions: Vec<&str> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"invite.sent") && actions.contains(&"invite.accepted"),
        "{actions:?}"
    );
    // Only the token's hash is stored.
    let stored: i64 = sqlx::query_scalar(
        "select count(*) from invites where encode(token_hash, 'hex') = $1 or encode(nonce, 'hex') = $1",
    )
    .bind(&token)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn the_preview_classifies_every_row_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    admin.call("send_invites", &[("list", "old@acme.test")]).await;
    let csv = "email,first name,last name,role\nnew@acme.test,New,Person,admin\nada@acme.test,,,\nold@acme.test,,,\nNEW@acme.test,,,\nbroken,,,\n";
    let rows: serde_json::Value = admin.call_json("preview_invites", &[("csv", csv)]).await;
    let outcomes: Vec<(&str, &str)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["email"].as_str().unwrap(), r["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("new@acme.test", "new_invite"),
            ("ada@acme.test", "already_member"),
            ("old@acme.test", "already_invited"),
            ("NEW@acme.test", "duplicate"),
            ("broken", "invalid")
        ]
    );
    assert_eq!(rows[0]["role"], "admin");
    assert_eq!(rows[0]["name"], "New Person");
    assert!(rows[4]["problem"].as_str().unwrap().contains("missing an @"));
    let users: i64 = sqlx::query_scalar("select count(*) from users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(users, 2, "a preview writes nothing");

    let empty = admin.call("preview_invites", &[("list", "  ")]).await;
    assert_eq!(empty.status(), 422);
    let bad_role = admin
        .call("preview_invites", &[("csv", "email,role\na@x.co,owner")])
        .await;
    assert_eq!(bad_role.status(), 422);
}

#[tokio::test]
async fn resending_replaces_the_link_and_revoking_kills_it() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    let (mo, first) = app.invite(&admin, "mo@acme.test").await;

    assert_eq!(admin.call("resend_invite", &[("user_id", &mo)]).await.status(), 200);
    let second: String = admin.call_json("invite_link", &[("user_id", &mo)]).await;
    assert_ne!(first, second);
    let visitor = app.browser();
    assert!(landing(&visitor, &token_of(&first))
        .await
        .get("NoLongerValid")
        .is_some());
    assert!(landing(&visitor, &token_of(&second)).await.get("Open").is_some());

    assert_eq!(admin.call("revoke_invite", &[("user_id", &mo)]).await.status(), 200);
    assert!(landing(&visitor, &token_of(&second))
        .await
        .get("NoLongerValid")
        .is_some());
    accept_invitation(&visitor, &token_of(&second), "mo's long password").await;
    assert!(flash_error(&visitor).await.contains("no longer valid"));
    let status: String = sqlx::query_scalar("select status from users where email = 'mo@acme.test'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "imported", "a revoked invitee goes back to not invited");
    assert_eq!(admin.call("revoke_invite", &[("user_id", &mo)]).await.status(), 409);

    // Invited again from the table, one or many at once.
    let res = admin.call("invite_users", &[("ids[0]", mo.as_str())]).await;
    let summary: serde_json::Value = res.json().await.unwrap();
    assert_eq!(summary["invited"], 1);
}

#[tokio::test]
async fn an_expired_or_tampered_link_says_what_to_do() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    let (mo, link) = app.invite(&admin, "mo@acme.test").await;
    let token = token_of(&link);

    let visitor = app.browser();
    let mut tampered = token.clone().into_bytes();
    tampered[10] = if tampered[10] == b'a' { b'b' } else { b'a' };
    assert_eq!(
        landing(&visitor, std::str::from_utf8(&tampered).unwrap()).await,
        "Unknown"
    );
    assert_eq!(landing(&visitor, "../../etc/passwd").await, "Unknown");

    sqlx::query("update invites set expires_at = now() - interval '1 minute'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(landing(&visitor, &token).await["Expired"]["inviter"], "Ada Admin");
    let page = visitor.get(&format!("/invite/{token}")).await.text().await.unwrap();
    assert!(page.contains("This invitation has expired"));
    accept_invitation(&visitor, &token, "mo's long password").await;
    assert!(flash_error(&visitor).await.contains("expired"));
    assert_eq!(admin.call("invite_link", &[("user_id", &mo)]).await.status(), 409);
}

#[tokio::test]
async fn without_smtp_the_outbox_shows_the_rendered_mail_and_its_link() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    admin.call("send_invites", &[("list", "mo@acme.test")]).await;
    let outbox: serde_json::Value = admin.call_json("list_outbox", &[]).await;
    assert_eq!(outbox["smtp_configured"], false);
    let entry = &outbox["entries"][0];
    assert_eq!(
        (entry["recipient"].as_str(), entry["state"].as_str()),
        (Some("mo@acme.test"), Some("held"))
    );
    let id = entry["id"].as_i64().unwrap().to_string();
    let mail: serde_json::Value = admin.call_json("outbox_mail", &[("id", &id)]).await;
    let mo = app.user_id("mo@acme.test").await.to_string();
    let link: String = admin.call_json("invite_link", &[("user_id", &mo)]).await;
    assert_eq!(mail["link"].as_str(), Some(link.as_str()));
    assert!(mail["text"].as_str().unwrap().contains(&link));
}

#[tokio::test]
async fn a_failed_delivery_is_retried_and_an_admin_can_retry_it_now() {
    let port = free_port();
    let app = spawn_app_with(|s| s.smtp_url = Some(format!("smtp://127.0.0.1:{port}").into())).await;
    let admin = app.first_admin().await;
    admin.call("send_invites", &[("list", "mo@acme.test")]).await;
    let mut entry = serde_json::Value::Null;
    for _ in 0..100 {
        let outbox: serde_json::Value = admin.call_json("list_outbox", &[]).await;
        entry = outbox["entries"][0].clone();
        if entry["state"] == "retrying" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(entry["state"], "retrying");
    assert!(entry["last_error"].as_str().unwrap().contains("SMTP"));

    let problems: serde_json::Value = admin.call_json("list_outbox", &[("problems", "true")]).await;
    assert_eq!(problems["entries"].as_array().unwrap().len(), 1);

    // Give up on it (as after eight attempts), then bring SMTP up and retry by hand.
    sqlx::query("update outbox set failed_at = now()")
        .execute(&app.db)
        .await
        .unwrap();
    let smtp = MailServer::start_on(port);
    let id = entry["id"].as_i64().unwrap().to_string();
    assert_eq!(admin.call("retry_mail", &[("id", &id)]).await.status(), 200);
    let mails = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, "mo@acme.test");
}

#[tokio::test]
async fn five_thousand_invites_reach_each_person_exactly_once_with_two_servers_sending() {
    let smtp = MailServer::start();
    let first = spawn_app_with(|s| s.smtp_url = Some(smtp.url().into())).await;
    let url = smtp.url();
    let _second = spawn_on(first.database_url.clone(), move |s| s.smtp_url = Some(url.into())).await;
    let admin = first.first_admin().await;
    let list: Vec<String> = (0..5000).map(|n| format!("person{n}@bulk.test")).collect();
    let res = admin.call("send_invites", &[("list", &list.join("\n"))]).await;
    assert_eq!(res.status(), 200);
    let summary: serde_json::Value = res.json().await.unwrap();
    assert_eq!(summary["invited"], 5000);

    let mails = smtp.wait_for(5000, Duration::from_secs(240)).await;
    // Give any duplicate a moment to show up before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mails = if mails.len() == 5000 { smtp.received() } else { mails };
    let recipients: std::collections::HashSet<String> = mails.iter().map(|m| m.to.clone()).collect();
    assert_eq!(mails.len(), 5000, "every outbox row is sent exactly once");
    assert_eq!(recipients.len(), 5000);
    let unsent: i64 = sqlx::query_scalar("select count(*) from outbox where sent_at is null")
        .fetch_one(&first.db)
        .await
        .unwrap();
    assert_eq!(unsent, 0);
}

#[tokio::test]
async fn only_admins_invite_and_only_their_own_workspace() {
    let app = spawn_app_with(|s| s.open_signup = true).await;
    let acme = app.first_admin().await;
    acme.call(
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
    let member = app.browser();
    member.sign_in("mo@acme.test", PASSWORD).await;
    assert_eq!(
        member.call("send_invites", &[("list", "x@acme.test")]).await.status(),
        403
    );

    app.another_workspace("Beta", "bo@beta.test").await;
    let beta = app.browser();
    beta.sign_in("bo@beta.test", PASSWORD).await;
    beta.call("send_invites", &[("list", "victim@beta.test")]).await;
    let victim = app.user_id("victim@beta.test").await.to_string();
    assert_eq!(acme.call("resend_invite", &[("user_id", &victim)]).await.status(), 404);
    assert_eq!(acme.call("invite_link", &[("user_id", &victim)]).await.status(), 409);
    assert_eq!(acme.call("revoke_invite", &[("user_id", &victim)]).await.status(), 409);
    let summary: serde_json::Value = acme.call_json("invite_users", &[("ids[0]", victim.as_str())]).await;
    assert_eq!(summary["invited"], 0);
    let open: i64 =
        sqlx::query_scalar("select count(*) from invites where revoked_at is null and superseded_at is null")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(open, 1);
}

#[tokio::test]
async fn the_users_table_shows_each_open_invitation_and_drops_it_once_revoked() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    admin
        .call("send_invites", &[("list", "mo@acme.test\nlin@acme.test")])
        .await;
    let lin = app.user_id("lin@acme.test").await;
    sqlx::query("update invites set expires_at = now() - interval '1 minute' where user_id = $1")
        .bind(lin)
        .execute(&app.db)
        .await
        .unwrap();
    let invite_of = |page: &serde_json::Value, email: &str| {
        page["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == email)
            .unwrap_or_else(|| panic!("{email} is not listed"))["invite"]
            .clone()
    };

    // Unfiltered (the total comes from the counters) and filtered by status: both show it.
    for fields in [vec![], vec![("query[status]", "invited")]] {
        let page: serde_json::Value = admin.call_json("list_users", &fields).await;
        assert_eq!(page["total"], if fields.is_empty() { 3 } else { 2 });
        let mo = invite_of(&page, "mo@acme.test");
        assert_eq!(mo["expired"], false);
        assert!(mo["sent_at"].as_str().unwrap() < mo["expires_at"].as_str().unwrap());
        assert_eq!(invite_of(&page, "lin@acme.test")["expired"], true);
    }

    // The profile page shows the same.
    let mo = app.user_id("mo@acme.test").await.to_string();
    let profile: serde_json::Value = admin.call_json("get_user", &[("id", &mo)]).await;
    assert_eq!(profile["invite"]["expired"], false);
    let profile: serde_json::Value = admin.call_json("get_user", &[("id", &lin.to_string())]).await;
    assert_eq!(profile["invite"]["expired"], true);

    assert_eq!(admin.call("revoke_invite", &[("user_id", &mo)]).await.status(), 200);
    let page: serde_json::Value = admin.call_json("list_users", &[("query[q]", "mo@")]).await;
    assert_eq!(page["total"], 1);
    assert!(invite_of(&page, "mo@acme.test").is_null());
    let profile: serde_json::Value = admin.call_json("get_user", &[("id", &mo)]).await;
    assert!(profile["invite"].is_null());
}

/// What the Users tab lists as `email`'s invitation, and that person's one open invitation as
/// the invites table has it (`null` for none), with the dates in the same format.
async fn listed_and_open_invitation(
    app: &TestApp,
    admin: &Browser,
    email: &str,
) -> (serde_json::Value, serde_json::Value) {
    let page: serde_json::Value = admin.call_json("list_users", &[]).await;
    let row = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .unwrap_or_else(|| panic!("{email} is not listed"))
        .clone();
    let listed = match &row["invite"] {
        serde_json::Value::Null => serde_json::Value::Null,
        invite => serde_json::json!([
            invite["sent_at"]
                .as_str()
                .unwrap()
                .parse::<chrono::DateTime<chrono::Utc>>()
                .unwrap(),
            invite["expires_at"]
                .as_str()
                .unwrap()
                .parse::<chrono::DateTime<chrono::Utc>>()
                .unwrap(),
        ]),
    };
    let open: Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "select i.created_at, i.expires_at from invites i join users u on u.org_id = i.org_id and u.id = i.user_id
         where u.email = $1 and u.status = 'invited'
           and i.accepted_at is null and i.revoked_at is null and i.superseded_at is null",
    )
    .bind(email)
    .fetch_optional(&app.db)
    .await
    .unwrap();
    (listed, serde_json::json!(open.map(|(sent, expires)| [sent, expires])))
}

/// People whose row's invitation dates are not exactly their open invitation's (whatever their
/// status: the list shows them only for invited people, but the mirror must hold for all).
async fn mirror_disagreements(app: &TestApp) -> i64 {
    sqlx::query_scalar(
        "select count(*) from users u left join invites i on i.org_id = u.org_id and i.user_id = u.id
           and i.accepted_at is null and i.revoked_at is null and i.superseded_at is null
         where (u.invite_sent_at, u.invite_expires_at) is distinct from (i.created_at, i.expires_at)",
    )
    .fetch_one(&app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_listed_invitation_follows_every_resend_revocation_and_acceptance_without_touching_the_profile() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    admin
        .call("send_invites", &[("list", "mo@acme.test\nlin@acme.test")])
        .await;
    let mo = app.user_id("mo@acme.test").await.to_string();
    let lin = app.user_id("lin@acme.test").await.to_string();
    let profile_stamp = |email: &'static str| {
        let db = app.db.clone();
        async move {
            sqlx::query_as::<_, (chrono::DateTime<chrono::Utc>, i64)>(
                "select updated_at, version from users where email = $1",
            )
            .bind(email)
            .fetch_one(&db)
            .await
            .unwrap()
        }
    };
    let mo_before = profile_stamp("mo@acme.test").await;

    let (listed, open) = listed_and_open_invitation(&app, &admin, "mo@acme.test").await;
    assert!(!open.is_null(), "mo has no open invitation");
    assert_eq!(listed, open, "the list shows another invitation than mo's open one");
    assert_eq!(mirror_disagreements(&app).await, 0, "after the invitations");
    let first = listed;

    // A resend replaces the link: the list shows the new one's dates.
    assert_eq!(admin.call("resend_invite", &[("user_id", &mo)]).await.status(), 200);
    let (listed, open) = listed_and_open_invitation(&app, &admin, "mo@acme.test").await;
    assert_eq!(
        listed, open,
        "after the resend the list shows another invitation than the open one"
    );
    assert_ne!(listed, first, "after the resend the list still shows the replaced link");
    assert_eq!(
        profile_stamp("mo@acme.test").await,
        mo_before,
        "resending changed mo's profile (updated_at, version)"
    );
    assert_eq!(mirror_disagreements(&app).await, 0, "after the resend");

    // A revocation: no invitation is listed.
    assert_eq!(admin.call("revoke_invite", &[("user_id", &lin)]).await.status(), 200);
    let (listed, open) = listed_and_open_invitation(&app, &admin, "lin@acme.test").await;
    assert!(
        listed.is_null() && open.is_null(),
        "lin's revoked invitation is still listed: {listed}"
    );
    assert_eq!(mirror_disagreements(&app).await, 0, "after the revocation");

    // An acceptance: mo is active and no invitation is listed.
    // The open link (mails may arrive in any order, so not "the last mail").
    let link: String = admin.call_json("invite_link", &[("user_id", &mo)]).await;
    let res = accept_invitation(&app.browser(), &token_of(&link), "mo's long password").await;
    assert_eq!(location(&res), "/");
    let (listed, _) = listed_and_open_invitation(&app, &admin, "mo@acme.test").await;
    assert!(listed.is_null(), "mo accepted, yet an invitation is listed: {listed}");

    assert_eq!(mirror_disagreements(&app).await, 0, "after the acceptance");

    // Deactivated while invited: the open link stays on the row, but the list shows no
    // invitation for someone who is not invited.
    admin.call("send_invites", &[("list", "kit@acme.test")]).await;
    let kit = app.user_id("kit@acme.test").await.to_string();
    assert_eq!(
        admin
            .call("set_user_active", &[("id", &kit), ("active", "false")])
            .await
            .status(),
        200
    );
    assert_eq!(mirror_disagreements(&app).await, 0, "after the deactivation");
    let (listed, _) = listed_and_open_invitation(&app, &admin, "kit@acme.test").await;
    assert!(
        listed.is_null(),
        "a deactivated person is listed with an invitation: {listed}"
    );
}

/// Attack: an invitation link of a deactivated person comes back to life when they are
/// reactivated, or its waiting mail goes out meanwhile.
#[tokio::test]
async fn deactivating_an_invited_person_kills_their_link_for_good_and_cancels_its_mail() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    let (mo, link) = app.invite(&admin, "mo@acme.test").await;
    let visitor = app.browser();
    assert!(landing(&visitor, &token_of(&link)).await.get("Open").is_some());

    assert_eq!(
        admin
            .call("set_user_active", &[("id", &mo), ("active", "false")])
            .await
            .status(),
        200
    );
    let waiting: i64 = sqlx::query_scalar("select count(*) from outbox where sent_at is null and failed_at is null")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(waiting, 0, "the deactivated person's mail still waits to be sent");
    assert_eq!(
        admin
            .call("set_user_active", &[("id", &mo), ("active", "true")])
            .await
            .status(),
        200
    );

    assert!(
        landing(&visitor, &token_of(&link)).await.get("NoLongerValid").is_some(),
        "the old link came back to life"
    );
    accept_invitation(&visitor, &token_of(&link), "mo's long password").await;
    let (status, has_password): (String, bool) =
        sqlx::query_as("select status, password_hash is not null from users where email = 'mo@acme.test'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((status.as_str(), has_password), ("imported", false));
}

/// Attack: with open sign-up, an outsider's workspace sends mail under the operator's address
/// without end. Each admin sends at most 10,000 invitations a day (and each workspace 20,000).
#[tokio::test]
async fn an_admin_past_a_days_invitations_is_refused_with_how_many_and_when_and_nothing_is_sent() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    let list: String = (0..10_000).map(|n| format!("person{n}@bulk.test\n")).collect();
    let res = admin.call("send_invites", &[("list", &list)]).await;
    assert_eq!(res.status(), 200);
    let summary: serde_json::Value = res.json().await.unwrap();
    assert_eq!(summary["invited"], 10_000);

    let refused = admin.call("send_invites", &[("list", "one.more@bulk.test")]).await;
    assert_eq!(refused.status(), 429);
    let err: serde_json::Value = refused.json().await.unwrap();
    let message = err["RateLimited"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("You have sent 10,000 invitations"), "{err}");
    assert!(message.contains("hour"), "{message}");
    let one_more: i64 = sqlx::query_scalar("select count(*) from users where email = 'one.more@bulk.test'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(one_more, 0, "a refused invitation still created its person");
    let mo = app.user_id("person1@bulk.test").await.to_string();
    assert_eq!(
        admin.call("resend_invite", &[("user_id", &mo)]).await.status(),
        429,
        "resends count too"
    );
}

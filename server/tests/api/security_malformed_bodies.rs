//! Attack (or a broken client): bodies the server cannot decode, sent to every server function
//! and form route. Each gets a client error (never a 500), with the request's real id, and
//! nothing changes.

use crate::helpers::*;

const SERVER_FUNCTIONS: &[&str] = &[
    "my_profile",
    "update_my_names",
    "list_users",
    "get_user",
    "create_user",
    "update_user",
    "set_user_active",
    "list_outbox",
    "outbox_mail",
    "retry_mail",
    "list_activity",
    "get_settings",
    "save_invite_expiry",
    "preview_invites",
    "send_invites",
    "invite_users",
    "resend_invite",
    "revoke_invite",
    "invite_link",
    "invite_landing",
    "whoami",
    "setup_state",
    "take_flash",
    "pending_workspaces",
    "workspace_name",
];
const FORM_ROUTES: &[&str] = &[
    "/auth/setup",
    "/auth/login",
    "/auth/login/workspace",
    "/auth/logout",
    "/auth/invite/accept",
];

/// (content type, body): invalid UTF-8 raw and percent-encoded, truncated encodings, the wrong
/// formats, nested keys where scalars belong, and a value far over any field's length.
fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    let form = "application/x-www-form-urlencoded";
    vec![
        (form, b"\xff\xfe\xfd".to_vec()),
        (
            form,
            b"email=%ff%fe&given_name=%c3%28&family_name=%e2%82&role=%ffadmin".to_vec(),
        ),
        (
            form,
            b"id=%ff&active=%fe&ids[]=%ff&query[q]=%ff&token=%ff&user_id=%ff&id=%zz".to_vec(),
        ),
        (form, b"%%%%&&&===".to_vec()),
        (
            form,
            b"query[page]=-1&query[sort]=%00&query[status]=bogus&older_than=nine".to_vec(),
        ),
        (form, b"email[a][b][c]=x&role[]=admin&id[]=1".to_vec()),
        (
            form,
            format!("email={}&list={}", "a".repeat(300_000), "b%40c.co+".repeat(50_000)).into_bytes(),
        ),
        ("application/json", br#"{"email":"#.to_vec()),
        ("application/json", b"\xff".to_vec()),
        ("text/plain", b"\x00\x01\x02 not a form".to_vec()),
        ("multipart/form-data; boundary=x", b"--x\r\nbroken".to_vec()),
        ("application/cbor", vec![0xa1, 0xff]),
    ]
}

async fn footprint(app: &TestApp) -> (i64, i64, i64, i64) {
    sqlx::query_as(
        "select (select count(*) from users), (select coalesce(sum(version), 0)::bigint from users),
                (select count(*) from invites), (select count(*) from audit_events)",
    )
    .fetch_one(&app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn undecodable_bodies_to_every_server_function_and_form_route_are_client_errors_that_change_nothing() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    let before = footprint(&app).await;
    let paths = SERVER_FUNCTIONS
        .iter()
        .map(|f| format!("/api/{f}"))
        .chain(FORM_ROUTES.iter().map(|r| r.to_string()));
    let mut checked = 0;
    for path in paths {
        for (content_type, body) in corpus() {
            let res = admin
                .client
                .post(admin.url(&path))
                .header("origin", &admin.base)
                .header("content-type", content_type)
                .header("x-request-id", "req-malformed-1")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = res.status();
            let text = res.text().await.unwrap_or_default();
            assert!(status.as_u16() < 500, "{path} ({content_type}): {status} {text}");
            assert!(
                !text.contains("\"none"),
                "{path}: an error body without the request id: {text}"
            );
            if path.starts_with("/auth/") && status.is_client_error() {
                assert!(
                    text.contains("req-malformed-1"),
                    "{path} ({content_type}): {status} without the request id: {text}"
                );
                assert_ne!(status, 422, "{path}: an unreadable form is a 400");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, (SERVER_FUNCTIONS.len() + FORM_ROUTES.len()) * corpus().len());
    // The admin's session may have ended (a malformed sign-out still signs out); nothing else.
    let after = footprint(&app).await;
    assert_eq!(
        (after.0, after.1, after.2),
        (before.0, before.1, before.2),
        "a malformed body changed people or invitations"
    );
}

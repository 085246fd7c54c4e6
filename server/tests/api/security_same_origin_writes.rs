//! Attack: a page on a sibling subdomain, another port of the same host, or one that sends
//! `Origin: null` makes a signed-in admin's browser write to Rollcall (say, create an admin).
//! Writes are accepted only from the configured public origin.

use crate::helpers::*;

async fn admins(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from users where role = 'admin'")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_same_site_page_of_another_origin_cannot_create_an_admin_in_any_request_shape() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    let sibling_port = app
        .address
        .rsplit_once(':')
        .map(|(host, _)| format!("{host}:1"))
        .unwrap();
    let form = "email=eve%40acme.test&given_name=&family_name=&role=admin&password=correct+horse+battery+staple";
    // (headers, content type) a page can produce with a form post or a `no-cors` fetch.
    let shapes: Vec<(Vec<(&str, String)>, &str)> = vec![
        (vec![("origin", "null".into())], "application/x-www-form-urlencoded"),
        (vec![("origin", "null".into())], "text/plain"),
        (
            vec![("origin", "null".into()), ("sec-fetch-site", "same-site".into())],
            "text/plain",
        ),
        (
            vec![("sec-fetch-site", "same-site".into())],
            "application/x-www-form-urlencoded",
        ),
        (
            vec![("origin", sibling_port.clone())],
            "application/x-www-form-urlencoded",
        ),
        (
            vec![("origin", sibling_port.clone()), ("sec-fetch-site", "same-site".into())],
            "text/plain",
        ),
        (
            vec![("origin", "http://evil.localhost".into())],
            "multipart/form-data; boundary=x",
        ),
        (
            vec![("referer", format!("{sibling_port}/page"))],
            "application/x-www-form-urlencoded",
        ),
    ];
    for (headers, content_type) in &shapes {
        let mut request = admin
            .client
            .post(admin.url("/api/create_user"))
            .header("content-type", *content_type)
            .body(form);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let res = request.send().await.unwrap();
        assert_eq!(res.status(), 403, "{headers:?} {content_type}");
    }
    assert_eq!(admins(&app).await, 1, "a cross-origin write created an admin");

    // The same write from Rollcall's own pages goes through.
    let own = admin
        .client
        .post(admin.url("/api/create_user"))
        .header("origin", &admin.base)
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
    assert_eq!(admins(&app).await, 2);
}

#[tokio::test]
async fn a_sign_out_from_a_page_sending_origin_null_does_not_sign_anyone_out() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    let res = admin
        .client
        .post(admin.url("/auth/logout"))
        .header("origin", "null")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(admin.whoami().await.is_some(), "the forged sign-out ended the session");
}

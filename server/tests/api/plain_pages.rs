//! What a page costs the person who opens it: the pages people see before they are signed in
//! (sign-in, first set-up, an invitation, not found) are HTML and a stylesheet with no script or
//! WASM; console pages hydrate their islands. Every page carries a Content-Security-Policy whose
//! nonce is the one on the page's own inline script.

use crate::helpers::*;

fn csp(res: &reqwest::Response) -> String {
    res.headers()
        .get("content-security-policy")
        .expect("the page carries a Content-Security-Policy")
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_pages_people_see_before_signing_in_load_no_script_and_no_wasm() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    let (_, link) = app.invite(&admin, "mo@acme.test").await;
    let invitation = format!("/invite/{}", link.rsplit('/').next().unwrap());

    let visitor = app.browser();
    for (path, status) in [
        ("/login", 200),
        ("/login?next=%2Fusers", 200),
        ("/o/acme/login", 200),
        (invitation.as_str(), 200),
        ("/invite/not-a-real-link", 200),
        ("/access/not-a-real-link", 200),
        ("/auth/problem", 200),
        ("/no-such-page", 404),
    ] {
        let res = visitor.get(path).await;
        assert_eq!(res.status(), status, "{path}");
        let policy = csp(&res);
        assert!(policy.contains("script-src 'self' 'nonce-"), "{path}: {policy}");
        let html = res.text().await.unwrap();
        assert!(html.contains("rollcall.css\""), "{path} links no stylesheet: {html}");
        for script in [
            ".wasm",
            "rollcall.js",
            "modulepreload",
            "<script src",
            "<script type=\"module\"",
        ] {
            assert!(!html.contains(script), "{path} loads script ({script}): {html}");
        }
        // Leptos's few bytes of inline state for hydration remain; with no bundle they do nothing.
        assert_eq!(
            html.matches("<script").count(),
            html.matches("<script nonce=\"").count(),
            "{path}: {html}"
        );
        // A plain page that grew an island would no longer work without its script.
        assert!(!html.contains("<leptos-island"), "{path} has an island: {html}");
        assert!(
            html.contains("<form") || status == 404 || path.contains("not-a-real") || path == "/auth/problem",
            "{path}: {html}"
        );
    }
}

#[tokio::test]
async fn console_pages_load_their_islands_with_the_nonce_the_policy_names() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    for path in ["/users", "/settings", "/profile"] {
        let res = admin.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        let policy = csp(&res);
        let nonce = policy
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .expect("a nonce")
            .to_owned();
        assert!(nonce.len() >= 16, "{nonce}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        let html = res.text().await.unwrap();
        assert!(html.contains("rollcall.wasm"), "{path} does not load the bundle");
        assert!(html.contains("<leptos-island"), "{path} has no island");
        let inline_scripts = html.matches("<script").count();
        assert!(inline_scripts >= 1, "{path}");
        assert_eq!(
            html.matches(&format!("<script type=\"module\" nonce=\"{nonce}\""))
                .count()
                + html.matches(&format!("<script nonce=\"{nonce}\"")).count(),
            inline_scripts,
            "{path}: a script without the response's nonce would be blocked: {html}"
        );
    }
    // Each response its own nonce.
    let a = csp(&admin.get("/users").await);
    let b = csp(&admin.get("/users").await);
    assert_ne!(a, b);
}

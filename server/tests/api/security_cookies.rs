//! Attack: over https, a sibling subdomain plants a session cookie for the whole site (session
//! fixation), or a network attacker downgrades a visit to http.

use crate::helpers::*;

#[tokio::test]
async fn over_https_cookies_are_host_prefixed_and_planted_unprefixed_ones_are_ignored() {
    let public = "https://id.acme.test";
    let app = spawn_app_with(|s| s.public_url = Some(public.into())).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let health = client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(health.headers()["strict-transport-security"], "max-age=31536000");

    let setup = client
        .post(format!("{}/auth/setup", app.address))
        .header("origin", public)
        .form(&[("org_name", "Acme"), ("email", "ada@acme.test"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(setup.status(), 303);
    let session = set_cookies(&setup)
        .into_iter()
        .find(|c| c.contains("rollcall_session="))
        .expect("a session cookie");
    assert!(session.starts_with("__Host-rollcall_session="), "{session}");
    assert!(session.contains("; Secure") && session.contains("Path=/") && !session.contains("Domain"));
    let token = session.split(';').next().unwrap().split_once('=').unwrap().1.to_owned();

    let whoami = |cookie: String| {
        let client = client.clone();
        let url = format!("{}/api/whoami", app.address);
        async move {
            client
                .post(url)
                .header("origin", public)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert!(whoami(format!("__Host-rollcall_session={token}"))
        .await
        .contains("ada@acme.test"));
    // The same value without the prefix, as a sibling subdomain could set it: nobody.
    assert_eq!(whoami(format!("rollcall_session={token}")).await, "null");
}

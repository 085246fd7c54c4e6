use crate::helpers::*;

#[tokio::test]
async fn two_app_servers_on_one_database_behave_as_one_app() {
    let first = spawn_app().await;
    let second = spawn_on(first.database_url.clone(), |_| {}).await;
    assert_ne!(first.address, second.address);

    let admin = first.first_admin().await;
    // Carry the session cookie issued by the first server to the second.
    let cookie = {
        let res = first.browser().sign_in("ada@acme.test", PASSWORD).await;
        set_cookies(&res)
            .into_iter()
            .find(|c| c.starts_with("rollcall_session="))
            .unwrap()
    };
    let token = cookie.split(';').next().unwrap().to_owned();
    let me = reqwest::Client::new()
        .post(format!("{}/api/whoami", second.address))
        .header("cookie", &token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
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
    let list = reqwest::Client::new()
        .post(format!("{}/api/list_users", second.address))
        .header("cookie", &token)
        .form(&[("query[q]", "x@acme")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains("x@acme.test"), "{list}");

    // Signing out on the second server ends the session on the first.
    reqwest::Client::new()
        .post(format!("{}/auth/logout", second.address))
        .header("cookie", &token)
        .send()
        .await
        .unwrap();
    let after = reqwest::Client::new()
        .post(format!("{}/api/whoami", first.address))
        .header("cookie", &token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(after, "null");
}

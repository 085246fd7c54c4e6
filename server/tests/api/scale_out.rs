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

use crate::helpers::*;

async fn edit(admin: &Browser, id: &str, email: &str, given_name: &str, role: &str) -> reqwest::Response {
    admin
        .call(
            "update_user",
            &[
                ("id", id),
                ("email", email),
                ("given_name", given_name),
                ("family_name", ""),
                ("role", role),
            ],
        )
        .await
}

async fn add_member(admin: &Browser, email: &str, password: &str) -> uuid::Uuid {
    let res = admin
        .call(
            "create_user",
            &[
                ("email", email),
                ("given_name", "Mo"),
                ("family_name", "Member"),
                ("role", "member"),
                ("password", password),
            ],
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

#[tokio::test]
async fn admins_search_filter_sort_and_page_through_users() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    let org_id = app.org_id("acme").await;
    sqlx::query(
        "insert into users (org_id, id, email, given_name, family_name, role, status, source)
         select $1, gen_random_uuid(), 'person' || n || '@acme.test', 'Person', lpad(n::text, 3, '0'), 'member',
                case when n % 10 = 0 then 'deactivated' else 'imported' end, 'manual'
         from generate_series(1, 120) n",
    )
    .bind(org_id)
    .execute(&app.db)
    .await
    .unwrap();

    let page: serde_json::Value = admin.call_json("list_users", &[("query[page]", "3")]).await;
    assert_eq!(page["total"], 121);
    assert_eq!(page["users"].as_array().unwrap().len(), 21);

    let found: serde_json::Value = admin.call_json("list_users", &[("query[q]", "PERSON 07")]).await;
    let emails: Vec<&str> = found["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        (70..80).map(|n| format!("person{n}@acme.test")).collect::<Vec<_>>()
    );
    let by_email: serde_json::Value = admin.call_json("list_users", &[("query[q]", "person7@")]).await;
    assert_eq!(by_email["total"], 1);

    let deactivated: serde_json::Value = admin
        .call_json(
            "list_users",
            &[
                ("query[status]", "deactivated"),
                ("query[sort]", "email"),
                ("query[descending]", "true"),
            ],
        )
        .await;
    assert_eq!(deactivated["total"], 12);
    assert_eq!(deactivated["users"][0]["email"], "person90@acme.test");

    let wildcard: serde_json::Value = admin.call_json("list_users", &[("query[q]", "%")]).await;
    assert_eq!(wildcard["total"], 0, "a typed % is a literal, not a wildcard");
}

#[tokio::test]
async fn an_admin_edits_a_profile_and_the_activity_log_records_it() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    let id = add_member(&admin, "mo@acme.test", "").await;
    let res = admin
        .call(
            "update_user",
            &[
                ("id", &id.to_string()),
                ("email", "mo.member@acme.test"),
                ("given_name", "Mo"),
                ("family_name", "Changed"),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let user: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        (user["email"].as_str(), user["role"].as_str()),
        (Some("mo.member@acme.test"), Some("admin"))
    );
    assert_eq!(user["status"], "imported", "no password yet: waiting for an invite");

    let log: serde_json::Value = admin.call_json("list_activity", &[]).await;
    let newest = &log["events"][0];
    assert_eq!(newest["action"], "user.updated");
    assert_eq!(newest["actor"], "ada@acme.test");
    assert_eq!(newest["target"], "mo.member@acme.test");
}

#[tokio::test]
async fn invalid_and_duplicate_input_is_refused_field_by_field() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    let bad = admin
        .call(
            "create_user",
            &[
                ("email", "not-an-email"),
                ("given_name", ""),
                ("family_name", ""),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(bad.status(), 422);
    let err: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(err["Invalid"]["field"], "email");

    let dup = admin
        .call(
            "create_user",
            &[
                ("email", "ADA@acme.test"),
                ("given_name", ""),
                ("family_name", ""),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(dup.status(), 409);
    let err: serde_json::Value = dup.json().await.unwrap();
    assert_eq!(err["Conflict"]["field"], "email");

    let role = admin
        .call(
            "create_user",
            &[
                ("email", "x@acme.test"),
                ("given_name", ""),
                ("family_name", ""),
                ("role", "owner"),
            ],
        )
        .await;
    assert_eq!(role.status(), 422);
    let users: i64 = sqlx::query_scalar("select count(*) from users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(users, 1);
}

#[tokio::test]
async fn a_deactivated_users_open_session_is_rejected_at_once() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    let id = add_member(&admin, "mo@acme.test", PASSWORD).await;
    let member = app.browser();
    member.sign_in("mo@acme.test", PASSWORD).await;
    assert_eq!(member.whoami().await.as_deref(), Some("mo@acme.test"));

    let res = admin
        .call("set_user_active", &[("id", &id.to_string()), ("active", "false")])
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(member.whoami().await, None);
    assert_eq!(
        member
            .call("update_my_names", &[("given_name", "x"), ("family_name", "y")])
            .await
            .status(),
        401
    );

    let again = app.browser();
    again.sign_in("mo@acme.test", PASSWORD).await;
    assert!(flash_error(&again).await.contains("deactivated"));

    admin
        .call("set_user_active", &[("id", &id.to_string()), ("active", "true")])
        .await;
    let back = app.browser();
    back.sign_in("mo@acme.test", PASSWORD).await;
    assert_eq!(back.whoami().await.as_deref(), Some("mo@acme.test"));
}

#[tokio::test]
async fn the_last_active_admin_can_be_neither_demoted_nor_deactivated() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    let ada = app.user_id("ada@acme.test").await.to_string();
    assert_eq!(edit(&admin, &ada, "ada@acme.test", "Ada", "member").await.status(), 409);

    let bo_id = add_member(&admin, "bo@acme.test", PASSWORD).await.to_string();
    assert_eq!(edit(&admin, &bo_id, "bo@acme.test", "Bo", "admin").await.status(), 200);
    let bo = app.browser();
    bo.sign_in("bo@acme.test", PASSWORD).await;
    assert_eq!(
        bo.call("set_user_active", &[("id", &ada), ("active", "false")])
            .await
            .status(),
        200
    );
    // Bo is now the only active admin and cannot demote himself.
    assert_eq!(edit(&bo, &bo_id, "bo@acme.test", "Bo", "member").await.status(), 409);
}

#[tokio::test]
async fn members_see_only_their_profile() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    add_member(&admin, "mo@acme.test", PASSWORD).await;
    let member = app.browser();
    member.sign_in("mo@acme.test", PASSWORD).await;
    assert_eq!(member.call("list_users", &[]).await.status(), 403);
    assert_eq!(member.call("list_activity", &[]).await.status(), 403);
    let ok = member
        .call("update_my_names", &[("given_name", "Moe"), ("family_name", "M")])
        .await;
    assert_eq!(ok.status(), 200);
    let page = member.get("/users").await.text().await.unwrap();
    assert!(page.contains("Admins only"));
}

#[tokio::test]
async fn the_users_page_arrives_rendered_with_its_data_loaded_and_sent_once() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    add_member(&admin, "mo@acme.test", "").await;

    let res = admin.get("/users").await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    // The table is in the server-rendered HTML, not filled in later by the browser.
    assert!(html.contains("<td>mo@acme.test"), "no rendered row for mo@acme.test");
    // Each column lands in its own cell: the list is decoded by position, and the name and
    // email columns are all text, so a reordering would otherwise go unnoticed.
    assert!(
        html.contains(">Ada Admin</a></td><td>ada@acme.test</td><td>Admin</td>"),
        "the admin's row shows the wrong name, email or role"
    );
    // The navigation marks this section, and only it, as the current page.
    assert!(
        html.contains(r#"<a href="/users" aria-current="page">"#),
        "Users is not marked current"
    );
    assert_eq!(
        html.matches("aria-current").count(),
        1,
        "more than one link is marked current"
    );
    // The rows' details reach the browser once, in the rows themselves: the props of the
    // table's island carry only which users are on the page.
    let props = html
        .split("data-props=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the table's island has props");
    assert!(props.contains("&quot;ids&quot;:["), "{props}");
    assert!(
        !props.contains("mo@acme.test"),
        "the island's props repeat the rows: {props}"
    );
    assert!(
        !html.contains(r#"\"users\":["#),
        "the users list was also sent as resource data"
    );
    assert_eq!(
        html.matches("<leptos-island").count(),
        1,
        "only the table is interactive"
    );
    assert!(
        !html.contains("given_name"),
        "the table's hydration data carries unused fields"
    );
}

#[tokio::test]
async fn a_signed_out_visitor_is_sent_to_sign_in_and_back() {
    let app = spawn_app().await;
    app.first_admin().await;
    let res = app.browser().get("/users?q=mo").await;
    assert_eq!(res.status(), 302);
    assert_eq!(location(&res), "/login?next=%2Fusers%3Fq%3Dmo");
    assert!(!res.text().await.unwrap().contains("Users in this workspace"));
}

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

/// Adds person1..person120@acme.test ("Person 001".."Person 120"): every tenth deactivated, the
/// rest imported; every third signed in, person N N minutes ago.
async fn add_people(app: &TestApp, org_id: uuid::Uuid) {
    sqlx::query(
        "insert into users (org_id, id, email, given_name, family_name, role, status, source, last_login_at)
         select $1, gen_random_uuid(), 'person' || n || '@acme.test', 'Person', lpad(n::text, 3, '0'), 'member',
                case when n % 10 = 0 then 'deactivated' else 'imported' end, 'manual',
                case when n % 3 = 0 then now() - (n || ' minutes')::interval end
         from generate_series(1, 120) n",
    )
    .bind(org_id)
    .execute(&app.db)
    .await
    .unwrap();
}

#[tokio::test]
async fn admins_search_filter_sort_and_page_through_users() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    let org_id = app.org_id("acme").await;
    add_people(&app, org_id).await;

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

/// Pins an implementation detail for performance and page weight: the rows are in the HTML, and
/// the markup and island props are checked byte for byte so that the page's data is not sent a
/// second time (as resource data or in the island's props). A markup change may need this test
/// updated; the data being sent twice must not.
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
    // table's island carry only where the page sits in the list, and the browser takes who is
    // on it from the rows' links.
    let props = html
        .split("data-props=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the table's island has props");
    assert!(props.contains("&quot;total&quot;:"), "{props}");
    assert!(
        !props.contains("ids"),
        "the island's props list the page's ids: {props}"
    );
    assert!(
        !props.contains("mo@acme.test"),
        "the island's props repeat the rows: {props}"
    );
    assert_eq!(
        html.matches("<td><a href=\"/users/").count(),
        2,
        "the admin's and Mo's rows do not both link to their user, whose id the browser reads"
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

/// The emails of the rows a server-rendered Users page shows, in order.
fn emails_on_page(html: &str) -> Vec<String> {
    html.split("</a></td><td>")
        .skip(1)
        .map(|rest| rest.split('<').next().unwrap().to_owned())
        .collect()
}

/// The emails `list_users` answers for the same state of the table.
async fn emails_listed(admin: &Browser, fields: &[(&str, &str)]) -> (Vec<String>, i64) {
    let page: serde_json::Value = admin.call_json("list_users", fields).await;
    let emails = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect();
    (emails, page["total"].as_i64().unwrap())
}

#[tokio::test]
async fn the_users_page_read_with_the_session_matches_the_list_for_every_search_filter_order_and_page() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    let org_id = app.org_id("acme").await;
    add_people(&app, org_id).await;

    let cases: &[(&str, &[(&str, &str)])] = &[
        ("/users", &[]),
        ("/users?page=3", &[("query[page]", "3")]),
        ("/users?q=person+07", &[("query[q]", "person 07")]),
        (
            "/users?status=deactivated&sort=email&dir=desc",
            &[
                ("query[status]", "deactivated"),
                ("query[sort]", "email"),
                ("query[descending]", "true"),
            ],
        ),
        (
            "/users?sort=last_login&dir=desc&page=2",
            &[
                ("query[sort]", "last_login"),
                ("query[descending]", "true"),
                ("query[page]", "2"),
            ],
        ),
        ("/users?q=nobody", &[("query[q]", "nobody")]),
    ];
    for (url, fields) in cases {
        let html = admin.get(url).await.text().await.unwrap();
        let (listed, total) = emails_listed(&admin, fields).await;
        assert_eq!(emails_on_page(&html), listed, "{url} shows other rows than the list");
        if !listed.is_empty() {
            assert!(
                html.contains(&format!(" of {total}")),
                "{url} shows another total than {total}"
            );
        }
    }
}

#[tokio::test]
async fn every_page_lists_its_users_once_in_order_each_with_its_open_invitation() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    let org_id = app.org_id("acme").await;
    add_people(&app, org_id).await;
    // People who fall on the first, second and third page; one invitation is resent, so an
    // older, superseded link exists next to the open one.
    let invited = ["person5@acme.test", "person61@acme.test", "person115@acme.test"];
    for email in invited {
        let id = app.user_id(email).await.to_string();
        assert_eq!(
            admin.call("invite_users", &[("ids[0]", id.as_str())]).await.status(),
            200
        );
    }
    let resent = app.user_id("person61@acme.test").await.to_string();
    assert_eq!(admin.call("resend_invite", &[("user_id", &resent)]).await.status(), 200);

    for (sort, descending, order) in [
        ("name", "false", "sort_name asc, id asc"),
        ("last_login", "true", "last_login_at desc nulls last, id desc"),
    ] {
        let expected: Vec<String> = sqlx::query_scalar(&format!(
            "select email from users where org_id = $1 and status <> 'deleted' order by {order}"
        ))
        .bind(org_id)
        .fetch_all(&app.db)
        .await
        .unwrap();
        let mut listed = Vec::new();
        for page in ["1", "2", "3"] {
            let fields = [
                ("query[sort]", sort),
                ("query[descending]", descending),
                ("query[page]", page),
            ];
            let answer: serde_json::Value = admin.call_json("list_users", &fields).await;
            listed.extend(answer["users"].as_array().unwrap().iter().cloned());
        }
        let emails: Vec<&str> = listed.iter().map(|u| u["email"].as_str().unwrap()).collect();
        assert_eq!(
            emails, expected,
            "pages sorted by {sort} skip, repeat or reorder people"
        );
        for row in &listed {
            let email = row["email"].as_str().unwrap();
            let invite = &row["invite"];
            if !invited.contains(&email) {
                assert!(
                    invite.is_null(),
                    "{email} (sorted by {sort}) shows an invitation: {invite}"
                );
                continue;
            }
            // The dates shown are the open link's, not those of the link the resend replaced.
            let open_link_shown: bool = sqlx::query_scalar(
                "select exists (select 1 from invites i join users u on u.org_id = i.org_id and u.id = i.user_id
                 where u.email = $1 and i.superseded_at is null and i.accepted_at is null and i.revoked_at is null
                   and i.created_at = $2::timestamptz and i.expires_at = $3::timestamptz)",
            )
            .bind(email)
            .bind(invite["sent_at"].as_str())
            .bind(invite["expires_at"].as_str())
            .fetch_one(&app.db)
            .await
            .unwrap();
            assert!(
                open_link_shown,
                "{email} (sorted by {sort}) does not show its open invitation: {invite}"
            );
        }
    }
}

#[tokio::test]
async fn the_users_page_is_read_only_for_a_live_admin_session_and_only_from_its_own_workspace() {
    let app = spawn_app_with(|s| s.open_signup = true).await;
    let ada = app.first_admin().await;
    app.another_workspace("Beta", "bea@beta.test").await;
    let bea = app.browser();
    bea.sign_in("bea@beta.test", PASSWORD).await;
    let beta_page = bea.get("/users").await.text().await.unwrap();
    assert_eq!(
        emails_on_page(&beta_page),
        ["bea@beta.test"],
        "another workspace's users leaked"
    );

    // A member gets no rows, even though the page is read with the session.
    add_member(&ada, "mo@acme.test", PASSWORD).await;
    let bo_id = add_member(&ada, "bo@acme.test", PASSWORD).await.to_string();
    assert_eq!(edit(&ada, &bo_id, "bo@acme.test", "Bo", "admin").await.status(), 200);
    let bo = app.browser();
    bo.sign_in("bo@acme.test", PASSWORD).await;
    assert_eq!(emails_on_page(&bo.get("/users").await.text().await.unwrap()).len(), 3);

    // Demoted: the next view of the page has no rows.
    assert_eq!(edit(&ada, &bo_id, "bo@acme.test", "Bo", "member").await.status(), 200);
    let demoted = bo.get("/users").await.text().await.unwrap();
    assert!(demoted.contains("Admins only"));
    assert!(emails_on_page(&demoted).is_empty(), "a member was shown the users");

    // Deactivated: the session no longer counts, so the page sends them to sign in.
    assert_eq!(
        ada.call("set_user_active", &[("id", &bo_id), ("active", "false")])
            .await
            .status(),
        200
    );
    let res = bo.get("/users").await;
    assert_eq!(res.status(), 302);
    assert!(location(&res).starts_with("/login"));

    // A forged cookie is a signed-out visitor.
    let forged = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/users", app.address))
        .header("accept", "text/html")
        .header("cookie", format!("rollcall_session={}", "a".repeat(64)))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 302);
}

#[tokio::test]
async fn reading_the_users_page_with_the_session_gives_the_page_listing_it_gives() {
    use identity::sessions::{SessionPolicy, SessionStore};
    use identity::users::{list, resolve_with_page, Status, UserQuery, UserSort};
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    let org_id = app.org_id("acme").await;
    add_people(&app, org_id).await;
    add_member(&admin, "mo@acme.test", PASSWORD).await;
    let member = app.browser();
    let admin_token = session_cookie(&app.browser().sign_in("ada@acme.test", PASSWORD).await);
    let member_token = session_cookie(&member.sign_in("mo@acme.test", PASSWORD).await);
    let token = |cookie: &str| cookie.trim_start_matches("rollcall_session=").to_owned();
    // One connection on the lane: every read below takes its turn on it.
    let sessions = SessionStore::new(&app.db, 1, SessionPolicy::default());

    let query = |search: &str, status: Option<Status>, sort: UserSort, descending: bool, page: u32| UserQuery {
        search: Some(search.to_owned()),
        status,
        sort,
        descending,
        page,
        per_page: 50,
    };
    let cases = [
        query("", None, UserSort::Name, false, 1),
        query("", None, UserSort::Name, false, 3),
        query("person 07", None, UserSort::Name, false, 1),
        query("", Some(Status::Deactivated), UserSort::Email, true, 1),
        query("", None, UserSort::LastLogin, true, 2),
        query("nobody", None, UserSort::Name, false, 1),
        query("", None, UserSort::Name, false, 9),
    ];
    for case in &cases {
        let (user, page) = resolve_with_page(&sessions, &token(&admin_token), case)
            .await
            .unwrap()
            .expect("a live session");
        assert_eq!(user.email, "ada@acme.test");
        let page = page.expect("an admin gets the page");
        let listed = list(&app.db, org_id, case).await.unwrap();
        let ids = |users: &[identity::users::ListedUser]| users.iter().map(|u| u.id).collect::<Vec<_>>();
        assert_eq!(ids(&page.users), ids(&listed.users), "{case:?}");
        assert_eq!(
            (page.total, page.total_is_lower_bound),
            (listed.total, listed.total_is_lower_bound),
            "{case:?}"
        );
    }

    // A member's session resolves, without the page; a forged token resolves to nobody.
    let (user, page) = resolve_with_page(&sessions, &token(&member_token), &cases[0])
        .await
        .unwrap()
        .expect("a live session");
    assert_eq!(user.email, "mo@acme.test");
    assert!(page.is_none(), "a member was given the users");
    let forged = resolve_with_page(&sessions, &"a".repeat(64), &cases[0]).await.unwrap();
    assert!(forged.is_none());
}

/// Pins an implementation detail for performance (the statement's text in `pg_stat_activity`):
/// the Users tab's speed rests on it (bench/users-page). A view reads its page in the same
/// statement as the session, on the session-read lane, and needs no pooled connection at all.
/// Were the page read on its own (the middleware not recognising the view, say), it would
/// wait here for a pooled connection that never comes free.
#[tokio::test]
async fn a_view_of_the_users_tab_reads_its_page_with_the_session_in_one_statement_and_no_pooled_connection() {
    // A budget of two gives the session-read lane one connection, so its last statement is the
    // page view's. (The pool is the test's own, of five, shared with the server.)
    let app = spawn_app_with(|settings| settings.db_max_connections = 2).await;
    let admin = app.first_admin().await;
    add_member(&admin, "mo@acme.test", "").await;

    // Every connection of the server's pool (shared with this test) taken.
    let mut held = Vec::new();
    for _ in 0..app.db.options().get_max_connections() {
        held.push(app.db.acquire().await.unwrap());
    }
    let mut held_pids = Vec::new();
    for conn in &mut held {
        held_pids.push(
            sqlx::query_scalar::<_, i32>("select pg_backend_pid()")
                .fetch_one(&mut **conn)
                .await
                .unwrap(),
        );
    }

    for (path, expected) in [
        ("/users", ["ada@acme.test", "mo@acme.test"]),
        ("/users?sort=email&dir=desc", ["mo@acme.test", "ada@acme.test"]),
    ] {
        let res = tokio::time::timeout(std::time::Duration::from_secs(5), admin.get(path))
            .await
            .unwrap_or_else(|_| panic!("{path} waited for a pooled connection"));
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(emails_on_page(&res.text().await.unwrap()), expected, "{path}");

        // The lane's backend: the one connection of this database besides those held here and
        // the background listeners' own (`LISTEN`, outside the pool and the lane).
        let others: Vec<String> = sqlx::query_scalar(
            "select query from pg_stat_activity where datname = current_database()
               and backend_type = 'client backend' and pid <> all($1) and query not like 'LISTEN %'",
        )
        .bind(&held_pids)
        .fetch_all(&mut *held[0])
        .await
        .unwrap();
        assert_eq!(others.len(), 1, "{others:?}");
        // `query` holds the statement's first 1 kB (track_activity_query_size): its start.
        assert!(
            others[0].starts_with("with me as (select ") && others[0].contains(" from me cross join lateral (select "),
            "the last statement of {path} was not the page read with the session: {}",
            others[0]
        );
    }
}

#[tokio::test]
async fn a_page_past_the_end_of_the_list_says_so_and_links_to_the_first_page() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    add_people(&app, app.org_id("acme").await).await;
    // 121 people make three pages of 50.
    let html = admin.get("/users?page=9").await.text().await.unwrap();
    assert!(
        html.contains("There is no page 9"),
        "no message for a page past the end"
    );
    assert!(html.contains(r#"<a href="/users" class="button">Go to the first page"#));
    assert!(
        !html.contains("No users yet"),
        "a page past the end claims there are no users"
    );
    let searched = admin.get("/users?q=person&page=9").await.text().await.unwrap();
    assert!(searched.contains(r#"<a href="/users?q=person" class="button">Go to the first page"#));
}

/// The value a rendered form's `<input name=…>` carries.
fn input_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let start = html[..at].rfind("<input")?;
    let end = at + html[at..].find('>')?;
    let tag = &html[start..end];
    let value = tag.split("value=\"").nth(1)?;
    Some(value[..value.find('"')?].to_owned())
}

#[tokio::test]
async fn a_profile_shows_and_saves_the_stored_names_not_ones_split_from_the_display_name() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    let created = admin
        .call(
            "create_user",
            &[
                ("email", "mary@acme.test"),
                ("given_name", "Mary Ann"),
                ("family_name", "Smith"),
                ("role", "member"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(created.status(), 200);
    let mary = app.browser();
    mary.sign_in("mary@acme.test", PASSWORD).await;
    let page = mary.get("/profile").await.text().await.unwrap();
    let given = input_value(&page, "given_name");
    let family = input_value(&page, "family_name");
    assert_eq!(
        (given.as_deref(), family.as_deref()),
        (Some("Mary Ann"), Some("Smith")),
        "the profile form shows other names than the stored ones"
    );

    // Saved as shown: nothing changes.
    let saved = mary
        .call(
            "update_my_names",
            &[("given_name", &given.unwrap()), ("family_name", &family.unwrap())],
        )
        .await;
    assert_eq!(saved.status(), 200);
    let stored: (String, String) =
        sqlx::query_as("select given_name, family_name from users where email = 'mary@acme.test'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(stored, ("Mary Ann".to_owned(), "Smith".to_owned()));
}

#[tokio::test]
async fn an_invalid_invitation_expiry_is_reported_on_the_settings_field_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    for bad in ["0", "91", "seven", ""] {
        let res = admin.call("save_invite_expiry", &[("invite_ttl_days", bad)]).await;
        assert_eq!(res.status(), 422, "{bad:?}");
        let err: serde_json::Value = res.json().await.unwrap();
        assert_eq!(err["Invalid"]["field"], "invite_ttl_days", "{bad:?}: {err}");
    }
    let hours: i32 = sqlx::query_scalar("select invite_ttl_hours from orgs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(hours, 7 * 24, "a refused expiry was saved");
    let res = admin.call("save_invite_expiry", &[("invite_ttl_days", "14")]).await;
    assert_eq!(res.status(), 200);
    let hours: i32 = sqlx::query_scalar("select invite_ttl_hours from orgs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(hours, 14 * 24);
}

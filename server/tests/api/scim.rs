//! SCIM 2.0 (`/scim/v2`) as Entra ID and Okta drive it (PROTOCOLS.md §7–8): the provisioning
//! cycles replayed request by request, every refusal's status and `scimType`, tenant isolation,
//! and the blast-radius guard shared by two app servers.

use crate::helpers::*;
use identity::audit::Actor;
use serde_json::{json, Value};

const SCIM_JSON: &str = "application/scim+json";

struct Scim {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Scim {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.header("content-type", SCIM_JSON).body(body.to_string());
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        if status != 204 && status != 304 {
            assert_eq!(
                headers.get("content-type").and_then(|v| v.to_str().ok()),
                Some(SCIM_JSON),
                "{path} answered {status} without the SCIM content type: {text}"
            );
        }
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, body, headers)
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        let (s, b, _) = self.send(reqwest::Method::GET, path, None).await;
        (s, b)
    }
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (s, b, _) = self.send(reqwest::Method::POST, path, Some(body)).await;
        (s, b)
    }
    async fn patch(&self, path: &str, ops: Value) -> (u16, Value) {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
        let (s, b, _) = self.send(reqwest::Method::PATCH, path, Some(body)).await;
        (s, b)
    }
    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let (s, b, _) = self.send(reqwest::Method::PUT, path, Some(body)).await;
        (s, b)
    }
    async fn delete(&self, path: &str) -> u16 {
        self.send(reqwest::Method::DELETE, path, None).await.0
    }
    /// The request, owning all it needs, so several can be sent at once (its status and body).
    fn sending(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> impl std::future::Future<Output = (u16, Value)> + Send + 'static {
        let request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", SCIM_JSON)
            .body(body.to_string());
        async move {
            let res = request.send().await.unwrap();
            (res.status().as_u16(), res.json().await.unwrap())
        }
    }
}

/// A server, its first workspace (Acme) with `people` more members, and a SCIM token for it.
async fn provisioning(people: usize) -> (TestApp, Scim) {
    let app = spawn_app().await;
    app.first_admin().await;
    let scim = scim_for(&app, "acme", people).await;
    (app, scim)
}

async fn scim_for(app: &TestApp, slug: &str, people: usize) -> Scim {
    let org = app.org_id(slug).await;
    sqlx::query(
        "insert into users (org_id, id, email, role, status, source)
         select $1, gen_random_uuid(), 'person' || n || '@' || $2 || '.test', 'member', 'active', 'manual'
         from generate_series(1, $3) n",
    )
    .bind(org)
    .bind(slug)
    .bind(people as i32)
    .execute(&app.db)
    .await
    .unwrap();
    let (token, _) = identity::scim::tokens::create(&app.db, &Actor::system(org, "test"), "Entra ID")
        .await
        .unwrap();
    Scim {
        client: reqwest::Client::new(),
        base: format!("{}/scim/v2", app.address),
        token,
    }
}

fn alice() -> Value {
    // As Entra sends it: explicit nulls, meta, empty roles, and a misspelled extension URN.
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:Usr"],
        "externalId": "0b7c1e2a-9d3f-4e51-8a6b-2c4d6e8f0a1b", "userName": "Alice@Contoso.com", "active": true,
        "displayName": "Alice Example", "nickName": null,
        "emails": [{"primary": true, "type": "work", "value": "alice@contoso.com"}],
        "meta": {"resourceType": "User"}, "name": {"formatted": "Alice Example", "familyName": "Example", "givenName": "Alice"},
        "roles": [], "title": "Engineer",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D", "employeeNumber": "42"}
    })
}

#[tokio::test]
async fn an_entra_provisioning_cycle_runs_from_test_connection_to_delete() {
    let (app, scim) = provisioning(30).await;
    // Test Connection: a random GUID that matches nobody, with Entra's `+` encoding.
    let (status, body) = scim
        .get("/Users?filter=userName+eq+%2218a7d0b2-4d1e-4f8a-9b3c-5e6f7a8b9c0d%22")
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["totalResults"], 0);
    assert_eq!(body["Resources"], json!([]));
    assert_eq!(body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:ListResponse");

    let (status, created, headers) = scim.send(reqwest::Method::POST, "/Users", Some(alice())).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        headers["location"].to_str().unwrap(),
        created["meta"]["location"].as_str().unwrap()
    );
    assert!(headers["etag"].to_str().unwrap().starts_with("W/\""));
    assert_eq!(
        created["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
        "R&D"
    );
    assert_eq!(scim.post("/Users", alice()).await.1["scimType"], "uniqueness");

    // Lookups: case-insensitive userName, Entra's email filter, externalId.
    for filter in [
        "userName eq \"ALICE@contoso.COM\"",
        "emails[type eq \"work\"].value eq \"alice@contoso.com\"",
        "externalId eq \"0b7c1e2a-9d3f-4e51-8a6b-2c4d6e8f0a1b\"",
    ] {
        let (status, body) = scim.get(&format!("/Users?filter={}", urlencode(filter))).await;
        assert_eq!((status, body["totalResults"].as_i64()), (200, Some(1)), "{filter}");
    }

    // PATCH in the legacy dialect: capitalised ops, booleans as strings, a work email, manager.
    let (status, patched) = scim
        .patch(&format!("/Users/{id}"), json!([
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Add", "path": "nickName", "value": "Ali"},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "alice.example@contoso.com"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "m-1"}
        ]))
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["active"], false);
    assert_eq!(
        patched["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"]["value"],
        "m-1"
    );
    let row: (String, String) = sqlx::query_as("select status, email from users where id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(row, ("deactivated".into(), "alice.example@contoso.com".into()));
    let (_, back) = scim
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "Replace", "path": "active", "value": "True"}]),
        )
        .await;
    assert_eq!(back["active"], true);
    // The flagged dialect: no path, dotted and URN keys.
    let (status, flagged) = scim
        .patch(&format!("/Users/{id}"), json!([{"op": "replace", "value": {
            "name.givenName": "Alicia", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "43"}}]))
        .await;
    assert_eq!(status, 200);
    assert_eq!(flagged["name"]["givenName"], "Alicia");
    let (_, removed) = scim
        .patch(&format!("/Users/{id}"), json!([{"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": ""}]))
        .await;
    assert!(removed["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]
        .get("manager")
        .is_none());

    // Groups: created without members, two added at once, one removed by Entra's value array
    // (never all), the other by the flagged filter.
    let (_, bob) = scim
        .post(
            "/Users",
            json!({"userName": "bob@contoso.com", "emails": [{"value": "bob@contoso.com", "type": "work"}]}),
        )
        .await;
    let bob_id = bob["id"].as_str().unwrap().to_owned();
    let (status, none) = scim
        .get("/Groups?excludedAttributes=members&filter=displayName+eq+%22Eng%22")
        .await;
    assert_eq!((status, none["totalResults"].as_i64()), (200, Some(0)));
    let (status, group) = scim
        .post("/Groups", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"], "displayName": "Eng", "externalId": "g1"}))
        .await;
    assert_eq!(status, 201, "{group}");
    let gid = group["id"].as_str().unwrap().to_owned();
    let (status, _) = scim
        .patch(&format!("/Groups/{gid}"), json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": id}, {"$ref": null, "value": bob_id}]}]))
        .await;
    assert_eq!(status, 204, "a membership change answers without the whole group");
    let members = |g: &Value| g["members"].as_array().map(|m| m.len()).unwrap_or(0);
    assert_eq!(members(&scim.get(&format!("/Groups/{gid}")).await.1), 2);
    assert!(scim
        .get(&format!("/Groups/{gid}?excludedAttributes=members"))
        .await
        .1
        .get("members")
        .is_none());
    scim.patch(
        &format!("/Groups/{gid}"),
        json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": bob_id}]}]),
    )
    .await;
    let after = scim.get(&format!("/Groups/{gid}")).await.1;
    assert_eq!(
        members(&after),
        1,
        "removing one member with a value array removed others"
    );
    assert_eq!(after["members"][0]["value"], id.as_str());
    scim.patch(
        &format!("/Groups/{gid}"),
        json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]),
    )
    .await;
    assert_eq!(members(&scim.get(&format!("/Groups/{gid}")).await.1), 0);
    assert_eq!(scim.get(&format!("/Users/{id}")).await.1.get("groups"), None);
    assert_eq!(scim.delete(&format!("/Groups/{gid}")).await, 204);
    assert_eq!(scim.get(&format!("/Groups/{gid}")).await.0, 404);

    // Delete: soft (hidden, sessions ended), then 404 on read and on a second delete.
    assert_eq!(scim.delete(&format!("/Users/{id}")).await, 204);
    assert_eq!(scim.get(&format!("/Users/{id}")).await.0, 404);
    assert_eq!(scim.delete(&format!("/Users/{id}")).await, 404);
    let deleted: (String, bool) =
        sqlx::query_as("select status, deleted_at is not null from users where id = $1::uuid")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(deleted, ("deleted".into(), true));
    // Every write is in the Activity log, attributed to the token.
    let writes: i64 = sqlx::query_scalar(
        "select count(*) from audit_events where action like 'scim.%' and actor_label like 'SCIM token %'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(writes >= 10, "{writes}");
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn an_okta_cycle_replaces_whole_users_and_pushes_groups_with_members() {
    let (_app, scim) = provisioning(30).await;
    let (_, u) = scim
        .post(
            "/Users",
            json!({"userName": "carol@okta.test", "name": {"givenName": "Carol", "familyName": "C"},
        "emails": [{"value": "carol@okta.test", "primary": true}], "title": "CTO", "active": true}),
        )
        .await;
    let id = u["id"].as_str().unwrap();
    // A full PUT: what it leaves out is gone.
    let (status, put) = scim
        .put(
            &format!("/Users/{id}"),
            json!({"userName": "carol@okta.test", "name": {"givenName": "Carol", "familyName": "Cee"},
            "emails": [{"value": "carol@okta.test", "primary": true}], "active": true}),
        )
        .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["name"]["familyName"], "Cee");
    assert!(put.get("title").is_none());
    let (_, off) = scim
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "value": {"active": false}}]),
        )
        .await;
    assert_eq!(off["active"], false);
    let (status, g) = scim
        .post(
            "/Groups",
            json!({"displayName": "Okta Push", "members": [{"value": id, "display": "Carol"}]}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(g["members"][0]["value"], id);
    let gid = g["id"].as_str().unwrap();
    let (status, g) = scim
        .put(
            &format!("/Groups/{gid}"),
            json!({"displayName": "Okta Push 2", "members": []}),
        )
        .await;
    assert_eq!((status, g["displayName"].as_str()), (200, Some("Okta Push 2")));
    assert_eq!(g["members"], json!([]));
}

#[tokio::test]
async fn every_refusal_has_its_status_scim_type_and_changes_nothing() {
    let (app, scim) = provisioning(30).await;
    let (_, u) = scim.post("/Users", json!({"userName": "dan@x.test"})).await;
    let id = u["id"].as_str().unwrap().to_owned();
    let version = u["meta"]["version"].as_str().unwrap().to_owned();
    for (filter, kind) in [
        ("userName eq", "invalidFilter"),
        ("password eq \"x\"", "invalidFilter"),
        ("userName zz \"a\"", "invalidFilter"),
    ] {
        let (status, body) = scim.get(&format!("/Users?filter={}", urlencode(filter))).await;
        assert_eq!((status, body["scimType"].as_str()), (400, Some(kind)), "{filter}");
        assert_eq!(body["status"], "400", "status is a string");
    }
    let (status, body, _) = scim
        .send(
            reqwest::Method::POST,
            "/Users",
            Some(Value::String("x".repeat(1_100_000))),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    let res = scim
        .client
        .post(format!("{}/Users", scim.base))
        .bearer_auth(&scim.token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["scimType"], "invalidSyntax");
    assert_eq!(
        scim.post("/Users", json!({"userName": "no-email"})).await.1["scimType"],
        "invalidValue"
    );
    // A PATCH with one bad operation leaves the user as it was.
    let (status, body) = scim
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "title", "value": "Boss"}, {"op": "remove", "path": "userName"}]),
        )
        .await;
    assert_eq!((status, body["scimType"].as_str()), (400, Some("mutability")));
    assert!(scim.get(&format!("/Users/{id}")).await.1.get("title").is_none());
    assert_eq!(
        scim.patch(&format!("/Users/{id}"), json!([{"op": "remove"}])).await.1["scimType"],
        "noTarget"
    );
    assert_eq!(
        scim.patch(
            &format!("/Users/{id}"),
            json!([{"op": "add", "path": "emails[type eq", "value": "x"}])
        )
        .await
        .1["scimType"],
        "invalidPath"
    );
    // ETags.
    let stale = scim
        .client
        .patch(format!("{}/Users/{id}", scim.base))
        .bearer_auth(&scim.token)
        .header("if-match", "W/\"999\"")
        .header("content-type", SCIM_JSON)
        .body(json!({"Operations": [{"op": "add", "path": "title", "value": "x"}]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let fresh = scim
        .client
        .get(format!("{}/Users/{id}", scim.base))
        .bearer_auth(&scim.token)
        .header("if-none-match", &version)
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 304);
    // No token, a wrong one, a revoked one: 401.
    for token in [
        "",
        "rcs_0000000000000000000000000000000000000000000000000000000000000000",
        "Basic abc",
    ] {
        let res = scim
            .client
            .get(format!("{}/Users", scim.base))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{token}");
    }
    // The request log keeps the refusals with a hint.
    // The log is written in batches, off the request's path: wait for it.
    let mut hint = None;
    for _ in 0..100 {
        hint =
            sqlx::query_scalar("select hint from scim_requests where status = 400 and path like '%password%' limit 1")
                .fetch_optional(&app.db)
                .await
                .unwrap();
        if hint.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let hint: String = hint.expect("the refused request is in the log");
    assert!(hint.contains("does not index") && hint.contains("password"), "{hint}");
    // Discovery.
    let (status, config) = scim.get("/ServiceProviderConfig").await;
    assert_eq!((status, config["patch"]["supported"].as_bool()), (200, Some(true)));
    assert_eq!(config["bulk"]["supported"], false);
    assert_eq!(scim.get("/ResourceTypes").await.1["totalResults"], 2);
    assert_eq!(scim.get("/Schemas").await.1["totalResults"], 3);
    assert_eq!(
        scim.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").await.1["name"],
        "User"
    );
    assert_eq!(scim.get("/Nope").await.0, 404);
}

#[tokio::test]
async fn a_token_sees_and_touches_only_its_own_workspace_and_other_ids_are_404() {
    let app = spawn_app_with(|s| s.open_signup = true).await;
    app.first_admin().await;
    app.another_workspace("Globex", "hank@globex.test").await;
    let acme = scim_for(&app, "acme", 5).await;
    let globex = scim_for(&app, "globex", 5).await;
    let (_, theirs) = globex.post("/Users", json!({"userName": "secret@globex.test"})).await;
    let (_, their_group) = globex.post("/Groups", json!({"displayName": "Globex Only"})).await;
    let (uid, gid) = (theirs["id"].as_str().unwrap(), their_group["id"].as_str().unwrap());
    assert_eq!(acme.get(&format!("/Users/{uid}")).await.0, 404);
    assert_eq!(
        acme.put(&format!("/Users/{uid}"), json!({"userName": "x@y.test"}))
            .await
            .0,
        404
    );
    assert_eq!(
        acme.patch(
            &format!("/Users/{uid}"),
            json!([{"op": "replace", "path": "active", "value": false}])
        )
        .await
        .0,
        404
    );
    assert_eq!(acme.delete(&format!("/Users/{uid}")).await, 404);
    assert_eq!(acme.get(&format!("/Groups/{gid}")).await.0, 404);
    assert_eq!(
        acme.patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "add", "path": "members", "value": [{"value": uid}]}])
        )
        .await
        .0,
        404
    );
    assert_eq!(acme.delete(&format!("/Groups/{gid}")).await, 404);
    assert_eq!(
        acme.get("/Users?filter=userName+eq+%22secret%40globex.test%22").await.1["totalResults"],
        0
    );
    assert_eq!(acme.get("/Groups").await.1["totalResults"], 0);
    // Another workspace's person cannot be made a member of one's own group either.
    let (_, mine) = acme.post("/Groups", json!({"displayName": "Acme"})).await;
    let (status, body) = acme
        .patch(
            &format!("/Groups/{}", mine["id"].as_str().unwrap()),
            json!([{"op": "add", "path": "members", "value": [{"value": uid}]}]),
        )
        .await;
    assert_eq!((status, body["scimType"].as_str()), (400, Some("invalidValue")));
    let active: String = sqlx::query_scalar("select status from users where id = $1::uuid")
        .bind(uid)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(active, "active");
}

#[tokio::test]
async fn a_deprovisioning_burst_across_two_servers_is_held_for_an_admin_and_never_reported_as_done() {
    // 19 people and the admin count towards the tenth; people SCIM creates count after a day.
    let (app, scim) = provisioning(19).await;
    let mut ids = Vec::new();
    for n in 0..2 {
        let (_, u) = scim
            .post("/Users", json!({"userName": format!("p{n}@burst.test")}))
            .await;
        ids.push(u["id"].as_str().unwrap().to_owned());
    }
    // A second app server on the same database, with the same token.
    let other = spawn_on(app.database_url.clone(), |_| {}).await;
    let scim2 = Scim {
        client: reqwest::Client::new(),
        base: format!("{}/scim/v2", other.address),
        token: scim.token.clone(),
    };
    // 20 people: two deprovisionings an hour are a tenth; the third is held.
    let (s1, _) = scim
        .patch(
            &format!("/Users/{}", ids[0]),
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    assert_eq!(s1, 200);
    assert_eq!(scim2.delete(&format!("/Users/{}", ids[1])).await, 204);
    let victim: uuid::Uuid = sqlx::query_scalar("select id from users where email = 'person1@acme.test'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    sqlx::query("update users set user_name = email where id = $1")
        .bind(victim)
        .execute(&app.db)
        .await
        .unwrap();
    let (status, body, headers) = scim
        .send(
            reqwest::Method::PATCH,
            &format!("/Users/{victim}"),
            Some(json!({"Operations": [{"op": "replace", "path": "active", "value": false}]})),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(headers["retry-after"], "3600");
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("Held for an admin's approval"));
    let status: String = sqlx::query_scalar("select status from users where id = $1")
        .bind(victim)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "active", "a held change was applied");
    // Retried: still held, one hold.
    assert_eq!(
        scim2
            .patch(
                &format!("/Users/{victim}"),
                json!([{"op": "replace", "path": "active", "value": false}])
            )
            .await
            .0,
        503
    );
    let holds = identity::scim::guard::open_holds(&app.db, app.org_id("acme").await)
        .await
        .unwrap();
    assert_eq!(holds.len(), 1);
    let org = app.org_id("acme").await;
    identity::scim::guard::decide_all(&app.db, &Actor::system(org, "test admin"), true)
        .await
        .unwrap();
    let status: String = sqlx::query_scalar("select status from users where id = $1")
        .bind(victim)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "deactivated");
    // The directory's retry now finds the change made.
    assert_eq!(
        scim.patch(
            &format!("/Users/{victim}"),
            json!([{"op": "replace", "path": "active", "value": false}])
        )
        .await
        .0,
        200
    );
}

#[tokio::test]
async fn deactivation_ends_sessions_and_closes_invitations_whether_the_guard_is_on_or_off() {
    for guarded in [true, false] {
        let app = spawn_app().await;
        let admin = app.first_admin().await;
        let scim = scim_for(&app, "acme", 20).await;
        sqlx::query("update orgs set scim_guard = $1")
            .bind(guarded)
            .execute(&app.db)
            .await
            .unwrap();
        // Mo accepted an invitation and is signed in; Pat's invitation is still open.
        let (_, link) = app.invite(&admin, "mo@acme.test").await;
        let mo = app.browser();
        accept_invitation(&mo, link.rsplit('/').next().unwrap(), "mo's long password").await;
        assert_eq!(mo.whoami().await.as_deref(), Some("mo@acme.test"));
        let (pat, _) = app.invite(&admin, "pat@acme.test").await;
        for email in ["mo@acme.test", "pat@acme.test"] {
            let (status, person) = scim.post("/Users", json!({"userName": email})).await;
            assert_eq!(status, 201, "{person}");
            let (status, body) = scim
                .patch(
                    &format!("/Users/{}", person["id"].as_str().unwrap()),
                    json!([{"op": "Replace", "path": "active", "value": "False"}]),
                )
                .await;
            assert_eq!(
                (status, &body["active"]),
                (200, &json!(false)),
                "guard {guarded}: {body}"
            );
        }
        assert_eq!(
            mo.whoami().await,
            None,
            "guard {guarded}: Mo's session outlived deprovisioning"
        );
        let open: i64 = sqlx::query_scalar("select count(*) from open_invites where user_id = $1::uuid")
            .bind(&pat)
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(open, 0, "guard {guarded}: Pat's invitation is still open");
        let (counted, ended): (i64, i64) = sqlx::query_as(
            "select (select count(*) from scim_deprovisions),
                    (select coalesce(sum((details ->> 'sessions_ended')::int), 0) from audit_events
                      where action = 'scim.user_deactivated')",
        )
        .fetch_one(&app.db)
        .await
        .unwrap();
        assert_eq!(
            (counted, ended),
            (2, 1),
            "guard {guarded}: counted for the guard, audited"
        );
    }
}

#[tokio::test]
async fn a_burst_of_creates_with_repeats_makes_each_person_once_and_refuses_each_repeat() {
    let (app, scim) = provisioning(0).await;
    // 30 people, each sent twice at once (the second time under another userName for a third
    // of them, so the repeat is by email), in a burst that the server writes together.
    let mut burst = tokio::task::JoinSet::new();
    for n in 0..60 {
        let person = n % 30;
        let user_name = if n >= 30 && person % 3 == 0 {
            format!("other-{person}@burst.test")
        } else {
            format!("p{person}@burst.test")
        };
        let body = json!({"userName": user_name, "externalId": format!("ext-{n}"),
            "emails": [{"value": format!("p{person}@burst.test"), "primary": true}]});
        let sent = scim.sending(reqwest::Method::POST, "/Users", body);
        burst.spawn(async move {
            let (status, body) = sent.await;
            (person, status, body)
        });
    }
    let mut created = std::collections::HashMap::<usize, usize>::new();
    while let Some(answer) = burst.join_next().await {
        let (person, status, body) = answer.unwrap();
        match status {
            201 => *created.entry(person).or_default() += 1,
            409 => assert_eq!(body["scimType"], "uniqueness", "{body}"),
            _ => panic!("a create in a burst answered {status}: {body}"),
        }
    }
    assert_eq!(created.len(), 30, "everyone was created");
    assert!(
        created.values().all(|n| *n == 1),
        "someone was created twice: {created:?}"
    );
    let (people, audited): (i64, i64) = sqlx::query_as(
        "select (select count(*) from users where source = 'scim'),
                (select count(*) from audit_events where action = 'scim.user_created')",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((people, audited), (30, 30));
}

#[tokio::test]
async fn a_patch_that_takes_someone_elses_user_name_is_refused_while_patches_sent_with_it_apply() {
    let (_app, scim) = provisioning(0).await;
    let mut ids = Vec::new();
    for n in 0..12 {
        let (_, person) = scim
            .post("/Users", json!({"userName": format!("p{n}@burst.test")}))
            .await;
        ids.push(person["id"].as_str().unwrap().to_owned());
    }
    let mut burst = tokio::task::JoinSet::new();
    for (n, id) in ids.iter().enumerate() {
        // The first takes the second's userName; the others change their title.
        let ops = if n == 0 {
            json!([{"op": "replace", "path": "userName", "value": "P1@burst.test"}])
        } else {
            json!([{"op": "replace", "path": "title", "value": format!("title {n}")}])
        };
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
        let sent = scim.sending(reqwest::Method::PATCH, &format!("/Users/{id}"), body);
        burst.spawn(async move {
            let (status, body) = sent.await;
            (n, status, body)
        });
    }
    while let Some(answer) = burst.join_next().await {
        let (n, status, body) = answer.unwrap();
        if n == 0 {
            assert_eq!((status, &body["scimType"]), (409, &json!("uniqueness")), "{body}");
        } else {
            assert_eq!((status, &body["title"]), (200, &json!(format!("title {n}"))), "{body}");
        }
    }
    let (_, first) = scim.get(&format!("/Users/{}", ids[0])).await;
    assert_eq!(first["userName"], "p0@burst.test", "a refused PATCH changed something");
}

#[tokio::test]
async fn people_provisioned_today_do_not_widen_the_guards_allowance() {
    // The admin and 9 people: one deprovisioning an hour is a tenth.
    let (_app, scim) = provisioning(9).await;
    let mut ids = Vec::new();
    for n in 0..30 {
        let (_, person) = scim
            .post("/Users", json!({"userName": format!("dummy{n}@acme.test")}))
            .await;
        ids.push(person["id"].as_str().unwrap().to_owned());
    }
    let off = json!([{"op": "replace", "path": "active", "value": false}]);
    assert_eq!(scim.patch(&format!("/Users/{}", ids[0]), off.clone()).await.0, 200);
    let (status, body) = scim.patch(&format!("/Users/{}", ids[1]), off).await;
    assert_eq!(status, 503, "30 people created today widened the allowance: {body}");
}

#[tokio::test]
async fn with_the_guard_off_provisioning_still_never_deactivates_the_last_active_admin() {
    let (app, scim) = provisioning(0).await;
    sqlx::query("update orgs set scim_guard = false")
        .execute(&app.db)
        .await
        .unwrap();
    // Provisioned, then made an admin in the console; Ada, the other admin, leaves.
    let (_, boss) = scim.post("/Users", json!({"userName": "boss@acme.test"})).await;
    let path = format!("/Users/{}", boss["id"].as_str().unwrap());
    sqlx::query("update users set role = 'admin' where email = 'boss@acme.test'")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("update users set status = 'deactivated' where email = 'ada@acme.test'")
        .execute(&app.db)
        .await
        .unwrap();
    let off = json!([{"op": "replace", "path": "active", "value": false}]);
    let (status, body) = scim.patch(&path, off.clone()).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(scim.get(&path).await.1["active"], true);
    // With another active admin, they may go.
    sqlx::query("update users set status = 'active' where email = 'ada@acme.test'")
        .execute(&app.db)
        .await
        .unwrap();
    let (status, body) = scim.patch(&path, off).await;
    assert_eq!((status, &body["active"]), (200, &json!(false)), "{body}");
}

#[tokio::test]
async fn creates_from_two_workspaces_at_once_each_land_in_their_own_workspace_audited_to_their_token() {
    let app = spawn_app_with(|s| s.open_signup = true).await;
    app.first_admin().await;
    app.another_workspace("Globex", "hank@globex.test").await;
    let workspaces = [
        ("acme", scim_for(&app, "acme", 0).await),
        ("globex", scim_for(&app, "globex", 0).await),
    ];
    let mut burst = tokio::task::JoinSet::new();
    for n in 0..40 {
        let (slug, scim) = &workspaces[n % 2];
        let sent = scim.sending(
            reqwest::Method::POST,
            "/Users",
            json!({"userName": format!("p{n}@{slug}.test")}),
        );
        burst.spawn(sent);
    }
    while let Some(answer) = burst.join_next().await {
        let (status, body) = answer.unwrap();
        assert_eq!(status, 201, "{body}");
    }
    for (slug, _) in &workspaces {
        let org = app.org_id(slug).await;
        let token: uuid::Uuid = sqlx::query_scalar("select id from scim_tokens where org_id = $1")
            .bind(org)
            .fetch_one(&app.db)
            .await
            .unwrap();
        let (people, strays, audited, misattributed): (i64, i64, i64, i64) = sqlx::query_as(
            "select (select count(*) from users where org_id = $1 and source = 'scim'),
                    (select count(*) from users where org_id = $1 and source = 'scim' and email not like '%@' || $2 || '.test'),
                    (select count(*) from audit_events where org_id = $1 and action = 'scim.user_created'),
                    (select count(*) from audit_events where org_id = $1 and action = 'scim.user_created'
                       and (actor_label <> 'SCIM token ' || $3::text or target_label not like '%@' || $2 || '.test'))",
        )
        .bind(org)
        .bind(slug)
        .bind(token)
        .fetch_one(&app.db)
        .await
        .unwrap();
        assert_eq!((people, strays, audited, misattributed), (20, 0, 20, 0), "{slug}");
    }
}

#[tokio::test]
async fn a_sign_in_never_makes_a_session_for_someone_deactivated_meanwhile() {
    let (app, scim) = provisioning(0).await;
    let (_, person) = scim.post("/Users", json!({"userName": "mo@acme.test"})).await;
    let user_id: uuid::Uuid = person["id"].as_str().unwrap().parse().unwrap();
    // Their password checked a moment ago; deprovisioned before the session is made.
    let (status, body) = scim
        .patch(
            &format!("/Users/{user_id}"),
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    // (One of a workspace of two is more than the guard lets through: it is held.)
    assert_eq!(status, 503, "{body}");
    identity::scim::guard::decide_all(&app.db, &Actor::system(app.org_id("acme").await, "test"), true)
        .await
        .unwrap();
    let made = identity::sessions::create(
        &app.db,
        &identity::sessions::SessionPolicy::default(),
        identity::sessions::NewSession {
            org_id: app.org_id("acme").await,
            user_id,
            ip: None,
            user_agent: None,
            method: "password",
            request_id: None,
        },
    )
    .await;
    assert!(made.is_err(), "a session was made for someone deactivated");
    let sessions: i64 = sqlx::query_scalar("select count(*) from sessions where user_id = $1")
        .bind(user_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(sessions, 0);
}

#[tokio::test]
async fn patches_of_one_person_at_the_same_time_each_apply_to_what_the_other_wrote() {
    let (_app, scim) = provisioning(0).await;
    let (_, created) = scim.post("/Users", alice()).await;
    let path = format!("/Users/{}", created["id"].as_str().unwrap());
    let attributes = [
        "title",
        "nickName",
        "displayName",
        "preferredLanguage",
        "locale",
        "timezone",
    ];
    let mut racing = tokio::task::JoinSet::new();
    for (n, attribute) in attributes.iter().enumerate() {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": attribute, "value": format!("new {attribute}")}]});
        let sent = scim.sending(reqwest::Method::PATCH, &path, body);
        racing.spawn(async move {
            let (status, body) = sent.await;
            (n, status, body)
        });
    }
    let mut answers = vec![(0, Value::Null); attributes.len()];
    while let Some(answer) = racing.join_next().await {
        let (n, status, body) = answer.unwrap();
        answers[n] = (status, body);
    }
    for (status, body) in &answers {
        assert!(
            *status == 200 || *status == 409,
            "a PATCH racing others answered {status}: {body}"
        );
    }
    let (_, after) = scim.get(&path).await;
    for ((status, _), attribute) in answers.iter().zip(attributes) {
        if *status == 200 {
            assert_eq!(
                after[attribute],
                format!("new {attribute}"),
                "{attribute} was lost: {after}"
            );
        }
    }
    assert!(
        answers.iter().filter(|(s, _)| *s == 200).count() >= 3,
        "most concurrent PATCHes should apply: {answers:?}"
    );
    let versions = answers.iter().filter(|(s, _)| *s == 200).count() as i64;
    assert_eq!(
        after["meta"]["version"],
        format!("W/\"{}\"", 1 + versions),
        "one version per applied PATCH"
    );
}

#[tokio::test]
async fn a_revoked_token_is_refused_at_once_by_every_server_that_had_just_accepted_it() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    let scim = scim_for(&app, "acme", 0).await;
    let other = spawn_on(app.database_url.clone(), |_| {}).await;
    let scim2 = Scim {
        client: reqwest::Client::new(),
        base: format!("{}/scim/v2", other.address),
        token: scim.token.clone(),
    };
    // Both servers follow revocations (a server keeps checked tokens only while it does).
    let waited = std::time::Instant::now();
    loop {
        let following: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity where datname = current_database()
               and query = 'LISTEN \"scim_tokens_revoked\"'",
        )
        .fetch_one(&app.db)
        .await
        .unwrap();
        if following >= 2 {
            break;
        }
        assert!(
            waited.elapsed().as_secs() < 10,
            "the servers never listened for revocations"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // Each server has checked the token now, and keeps it for a while (tokens::TokenCache).
    assert_eq!(scim.get("/Users").await.0, 200);
    assert_eq!(scim2.get("/Users").await.0, 200);
    let token_id: uuid::Uuid = sqlx::query_scalar("select id from scim_tokens where org_id = $1")
        .bind(app.org_id("acme").await)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let res = admin
        .form(&format!("/provisioning/tokens/{token_id}/revoke"), &[])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(scim.get("/Users").await.0, 401, "the server the admin revoked it on");
    // The other server hears of it by the revocation's notification: within moments, never
    // the cache's lifetime.
    let waited = std::time::Instant::now();
    while scim2.get("/Users").await.0 != 401 {
        assert!(
            waited.elapsed() < identity::scim::tokens::CACHE_LIFETIME / 5,
            "the other server still accepts a revoked token"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_scim_person_whose_external_id_is_their_entra_object_id_signs_in_with_microsoft_without_a_password() {
    use fakes::{FakeIdp, Flavor, Persona};
    const TENANT: &str = "4a1f6b0e-2c3d-4e5f-8a9b-0c1d2e3f4a5b";
    const OID: &str = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a";
    let idp = FakeIdp::start(Flavor::Microsoft).await;
    let app = spawn_app_with(|s| {
        s.microsoft_client_id = Some(idp.client_id().to_owned());
        s.microsoft_client_secret = Some(idp.client_secret().to_owned().into());
        s.microsoft_authority = idp.base_url();
    })
    .await;
    app.first_admin().await;
    let scim = scim_for(&app, "acme", 20).await;
    sqlx::query(
        "insert into integrations (org_id, provider, mode, org_key) values ($1, 'microsoft', 'org_connected', $2)",
    )
    .bind(app.org_id("acme").await)
    .bind(TENANT)
    .execute(&app.db)
    .await
    .unwrap();
    let (status, _) = scim
        .post(
            "/Users",
            json!({"userName": "eve@contoso.test", "externalId": OID, "active": true}),
        )
        .await;
    assert_eq!(status, 201);

    let sign_in = |persona: Persona| {
        idp.sign_in_as(persona);
        let browser = app.browser();
        async move {
            let res = through_provider(&browser, "/auth/microsoft/start").await;
            (browser, location(&res))
        }
    };
    // The same object id in another tenant is someone else.
    let (browser, landed) =
        sign_in(Persona::new(OID, "eve@elsewhere.test").org("7b2e9c1a-0d3f-4a5b-9c8d-1e2f3a4b5c6d")).await;
    assert_eq!(landed, "/auth/problem");
    assert_eq!(browser.whoami().await, None);
    let mut eve = Persona::new(OID, "eve.personal@contoso.test").org(TENANT);
    eve.email_verified = Some(false);
    let (browser, landed) = sign_in(eve).await;
    assert_eq!(landed, "/", "{}", flash_error(&browser).await);
    assert_eq!(browser.whoami().await.as_deref(), Some("eve@contoso.test"));
}

#[tokio::test]
async fn provisioning_never_takes_over_an_admin_and_hostile_bodies_are_refused_without_harm() {
    let (app, scim) = provisioning(20).await;
    // The workspace's admin, by email: refused, and the admin is untouched.
    let (status, body) = scim
        .post("/Users", json!({"userName": "ada@acme.test", "active": true}))
        .await;
    assert_eq!((status, body["scimType"].as_str()), (409, Some("uniqueness")), "{body}");
    let admin: (Option<String>, String) =
        sqlx::query_as("select user_name, source from users where email = 'ada@acme.test'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(admin, (None, "manual".to_owned()));
    // A person added by hand is taken over, but never linked to a sign-in by the externalId sent.
    let (status, taken) = scim
        .post(
            "/Users",
            json!({"userName": "person3@acme.test", "externalId": "x-oid"}),
        )
        .await;
    assert_eq!(status, 201);
    let created: bool = sqlx::query_scalar("select scim_created from users where email = 'person3@acme.test'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!created);
    // Deep nesting in a PATCH path is refused, not a crash; the server still answers.
    let id = taken["id"].as_str().unwrap();
    let deep = format!("emails[{}", "(".repeat(4000));
    let (status, body) = scim
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": deep, "value": "x"}]),
        )
        .await;
    assert_eq!((status, body["scimType"].as_str()), (400, Some("invalidPath")));
    let many: Vec<Value> = (0..150).map(|n| json!({"value": format!("{n}@x.test")})).collect();
    let (status, body) = scim
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "add", "path": "emails", "value": many}]),
        )
        .await;
    assert_eq!((status, body["scimType"].as_str()), (400, Some("invalidValue")));
    assert_eq!(scim.get(&format!("/Users/{id}")).await.0, 200);
    // Deleted, then created again under the same userName with another address: brought back.
    assert_eq!(scim.delete(&format!("/Users/{id}")).await, 204);
    let (status, again) = scim
        .post(
            "/Users",
            json!({"userName": "person3@acme.test", "emails": [{"value": "p3.new@acme.test"}]}),
        )
        .await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["id"], id);
}

#[tokio::test]
async fn every_filter_operator_selects_what_rfc_7644_says() {
    let (_app, scim) = provisioning(20).await;
    for (user, title, dept, active) in [
        ("amy@ops.test", "Engineer", "R&D", true),
        ("BEN@ops.test", "Manager", "Sales", true),
        ("cat@ops.test", "Engineer", "Sales", false),
    ] {
        let (status, _) = scim
            .post("/Users", json!({"userName": user, "title": title, "active": active,
                "emails": [{"value": user.to_lowercase(), "type": "work", "primary": true}, {"value": format!("home.{}", user.to_lowercase()), "type": "home"}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": dept}}))
            .await;
        assert_eq!(status, 201);
    }
    let count = |filter: &'static str| {
        let scim = &scim;
        async move {
            let (status, body) = scim.get(&format!("/Users?filter={}", urlencode(filter))).await;
            assert_eq!(status, 200, "{filter}: {body}");
            body["totalResults"].as_i64().unwrap()
        }
    };
    for (filter, expected) in [
        ("userName eq \"ben@ops.test\"", 1),
        ("userName ne \"ben@ops.test\"", 2),
        ("userName co \"@OPS\"", 3),
        ("userName sw \"a\"", 1),
        ("userName ew \"ops.test\"", 3),
        ("userName gt \"ben@ops.test\"", 1),
        ("userName ge \"ben@ops.test\"", 2),
        ("userName lt \"ben@ops.test\"", 1),
        ("userName le \"ben@ops.test\"", 2),
        ("title pr", 3),
        ("nickName pr", 0),
        ("title eq \"engineer\" and active eq true", 1),
        ("title eq \"Manager\" or active eq \"False\"", 2),
        ("not (title eq \"Engineer\")", 1),
        (
            "(title eq \"Engineer\" or title eq \"Manager\") and not (userName sw \"c\")",
            2,
        ),
        ("emails[type eq \"home\" and value sw \"home.a\"]", 1),
        ("emails[type eq \"work\"].value ew \"@ops.test\"", 3),
        ("emails co \"home.cat\"", 1),
        ("emails[primary eq true].value eq \"cat@ops.test\"", 1),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"Sales\"",
            2,
        ),
        ("USERNAME EQ \"AMY@OPS.TEST\"", 1),
        (
            "meta.created gt \"2000-01-01T00:00:00Z\" and userName ew \"ops.test\"",
            3,
        ),
        ("externalId eq null and userName sw \"a\"", 1),
    ] {
        assert_eq!(count(filter).await, expected, "{filter}");
    }
    // Paging is 1-based; past the end is an empty page with the right total; sorting works.
    let (_, page) = scim
        .get("/Users?filter=userName+ew+%22ops.test%22&sortBy=userName&sortOrder=descending&startIndex=2&count=1")
        .await;
    assert_eq!(
        (
            page["totalResults"].as_i64(),
            page["startIndex"].as_i64(),
            page["itemsPerPage"].as_i64()
        ),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(page["Resources"][0]["userName"], "BEN@ops.test");
    let (_, past) = scim.get("/Users?filter=userName+ew+%22ops.test%22&startIndex=10").await;
    assert_eq!(
        (
            past["totalResults"].as_i64(),
            past["Resources"].as_array().map(|r| r.len())
        ),
        (Some(3), Some(0))
    );
    let (_, only) = scim
        .get("/Users?filter=userName+eq+%22amy%40ops.test%22&attributes=userName")
        .await;
    let keys: Vec<&String> = only["Resources"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 3, "{keys:?}: id, schemas and userName only");
    let (status, search) = scim
        .post("/Users/.search", json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "title eq \"Manager\"", "startIndex": 1, "count": 5}))
        .await;
    assert_eq!((status, search["totalResults"].as_i64()), (200, Some(1)));
}

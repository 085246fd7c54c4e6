//! The fake directory APIs over HTTP, as an importing client sees them: every person exactly
//! once across pages of any size, the field presence rules, each fault's exact response, Graph
//! delta after a change of people, Slack without `users:read.email`, and the installs.

use std::collections::{HashMap, HashSet};

use fakes::directory::{
    generate, DirectoryFlavor, DirectoryPerson, FakeDirectory, Fault, PersonKind, GRAPH_DELTA_PAGE_SIZE,
};
use fakes::{FakeIdp, Flavor, Persona};
use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;

const REDIRECT_URI: &str = "http://127.0.0.1:3000/integrations/callback";

fn client() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

fn header(response: &Response, name: &str) -> Option<String> {
    response.headers().get(name).map(|v| v.to_str().unwrap().to_owned())
}

fn ids<'a>(people: impl IntoIterator<Item = &'a DirectoryPerson>) -> HashSet<String> {
    people.into_iter().map(|p| p.id.clone()).collect()
}

/// Adds a page's IDs, failing on any seen before.
fn add_page(seen: &mut HashSet<String>, page: &[Value]) {
    for user in page {
        let id = user["id"].as_str().unwrap().to_owned();
        assert!(seen.insert(id.clone()), "{id} listed twice");
    }
}

// ---------------------------------------------------------------------------------------------
// Google

async fn google_get(http: &Client, dir: &FakeDirectory, query: &[(&str, &str)]) -> Response {
    http.get(format!("{}/admin/directory/v1/users", dir.base_url()))
        .bearer_auth(dir.token())
        .query(query)
        .send()
        .await
        .unwrap()
}

/// Pages to the end; returns the users and how many pages it took.
async fn google_all(http: &Client, dir: &FakeDirectory, query: &[(&str, &str)], max: usize) -> (Vec<Value>, usize) {
    let max_results = max.to_string();
    let mut users = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut q = query.to_vec();
        q.push(("maxResults", &max_results));
        if let Some(t) = &token {
            q.push(("pageToken", t));
        }
        let response = google_get(http, dir, &q).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["kind"], "admin#directory#users");
        pages += 1;
        let page = body.get("users").and_then(Value::as_array).cloned().unwrap_or_default();
        assert!(page.len() <= max);
        users.extend(page);
        match body.get("nextPageToken") {
            Some(t) => token = Some(t.as_str().unwrap().to_owned()),
            None => return (users, pages),
        }
    }
}

fn google_error(body: &Value, code: u16, reason: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["errors"][0]["reason"], reason, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn google_pages_everyone_once() {
    let people = generate(DirectoryFlavor::Google, 3000, 3);
    let dir = FakeDirectory::start(DirectoryFlavor::Google, people.clone()).await;
    let http = client();
    let active = ids(people.iter().filter(|p| p.kind != PersonKind::Deleted));
    let deleted = ids(people.iter().filter(|p| p.kind == PersonKind::Deleted));
    assert!(!deleted.is_empty());

    for max in [500, 137] {
        let (users, pages) = google_all(&http, &dir, &[("customer", "my_customer")], max).await;
        let mut seen = HashSet::new();
        add_page(&mut seen, &users);
        assert_eq!(seen, active, "maxResults={max}");
        assert!(pages >= active.len().div_ceil(max));
    }
    let (users, _) = google_all(
        &http,
        &dir,
        &[("customer", "my_customer"), ("showDeleted", "true")],
        500,
    )
    .await;
    assert_eq!(ids_of(&users), deleted);
    assert!(users.iter().all(|u| u["deletionTime"].is_string()));

    // Ordered listings are complete and sorted.
    let (users, _) = google_all(
        &http,
        &dir,
        &[
            ("customer", "my_customer"),
            ("orderBy", "email"),
            ("sortOrder", "DESCENDING"),
        ],
        400,
    )
    .await;
    assert_eq!(ids_of(&users), active);
    let emails: Vec<String> = users
        .iter()
        .map(|u| u["primaryEmail"].as_str().unwrap().to_owned())
        .collect();
    assert!(emails.windows(2).all(|w| w[0] >= w[1]));

    // Fields.
    let by_id: HashMap<&str, &DirectoryPerson> = people.iter().map(|p| (p.id.as_str(), p)).collect();
    let (users, _) = google_all(&http, &dir, &[("domain", "example.com"), ("projection", "full")], 500).await;
    for user in &users {
        let p = by_id[user["id"].as_str().unwrap()];
        assert_eq!(user["kind"], "admin#directory#user");
        assert_eq!(user["primaryEmail"].as_str(), p.email.as_deref());
        assert_eq!(user["name"]["givenName"], p.given_name.as_str());
        assert_eq!(user["name"]["familyName"], p.family_name.as_str());
        assert_eq!(user["suspended"], p.kind == PersonKind::Suspended);
        assert_eq!(user["archived"], p.kind == PersonKind::Archived);
        assert_eq!(user["isAdmin"], p.kind == PersonKind::Admin);
        assert_eq!(user["orgUnitPath"], p.org_unit.as_deref().unwrap_or("/"));
        assert_eq!(user["customerId"], dir.customer_id());
    }
    // The query subset.
    let (users, _) = google_all(
        &http,
        &dir,
        &[
            ("customer", "my_customer"),
            ("query", "isSuspended=true orgUnitPath='/Sales'"),
        ],
        500,
    )
    .await;
    let want = ids(people
        .iter()
        .filter(|p| p.kind == PersonKind::Suspended && p.org_unit.as_deref().is_some_and(|u| u.starts_with("/Sales"))));
    assert!(!want.is_empty());
    assert_eq!(ids_of(&users), want);

    // An empty result has no `users` key and no token.
    let response = google_get(&http, &dir, &[("customer", "my_customer"), ("query", "email:nobody*")]).await;
    let body: Value = response.json().await.unwrap();
    assert!(
        body.get("users").is_none() && body.get("nextPageToken").is_none(),
        "{body}"
    );
}

fn ids_of(users: &[Value]) -> HashSet<String> {
    users.iter().map(|u| u["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn google_refusals() {
    let dir = FakeDirectory::start(DirectoryFlavor::Google, generate(DirectoryFlavor::Google, 50, 1)).await;
    let http = client();
    let url = format!("{}/admin/directory/v1/users", dir.base_url());

    let response = http
        .get(&url)
        .query(&[("customer", "my_customer")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(header(&response, "www-authenticate").unwrap().starts_with("Bearer"));
    google_error(&response.json().await.unwrap(), 401, "required");

    let response = http
        .get(&url)
        .bearer_auth("ya29.wrong")
        .query(&[("customer", "my_customer")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    google_error(&response.json().await.unwrap(), 401, "authError");

    for (query, status, reason) in [
        (vec![], 400, "badRequest"),
        (vec![("customer", "my_customer"), ("maxResults", "501")], 400, "invalid"),
        (vec![("customer", "my_customer"), ("maxResults", "0")], 400, "invalid"),
        (
            vec![("customer", "my_customer"), ("pageToken", "bm90LWEtdG9rZW4")],
            400,
            "invalid",
        ),
        (vec![("domain", "other.example")], 403, "forbidden"),
        (vec![("customer", "C0notours")], 403, "forbidden"),
    ] {
        let response = google_get(&http, &dir, &query).await;
        assert_eq!(response.status().as_u16(), status, "{query:?}");
        google_error(&response.json().await.unwrap(), status, reason);
    }
    let response = google_get(&http, &dir, &[("customer", &dir.customer_id())]).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn google_faults() {
    let people = generate(DirectoryFlavor::Google, 1200, 5);
    let dir = FakeDirectory::start(DirectoryFlavor::Google, people.clone()).await;
    let http = client();
    let q = [("customer", "my_customer")];

    dir.inject(Fault::RateLimited {
        retry_after: "1".into(),
        times: 2,
    });
    dir.inject(Fault::GoogleRateLimit403 { times: 1 });
    dir.inject(Fault::ServerError { status: 503, times: 1 });
    dir.inject(Fault::ServerError { status: 502, times: 1 });
    for _ in 0..2 {
        let response = google_get(&http, &dir, &q).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&response, "retry-after").as_deref(), Some("1"));
        google_error(&response.json().await.unwrap(), 429, "rateLimitExceeded");
    }
    let response = google_get(&http, &dir, &q).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(&response, "retry-after"), None);
    let body: Value = response.json().await.unwrap();
    google_error(&body, 403, "userRateLimitExceeded");
    assert_eq!(body["error"]["errors"][0]["domain"], "usageLimits");
    let response = google_get(&http, &dir, &q).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    google_error(&response.json().await.unwrap(), 503, "backendNotConnected");
    let response = google_get(&http, &dir, &q).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(header(&response, "content-type").unwrap().starts_with("text/html"));
    assert_eq!(google_get(&http, &dir, &q).await.status(), StatusCode::OK);

    dir.inject(Fault::RevokedToken);
    for _ in 0..2 {
        let response = google_get(&http, &dir, &q).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        google_error(&response.json().await.unwrap(), 401, "authError");
    }
    dir.clear_faults();
    dir.inject(Fault::MissingScope);
    let response = google_get(&http, &dir, &q).await;
    google_error(&response.json().await.unwrap(), 403, "insufficientPermissions");
    dir.clear_faults();
    dir.inject(Fault::NotAuthorized);
    let response = google_get(&http, &dir, &q).await;
    google_error(&response.json().await.unwrap(), 403, "forbidden");
    dir.clear_faults();

    // An empty page mid-way, then one without `users`: both carry a token and lose nobody.
    dir.inject(Fault::EmptyPageMidway);
    dir.inject(Fault::MissingUsersKey);
    let before = dir.requests();
    let mut raw_pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut query = vec![("customer", "my_customer"), ("maxResults", "500")];
        if let Some(t) = &token {
            query.push(("pageToken", t));
        }
        let body: Value = google_get(&http, &dir, &query).await.json().await.unwrap();
        token = body.get("nextPageToken").map(|t| t.as_str().unwrap().to_owned());
        raw_pages.push(body);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(dir.requests() - before, raw_pages.len());
    assert!(raw_pages[0]["users"].as_array().is_some_and(|u| u.len() == 500));
    let missing = raw_pages.iter().position(|p| p.get("users").is_none()).unwrap();
    let empty = raw_pages
        .iter()
        .position(|p| p["users"].as_array().is_some_and(Vec::is_empty))
        .unwrap();
    assert!(missing > 0 && empty > 0 && missing != empty);
    assert!(raw_pages[missing]["nextPageToken"].is_string() && raw_pages[empty]["nextPageToken"].is_string());
    let mut seen = HashSet::new();
    for page in &raw_pages {
        add_page(
            &mut seen,
            page.get("users")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice),
        );
    }
    assert_eq!(seen, ids(people.iter().filter(|p| p.kind != PersonKind::Deleted)));
}

/// A Workspace admin's consent through the Google fake IdP yields a token the directory
/// accepts; a non-admin's gets 403.
#[tokio::test]
async fn google_accepts_fake_idp_tokens_of_admins_only() {
    let people = generate(DirectoryFlavor::Google, 100, 9);
    let member = people.iter().find(|p| p.kind == PersonKind::Member).unwrap().clone();
    let dir = FakeDirectory::start(DirectoryFlavor::Google, people).await;
    let idp = FakeIdp::start(Flavor::Google).await;
    let http = client();
    for (who, status) in [
        ("ada@example.com", StatusCode::OK),
        (member.email.as_deref().unwrap(), StatusCode::FORBIDDEN),
    ] {
        idp.sign_in_as(Persona::from_login_hint(
            Flavor::Google,
            who,
            Some("example.com".into()),
        ));
        let response = http
            .get(format!("{}/o/oauth2/v2/auth", idp.base_url()))
            .query(&[
                ("response_type", "code"),
                ("client_id", idp.client_id()),
                ("redirect_uri", REDIRECT_URI),
                (
                    "scope",
                    "openid email https://www.googleapis.com/auth/admin.directory.user.readonly",
                ),
                ("state", "s"),
                ("nonce", "n"),
            ])
            .send()
            .await
            .unwrap();
        let location = header(&response, "location").unwrap();
        let code = location.split("code=").nth(1).unwrap().split('&').next().unwrap();
        let code = percent_encoding::percent_decode_str(code)
            .decode_utf8()
            .unwrap()
            .into_owned();
        let token: Value = http
            .post(format!("{}/token", idp.base_url()))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("client_id", idp.client_id()),
                ("client_secret", idp.client_secret()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let response = http
            .get(format!("{}/admin/directory/v1/users", dir.base_url()))
            .bearer_auth(token["access_token"].as_str().unwrap())
            .query(&[("customer", "my_customer")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{who}");
    }
}

// ---------------------------------------------------------------------------------------------
// Microsoft Graph

async fn graph_token(http: &Client, dir: &FakeDirectory, tenant: &str, secret: &str) -> Response {
    http.post(format!("{}/{tenant}/oauth2/v2.0/token", dir.origin()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", dir.client_id()),
            ("client_secret", secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap()
}

async fn graph_get(http: &Client, url: &str, token: &str) -> Response {
    http.get(url).bearer_auth(token).send().await.unwrap()
}

/// Follows `@odata.nextLink` verbatim to the end; returns the values and the final body.
async fn graph_all(http: &Client, first: String, token: &str) -> (Vec<Value>, Value, usize) {
    let mut url = first;
    let mut values = Vec::new();
    let mut pages = 0;
    loop {
        let response = graph_get(http, &url, token).await;
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        let body: Value = response.json().await.unwrap();
        pages += 1;
        values.extend(body["value"].as_array().unwrap().iter().cloned());
        match body.get("@odata.nextLink") {
            Some(next) => url = next.as_str().unwrap().to_owned(),
            None => return (values, body, pages),
        }
    }
}

fn graph_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string());
}

#[tokio::test]
async fn graph_lists_everyone_once() {
    let people = generate(DirectoryFlavor::Microsoft, 3000, 4);
    let dir = FakeDirectory::start(DirectoryFlavor::Microsoft, people.clone()).await;
    let http = client();
    let response = graph_token(&http, &dir, &dir.org(), dir.client_secret()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(token, dir.token());

    let listed = ids(people.iter().filter(|p| p.kind != PersonKind::Deleted));
    let by_id: HashMap<&str, &DirectoryPerson> = people.iter().map(|p| (p.id.as_str(), p)).collect();
    let select = "id,displayName,givenName,surname,mail,userPrincipalName,accountEnabled,userType";
    for top in [999, 250] {
        let first = format!("{}/v1.0/users?$select={select}&$top={top}", dir.base_url());
        let (values, last, pages) = graph_all(&http, first, &token).await;
        let mut seen = HashSet::new();
        add_page(&mut seen, &values);
        assert_eq!(seen, listed);
        // One more page when the last people are soft-deleted (a final empty page).
        assert!((listed.len().div_ceil(top)..=listed.len().div_ceil(top) + 1).contains(&pages));
        assert!(last.get("@odata.nextLink").is_none());
        for v in &values {
            let p = by_id[v["id"].as_str().unwrap()];
            assert_eq!(
                v["accountEnabled"],
                !matches!(p.kind, PersonKind::Suspended | PersonKind::Archived)
            );
            let guest = p.kind == PersonKind::Guest;
            assert_eq!(v["userType"], if guest { "Guest" } else { "Member" });
            assert_eq!(v["mail"].as_str(), p.email.as_deref());
            assert!(v["userPrincipalName"].as_str().unwrap().contains("#EXT#") == guest);
            assert_eq!(v.as_object().unwrap().len(), 8);
        }
    }
    // Without $select: the default set, no accountEnabled; the nextLink is absolute on the fake.
    let response = graph_get(&http, &format!("{}/v1.0/users", dir.base_url()), &token).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["value"].as_array().unwrap().len(), 100);
    assert!(body["value"][0].get("accountEnabled").is_none());
    assert!(body["value"][0].get("userType").is_none());
    assert!(body["value"][0]["mail"].is_string() || body["value"][0]["mail"].is_null());
    let next = body["@odata.nextLink"].as_str().unwrap();
    assert!(next.starts_with(&format!("{}/v1.0/users?", dir.base_url())), "{next}");
    assert!(next.contains("$skiptoken="));

    // $filter and $count.
    let response = http
        .get(format!(
            "{}/v1.0/users?$filter=userType eq 'Guest'&$count=true&$select=id,userType",
            dir.base_url()
        ))
        .bearer_auth(&token)
        .header("ConsistencyLevel", "eventual")
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    let guests = people.iter().filter(|p| p.kind == PersonKind::Guest).count();
    assert_eq!(body["@odata.count"], guests);
    assert!(body["value"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["userType"] == "Guest"));
}

#[tokio::test]
async fn graph_refusals_and_faults() {
    let dir = FakeDirectory::start(DirectoryFlavor::Microsoft, generate(DirectoryFlavor::Microsoft, 600, 2)).await;
    let http = client();
    let users = format!("{}/v1.0/users?$top=200", dir.base_url());

    let response = graph_token(&http, &dir, "11111111-2222-4333-8444-555555555555", dir.client_secret()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(body["error_codes"][0], 90002);
    let response = graph_token(&http, &dir, &dir.org(), "wrong").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_client");

    let response = http.get(&users).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    graph_error(&response.json().await.unwrap(), "InvalidAuthenticationToken");
    for bad in ["$top=1000", "$top=0"] {
        let response = graph_get(&http, &format!("{}/v1.0/users?{bad}", dir.base_url()), dir.token()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        graph_error(&response.json().await.unwrap(), "Request_UnsupportedQuery");
    }
    let response = graph_get(
        &http,
        &format!("{}/v1.0/users?$select=nope", dir.base_url()),
        dir.token(),
    )
    .await;
    graph_error(&response.json().await.unwrap(), "Request_BadRequest");

    dir.inject(Fault::RateLimited {
        retry_after: "0.5".into(),
        times: 1,
    });
    dir.inject(Fault::ServerError { status: 500, times: 1 });
    let response = graph_get(&http, &users, dir.token()).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&response, "retry-after").as_deref(), Some("0.5"));
    let body: Value = response.json().await.unwrap();
    graph_error(&body, "TooManyRequests");
    assert_eq!(body["error"]["message"], "Please retry again later.");
    assert_eq!(body["error"]["innerError"]["code"], "429");
    assert_eq!(body["error"]["innerError"]["status"], "429");
    let response = graph_get(&http, &users, dir.token()).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    graph_error(&response.json().await.unwrap(), "generalException");

    dir.inject(Fault::RevokedToken);
    let response = graph_get(&http, &users, dir.token()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    graph_error(&response.json().await.unwrap(), "InvalidAuthenticationToken");
    let response = graph_token(&http, &dir, &dir.org(), dir.client_secret()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client");
    assert_eq!(body["error_codes"][0], 700016);
    dir.clear_faults();

    dir.inject(Fault::MissingScope);
    let response = graph_get(&http, &users, dir.token()).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    graph_error(&response.json().await.unwrap(), "Authorization_RequestDenied");
    dir.clear_faults();

    dir.inject(Fault::EmptyPageMidway);
    let first: Value = graph_get(&http, &users, dir.token()).await.json().await.unwrap();
    assert_eq!(first["value"].as_array().unwrap().len(), 200);
    let next = first["@odata.nextLink"].as_str().unwrap();
    let empty: Value = graph_get(&http, next, dir.token()).await.json().await.unwrap();
    assert_eq!(empty["value"], serde_json::json!([]));
    let resumed = empty["@odata.nextLink"].as_str().unwrap().to_owned();
    let (rest, _, _) = graph_all(&http, resumed, dir.token()).await;
    let mut seen = ids_of(first["value"].as_array().unwrap());
    add_page(&mut seen, &rest);
    assert_eq!(seen, ids(dir.people().iter().filter(|p| p.kind != PersonKind::Deleted)));

    // Admin consent.
    let response = http
        .get(format!("{}/organizations/adminconsent", dir.origin()))
        .query(&[
            ("client_id", dir.client_id()),
            ("redirect_uri", REDIRECT_URI),
            ("state", "x1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = header(&response, "location").unwrap();
    assert!(
        location.starts_with(&format!("{REDIRECT_URI}?admin_consent=True&tenant={}", dir.org())),
        "{location}"
    );
    assert!(location.ends_with("&state=x1"));
    dir.inject(Fault::ConsentDenied);
    let response = http
        .get(format!("{}/organizations/adminconsent", dir.origin()))
        .query(&[
            ("client_id", dir.client_id()),
            ("redirect_uri", REDIRECT_URI),
            ("state", "x2"),
        ])
        .send()
        .await
        .unwrap();
    assert!(header(&response, "location").unwrap().contains("error=access_denied"));
}

#[tokio::test]
async fn graph_delta_after_set_people() {
    let people = generate(DirectoryFlavor::Microsoft, 1000, 6);
    let dir = FakeDirectory::start(DirectoryFlavor::Microsoft, people.clone()).await;
    let http = client();
    let token = dir.token().to_owned();
    let first = format!(
        "{}/v1.0/users/delta?$select=displayName,givenName,surname,mail,accountEnabled,userType",
        dir.base_url()
    );
    let (values, last, pages) = graph_all(&http, first, &token).await;
    let listed = ids(people.iter().filter(|p| p.kind != PersonKind::Deleted));
    assert_eq!(pages, listed.len().div_ceil(GRAPH_DELTA_PAGE_SIZE).max(1));
    let mut seen = HashSet::new();
    add_page(&mut seen, &values);
    assert_eq!(seen, listed);
    let delta_link = last["@odata.deltaLink"].as_str().unwrap().to_owned();
    assert!(delta_link.starts_with(&format!("{}/v1.0/users/delta?$deltatoken=", dir.base_url())));

    // Nothing changed yet: no values, a deltaLink.
    let body: Value = graph_get(&http, &delta_link, &token).await.json().await.unwrap();
    assert_eq!(body["value"], serde_json::json!([]));
    assert!(body["@odata.deltaLink"].is_string());

    let mut changed = people.clone();
    let active: Vec<usize> = (0..changed.len())
        .filter(|&i| changed[i].kind == PersonKind::Member)
        .collect();
    let (renamed, disabled, soft_deleted, removed) = (active[1], active[2], active[3], active[4]);
    changed[renamed].family_name = "Renamed".into();
    changed[disabled].kind = PersonKind::Suspended;
    changed[soft_deleted].kind = PersonKind::Deleted;
    changed[active[5]].department = Some("Not selected".into()); // invisible to this $select
    let removed_id = changed.remove(removed).id;
    changed.push(DirectoryPerson::new(
        "0d9a4c1e-0000-4000-8000-000000000001",
        Some("new.person@example.com"),
        "New",
        "Person",
    ));
    dir.set_people(changed.clone());

    let (values, last, _) = graph_all(&http, delta_link.clone(), &token).await;
    let by_id: HashMap<&str, &Value> = values.iter().map(|v| (v["id"].as_str().unwrap(), v)).collect();
    assert_eq!(values.len(), 5, "{values:?}");
    assert_eq!(by_id[people[renamed].id.as_str()]["surname"], "Renamed");
    assert_eq!(by_id[people[disabled].id.as_str()]["accountEnabled"], false);
    assert!(by_id[people[disabled].id.as_str()].get("@removed").is_none());
    assert_eq!(by_id[people[soft_deleted].id.as_str()]["@removed"]["reason"], "changed");
    assert_eq!(by_id[removed_id.as_str()]["@removed"]["reason"], "deleted");
    assert_eq!(by_id[removed_id.as_str()].as_object().unwrap().len(), 2);
    assert_eq!(
        by_id["0d9a4c1e-0000-4000-8000-000000000001"]["mail"],
        "new.person@example.com"
    );
    let next_link = last["@odata.deltaLink"].as_str().unwrap().to_owned();
    let body: Value = graph_get(&http, &next_link, &token).await.json().await.unwrap();
    assert_eq!(body["value"], serde_json::json!([]));

    // The old deltaLink replays the same changes; with return=minimal only what changed.
    let body: Value = http
        .get(&delta_link)
        .bearer_auth(&token)
        .header("Prefer", "return=minimal")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let renamed_entry = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == people[renamed].id.as_str())
        .unwrap();
    let display_name = format!("{} Renamed", people[renamed].given_name);
    assert_eq!(
        renamed_entry,
        &serde_json::json!({"id": people[renamed].id, "displayName": display_name, "surname": "Renamed"})
    );

    // $deltatoken=latest: no values, just a link that sees later changes.
    let body: Value = graph_get(
        &http,
        &format!("{}/v1.0/users/delta?$deltatoken=latest", dir.base_url()),
        &token,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(body["value"], serde_json::json!([]));
    let latest = body["@odata.deltaLink"].as_str().unwrap().to_owned();
    changed.pop();
    dir.set_people(changed);
    let (values, _, _) = graph_all(&http, latest, &token).await;
    assert_eq!(values.len(), 1);
    assert_eq!(values[0]["@removed"]["reason"], "deleted");

    // An expired delta token: 410 with where to restart.
    dir.inject(Fault::DeltaTokenExpired);
    let response = graph_get(&http, &next_link, &token).await;
    assert_eq!(response.status(), StatusCode::GONE);
    let restart = header(&response, "location").unwrap();
    assert!(restart.starts_with(&format!("{}/v1.0/users/delta?$select=", dir.base_url())));
    graph_error(&response.json().await.unwrap(), "syncStateNotFound");
    assert_eq!(graph_get(&http, &next_link, &token).await.status(), StatusCode::OK);
    let response = graph_get(&http, &format!("{}/v1.0/users/delta?$top=10", dir.base_url()), &token).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

// ---------------------------------------------------------------------------------------------
// Slack

async fn slack_list(http: &Client, dir: &FakeDirectory, args: &[(&str, &str)]) -> Value {
    let response = http
        .get(format!("{}/users.list", dir.base_url()))
        .bearer_auth(dir.token())
        .query(args)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Pages to the empty cursor; returns the members and the page sizes.
async fn slack_all(http: &Client, dir: &FakeDirectory, limit: usize, post: bool) -> (Vec<Value>, Vec<usize>) {
    let limit = limit.to_string();
    let mut cursor = String::new();
    let mut members = Vec::new();
    let mut sizes = Vec::new();
    loop {
        let body: Value = if post {
            let response = http
                .post(format!("{}/users.list", dir.base_url()))
                .bearer_auth(dir.token())
                .form(&[("limit", limit.as_str()), ("cursor", cursor.as_str())])
                .send()
                .await
                .unwrap();
            response.json().await.unwrap()
        } else {
            let mut args = vec![("limit", limit.as_str())];
            if !cursor.is_empty() {
                args.push(("cursor", cursor.as_str()));
            }
            slack_list(http, dir, &args).await
        };
        assert_eq!(body["ok"], true, "{body}");
        let page = body["members"].as_array().unwrap();
        sizes.push(page.len());
        members.extend(page.iter().cloned());
        cursor = body["response_metadata"]["next_cursor"].as_str().unwrap().to_owned();
        if cursor.is_empty() {
            return (members, sizes);
        }
    }
}

#[tokio::test]
async fn slack_lists_everyone_once() {
    let people = generate(DirectoryFlavor::Slack, 3000, 8);
    let dir = FakeDirectory::start(DirectoryFlavor::Slack, people.clone()).await;
    let http = client();
    assert!(dir.base_url().ends_with("/api"));
    for (limit, post) in [(200, false), (77, true)] {
        let (members, sizes) = slack_all(&http, &dir, limit, post).await;
        let mut seen = HashSet::new();
        add_page(&mut seen, &members);
        assert_eq!(seen, ids(&people), "limit {limit}");
        // Short pages before the end: only the empty cursor means done.
        assert!(sizes[..sizes.len() - 1].iter().any(|&n| n < limit));
        assert!(sizes.iter().all(|&n| n <= limit));
    }

    let (members, _) = slack_all(&http, &dir, 200, false).await;
    let by_id: HashMap<&str, &Value> = members.iter().map(|m| (m["id"].as_str().unwrap(), m)).collect();
    let slackbot = by_id["USLACKBOT"];
    assert_eq!(slackbot["is_bot"], false);
    assert!(slackbot["profile"].get("email").is_none());
    for p in &people {
        let m = by_id[p.id.as_str()];
        assert_eq!(m["team_id"], dir.org());
        assert_eq!(m["profile"]["email"].as_str(), p.email.as_deref(), "{m}");
        assert_eq!(m["is_bot"], p.kind == PersonKind::Bot);
        assert_eq!(m["is_app_user"], p.kind == PersonKind::AppUser);
        let deleted = matches!(
            p.kind,
            PersonKind::Deleted | PersonKind::Suspended | PersonKind::Archived
        );
        assert_eq!(m["deleted"], deleted);
        if deleted {
            // Deactivated members come without the role flags.
            assert!(m.get("is_admin").is_none() && m.get("is_restricted").is_none());
        } else {
            let guest = matches!(p.kind, PersonKind::Guest | PersonKind::SingleChannelGuest);
            assert_eq!(m["is_restricted"], guest);
            assert_eq!(m["is_ultra_restricted"], p.kind == PersonKind::SingleChannelGuest);
            assert_eq!(m["is_admin"], p.kind == PersonKind::Admin);
        }
        assert_eq!(m["profile"]["real_name"], p.full_name());
    }

    // JSON bodies work too; a cursor is padded base64 that must be URL-encoded.
    let body: Value = http
        .post(format!("{}/users.list", dir.base_url()))
        .bearer_auth(dir.token())
        .json(&serde_json::json!({"limit": 5}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["members"].as_array().unwrap().len(), 5);
    let cursor = body["response_metadata"]["next_cursor"].as_str().unwrap();
    assert!(cursor.ends_with('='), "{cursor}");
}

#[tokio::test]
async fn slack_errors_and_faults() {
    let people = generate(DirectoryFlavor::Slack, 1500, 2);
    let dir = FakeDirectory::start(DirectoryFlavor::Slack, people.clone()).await;
    let http = client();
    let url = format!("{}/users.list", dir.base_url());

    let error = |body: &Value, code: &str| {
        assert_eq!(body["ok"], false, "{body}");
        assert_eq!(body["error"], code, "{body}");
    };
    let response = http.get(&url).query(&[("limit", "10")]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    error(&response.json().await.unwrap(), "not_authed");
    let response = http.get(&url).bearer_auth("xoxb-wrong").send().await.unwrap();
    error(&response.json().await.unwrap(), "invalid_auth");
    error(&slack_list(&http, &dir, &[]).await, "limit_required");
    error(
        &slack_list(&http, &dir, &[("limit", "10"), ("cursor", "dXNlcjpVMEc5V0ZYTlo=")]).await,
        "invalid_cursor",
    );

    dir.inject(Fault::RateLimited {
        retry_after: "0.5".into(),
        times: 1,
    });
    let response = http
        .get(&url)
        .bearer_auth(dir.token())
        .query(&[("limit", "10")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&response, "retry-after").as_deref(), Some("0.5"));
    error(&response.json().await.unwrap(), "ratelimited");
    dir.inject(Fault::ServerError { status: 500, times: 1 });
    let response = http
        .get(&url)
        .bearer_auth(dir.token())
        .query(&[("limit", "10")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    error(&response.json().await.unwrap(), "fatal_error");

    dir.inject(Fault::RevokedToken);
    let response = http
        .get(&url)
        .bearer_auth(dir.token())
        .query(&[("limit", "10")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    error(&response.json().await.unwrap(), "token_revoked");
    dir.clear_faults();
    dir.inject(Fault::NotAuthorized);
    let body = slack_list(&http, &dir, &[("limit", "10")]).await;
    error(&body, "missing_scope");
    assert_eq!(body["needed"], "users:read");
    dir.clear_faults();

    // Without users:read.email: every member, none with an email.
    dir.inject(Fault::MissingScope);
    let (members, _) = slack_all(&http, &dir, 200, false).await;
    assert_eq!(members.len(), people.len());
    assert!(members.iter().all(|m| m["profile"].get("email").is_none()));
    dir.clear_faults();

    // An empty page mid-way keeps a cursor and loses nobody.
    dir.inject(Fault::EmptyPageMidway);
    let (members, sizes) = slack_all(&http, &dir, 200, false).await;
    assert_eq!(sizes[1], 0);
    assert_eq!(ids_of(&members), ids(&people));

    // A listing under way finishes over the people it started with.
    let first = slack_list(&http, &dir, &[("limit", "500")]).await;
    dir.set_people(generate(DirectoryFlavor::Slack, 10, 99));
    let mut seen = ids_of(first["members"].as_array().unwrap());
    let mut cursor = first["response_metadata"]["next_cursor"].as_str().unwrap().to_owned();
    while !cursor.is_empty() {
        let body = slack_list(&http, &dir, &[("limit", "500"), ("cursor", &cursor)]).await;
        add_page(&mut seen, body["members"].as_array().unwrap());
        cursor = body["response_metadata"]["next_cursor"].as_str().unwrap().to_owned();
    }
    assert_eq!(seen, ids(&people));
    assert_eq!(
        slack_list(&http, &dir, &[("limit", "500")]).await["members"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
}

#[tokio::test]
async fn slack_install() {
    let dir = FakeDirectory::start(DirectoryFlavor::Slack, generate(DirectoryFlavor::Slack, 20, 1)).await;
    dir.set_org("T0OTHERORG");
    let http = client();
    for missing_email in [false, true] {
        if missing_email {
            dir.inject(Fault::MissingScope);
        }
        let response = http
            .get(format!("{}/oauth/v2/authorize", dir.origin()))
            .query(&[
                ("client_id", dir.client_id()),
                ("scope", "users:read,users:read.email"),
                ("redirect_uri", REDIRECT_URI),
                ("state", "st"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FOUND);
        let location = header(&response, "location").unwrap();
        let query = location.split_once('?').unwrap().1;
        let pairs: HashMap<String, String> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        assert_eq!(pairs["state"], "st");
        let exchange = |secret: &str| {
            http.post(format!("{}/oauth.v2.access", dir.base_url()))
                .form(&[
                    ("client_id", dir.client_id()),
                    ("client_secret", secret),
                    ("code", &pairs["code"]),
                    ("redirect_uri", REDIRECT_URI),
                ])
                .send()
        };
        let body: Value = exchange("wrong").await.unwrap().json().await.unwrap();
        assert_eq!(body, serde_json::json!({"ok": false, "error": "bad_client_secret"}));
        let body: Value = exchange(dir.client_secret()).await.unwrap().json().await.unwrap();
        assert_eq!(body["ok"], true, "{body}");
        assert_eq!(body["access_token"], dir.token());
        assert_eq!(body["token_type"], "bot");
        assert_eq!(body["team"]["id"], "T0OTHERORG");
        let scope = if missing_email {
            "users:read"
        } else {
            "users:read,users:read.email"
        };
        assert_eq!(body["scope"], scope);
        // Codes are single use.
        let body: Value = exchange(dir.client_secret()).await.unwrap().json().await.unwrap();
        assert_eq!(body["error"], "invalid_code");
    }
}

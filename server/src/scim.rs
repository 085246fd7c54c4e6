//! `/scim/v2`: the SCIM 2.0 service provider for Entra ID and Okta, a router of its own beside
//! the browser surface (no cookie session, no same-origin check): every request carries a
//! workspace's bearer token, and sees and touches only that workspace (another workspace's ids
//! are 404). Every response is `application/scim+json`; errors are SCIM error bodies; bodies
//! over 1 MiB get 413; each request is kept in the workspace's bounded request log with a
//! plain-language hint when it was refused.

use app::ssr::SharedState;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use identity::scim::tokens::{self, Authenticated};
use identity::scim::{groups, users, ScimError};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Largest request body.
pub const MAX_BODY: usize = 1024 * 1024;
const CONTENT_TYPE: &str = "application/scim+json";
/// How many requests the log keeps per workspace.
pub const LOG_KEPT: i64 = 1000;

/// One line of the request log, on its way to the database.
struct Logged {
    org_id: uuid::Uuid,
    token_id: uuid::Uuid,
    method: String,
    path: String,
    status: i32,
    summary: String,
    hint: Option<String>,
}

type LogSender = tokio::sync::mpsc::Sender<Logged>;

/// Writes the request log in batches (one statement for all that arrived meanwhile), off the
/// requests' path, and keeps each workspace's log to its newest `LOG_KEPT` entries. Measured in
/// bench/scim: a write per request cost about as much database time as the lookup it logged.
async fn write_log(db: identity::Db, mut rx: tokio::sync::mpsc::Receiver<Logged>) {
    let mut since_trim: HashMap<uuid::Uuid, usize> = HashMap::new();
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < 1000 {
            match rx.try_recv() {
                Ok(entry) => batch.push(entry),
                Err(_) => break,
            }
        }
        let result = sqlx::query(
            "insert into scim_requests (org_id, token_id, method, path, status, summary, hint)
             select * from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[])",
        )
        .bind(batch.iter().map(|e| e.org_id).collect::<Vec<_>>())
        .bind(batch.iter().map(|e| e.token_id).collect::<Vec<_>>())
        .bind(batch.iter().map(|e| e.method.as_str()).collect::<Vec<_>>())
        .bind(batch.iter().map(|e| e.path.as_str()).collect::<Vec<_>>())
        .bind(batch.iter().map(|e| e.status).collect::<Vec<_>>())
        .bind(batch.iter().map(|e| e.summary.as_str()).collect::<Vec<_>>())
        .bind(batch.iter().map(|e| e.hint.as_deref()).collect::<Vec<_>>())
        .execute(&db)
        .await;
        if let Err(err) = result {
            tracing::warn!(error = %err, "could not write the SCIM request log");
            continue;
        }
        for e in &batch {
            *since_trim.entry(e.org_id).or_default() += 1;
        }
        let due: Vec<uuid::Uuid> = since_trim.iter().filter(|(_, n)| **n >= 100).map(|(o, _)| *o).collect();
        for org_id in due {
            since_trim.remove(&org_id);
            let _ = sqlx::query(
                "delete from scim_requests where org_id = $1 and id <= (
                     select id from scim_requests where org_id = $1 order by id desc offset $2 limit 1)",
            )
            .bind(org_id)
            .bind(LOG_KEPT)
            .execute(&db)
            .await;
        }
    }
}

pub fn router<S: Clone + Send + Sync + 'static>(state: SharedState) -> Router<S> {
    let (log, rx) = tokio::sync::mpsc::channel::<Logged>(10_000);
    tokio::spawn(write_log(state.db.clone(), rx));
    let api = Router::new()
        .route("/Users", get(list_users).post(create_user))
        .route("/Users/.search", post(search_users))
        .route(
            "/Users/{id}",
            get(get_user).put(put_user).patch(patch_user).delete(delete_user),
        )
        .route("/Groups", get(list_groups).post(create_group))
        .route("/Groups/.search", post(search_groups))
        .route(
            "/Groups/{id}",
            get(get_group).put(put_group).patch(patch_group).delete(delete_group),
        )
        .route("/.search", post(search_root))
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{name}", get(resource_type))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{urn}", get(schema))
        .route("/Me", axum::routing::any(not_implemented))
        .route("/Bulk", axum::routing::any(not_implemented))
        .fallback(unknown_endpoint)
        .layer(middleware::from_fn_with_state((state.clone(), log), authenticate))
        .layer(Extension(users::Creates::start(state.db.clone())))
        .with_state(state);
    Router::new().nest("/scim/v2", api)
}

fn scim_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

fn error_response(err: &ScimError) -> Response {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = scim_response(status, &err.body());
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("3600"));
    }
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"Rollcall SCIM\""),
        );
    }
    // Kept for the request log's summary and hint.
    response.extensions_mut().insert(Refusal(err.clone()));
    response
}

#[derive(Clone)]
struct Refusal(ScimError);

/// What the log says about a successful request.
#[derive(Clone)]
struct Summary(String);

fn with_summary(mut response: Response, summary: String) -> Response {
    response.extensions_mut().insert(Summary(summary));
    response
}

/// Checks the bearer token, then logs the request once answered.
async fn authenticate(
    State((state, log)): State<(SharedState, LogSender)>,
    mut request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let path = {
        let uri = request.uri();
        let mut p = uri.path().to_owned();
        if let Some(q) = uri.query() {
            p.push('?');
            p.push_str(q);
        }
        p.chars().take(300).collect::<String>()
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.get(..7)
                .filter(|s| s.eq_ignore_ascii_case("bearer "))
                .map(|_| &v[7..])
        })
        .map(str::trim)
        .map(str::to_owned);
    let caller = match presented {
        Some(token) => match tokens::authenticate_cached(&state.db, &state.scim_tokens, &token).await {
            Ok(found) => found,
            Err(err) => {
                tracing::error!(error = %err, "checking a SCIM token failed");
                return error_response(&ScimError::internal());
            }
        },
        None => None,
    };
    let Some(caller) = caller else {
        return error_response(&ScimError::new(
            401,
            None,
            "A valid bearer token is required: create one in Rollcall's Provisioning tab and paste it as the Secret Token.",
        ));
    };
    request.extensions_mut().insert(caller);
    let response = next.run(request).await;
    log_request(&log, caller, &method, &path, &response);
    response
}

/// Plain words for a refusal an admin reads in the request log.
fn hint(err: &ScimError) -> Option<String> {
    match err.scim_type {
        Some("invalidFilter") if err.detail.contains("cannot filter on") => Some(format!(
            "The directory sent a filter on an attribute Rollcall does not index: {}",
            err.detail
        )),
        Some("invalidFilter") => Some(format!(
            "The directory sent a filter Rollcall could not read: {}",
            err.detail
        )),
        Some("uniqueness") => Some(format!(
            "Two people in the directory map to one Rollcall person: {}",
            err.detail
        )),
        Some("invalidValue") => Some(format!("Check the attribute mapping in the directory: {}", err.detail)),
        Some(_) => Some(err.detail.clone()),
        None if err.status == 503 => Some("A deprovisioning burst is held: approve or discard it below.".into()),
        None if err.status == 404 => None,
        None => Some(err.detail.clone()),
    }
}

fn log_request(log: &LogSender, caller: Authenticated, method: &Method, path: &str, response: &Response) {
    let (summary, hint) = match (
        response.extensions().get::<Refusal>(),
        response.extensions().get::<Summary>(),
    ) {
        (Some(Refusal(err)), _) => (err.detail.chars().take(200).collect::<String>(), hint(err)),
        (None, Some(Summary(s))) => (s.clone(), None),
        _ => (String::new(), None),
    };
    // A full queue (the database far behind) drops log lines, never requests.
    let _ = log.try_send(Logged {
        org_id: caller.org_id,
        token_id: caller.token_id,
        method: method.to_string(),
        path: path.to_owned(),
        status: response.status().as_u16() as i32,
        summary,
        hint,
    });
}

async fn read_json(body: Body) -> Result<Value, ScimError> {
    let bytes: Bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        ScimError::new(
            413,
            None,
            format!("The request body is larger than {} bytes.", MAX_BODY),
        )
    })?;
    if bytes.is_empty() {
        return Err(ScimError::invalid_syntax("The request has no body."));
    }
    serde_json::from_slice(&bytes).map_err(|e| ScimError::invalid_syntax(format!("The body is not valid JSON: {e}")))
}

fn base(state: &SharedState) -> String {
    format!("{}/scim/v2", state.public_url.trim_end_matches('/'))
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    filter: Option<String>,
    #[serde(rename = "startIndex")]
    start_index: Option<String>,
    count: Option<String>,
    #[serde(rename = "sortBy")]
    sort_by: Option<String>,
    #[serde(rename = "sortOrder")]
    sort_order: Option<String>,
    attributes: Option<String>,
    #[serde(rename = "excludedAttributes")]
    excluded_attributes: Option<String>,
}

/// List parameters from a query string or a SearchRequest body (names case-insensitive).
struct ListParams {
    filter: Option<String>,
    start_index: i64,
    count: i64,
    sort_by: Option<String>,
    descending: bool,
    projection: Projection,
}

fn number(v: Option<&str>, default: i64) -> Result<i64, ScimError> {
    match v.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v
            .parse::<i64>()
            .or_else(|_| v.parse::<f64>().map(|f| f as i64))
            .map_err(|_| ScimError::invalid_value(format!("\"{v}\" is not a number"))),
    }
}

fn params(q: ListQuery) -> Result<ListParams, ScimError> {
    Ok(ListParams {
        filter: q.filter,
        start_index: number(q.start_index.as_deref(), 1)?.max(1),
        count: number(q.count.as_deref(), 100)?.max(0),
        sort_by: q.sort_by,
        descending: q
            .sort_order
            .as_deref()
            .is_some_and(|o| o.eq_ignore_ascii_case("descending")),
        projection: Projection::new(q.attributes.as_deref(), q.excluded_attributes.as_deref()),
    })
}

fn search_params(body: &Value) -> Result<ListParams, ScimError> {
    let Value::Object(o) = body else {
        return Err(ScimError::invalid_syntax("A SearchRequest must be a JSON object."));
    };
    let get = |name: &str| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
    let text = |name: &str| match get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Array(a)) => Some(a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")),
        _ => None,
    };
    params(ListQuery {
        filter: text("filter"),
        start_index: text("startIndex"),
        count: text("count"),
        sort_by: text("sortBy"),
        sort_order: text("sortOrder"),
        attributes: text("attributes"),
        excluded_attributes: text("excludedAttributes"),
    })
}

/// `attributes` / `excludedAttributes`, applied to top-level attributes (a sub-attribute path
/// keeps or drops its parent's sub-attribute). `id` and `schemas` are always returned.
#[derive(Clone, Default)]
struct Projection {
    only: Option<Vec<String>>,
    except: Vec<String>,
}

impl Projection {
    fn new(attributes: Option<&str>, excluded: Option<&str>) -> Projection {
        let split = |s: &str| -> Vec<String> {
            s.split(',')
                .map(|a| {
                    let a = a.trim();
                    // A schema URN prefix is dropped: names are unique across our schemas, except
                    // the enterprise attributes, which live under their URN key.
                    match a.rsplit_once(':') {
                        Some((urn, attr))
                            if urn.to_ascii_lowercase().starts_with("urn:")
                                && !urn.to_ascii_lowercase().contains("enterprise") =>
                        {
                            attr.to_ascii_lowercase()
                        }
                        Some((urn, _)) if urn.to_ascii_lowercase().contains("enterprise") => {
                            identity::scim::filter::ENTERPRISE.to_ascii_lowercase()
                        }
                        _ => a.to_ascii_lowercase(),
                    }
                })
                .filter(|a| !a.is_empty())
                .collect()
        };
        Projection {
            only: attributes.map(split).filter(|a| !a.is_empty()),
            except: excluded.map(split).unwrap_or_default(),
        }
    }

    fn excludes_members(&self) -> bool {
        self.except.iter().any(|a| a == "members")
            || self
                .only
                .as_ref()
                .is_some_and(|only| !only.iter().any(|a| a == "members" || a.starts_with("members.")))
    }

    fn apply(&self, mut resource: Value) -> Value {
        let Value::Object(o) = &mut resource else {
            return resource;
        };
        let always = ["id", "schemas"];
        if let Some(only) = &self.only {
            let keep: Vec<&str> = only.iter().map(|a| a.split('.').next().unwrap_or("")).collect();
            o.retain(|k, _| always.contains(&k.as_str()) || keep.iter().any(|a| k.eq_ignore_ascii_case(a)));
        }
        for a in &self.except {
            match a.split_once('.') {
                Some((parent, sub)) => {
                    if let Some(Value::Object(p)) = o
                        .iter_mut()
                        .find(|(k, _)| k.eq_ignore_ascii_case(parent))
                        .map(|(_, v)| v)
                    {
                        p.retain(|k, _| !k.eq_ignore_ascii_case(sub));
                    }
                }
                None if !always.contains(&a.as_str()) => o.retain(|k, _| !k.eq_ignore_ascii_case(a)),
                None => {}
            }
        }
        resource
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn resource_response(status: StatusCode, resource: Value, version: i64, location: Option<String>) -> Response {
    let mut response = scim_response(status, &resource);
    if let Ok(tag) = HeaderValue::from_str(&users::etag(version)) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn not_modified_response(version: i64) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    if let Ok(tag) = HeaderValue::from_str(&users::etag(version)) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    response
}

fn not_modified(headers: &HeaderMap, version: i64) -> bool {
    header_str(headers, header::IF_NONE_MATCH).is_some_and(|tags| {
        tags.split(',')
            .any(|t| t.trim() == users::etag(version) || t.trim() == "*")
    })
}

// --- Users -------------------------------------------------------------------------------------

async fn list_users(
    State(state): State<SharedState>,
    Extension(caller): Extension<Authenticated>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match lenient_query(q).and_then(params) {
        Ok(p) => users_page(&state, caller, p).await,
        Err(err) => error_response(&err),
    }
}

/// Query parameters by name, case-insensitively; unknown ones (Entra's `aadOptscim062020`) ignored.
fn lenient_query(q: HashMap<String, String>) -> Result<ListQuery, ScimError> {
    let mut out = ListQuery::default();
    for (k, v) in q {
        match k.to_ascii_lowercase().as_str() {
            "filter" => out.filter = Some(v),
            "startindex" => out.start_index = Some(v),
            "count" => out.count = Some(v),
            "sortby" => out.sort_by = Some(v),
            "sortorder" => out.sort_order = Some(v),
            "attributes" => out.attributes = Some(v),
            "excludedattributes" => out.excluded_attributes = Some(v),
            _ => {}
        }
    }
    Ok(out)
}

async fn users_page(state: &SharedState, caller: Authenticated, p: ListParams) -> Response {
    let page = users::list(
        &state.db,
        caller.org_id,
        p.filter.as_deref(),
        p.start_index,
        p.count,
        p.sort_by.as_deref(),
        p.descending,
    )
    .await;
    match page {
        Ok(page) => {
            let base = base(state);
            let resources: Vec<Value> = page
                .rows
                .iter()
                .map(|r| p.projection.apply(users::render(r, &base)))
                .collect();
            let n = resources.len();
            with_summary(
                scim_response(
                    StatusCode::OK,
                    &groups::list_response(page.total, page.start_index, resources),
                ),
                format!("listed {n} of {} users", page.total),
            )
        }
        Err(err) => error_response(&err),
    }
}

async fn search_users(
    State(state): State<SharedState>,
    Extension(caller): Extension<Authenticated>,
    body: Body,
) -> Response {
    match read_json(body).await.and_then(|b| search_params(&b)) {
        Ok(p) => users_page(&state, caller, p).await,
        Err(err) => error_response(&err),
    }
}

async fn get_user(
    State(state): State<SharedState>,
    Extension(caller): Extension<Authenticated>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let projection = lenient_query(q)
        .map(|q| Projection::new(q.attributes.as_deref(), q.excluded_attributes.as_deref()))
        .unwrap_or_default();
    match users::get(&state.db, caller.org_id, &id).await {
        Ok(row) if not_modified(&headers, row.version) => not_modified_response(row.version),
        Ok(row) => resource_response(
            StatusCode::OK,
            projection.apply(users::render(&row, &base(&state))),
            row.version,
            None,
        ),
        Err(err) => error_response(&err),
    }
}

async fn create_user(
    State(state): State<SharedState>,
    Extension(caller): Extension<Authenticated>,
    Extension(creates): Extension<users::Creates>,
    body: Body,
) -> Response {
    let created = match read_json(body).await {
        Ok(body) => users::create(&state.db, &creates, &caller, &body).await,
        Err(err) => Err(err),
    };
    match created {
        Ok(row) => {
            let base = base(&state);
            let location = format!("{base}/Users/{}", row.id);
            let summary = format!("created user {}", row.user_name.clone().unwrap_or_default());
            with_summary(
                resource_response(
                    StatusCode::CREATED,
                    users::render(&row, &base),
                    row.version,
                    Some(location),
                ),
                summary,
            )
        }
        Err(err) => error_response(&err),
    }
}

async fn put_user(
    State(state): State<SharedState>,
    Extension(caller): Extension<Authenticated>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    update_user(&state, caller, &id, &headers, body, true).await
}

async fn patch_user(
    State(state): State<SharedState>,
    Extension(caller): Extension<Authenticated>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    update_user(&state, caller, &id, &headers, body, false).await
}

async fn update_user(
    state: &SharedState,
    caller: Authenticated,
    id: &str,
    headers: &HeaderMap,
    body: Body,
    replace: bool,
) -> Response {
    let if_match = header_str(headers, header::IF_MATCH);
    let result = match read_json(body).await {
        Ok(body) => {
            let change = if replace {
                users::Change::Replace(&body)
            } else {
                users::Change::Patch(&body)
            };
            users::update(&state.db, &caller, id, change, if_match).await
        }
        Err(err) => Err(err),
    };
    match result {
        Ok(row) => {
            let summary = format!(
                "{} user {}",
                if replace { "replaced" } else { "patched" },
                row.user_name.clone().unwrap_or_default()
            );
            with_summary(
                resource_response(StatusCode::OK, users::render(&row, &base(state)), row.version, None),
                summary,
            )
        }
        Err(err) => error_response(&err),
    }
}

async fn delete_user(
    State(state): State<SharedState>,
    Extension(caller): Extension<Authenticated>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match users::delete(&state.db, &caller, &id, header_str(&headers, header::IF_MATCH)).await {
        Ok(()) => with_summary(StatusCode::NO_CONTENT.into_response(), format!("deleted user {id}")),
        Err(err) => error_response(&err),
    }
}

// --- Groups ------------------------------------------------------------------------------------

async fn list_groups(
    State(state): State<SharedState>,
    Extension(caller): Extension<Authenticated>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match lenient_query(q).and_then(params) {
        Ok(p) => groups_page(&state, caller, p).await,
        Err(err) => error_response(&err),
    }
}

async fn search_groups(
    State(state): State<SharedState>,
    Extension(caller): Extension<Authenticated>,
    body: Body,
) -> Response {
    match read_json(body).await.and_then(|b| search_params(&b)) {
        Ok(p) => groups_page(&state, caller, p).await,
        Err(err) => error_response(&err),
    }
}

/// Most groups a page lists with their members.
const GROUPS_WITH_MEMBERS_PER_PAGE: i64 = 100;

async fn groups_page(state: &SharedState, caller: Authenticated, p: ListParams) -> Response {
    let count = if p.projection.excludes_members() {
        p.count
    } else {
        p.count.min(GROUPS_WITH_MEMBERS_PER_PAGE)
    };
    let page = groups::list(
        &state.db,
        caller.org_id,
        p.filter.as_deref(),
        p.start_index,
        count,
        p.sort_by.as_deref(),
        p.descending,
    )
    .await;
    let page = match page {
        Ok(page) => page,
        Err(err) => return error_response(&err),
    };
    let base = base(state);
    let resources: Vec<Value> = match groups::render_all(
        &state.db,
        caller.org_id,
        &page.rows,
        &base,
        !p.projection.excludes_members(),
    )
    .await
    {
        Ok(all) => all.into_iter().map(|r| p.projection.apply(r)).collect(),
        Err(err) => return error_response(&err),
    };
    let n = resources.len();
    with_summary(
        scim_response(
            StatusCode::OK,
            &groups::list_response(page.total, page.start_index, resources),
        ),
        format!("listed {n} of {} groups", page.total),
    )
}

async fn get_group(
    State(state): State<SharedState>,
    Extension(caller): Extension<Authenticated>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let projection = lenient_query(q)
        .map(|q| Projection::new(q.attributes.as_deref(), q.excluded_attributes.as_deref()))
        .unwrap_or_default();
    let row = match groups::get(&state.db, caller.org_id, &id).await {
        Ok(row) => row,
        Err(err) => return error_response(&err),
    };
    if not_modified(&headers, row.version) {
        return not_modified_response(row.version);
    }
    match groups::render(
        &state.db,
        caller.org_id,
        &row,
        &base(&state),
        !projection.excludes_members(),
    )
    .await
    {
        Ok(resource) => resource_response(StatusCode::OK, projection.apply(resource), row.version, None),
        Err(err) => error_response(&err),
    }
}

async fn group_written(
    state: &SharedState,
    caller: Authenticated,
    row: groups::Row,
    status: StatusCode,
    summary: String,
) -> Response {
    let base = base(state);
    let location = (status == StatusCode::CREATED).then(|| format!("{base}/Groups/{}", row.id));
    match groups::render(&state.db, caller.org_id, &row, &base, true).await {
        Ok(resource) => with_summary(resource_response(status, resource, row.version, location), summary),
        Err(err) => error_response(&err),
    }
}

async fn create_group(
    State(state): State<SharedState>,
    Extension(caller): Extension<Authenticated>,
    body: Body,
) -> Response {
    let created = match read_json(body).await {
        Ok(body) => groups::create(&state.db, &caller, &body).await,
        Err(err) => Err(err),
    };
    match created {
        Ok(row) => {
            let summary = format!("created group {}", row.display_name);
            group_written(&state, caller, row, StatusCode::CREATED, summary).await
        }
        Err(err) => error_response(&err),
    }
}

async fn put_group(
    State(state): State<SharedState>,
    Extension(caller): Extension<Authenticated>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    update_group(&state, caller, &id, &headers, body, true).await
}

async fn patch_group(
    State(state): State<SharedState>,
    Extension(caller): Extension<Authenticated>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // A membership change answers 204 (as Entra expects), unless attributes were asked for:
    // a large group is not sent back for every member added.
    let wants_body = q
        .keys()
        .any(|k| k.eq_ignore_ascii_case("attributes") || k.eq_ignore_ascii_case("excludedAttributes"));
    if !wants_body {
        let if_match = header_str(&headers, header::IF_MATCH);
        let result = match read_json(body).await {
            Ok(body) => groups::update(&state.db, &caller, &id, groups::Change::Patch(&body), if_match).await,
            Err(err) => Err(err),
        };
        return match result {
            Ok(row) => {
                let mut response = with_summary(
                    StatusCode::NO_CONTENT.into_response(),
                    format!("patched group {}", row.display_name),
                );
                if let Ok(tag) = HeaderValue::from_str(&users::etag(row.version)) {
                    response.headers_mut().insert(header::ETAG, tag);
                }
                response
            }
            Err(err) => error_response(&err),
        };
    }
    update_group(&state, caller, &id, &headers, body, false).await
}

async fn update_group(
    state: &SharedState,
    caller: Authenticated,
    id: &str,
    headers: &HeaderMap,
    body: Body,
    replace: bool,
) -> Response {
    let if_match = header_str(headers, header::IF_MATCH);
    let result = match read_json(body).await {
        Ok(body) => {
            let change = if replace {
                groups::Change::Replace(&body)
            } else {
                groups::Change::Patch(&body)
            };
            groups::update(&state.db, &caller, id, change, if_match).await
        }
        Err(err) => Err(err),
    };
    match result {
        Ok(row) => {
            let summary = format!(
                "{} group {}",
                if replace { "replaced" } else { "patched" },
                row.display_name
            );
            group_written(state, caller, row, StatusCode::OK, summary).await
        }
        Err(err) => error_response(&err),
    }
}

async fn delete_group(
    State(state): State<SharedState>,
    Extension(caller): Extension<Authenticated>,
    Path(id): Path<String>,
) -> Response {
    match groups::delete(&state.db, &caller, &id).await {
        Ok(()) => with_summary(StatusCode::NO_CONTENT.into_response(), format!("deleted group {id}")),
        Err(err) => error_response(&err),
    }
}

/// `POST /.search` at the root: users, then groups, paged together.
async fn search_root(
    State(state): State<SharedState>,
    Extension(caller): Extension<Authenticated>,
    body: Body,
) -> Response {
    let p = match read_json(body).await.and_then(|b| search_params(&b)) {
        Ok(p) => p,
        Err(err) => return error_response(&err),
    };
    let base = base(&state);
    let want = (p.start_index - 1).saturating_add(p.count).min(users::MAX_RESULTS);
    let u = users::list(&state.db, caller.org_id, p.filter.as_deref(), 1, want, None, false).await;
    // A filter on user attributes is no filter for groups, and the other way round: each
    // resource type answers what it can.
    let g = groups::list(&state.db, caller.org_id, p.filter.as_deref(), 1, want, None, false).await;
    if let (Err(err), Err(_)) = (&u, &g) {
        return error_response(err);
    }
    let mut all: Vec<Value> = Vec::new();
    let mut total = 0;
    if let Ok(page) = u {
        total += page.total;
        all.extend(page.rows.iter().map(|r| p.projection.apply(users::render(r, &base))));
    }
    if let Ok(page) = g {
        total += page.total;
        match groups::render_all(
            &state.db,
            caller.org_id,
            &page.rows,
            &base,
            !p.projection.excludes_members(),
        )
        .await
        {
            Ok(rendered) => all.extend(rendered.into_iter().map(|r| p.projection.apply(r))),
            Err(err) => return error_response(&err),
        }
    }
    let resources: Vec<Value> = all
        .into_iter()
        .skip((p.start_index - 1) as usize)
        .take(p.count as usize)
        .collect();
    scim_response(StatusCode::OK, &groups::list_response(total, p.start_index, resources))
}

// --- Discovery ---------------------------------------------------------------------------------

async fn service_provider_config(State(state): State<SharedState>) -> Response {
    scim_response(
        StatusCode::OK,
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": format!("{}/integrations", state.public_url),
            "patch": { "supported": true },
            "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
            "filter": { "supported": true, "maxResults": users::MAX_RESULTS },
            "changePassword": { "supported": false },
            "sort": { "supported": true },
            "etag": { "supported": true },
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "A token created in Rollcall's Provisioning tab or with `rollcall scim-token create`.",
                "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
                "primary": true
            }],
            "meta": { "resourceType": "ServiceProviderConfig", "location": format!("{}/ServiceProviderConfig", base(&state)) }
        }),
    )
}

fn user_resource_type(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "User", "name": "User", "endpoint": "/Users", "description": "People of the workspace",
        "schema": users::USER_SCHEMA,
        "schemaExtensions": [{ "schema": identity::scim::filter::ENTERPRISE, "required": false }],
        "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User") }
    })
}

fn group_resource_type(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "Group", "name": "Group", "endpoint": "/Groups", "description": "Groups of people",
        "schema": groups::GROUP_SCHEMA,
        "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group") }
    })
}

async fn resource_types(State(state): State<SharedState>) -> Response {
    let base = base(&state);
    scim_response(
        StatusCode::OK,
        &groups::list_response(2, 1, vec![user_resource_type(&base), group_resource_type(&base)]),
    )
}

async fn resource_type(State(state): State<SharedState>, Path(name): Path<String>) -> Response {
    let base = base(&state);
    match name.to_ascii_lowercase().as_str() {
        "user" => scim_response(StatusCode::OK, &user_resource_type(&base)),
        "group" => scim_response(StatusCode::OK, &group_resource_type(&base)),
        _ => error_response(&ScimError::not_found()),
    }
}

/// An attribute's definition with the usual characteristics (optional, case-insensitive,
/// read-write, not unique); `with` changes any of them.
fn attr(name: &str, kind: &str, multi: bool, sub: Vec<Value>) -> Value {
    let mut a = json!({
        "name": name, "type": kind, "multiValued": multi, "description": name, "required": false,
        "caseExact": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none"
    });
    if !sub.is_empty() {
        a["subAttributes"] = Value::Array(sub);
    }
    a
}

fn with(mut a: Value, changes: &[(&str, Value)]) -> Value {
    for (k, v) in changes {
        a[*k] = v.clone();
    }
    a
}

fn s(name: &str) -> Value {
    attr(name, "string", false, vec![])
}

fn multi_sub() -> Vec<Value> {
    vec![
        s("value"),
        s("display"),
        s("type"),
        attr("primary", "boolean", false, vec![]),
    ]
}

fn schema_documents(base: &str) -> Vec<Value> {
    let meta = |id: &str| json!({ "resourceType": "Schema", "location": format!("{base}/Schemas/{id}") });
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": users::USER_SCHEMA, "name": "User", "description": "User Account",
            "attributes": [
                with(s("userName"), &[("required", true.into()), ("uniqueness", "server".into())]),
                attr("name", "complex", false,
                     ["formatted", "familyName", "givenName", "middleName", "honorificPrefix", "honorificSuffix"].iter().map(|n| s(n)).collect()),
                s("displayName"), s("nickName"), s("profileUrl"), s("title"), s("userType"), s("preferredLanguage"), s("locale"), s("timezone"),
                attr("active", "boolean", false, vec![]),
                attr("emails", "complex", true, multi_sub()),
                attr("phoneNumbers", "complex", true, multi_sub()),
                attr("addresses", "complex", true,
                     ["formatted", "streetAddress", "locality", "region", "postalCode", "country", "type"].iter().map(|n| s(n)).collect()),
                with(attr("groups", "complex", true, vec![s("value"), s("display")]), &[("mutability", "readOnly".into())]),
                with(s("externalId"), &[("caseExact", true.into())]),
            ],
            "meta": meta(users::USER_SCHEMA),
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": identity::scim::filter::ENTERPRISE, "name": "EnterpriseUser", "description": "Enterprise User",
            "attributes": [
                s("employeeNumber"), s("costCenter"), s("organization"), s("division"), s("department"),
                attr("manager", "complex", false, vec![s("value"), s("$ref"), s("displayName")]),
            ],
            "meta": meta(identity::scim::filter::ENTERPRISE),
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": groups::GROUP_SCHEMA, "name": "Group", "description": "Group",
            "attributes": [
                with(s("displayName"), &[("required", true.into()), ("uniqueness", "server".into())]),
                attr("members", "complex", true, vec![s("value"), s("display"), s("type")]),
                with(s("externalId"), &[("caseExact", true.into())]),
            ],
            "meta": meta(groups::GROUP_SCHEMA),
        }),
    ]
}

async fn schemas(State(state): State<SharedState>) -> Response {
    let all = schema_documents(&base(&state));
    scim_response(StatusCode::OK, &groups::list_response(all.len() as i64, 1, all))
}

async fn schema(State(state): State<SharedState>, Path(urn): Path<String>) -> Response {
    match schema_documents(&base(&state))
        .into_iter()
        .find(|s| s["id"].as_str().is_some_and(|id| id.eq_ignore_ascii_case(&urn)))
    {
        Some(s) => scim_response(StatusCode::OK, &s),
        None => error_response(&ScimError::not_found()),
    }
}

async fn not_implemented() -> Response {
    error_response(&ScimError::new(
        501,
        None,
        "Rollcall does not support this endpoint (see /ServiceProviderConfig).",
    ))
}

async fn unknown_endpoint() -> Response {
    error_response(&ScimError::new(
        404,
        None,
        "No such SCIM endpoint: use /Users, /Groups and the discovery endpoints.",
    ))
}

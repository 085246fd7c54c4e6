//! Microsoft Graph (PROTOCOLS.md §5): app-only tokens by client credentials, admin consent,
//! `GET /v1.0/users` (`$select`, `$top` 1–999, `$filter` subset, `$count`, `@odata.nextLink`)
//! and `GET /v1.0/users/delta` (`@odata.nextLink` pages, then `@odata.deltaLink`, `@removed`,
//! `$deltatoken=latest`, `Prefer: return=minimal`); errors in Graph's envelope.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, LOCATION, PRAGMA, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde_json::json;

use super::json::Obj;
use super::state::{
    bearer, disabled, fnv, local_part, now, rfc3339, DeltaEntry, DeltaRound, Outage, RoundKey, Shared, Snapshot,
};
use super::{DirectoryPerson, PersonKind};
use crate::server::{acceptable_redirect_uri, form_decode, parse_params, redirect_with};

/// Graph chooses delta page sizes itself (`$top` is not supported there).
pub const DELTA_PAGE_SIZE: usize = 200;
/// The only scope a client-credentials request for Graph may ask for.
const GRAPH_DEFAULT_SCOPE: &str = "https://graph.microsoft.com/.default";
const JSON_TYPE: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";
/// What a query value must escape inside a nextLink; `$`, `,` and `'` stay as Graph leaves them.
const QUERY_VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'<')
    .add(b'>')
    .add(b'=')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

pub(super) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/adminconsent", get(admin_consent))
        .route("/v1.0/users", get(list))
        .route("/v1.0/users/delta", get(delta))
}

// ---------------------------------------------------------------------------------------------
// Properties

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Prop {
    Id,
    DisplayName,
    GivenName,
    Surname,
    Mail,
    UserPrincipalName,
    AccountEnabled,
    UserType,
    Department,
    JobTitle,
    BusinessPhones,
    MobilePhone,
    OfficeLocation,
    PreferredLanguage,
    CreatedDateTime,
    EmployeeId,
    CompanyName,
    OtherMails,
}

const PROPS: &[(&str, Prop)] = &[
    ("id", Prop::Id),
    ("displayName", Prop::DisplayName),
    ("givenName", Prop::GivenName),
    ("surname", Prop::Surname),
    ("mail", Prop::Mail),
    ("userPrincipalName", Prop::UserPrincipalName),
    ("accountEnabled", Prop::AccountEnabled),
    ("userType", Prop::UserType),
    ("department", Prop::Department),
    ("jobTitle", Prop::JobTitle),
    ("businessPhones", Prop::BusinessPhones),
    ("mobilePhone", Prop::MobilePhone),
    ("officeLocation", Prop::OfficeLocation),
    ("preferredLanguage", Prop::PreferredLanguage),
    ("createdDateTime", Prop::CreatedDateTime),
    ("employeeId", Prop::EmployeeId),
    ("companyName", Prop::CompanyName),
    ("otherMails", Prop::OtherMails),
];

/// What Graph returns without `$select`: no `accountEnabled`, `userType`, `department`, ...
const DEFAULT_PROPS: &[Prop] = &[
    Prop::BusinessPhones,
    Prop::DisplayName,
    Prop::GivenName,
    Prop::JobTitle,
    Prop::Mail,
    Prop::MobilePhone,
    Prop::OfficeLocation,
    Prop::PreferredLanguage,
    Prop::Surname,
    Prop::UserPrincipalName,
    Prop::Id,
];

fn prop_name(prop: Prop) -> &'static str {
    PROPS.iter().find(|(_, p)| *p == prop).map_or("id", |(n, _)| n)
}

/// `$select` (property names are case-insensitive), as canonical names; empty = the default
/// set. `Err` names the unknown property.
fn parse_select(select: &str) -> Result<Vec<Prop>, String> {
    let mut props = Vec::new();
    for name in select.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let prop = PROPS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, p)| *p)
            .ok_or_else(|| name.to_owned())?;
        if !props.contains(&prop) {
            props.push(prop);
        }
    }
    Ok(props)
}

fn select_key(props: &[Prop]) -> String {
    props.iter().map(|p| prop_name(*p)).collect::<Vec<_>>().join(",")
}

fn props_of(select: &[Prop]) -> &[Prop] {
    if select.is_empty() {
        DEFAULT_PROPS
    } else {
        select
    }
}

/// `fake1a2b3c4d.onmicrosoft.com`: the tenant's initial domain, for UPNs.
fn tenant_domain(tenant: &str) -> String {
    let label: String = tenant
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase();
    format!("fake{label}.onmicrosoft.com")
}

fn guest(p: &DirectoryPerson) -> bool {
    matches!(p.kind, PersonKind::Guest | PersonKind::SingleChannelGuest)
}

/// Members sign in with their email; members without a mailbox and guests get an
/// `…onmicrosoft.com` UPN (guests the `alias_domain#EXT#@` form), which is not an address.
fn upn(p: &DirectoryPerson, domain: &str) -> String {
    match (&p.email, guest(p)) {
        (Some(email), false) => email.clone(),
        (Some(email), true) => format!("{}#EXT#@{domain}", email.replace('@', "_")),
        (None, true) => format!("{}#EXT#@{domain}", local_part(p)),
        (None, false) => {
            let short: String = p.id.chars().filter(char::is_ascii_alphanumeric).take(4).collect();
            format!("{}.{short}@{domain}", local_part(p))
        }
    }
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

fn write_prop(o: &mut Obj, prop: Prop, p: &DirectoryPerson, domain: &str) {
    let name = prop_name(prop);
    match prop {
        Prop::Id => o.str(name, &p.id),
        Prop::DisplayName => {
            let full = p.full_name();
            o.str_or_null(name, non_empty(&full))
        }
        Prop::GivenName => o.str_or_null(name, non_empty(&p.given_name)),
        Prop::Surname => o.str_or_null(name, non_empty(&p.family_name)),
        Prop::Mail => o.str_or_null(name, p.email.as_deref()),
        Prop::UserPrincipalName => o.str(name, &upn(p, domain)),
        Prop::AccountEnabled => o.bool(name, !disabled(p.kind)),
        Prop::UserType => o.str(name, if guest(p) { "Guest" } else { "Member" }),
        Prop::Department => o.str_or_null(name, p.department.as_deref()),
        Prop::JobTitle => o.str_or_null(name, p.job_title.as_deref()),
        Prop::BusinessPhones | Prop::OtherMails => o.raw(name, "[]"),
        Prop::MobilePhone | Prop::OfficeLocation | Prop::EmployeeId | Prop::CompanyName => o.raw(name, "null"),
        Prop::PreferredLanguage => o.str_or_null(name, fnv(&[&p.id]).is_multiple_of(2).then_some("en-US")),
        Prop::CreatedDateTime => o.str(name, &rfc3339(p.created, false)),
    };
}

fn write_user(buf: &mut String, p: &DirectoryPerson, props: &[Prop], domain: &str, always_id: bool) {
    let mut o = Obj::new(buf);
    if always_id && !props.contains(&Prop::Id) {
        o.str("id", &p.id);
    }
    for prop in props {
        write_prop(&mut o, *prop, p, domain);
    }
    o.end();
}

/// One property as JSON text, to compare two versions of a person.
fn prop_text(prop: Prop, p: &DirectoryPerson, domain: &str) -> String {
    let mut buf = String::new();
    let mut o = Obj::new(&mut buf);
    write_prop(&mut o, prop, p, domain);
    o.end();
    buf
}

// ---------------------------------------------------------------------------------------------
// Errors

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message, "innerError": inner_error()}});
    (status, [(CONTENT_TYPE, JSON_TYPE)], body.to_string()).into_response()
}

fn inner_error() -> serde_json::Value {
    json!({
        "date": rfc3339(now(), false),
        "request-id": uuid::Uuid::new_v4().to_string(),
        "client-request-id": uuid::Uuid::new_v4().to_string(),
    })
}

fn unauthenticated(message: &str) -> Response {
    let mut response = error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message);
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static(
            "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", \
             client_id=\"00000003-0000-0000-c000-000000000000\"",
        ),
    );
    response
}

fn bad_request(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
}

fn unsupported(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", message)
}

fn outage_response(outage: Outage) -> Response {
    match outage {
        Outage::RateLimited(retry_after) => too_many_requests(&retry_after),
        Outage::Google403 => too_many_requests("1"),
        Outage::Server(502) => super::gateway_page(),
        Outage::Server(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            match status {
                StatusCode::SERVICE_UNAVAILABLE => error(
                    status,
                    "serviceNotAvailable",
                    "The service is temporarily unavailable. Please retry later.",
                ),
                StatusCode::GATEWAY_TIMEOUT => error(status, "gatewayTimeout", "The operation timed out."),
                _ => error(status, "generalException", "An internal server error occurred."),
            }
        }
    }
}

/// PROTOCOLS.md §5's throttling body, with its `innerError` variant.
fn too_many_requests(retry_after: &str) -> Response {
    let body = json!({"error": {
        "code": "TooManyRequests",
        "message": "Please retry again later.",
        "innerError": {
            "code": "429",
            "date": rfc3339(now(), false),
            "request-id": uuid::Uuid::new_v4().to_string(),
            "status": "429",
        },
    }});
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        [(CONTENT_TYPE, JSON_TYPE)],
        body.to_string(),
    )
        .into_response();
    response.headers_mut().insert(
        "x-ms-throttle-scope",
        HeaderValue::from_static("Tenant_Application/ReadWrite/fake"),
    );
    super::retry_after(&mut response, retry_after);
    response
}

fn json_response(body: String) -> Response {
    let mut response = ([(CONTENT_TYPE, JSON_TYPE)], body).into_response();
    if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        response.headers_mut().insert("request-id", id);
    }
    response
}

/// The checks every Graph call makes before looking at its parameters (a valid bearer token,
/// not revoked, with `User.Read.All` consented): the refusal, if one fails.
fn refusal(s: &Shared, headers: &HeaderMap) -> Option<Response> {
    let (revoked, denied) = {
        let st = s.lock();
        (st.faults.revoked, st.faults.missing_scope || st.faults.not_authorized)
    };
    match bearer(headers) {
        None => Some(unauthenticated("Access token is empty.")),
        Some(_) if revoked => Some(unauthenticated("Access token has expired or is not yet valid.")),
        Some(token) if token != s.token => Some(unauthenticated("Access token validation failure. Invalid audience.")),
        Some(_) if denied => Some(error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )),
        Some(_) => None,
    }
}

/// Query pairs in their order, OData names decoded (`%24select` is `$select`); `None` when one
/// is repeated.
fn query_pairs(raw: &str) -> Option<Vec<(String, String)>> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes()).into_owned().collect();
    let mut seen = std::collections::HashSet::new();
    pairs.iter().all(|(k, _)| seen.insert(k.clone())).then_some(pairs)
}

fn option<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn encode_query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY_VALUE)))
        .collect::<Vec<_>>()
        .join("&")
}

// ---------------------------------------------------------------------------------------------
// List

/// The supported `$filter` subset: `userType eq|ne 'Member'|'Guest'` and
/// `accountEnabled eq|ne true|false`, joined by `and`.
fn parse_filter(filter: &str) -> Result<Vec<(bool, bool, String)>, Box<Response>> {
    let mut clauses = Vec::new();
    for clause in filter.split(" and ").map(str::trim).filter(|c| !c.is_empty()) {
        let words: Vec<&str> = clause.split_whitespace().collect();
        let [prop, op, value] = words[..] else {
            return Err(Box::new(bad_request(&format!("Invalid filter clause: {clause}"))));
        };
        let eq = match op {
            "eq" => true,
            "ne" => false,
            _ => return Err(Box::new(unsupported("Unsupported Query."))),
        };
        let (is_type, value) = match (prop, value) {
            ("userType", "'Member'" | "'Guest'") => (true, value.trim_matches('\'').to_owned()),
            ("accountEnabled", "true" | "false") => (false, value.to_owned()),
            _ => {
                return Err(Box::new(unsupported(&format!(
                    "Unsupported or invalid query filter clause specified for property '{prop}' of resource 'User'."
                ))))
            }
        };
        clauses.push((is_type, eq, value));
    }
    Ok(clauses)
}

fn filter_matches(clauses: &[(bool, bool, String)], p: &DirectoryPerson) -> bool {
    clauses.iter().all(|(is_type, eq, value)| {
        let have = if *is_type {
            if guest(p) {
                "Guest"
            } else {
                "Member"
            }
        } else if disabled(p.kind) {
            "false"
        } else {
            "true"
        };
        (have == value) == *eq
    })
}

async fn list(State(s): State<Arc<Shared>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let serial = s.requests.fetch_add(1, Ordering::Relaxed);
    if let Some(response) = refusal(&s, &headers) {
        return response;
    }
    let Some(pairs) = query_pairs(query.as_deref().unwrap_or_default()) else {
        return bad_request("Query option specified more than once.");
    };
    for (name, _) in &pairs {
        match name.as_str() {
            "$skip" => return bad_request("'$skip' is not supported by the service."),
            "$search" | "$orderby" | "$expand" => {
                return unsupported(&format!("'{name}' is not supported by this fake."))
            }
            _ => {}
        }
    }
    let select = match parse_select(option(&pairs, "$select").unwrap_or_default()) {
        Ok(select) => select,
        Err(name) => {
            return bad_request(&format!(
                "Could not find a property named '{name}' on type 'microsoft.graph.user'."
            ))
        }
    };
    let top = match option(&pairs, "$top") {
        None => 100,
        Some(top) => match top.parse::<usize>() {
            Ok(n) if (1..=999).contains(&n) => n,
            _ => {
                return unsupported(&format!(
                    "Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive."
                ))
            }
        },
    };
    let filter_text = option(&pairs, "$filter").unwrap_or_default();
    let filter = match parse_filter(filter_text) {
        Ok(filter) => filter,
        Err(response) => return *response,
    };
    let count = match option(&pairs, "$count") {
        None | Some("false") => false,
        Some("true") => {
            let eventual = headers
                .get("consistencylevel")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("eventual"));
            if !eventual {
                return bad_request("$count is not currently supported without the ConsistencyLevel: eventual header.");
            }
            true
        }
        Some(_) => return bad_request("Invalid $count value."),
    };
    let fingerprint = fnv(&[&select_key(&select), filter_text]);

    let (snapshot, offset, mid_way) = match option(&pairs, "$skiptoken") {
        None => (s.lock().current(), 0, false),
        Some(token) => {
            let Some(payload) = s.open(token) else {
                return bad_request("Invalid $skiptoken value.");
            };
            let parsed = (|| {
                let mut parts = payload.split('.');
                let generation: u64 = parts.next()?.parse().ok()?;
                let offset: usize = parts.next()?.parse().ok()?;
                let print: u64 = parts.next()?.parse().ok()?;
                Some((generation, offset, print))
            })();
            let Some((generation, offset, _)) = parsed.filter(|(_, _, print)| *print == fingerprint) else {
                return bad_request("The $skiptoken does not belong to this query.");
            };
            match s.lock().snapshot(generation) {
                Some(snapshot) => (snapshot, offset, true),
                None => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "Directory_ExpiredPageToken",
                        "The specified page token value has expired and can no longer be included in your request.",
                    )
                }
            }
        }
    };

    let (outage, empty, tenant) = {
        let mut st = s.lock();
        let outage = st.faults.take_outage();
        let empty = outage.is_none() && mid_way && (st.faults.take_missing_key() || st.faults.take_empty_page());
        (outage, empty, st.org.clone())
    };
    if let Some(outage) = outage {
        return outage_response(outage);
    }
    let domain = tenant_domain(&tenant);
    let props = props_of(&select);
    let visible = |p: &DirectoryPerson| p.kind != PersonKind::Deleted && filter_matches(&filter, p);

    let people = &snapshot.people;
    let mut value = String::from("[");
    let mut served = 0;
    let mut position = offset.min(people.len());
    while !empty && position < people.len() && served < top {
        let person = &people[position];
        position += 1;
        if visible(person) {
            if served > 0 {
                value.push(',');
            }
            write_user(&mut value, person, props, &domain, false);
            served += 1;
        }
    }
    value.push(']');

    let mut body = String::with_capacity(value.len() + 512);
    let mut out = Obj::new(&mut body);
    let context = if select.is_empty() {
        format!("{}/v1.0/$metadata#users", s.origin)
    } else {
        format!("{}/v1.0/$metadata#users({})", s.origin, select_key(&select))
    };
    out.str("@odata.context", &context);
    if count && !mid_way {
        let total = people.iter().filter(|p| visible(p)).count();
        out.int("@odata.count", total as i64);
    }
    if position < people.len() {
        // Every option of the request goes into the link, as Graph does; the client follows it
        // verbatim (and must resend headers such as ConsistencyLevel itself).
        let token = s.seal(&format!("{}.{position}.{fingerprint}.{serial}", snapshot.generation));
        let mut options: Vec<(&str, &str)> = pairs
            .iter()
            .filter(|(k, _)| k != "$skiptoken")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        options.push(("$skiptoken", &token));
        out.str(
            "@odata.nextLink",
            &format!("{}/v1.0/users?{}", s.origin, encode_query(&options)),
        );
    }
    out.raw("value", &value);
    out.end();
    json_response(body)
}

// ---------------------------------------------------------------------------------------------
// Delta

/// 410 Gone: the delta state is unknown (expired, or older than the fake keeps); `Location`
/// starts a full sync over with the same `$select`.
fn sync_reset(s: &Shared, select: &str) -> Response {
    let mut response = error(
        StatusCode::GONE,
        "syncStateNotFound",
        "The sync state generation is not found or has expired. Restart a full sync.",
    );
    let restart = if select.is_empty() {
        format!("{}/v1.0/users/delta", s.origin)
    } else {
        format!("{}/v1.0/users/delta?{}", s.origin, encode_query(&[("$select", select)]))
    };
    if let Ok(location) = HeaderValue::from_str(&restart) {
        response.headers_mut().insert(LOCATION, location);
    }
    response
}

/// Where a delta request starts.
enum DeltaStart {
    /// `$deltatoken=latest`: no changes, just a deltaLink for now.
    Latest,
    /// A fresh round from `base` (`None`: everything) to the current people.
    Round(Option<u64>),
    /// Mid-round.
    Page {
        base: Option<u64>,
        target: u64,
        offset: usize,
    },
}

async fn delta(State(s): State<Arc<Shared>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let serial = s.requests.fetch_add(1, Ordering::Relaxed);
    if let Some(response) = refusal(&s, &headers) {
        return response;
    }
    let Some(pairs) = query_pairs(query.as_deref().unwrap_or_default()) else {
        return bad_request("Query option specified more than once.");
    };
    for (name, _) in &pairs {
        match name.as_str() {
            "$top" | "$orderby" | "$expand" | "$skip" | "$search" | "$count" => {
                return unsupported(&format!("'{name}' is not supported with change tracking over 'users'."))
            }
            "$filter" => return unsupported("$filter is not supported by this fake's users/delta."),
            _ => {}
        }
    }
    // Query options belong on the first request; a token carries them from then on.
    let (start, select) = match (option(&pairs, "$deltatoken"), option(&pairs, "$skiptoken")) {
        (Some(_), Some(_)) => return bad_request("Both $deltatoken and $skiptoken were specified."),
        (Some("latest"), None) | (None, None) => {
            let select = match parse_select(option(&pairs, "$select").unwrap_or_default()) {
                Ok(select) => select_key(&select),
                Err(name) => {
                    return bad_request(&format!(
                        "Could not find a property named '{name}' on type 'microsoft.graph.user'."
                    ))
                }
            };
            let start = if option(&pairs, "$deltatoken").is_some() {
                DeltaStart::Latest
            } else {
                DeltaStart::Round(None)
            };
            (start, select)
        }
        (Some(token), None) => {
            let Some(payload) = s.open(token) else {
                return bad_request("Badly formed $deltatoken.");
            };
            let mut parts = payload.splitn(4, '.');
            let (Some("t"), Some(generation), Some(_serial), Some(select)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return bad_request("Badly formed $deltatoken.");
            };
            let Ok(generation) = generation.parse() else {
                return bad_request("Badly formed $deltatoken.");
            };
            (DeltaStart::Round(Some(generation)), select.to_owned())
        }
        (None, Some(token)) => {
            let parsed = s.open(token).and_then(|payload| {
                let mut parts = payload.splitn(6, '.');
                if parts.next()? != "s" {
                    return None;
                }
                let base = match parts.next()? {
                    "-" => None,
                    g => Some(g.parse().ok()?),
                };
                let target = parts.next()?.parse().ok()?;
                let offset = parts.next()?.parse().ok()?;
                let _serial = parts.next()?;
                Some((DeltaStart::Page { base, target, offset }, parts.next()?.to_owned()))
            });
            match parsed {
                Some(parsed) => parsed,
                None => return bad_request("Badly formed $skiptoken."),
            }
        }
    };
    let carries_token = !matches!(start, DeltaStart::Latest | DeltaStart::Round(None));
    let mid_way = matches!(start, DeltaStart::Page { .. });

    let (outage, expired, empty, current, tenant) = {
        let mut st = s.lock();
        let outage = st.faults.take_outage();
        let expired = outage.is_none() && carries_token && st.faults.take_delta_expired();
        let empty =
            outage.is_none() && !expired && mid_way && (st.faults.take_missing_key() || st.faults.take_empty_page());
        (outage, expired, empty, st.current(), st.org.clone())
    };
    if let Some(outage) = outage {
        return outage_response(outage);
    }
    if expired {
        return sync_reset(&s, &select);
    }
    let domain = tenant_domain(&tenant);
    let Ok(props) = parse_select(&select) else {
        return sync_reset(&s, "");
    };
    let props = props_of(&props).to_vec();
    let minimal = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case("return=minimal")));

    let delta_link = |generation: u64| {
        let token = s.seal(&format!("t.{generation}.{serial}.{select}"));
        format!("{}/v1.0/users/delta?$deltatoken={token}", s.origin)
    };
    let context = format!("{}/v1.0/$metadata#users({})/delta", s.origin, select);
    let page = |value: &str, link: (&str, String)| {
        let mut body = String::with_capacity(value.len() + 512);
        let mut out = Obj::new(&mut body);
        out.str("@odata.context", &context)
            .str(link.0, &link.1)
            .raw("value", value);
        out.end();
        let mut response = json_response(body);
        if minimal {
            response
                .headers_mut()
                .insert("preference-applied", HeaderValue::from_static("return=minimal"));
        }
        response
    };

    let (key, offset) = match start {
        DeltaStart::Latest => return page("[]", ("@odata.deltaLink", delta_link(current.generation))),
        DeltaStart::Round(Some(base)) if base == current.generation => {
            return page("[]", ("@odata.deltaLink", delta_link(base)))
        }
        DeltaStart::Round(base) => (
            RoundKey {
                base,
                target: current.generation,
                select: select.clone(),
            },
            0,
        ),
        DeltaStart::Page { base, target, offset } => (
            RoundKey {
                base,
                target,
                select: select.clone(),
            },
            offset,
        ),
    };
    let Some(round) = round(&s, &key, &props, &domain) else {
        return sync_reset(&s, &select);
    };

    let base_tag = key.base.map_or("-".to_owned(), |g| g.to_string());
    let end = if empty {
        offset
    } else {
        (offset + DELTA_PAGE_SIZE).min(round.entries.len())
    };
    let mut value = String::from("[");
    for (i, entry) in round.entries[offset.min(end)..end].iter().enumerate() {
        if i > 0 {
            value.push(',');
        }
        match entry {
            DeltaEntry::Removed { id, reason } => {
                let mut o = Obj::new(&mut value);
                o.str("id", id).obj("@removed", |r| {
                    r.str("reason", reason);
                });
                o.end();
            }
            DeltaEntry::Changed { target, base } => {
                let person = &round.target.people[*target as usize];
                let before = base.zip(round.base.as_ref()).map(|(b, snap)| &snap.people[b as usize]);
                match before.filter(|_| minimal) {
                    Some(before) => {
                        let changed: Vec<Prop> = props
                            .iter()
                            .copied()
                            .filter(|p| {
                                *p != Prop::Id && prop_text(*p, before, &domain) != prop_text(*p, person, &domain)
                            })
                            .collect();
                        write_user(&mut value, person, &changed, &domain, true);
                    }
                    None => write_user(&mut value, person, &props, &domain, true),
                }
            }
        }
    }
    value.push(']');
    if end < round.entries.len() || empty {
        let token = s.seal(&format!("s.{base_tag}.{}.{end}.{serial}.{select}", key.target));
        page(
            &value,
            (
                "@odata.nextLink",
                format!("{}/v1.0/users/delta?$skiptoken={token}", s.origin),
            ),
        )
    } else {
        page(&value, ("@odata.deltaLink", delta_link(key.target)))
    }
}

/// The round for `key`, computed on first use (outside the lock) and kept; `None` when its
/// people are no longer kept.
fn round(s: &Shared, key: &RoundKey, props: &[Prop], domain: &str) -> Option<Arc<DeltaRound>> {
    let (target, base) = {
        let st = s.lock();
        if let Some(round) = st.round(key) {
            return Some(round);
        }
        let target = st.snapshot(key.target)?;
        let base = match key.base {
            None => None,
            Some(g) => Some(st.snapshot(g)?),
        };
        (target, base)
    };
    let entries = match &base {
        None => target
            .people
            .iter()
            .enumerate()
            .filter(|(_, p)| p.kind != PersonKind::Deleted)
            .map(|(i, _)| DeltaEntry::Changed {
                target: i as u32,
                base: None,
            })
            .collect(),
        Some(base) => diff(base, &target, props, domain),
    };
    let round = Arc::new(DeltaRound { target, base, entries });
    s.lock().keep_round(key.clone(), round.clone());
    Some(round)
}

/// What changed from `base` to `target` as seen through `props`: new and changed people in
/// the target's order, then removals. Soft-deleting is `@removed` "changed"; disappearing
/// entirely is "deleted"; disabling is just a change of `accountEnabled`.
fn diff(base: &Snapshot, target: &Snapshot, props: &[Prop], domain: &str) -> Vec<DeltaEntry> {
    let render = |p: &DirectoryPerson| {
        let mut buf = String::new();
        write_user(&mut buf, p, props, domain, true);
        buf
    };
    let before: &HashMap<String, u32> = base.by_id();
    let after = target.by_id();
    let mut entries = Vec::new();
    for (i, person) in target.people.iter().enumerate() {
        let gone = person.kind == PersonKind::Deleted;
        match before.get(&person.id).map(|&b| (b, &base.people[b as usize])) {
            None if !gone => entries.push(DeltaEntry::Changed {
                target: i as u32,
                base: None,
            }),
            None => {}
            Some((b, old)) => match (old.kind == PersonKind::Deleted, gone) {
                (false, false) if render(old) != render(person) => entries.push(DeltaEntry::Changed {
                    target: i as u32,
                    base: Some(b),
                }),
                (false, true) => entries.push(DeltaEntry::Removed {
                    id: person.id.clone(),
                    reason: "changed",
                }),
                // Restored from the recycle bin: all of it, as for a new person.
                (true, false) => entries.push(DeltaEntry::Changed {
                    target: i as u32,
                    base: None,
                }),
                _ => {}
            },
        }
    }
    for old in &base.people {
        if !after.contains_key(&old.id) {
            entries.push(DeltaEntry::Removed {
                id: old.id.clone(),
                reason: "deleted",
            });
        }
    }
    entries
}

// ---------------------------------------------------------------------------------------------
// Token and admin consent

/// An Entra token-endpoint refusal.
fn token_error(status: StatusCode, error: &str, aadsts: u32, description: &str) -> Response {
    let trace = uuid::Uuid::new_v4().to_string();
    let correlation = uuid::Uuid::new_v4().to_string();
    let timestamp = rfc3339(now(), false);
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{aadsts}: {description} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {timestamp}"
        ),
        "error_codes": [aadsts],
        "timestamp": timestamp,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": format!("https://login.microsoftonline.com/error?code={aadsts}"),
    });
    (status, [(CACHE_CONTROL, "no-store"), (PRAGMA, "no-cache")], Json(body)).into_response()
}

async fn token(State(s): State<Arc<Shared>>, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    let params = form.then(|| parse_params(&body)).flatten();
    let Some(params) = params else {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must be application/x-www-form-urlencoded, each parameter once.",
        );
    };
    let (org, revoked) = {
        let st = s.lock();
        (st.org.clone(), st.faults.revoked)
    };
    if !tenant.eq_ignore_ascii_case(&org) {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
        );
    }
    if params.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return token_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type (this fake serves client_credentials).",
        );
    }
    // Client secret in the body (client_secret_post) or HTTP Basic.
    let basic = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| pair.split_once(':').map(|(i, p)| (form_decode(i), form_decode(p))));
    let (client_id, secret) = match (basic, params.get("client_id"), params.get("client_secret")) {
        (Some((id, secret)), _, None) => (id, secret),
        (None, Some(id), Some(secret)) => (id.clone(), secret.clone()),
        _ => {
            return token_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_secret' or 'client_assertion'.",
            )
        }
    };
    if client_id != s.client_id || revoked {
        return token_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{org}'. This can happen if \
                 the application has not been installed by the administrator of the tenant or consented to by any \
                 user in the tenant."
            ),
        );
    }
    if secret != s.client_secret {
        return token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, \
             not the client secret ID.",
        );
    }
    if params.get("scope").map(String::as_str) != Some(GRAPH_DEFAULT_SCOPE) {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            "The provided value for scope is not valid. Client credential flows must have a scope value with /.default \
             suffixed to the resource identifier (application ID URI): https://graph.microsoft.com/.default.",
        );
    }
    let body = json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": s.token});
    (
        StatusCode::OK,
        [(CACHE_CONTROL, "no-store"), (PRAGMA, "no-cache")],
        Json(body),
    )
        .into_response()
}

/// The admin-consent endpoint: an admin of this fake's tenant consents at once (or, under
/// [`Fault::ConsentDenied`](super::Fault::ConsentDenied), declines) and is sent back with
/// `admin_consent=True&tenant=…`.
async fn admin_consent(
    State(s): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(q) = parse_params(query.unwrap_or_default().as_bytes()) else {
        return (StatusCode::BAD_REQUEST, "a parameter is repeated").into_response();
    };
    let (org, denied) = {
        let st = s.lock();
        (st.org.clone(), st.faults.consent_denied)
    };
    if q.get("client_id") != Some(&s.client_id) {
        return (
            StatusCode::BAD_REQUEST,
            format!("AADSTS700016: unknown client_id (this fake accepts {:?})", s.client_id),
        )
            .into_response();
    }
    let Some(redirect_uri) = q.get("redirect_uri").filter(|u| acceptable_redirect_uri(u)) else {
        return (StatusCode::BAD_REQUEST, "AADSTS50011: redirect_uri missing or invalid").into_response();
    };
    if !["organizations", "common"].contains(&tenant.as_str()) && !tenant.eq_ignore_ascii_case(&org) {
        return (
            StatusCode::BAD_REQUEST,
            format!("AADSTS90002: Tenant '{tenant}' not found."),
        )
            .into_response();
    }
    let state = q.get("state").map(String::as_str).unwrap_or_default();
    if denied {
        return redirect_with(
            redirect_uri,
            &[
                ("error", "access_denied"),
                (
                    "error_description",
                    "AADSTS65004: User declined to consent to access the app.",
                ),
                ("state", state),
            ],
        );
    }
    redirect_with(
        redirect_uri,
        &[
            ("admin_consent", "True"),
            ("tenant", &org),
            (
                "scope",
                "https://graph.microsoft.com/User.Read.All https://graph.microsoft.com/.default",
            ),
            ("state", state),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_is_case_insensitive_and_canonical() {
        let props = parse_select("ID, displayname,accountEnabled,id").unwrap();
        assert_eq!(select_key(&props), "id,displayName,accountEnabled");
        assert_eq!(parse_select("nope").unwrap_err(), "nope");
        assert!(parse_select("").unwrap().is_empty());
    }

    #[test]
    fn upns() {
        let domain = tenant_domain("5b3c8e2a-7f41-4d09-9c1e-2a6f0d4b8e71");
        assert_eq!(domain, "fake5b3c8e2a.onmicrosoft.com");
        let member = DirectoryPerson::new("abcd-1", Some("ada@example.com"), "Ada", "L");
        assert_eq!(upn(&member, &domain), "ada@example.com");
        let guest = DirectoryPerson::new("x", Some("bo@partner.example"), "Bo", "B").kind(PersonKind::Guest);
        assert_eq!(
            upn(&guest, &domain),
            "bo_partner.example#EXT#@fake5b3c8e2a.onmicrosoft.com"
        );
        let no_mail = DirectoryPerson::new("9f8e-2", None, "Zoë", "O'Brien");
        assert_eq!(upn(&no_mail, &domain), "zo.obrien.9f8e@fake5b3c8e2a.onmicrosoft.com");
    }

    #[test]
    fn filters() {
        let clauses = parse_filter("userType eq 'Member' and accountEnabled eq true").unwrap();
        let member = DirectoryPerson::new("1", None, "A", "B");
        assert!(filter_matches(&clauses, &member));
        assert!(!filter_matches(&clauses, &member.clone().kind(PersonKind::Guest)));
        assert!(!filter_matches(&clauses, &member.kind(PersonKind::Suspended)));
        assert!(parse_filter("startswith(displayName,'a')").is_err());
    }
}

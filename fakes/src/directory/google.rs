//! Google Workspace Admin SDK Directory API `users.list` (PROTOCOLS.md §4):
//! `GET /admin/directory/v1/users` with `customer` or `domain`, `maxResults` 1–500 (default
//! 100), an opaque `pageToken`, `orderBy`/`sortOrder`, a `query` subset, `showDeleted`,
//! `projection` and `viewType`; errors in Google's JSON envelope.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::json::Obj;
use super::state::{bearer, fnv, rfc3339, Outage, Shared, Snapshot};
use super::{DirectoryPerson, PersonKind};
use crate::server::parse_params;

pub(super) fn router() -> Router<Arc<Shared>> {
    Router::new().route("/admin/directory/v1/users", get(list))
}

/// `C0` and 7 base-36 characters derived from the domain: the shape of a real customer ID.
pub(super) fn customer_id(domain: &str) -> String {
    let mut n = fnv(&[&domain.to_ascii_lowercase()]);
    let mut id = String::from("C0");
    for _ in 0..7 {
        id.push(char::from_digit((n % 36) as u32, 36).unwrap_or('0'));
        n /= 36;
    }
    id
}

/// A refusal in Google's envelope.
fn error(status: StatusCode, message: &str, reason: &str) -> Response {
    let (domain, code_name) = match status.as_u16() {
        400 => ("global", "INVALID_ARGUMENT"),
        401 => ("global", "UNAUTHENTICATED"),
        403 if reason.ends_with("RateLimitExceeded") || reason == "quotaExceeded" => {
            ("usageLimits", "PERMISSION_DENIED")
        }
        403 => ("global", "PERMISSION_DENIED"),
        429 => ("usageLimits", "RESOURCE_EXHAUSTED"),
        503 => ("global", "UNAVAILABLE"),
        504 => ("global", "DEADLINE_EXCEEDED"),
        _ => ("global", "INTERNAL"),
    };
    let mut detail = json!({"message": message, "domain": domain, "reason": reason});
    if status == StatusCode::UNAUTHORIZED {
        detail["location"] = "Authorization".into();
        detail["locationType"] = "header".into();
    }
    let body = json!({"error": {"code": status.as_u16(), "message": message, "errors": [detail], "status": code_name}});
    (status, axum::Json(body)).into_response()
}

fn invalid(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, message, "invalid")
}

/// 401 with the `WWW-Authenticate` Google sends.
fn unauthenticated(missing: bool) -> Response {
    let (message, reason, challenge) = if missing {
        (
            "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie \
             or other valid authentication credential.",
            "required",
            "Bearer realm=\"https://accounts.google.com/\"",
        )
    } else {
        (
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other \
             valid authentication credential.",
            "authError",
            "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"",
        )
    };
    let mut response = error(StatusCode::UNAUTHORIZED, message, reason);
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    response
}

fn not_authorized() -> Response {
    error(
        StatusCode::FORBIDDEN,
        "Not Authorized to access this resource/api",
        "forbidden",
    )
}

/// Who a token is: the fake's own (an admin), a Google [`FakeIdp`](crate::FakeIdp) access
/// token of someone in the directory (admin or not), or nobody.
enum Caller {
    Admin,
    NotAdmin,
    Unknown,
}

fn caller(s: &Shared, token: &str, snapshot: &Snapshot) -> Caller {
    if token == s.token {
        return Caller::Admin;
    }
    // A FakeIdp access token carries its userinfo claims (see server.rs).
    let claims = token
        .strip_prefix(crate::server::access_token_prefix(crate::Flavor::Google))
        .and_then(|b64| URL_SAFE_NO_PAD.decode(b64).ok())
        .and_then(|raw| serde_json::from_slice::<Map<String, Value>>(&raw).ok());
    let Some(claims) = claims else {
        return Caller::Unknown;
    };
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or_default();
    let person = match snapshot.by_id().get(sub) {
        Some(&i) => Some(&snapshot.people[i as usize]),
        // The rare token whose subject is not an ID here: match the email (a scan, but this
        // request is refused or served once, not per page of a benchmark).
        None => claims.get("email").and_then(Value::as_str).and_then(|email| {
            snapshot
                .people
                .iter()
                .find(|p| p.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(email)))
        }),
    };
    match person {
        Some(p) if p.kind == PersonKind::Admin => Caller::Admin,
        _ => Caller::NotAdmin,
    }
}

/// One `query` clause.
enum Clause {
    Flag(fn(&DirectoryPerson) -> bool, bool),
    OrgUnit(String),
    /// Field (0 email, 1 givenName, 2 familyName), lower-cased value, prefix match.
    Text(usize, String, bool),
}

impl Clause {
    fn matches(&self, p: &DirectoryPerson) -> bool {
        match self {
            Clause::Flag(f, want) => f(p) == *want,
            Clause::OrgUnit(unit) => {
                let have = p.org_unit.as_deref().unwrap_or("/");
                unit == "/" || have == unit || have.strip_prefix(unit.as_str()).is_some_and(|r| r.starts_with('/'))
            }
            Clause::Text(field, value, prefix) => {
                let have = match field {
                    0 => p.email.as_deref().unwrap_or_default().to_lowercase(),
                    1 => p.given_name.to_lowercase(),
                    _ => p.family_name.to_lowercase(),
                };
                if *prefix {
                    have.starts_with(value.as_str())
                } else {
                    have == *value
                }
            }
        }
    }
}

/// The supported subset of Google's user search: `isSuspended=`, `isArchived=`, `isAdmin=`,
/// `orgUnitPath=` (the unit and those under it), `email:`/`givenName:`/`familyName:` (exact, or
/// prefix with a trailing `*`). Clauses are separated by spaces; values may be single-quoted.
fn parse_query(query: &str) -> Option<Vec<Clause>> {
    let mut clauses = Vec::new();
    let mut rest = query.trim();
    while !rest.is_empty() {
        let split = rest.find(['=', ':'])?;
        let field = &rest[..split];
        let mut value_start = &rest[split + 1..];
        let value;
        if let Some(quoted) = value_start.strip_prefix('\'') {
            let end = quoted.find('\'')?;
            value = quoted[..end].to_owned();
            value_start = &quoted[end + 1..];
        } else {
            let end = value_start.find(' ').unwrap_or(value_start.len());
            value = value_start[..end].to_owned();
            value_start = &value_start[end..];
        }
        rest = value_start.trim_start();
        let flag = |f: fn(&DirectoryPerson) -> bool| match value.as_str() {
            "true" => Some(Clause::Flag(f, true)),
            "false" => Some(Clause::Flag(f, false)),
            _ => None,
        };
        let text = |which: usize| {
            let lower = value.to_lowercase();
            match lower.strip_suffix('*') {
                Some(prefix) => Clause::Text(which, prefix.to_owned(), true),
                None => Clause::Text(which, lower, false),
            }
        };
        clauses.push(match field {
            "isSuspended" => flag(|p| p.kind == PersonKind::Suspended)?,
            "isArchived" => flag(|p| p.kind == PersonKind::Archived)?,
            "isAdmin" => flag(|p| p.kind == PersonKind::Admin)?,
            "orgUnitPath" => Clause::OrgUnit(value.trim_end_matches('/').to_owned()).normalise(),
            "email" => text(0),
            "givenName" => text(1),
            "familyName" => text(2),
            _ => return None,
        });
    }
    Some(clauses)
}

impl Clause {
    fn normalise(self) -> Clause {
        match self {
            Clause::OrgUnit(unit) if unit.is_empty() => Clause::OrgUnit("/".into()),
            other => other,
        }
    }
}

/// What a listing is, beyond its position: a page token is only good for the same listing.
struct Listing {
    clauses: Vec<Clause>,
    show_deleted: bool,
    domain: Option<String>,
    order: Option<usize>,
    descending: bool,
    public_view: bool,
    fingerprint: u64,
}

impl Listing {
    fn visible(&self, p: &DirectoryPerson) -> bool {
        (p.kind == PersonKind::Deleted) == self.show_deleted
            && self.domain.as_deref().is_none_or(|d| {
                p.email
                    .as_deref()
                    .and_then(|e| e.rsplit_once('@'))
                    .is_some_and(|(_, at)| at.eq_ignore_ascii_case(d))
            })
            && self.clauses.iter().all(|c| c.matches(p))
    }
}

fn param<'a>(q: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    q.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

async fn list(State(s): State<Arc<Shared>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let serial = s.requests.fetch_add(1, Ordering::Relaxed);
    let (snapshot, org, revoked, missing_scope, not_admin) = {
        let st = s.lock();
        let f = &st.faults;
        (
            st.current(),
            st.org.clone(),
            f.revoked,
            f.missing_scope,
            f.not_authorized,
        )
    };
    let Some(token) = bearer(&headers) else {
        return unauthenticated(true);
    };
    let caller = caller(&s, token, &snapshot);
    if revoked || matches!(caller, Caller::Unknown) {
        return unauthenticated(false);
    }
    if missing_scope {
        return error(
            StatusCode::FORBIDDEN,
            "Request had insufficient authentication scopes.",
            "insufficientPermissions",
        );
    }
    if not_admin || matches!(caller, Caller::NotAdmin) {
        return not_authorized();
    }

    let Some(q) = parse_params(query.unwrap_or_default().as_bytes()) else {
        return invalid("Invalid Input: a parameter is repeated");
    };
    let customer = param(&q, "customer");
    let domain = param(&q, "domain");
    if customer.is_none() && domain.is_none() {
        return error(StatusCode::BAD_REQUEST, "Bad Request", "badRequest");
    }
    if customer.is_some_and(|c| c != "my_customer" && c != customer_id(&org)) {
        return not_authorized();
    }
    if domain.is_some_and(|d| !d.eq_ignore_ascii_case(&org)) {
        return not_authorized();
    }
    let max_results = match param(&q, "maxResults").map(str::parse::<u32>) {
        None => 100,
        Some(Ok(n)) if (1..=500).contains(&n) => n as usize,
        Some(_) => {
            let given = param(&q, "maxResults").unwrap_or_default();
            return invalid(&format!(
                "Invalid value '{given}'. Values must be within the range: [1, 500]"
            ));
        }
    };
    let order = match param(&q, "orderBy") {
        None => None,
        Some("email") => Some(0),
        Some("givenName") => Some(1),
        Some("familyName") => Some(2),
        Some(other) => return invalid(&format!("Invalid value '{other}' for orderBy")),
    };
    let descending = match param(&q, "sortOrder") {
        None | Some("ASCENDING") => false,
        Some("DESCENDING") => true,
        Some(other) => return invalid(&format!("Invalid value '{other}' for sortOrder")),
    };
    match (param(&q, "projection"), param(&q, "customFieldMask")) {
        (None | Some("basic" | "full"), _) => {}
        (Some("custom"), Some(_)) => {}
        (Some("custom"), None) => return invalid("Invalid Input: customFieldMask is required with projection=custom"),
        (Some(other), _) => return invalid(&format!("Invalid value '{other}' for projection")),
    }
    let public_view = match param(&q, "viewType") {
        None | Some("admin_view") => false,
        Some("domain_public") => true,
        Some(other) => return invalid(&format!("Invalid value '{other}' for viewType")),
    };
    let query_text = param(&q, "query").unwrap_or_default();
    let Some(clauses) = parse_query(query_text) else {
        return invalid("Invalid Input");
    };
    let show_deleted = param(&q, "showDeleted") == Some("true");
    let fingerprint = fnv(&[
        customer.unwrap_or_default(),
        domain.unwrap_or_default(),
        param(&q, "orderBy").unwrap_or_default(),
        if descending { "d" } else { "a" },
        query_text,
        if show_deleted { "deleted" } else { "" },
        if public_view { "public" } else { "" },
    ]);
    let listing = Listing {
        clauses,
        show_deleted,
        domain: domain.map(str::to_owned),
        order,
        descending,
        public_view,
        fingerprint,
    };

    // Page tokens: `generation.offset.fingerprint.serial`; the serial makes every token
    // distinct, as Google's are, even for an empty page that resumes at the same place.
    let (snapshot, offset, mid_way) = match param(&q, "pageToken") {
        None => (snapshot, 0, false),
        Some(token) => {
            let parsed = s.open(token).and_then(|payload| {
                let mut parts = payload.split('.');
                let generation: u64 = parts.next()?.parse().ok()?;
                let offset: usize = parts.next()?.parse().ok()?;
                let fingerprint: u64 = parts.next()?.parse().ok()?;
                (fingerprint == listing.fingerprint).then_some((generation, offset))
            });
            let found = parsed.and_then(|(generation, offset)| Some((s.lock().snapshot(generation)?, offset)));
            match found {
                Some((snapshot, offset)) => (snapshot, offset, true),
                None => return invalid("Invalid Input: pageToken"),
            }
        }
    };

    let (outage, empty, missing_key) = {
        let mut st = s.lock();
        match st.faults.take_outage() {
            Some(outage) => (Some(outage), false, false),
            None if mid_way => {
                let missing = st.faults.take_missing_key();
                let empty = !missing && st.faults.take_empty_page();
                (None, empty, missing)
            }
            None => (None, false, false),
        }
    };
    if let Some(outage) = outage {
        return outage_response(outage);
    }

    let token = |offset: usize| {
        s.seal(&format!(
            "{}.{offset}.{}.{serial}",
            snapshot.generation, listing.fingerprint
        ))
    };
    let mut body = String::with_capacity(1024 * max_results.min(snapshot.people.len()) + 256);
    let mut out = Obj::new(&mut body);
    out.str("kind", "admin#directory#users").str(
        "etag",
        &format!("\"fake-{}-{}\"", snapshot.generation, listing.fingerprint),
    );
    if empty || missing_key {
        if empty {
            out.raw("users", "[]");
        }
        out.str("nextPageToken", &token(offset));
        out.end();
        return json_response(body);
    }

    let len = snapshot.people.len();
    let at = |position: usize| -> usize {
        let position = if listing.descending {
            len - 1 - position
        } else {
            position
        };
        match listing.order {
            Some(which) => snapshot.order(which)[position] as usize,
            None => position,
        }
    };
    let customer = customer_id(&org);
    let mut users = String::new();
    let mut count = 0;
    let mut position = offset.min(len);
    while position < len && count < max_results {
        let person = &snapshot.people[at(position)];
        position += 1;
        if listing.visible(person) {
            users.push(if count == 0 { '[' } else { ',' });
            user(&mut users, person, &customer, listing.public_view);
            count += 1;
        }
    }
    // Google leaves `users` out of an empty page.
    if count > 0 {
        users.push(']');
        out.raw("users", &users);
    }
    if position < len {
        out.str("nextPageToken", &token(position));
    }
    out.end();
    json_response(body)
}

fn json_response(body: String) -> Response {
    ([(CONTENT_TYPE, "application/json; charset=UTF-8")], body).into_response()
}

fn outage_response(outage: Outage) -> Response {
    match outage {
        Outage::RateLimited(retry_after) => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user'",
                "rateLimitExceeded",
            );
            super::retry_after(&mut response, &retry_after);
            response
        }
        Outage::Google403 => error(
            StatusCode::FORBIDDEN,
            "User Rate Limit Exceeded",
            "userRateLimitExceeded",
        ),
        Outage::Server(502) => super::gateway_page(),
        Outage::Server(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let message = if status == StatusCode::SERVICE_UNAVAILABLE {
                "The service is currently unavailable."
            } else {
                "Backend Error"
            };
            let reason = if status == StatusCode::SERVICE_UNAVAILABLE {
                "backendNotConnected"
            } else {
                "backendError"
            };
            error(status, message, reason)
        }
    }
}

/// One `admin#directory#user`. `public_view` (`viewType=domain_public`) keeps only what any
/// user of the domain may see.
fn user(buf: &mut String, p: &DirectoryPerson, customer: &str, public_view: bool) {
    let hash = fnv(&[&p.id]);
    let full_name = p.full_name();
    let etag = format!(
        "\"{:016x}\"",
        fnv(&[
            &p.id,
            p.email.as_deref().unwrap_or_default(),
            &full_name,
            &format!("{:?}", p.kind)
        ])
    );
    let mut o = Obj::new(buf);
    o.str("kind", "admin#directory#user")
        .str("id", &p.id)
        .str("etag", &etag)
        // Google requires a primary email; a person made without one shows none, as a
        // malformed record a client must survive.
        .opt_str("primaryEmail", p.email.as_deref())
        .obj("name", |n| {
            n.str("givenName", &p.given_name)
                .str("familyName", &p.family_name)
                .str("fullName", &full_name)
                .str("displayName", &full_name);
        });
    if let Some(email) = &p.email {
        o.raw("emails", &emails(email));
    }
    let photo = hash
        .is_multiple_of(3)
        .then(|| format!("https://lh3.googleusercontent.com/a-/fake{hash:x}"));
    o.opt_str("thumbnailPhotoUrl", photo.as_deref());
    if public_view {
        o.end();
        return;
    }
    // A tenth never signed in: Google then reports the epoch, not an absent field.
    let last_login = if hash % 10 == 1 {
        0
    } else {
        p.created + hash % (86_400 * 300)
    };
    o.bool("isAdmin", p.kind == PersonKind::Admin)
        .bool("isDelegatedAdmin", false)
        .str("lastLoginTime", &rfc3339(last_login, true))
        .str("creationTime", &rfc3339(p.created, true))
        .bool("agreedToTerms", last_login != 0)
        .bool("suspended", p.kind == PersonKind::Suspended);
    if p.kind == PersonKind::Suspended {
        o.str("suspensionReason", "ADMIN");
    }
    o.bool("archived", p.kind == PersonKind::Archived)
        .bool("changePasswordAtNextLogin", false)
        .bool("ipWhitelisted", false);
    if p.department.is_some() || p.job_title.is_some() {
        let mut org = String::from("[");
        let mut entry = Obj::new(&mut org);
        entry
            .opt_str("title", p.job_title.as_deref())
            .opt_str("department", p.department.as_deref())
            .bool("primary", true)
            .str("customType", "");
        entry.end();
        org.push(']');
        o.raw("organizations", &org);
    }
    o.str("customerId", customer)
        .str("orgUnitPath", p.org_unit.as_deref().unwrap_or("/"))
        .bool("isMailboxSetup", true)
        .bool("isEnrolledIn2Sv", !hash.is_multiple_of(4))
        .bool("isEnforcedIn2Sv", false)
        .bool("includeInGlobalAddressList", true);
    if p.kind == PersonKind::Deleted {
        o.str("deletionTime", &rfc3339(p.created + 86_400 * 400, true));
    }
    o.end();
}

/// `[{"address": …, "primary": true}]`, Google's `emails`.
fn emails(email: &str) -> String {
    let mut list = String::from("[");
    let mut entry = Obj::new(&mut list);
    entry.str("address", email).bool("primary", true);
    entry.end();
    list.push(']');
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_subset() {
        let p = DirectoryPerson {
            org_unit: Some("/Sales/EMEA".into()),
            ..DirectoryPerson::new("1", Some("ada.l@example.com"), "Ada", "Lovelace").kind(PersonKind::Suspended)
        };
        let all = |q: &str| parse_query(q).unwrap().iter().all(|c| c.matches(&p));
        assert!(all("isSuspended=true orgUnitPath='/Sales'"));
        assert!(all("orgUnitPath=/Sales/EMEA email:ada*"));
        assert!(!all("orgUnitPath='/Sal'"));
        assert!(!all("isSuspended=false"));
        assert!(all("givenName:ada familyName:'Lovelace'"));
        assert!(parse_query("nonsense=1").is_none());
        assert!(parse_query("isAdmin=maybe").is_none());
        assert!(parse_query("").unwrap().is_empty());
    }

    #[test]
    fn customer_ids_look_real() {
        let id = customer_id("example.com");
        assert_eq!(id.len(), 9);
        assert!(id.starts_with("C0"));
        assert_eq!(id, customer_id("Example.com"));
    }
}

//! Slack (PROTOCOLS.md §6): `users.list` (`GET` or `POST`, form or JSON, `limit` and padded
//! base64 `cursor`, HTTP 200 `{"ok":false}` errors, 429 with `Retry-After`) and the app install
//! (`/oauth/v2/authorize` consenting at once, `oauth.v2.access` exchanging the code).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::json::Obj;
use super::state::{bearer, disabled, fnv, local_part, now, Outage, Shared, SlackGrant};
use super::{DirectoryPerson, PersonKind};
use crate::server::{acceptable_redirect_uri, form_decode, parse_params, random_token, redirect_with};

/// Without `limit` Slack tries to return everyone; large teams get `limit_required`.
const UNLIMITED_MAX: usize = 1000;
/// Slack caps `limit`; it documents "under 1000".
const LIMIT_CAP: usize = 1000;
/// Install codes expire after this long, as Slack's do.
const CODE_LIFETIME: Duration = Duration::from_secs(600);
const SCOPES: [&str; 2] = ["users:read", "users:read.email"];
const APP_ID: &str = "A0FAKEAPP01";
const BOT_USER_ID: &str = "U0FAKEBOT01";
const JSON_TYPE: &str = "application/json; charset=utf-8";

pub(super) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/users.list", get(users_list).post(users_list))
        .route("/api/oauth.v2.access", post(oauth_access))
        .route("/oauth/v2/authorize", get(authorize))
}

/// Slack's failure: HTTP 200 and `ok: false`.
fn slack_error(code: &str) -> Response {
    Json(json!({"ok": false, "error": code})).into_response()
}

/// Arguments from the query string and, for `POST`, a form or JSON body (later wins).
fn arguments(query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Option<HashMap<String, String>> {
    let mut args = parse_params(query.unwrap_or_default().as_bytes())?;
    if body.is_empty() {
        return Some(args);
    }
    let media = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/json" => {
            let object: Map<String, Value> = serde_json::from_slice(body).ok()?;
            for (k, v) in object {
                let v = match v {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => continue,
                };
                args.insert(k, v);
            }
        }
        _ => args.extend(parse_params(body)?),
    }
    Some(args)
}

fn outage_response(outage: Outage) -> Response {
    match outage {
        Outage::RateLimited(retry_after) => {
            let mut response = (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({"ok": false, "error": "ratelimited"})),
            )
                .into_response();
            super::retry_after(&mut response, &retry_after);
            response
        }
        Outage::Google403 => outage_response(Outage::RateLimited("1".into())),
        Outage::Server(502) => super::gateway_page(),
        Outage::Server(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let code = if status == StatusCode::SERVICE_UNAVAILABLE {
                "service_unavailable"
            } else {
                "fatal_error"
            };
            (status, Json(json!({"ok": false, "error": code}))).into_response()
        }
    }
}

async fn users_list(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let serial = s.requests.fetch_add(1, Ordering::Relaxed);
    let Some(args) = arguments(query.as_deref(), &headers, &body) else {
        return slack_error("invalid_arguments");
    };
    // A bearer header, or (form posts only, as Slack still allows) a `token` argument.
    let body_token = (!body.is_empty()).then(|| args.get("token")).flatten();
    let token = bearer(&headers).or(body_token.map(String::as_str));
    let (revoked, no_access, missing_email_scope, team) = {
        let st = s.lock();
        let f = &st.faults;
        (f.revoked, f.not_authorized, f.missing_scope, st.org.clone())
    };
    match token {
        None => return slack_error("not_authed"),
        Some(_) if revoked => return slack_error("token_revoked"),
        Some(t) if t != s.token => return slack_error("invalid_auth"),
        Some(_) => {}
    }
    if no_access {
        return Json(json!({"ok": false, "error": "missing_scope", "needed": "users:read", "provided": "identify"}))
            .into_response();
    }
    let limit = match args.get("limit").map(|l| l.trim().parse::<usize>()) {
        None => 0,
        Some(Ok(n)) => n.min(LIMIT_CAP),
        Some(Err(_)) => return slack_error("invalid_arguments"),
    };
    let (snapshot, offset, mid_way) = match args.get("cursor").filter(|c| !c.is_empty()) {
        None => (s.lock().current(), 0, false),
        Some(cursor) => {
            let parsed = s.open(cursor).and_then(|payload| {
                let mut parts = payload.strip_prefix("user:")?.split(':');
                let generation: u64 = parts.next()?.parse().ok()?;
                let offset: usize = parts.next()?.parse().ok()?;
                Some((s.lock().snapshot(generation)?, offset))
            });
            match parsed {
                Some((snapshot, offset)) => (snapshot, offset, true),
                None => return slack_error("invalid_cursor"),
            }
        }
    };
    let people = &snapshot.people;
    if limit == 0 && people.len() > UNLIMITED_MAX {
        return slack_error("limit_required");
    }

    let (outage, empty) = {
        let mut st = s.lock();
        let outage = st.faults.take_outage();
        let empty = outage.is_none() && mid_way && (st.faults.take_missing_key() || st.faults.take_empty_page());
        (outage, empty)
    };
    if let Some(outage) = outage {
        return outage_response(outage);
    }

    let offset = offset.min(people.len());
    let size = match limit {
        0 => people.len(),
        // Slack may return fewer than `limit` before the end (it filters after paging); so does
        // the fake, on every third page, so that only the empty cursor can mean done.
        1 => 1,
        n if (offset / n) % 3 == 1 => n - 1,
        n => n,
    };
    let end = if empty {
        offset
    } else {
        (offset + size).min(people.len())
    };
    let mut members = String::from("[");
    for (i, person) in people[offset..end].iter().enumerate() {
        if i > 0 {
            members.push(',');
        }
        member(&mut members, person, &team, !missing_email_scope);
    }
    members.push(']');
    let next_cursor = if end < people.len() || empty {
        s.seal(&format!("user:{}:{end}:{serial}", snapshot.generation))
    } else {
        String::new()
    };
    let mut body = String::with_capacity(members.len() + 256);
    let mut out = Obj::new(&mut body);
    out.bool("ok", true)
        .raw("members", &members)
        .int("cache_ts", now() as i64)
        .obj("response_metadata", |m| {
            m.str("next_cursor", &next_cursor);
        });
    out.end();
    ([(CONTENT_TYPE, JSON_TYPE)], body).into_response()
}

/// Time zones people get, by ID hash: (tz, label, offset seconds).
const ZONES: &[(&str, &str, i64)] = &[
    ("America/Los_Angeles", "Pacific Standard Time", -28_800),
    ("America/New_York", "Eastern Standard Time", -18_000),
    ("Europe/London", "Greenwich Mean Time", 0),
    ("Europe/Berlin", "Central European Time", 3600),
    ("Asia/Kolkata", "India Standard Time", 19_800),
    ("Asia/Tokyo", "Japan Standard Time", 32_400),
    ("Australia/Sydney", "Australian Eastern Standard Time", 36_000),
];

/// `real_name_normalized`: Slack folds accents away.
fn normalized(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' => 'a',
            'ç' | 'ć' => 'c',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ñ' | 'ń' => 'n',
            'ò' | 'ó' | 'ô' | 'ö' | 'õ' | 'ø' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ý' | 'ÿ' => 'y',
            'ł' => 'l',
            'ś' => 's',
            'ź' | 'ż' => 'z',
            'Ł' => 'L',
            'Ø' | 'Ö' => 'O',
            'Ś' => 'S',
            'É' => 'E',
            other => other,
        })
        .collect()
}

/// One member object. Deactivated members lack the role flags and time zone, as Slack's do:
/// a client must read absent booleans as false.
fn member(buf: &mut String, p: &DirectoryPerson, team: &str, with_email: bool) {
    let hash = fnv(&[&p.id]);
    let deleted = disabled(p.kind);
    let bot = p.kind == PersonKind::Bot;
    let slackbot = p.kind == PersonKind::Slackbot;
    let real_name = p.full_name();
    let handle = if slackbot {
        "slackbot".to_owned()
    } else {
        local_part(p).replace(' ', "")
    };
    let display_name = if hash.is_multiple_of(2) && !bot {
        p.given_name.to_lowercase()
    } else {
        String::new()
    };
    let avatar = format!("{:012x}", hash & 0xffff_ffff_ffff);
    let (tz, tz_label, tz_offset) = if bot || slackbot {
        ZONES[0]
    } else {
        ZONES[(hash % ZONES.len() as u64) as usize]
    };

    let mut o = Obj::new(buf);
    o.str("id", &p.id)
        .str("team_id", team)
        .str("name", &handle)
        .bool("deleted", deleted)
        .str("color", &avatar[..6])
        .str("real_name", &real_name);
    if !deleted {
        o.str("tz", tz).str("tz_label", tz_label).int("tz_offset", tz_offset);
    }
    o.obj("profile", |pr| {
        pr.str("title", p.job_title.as_deref().unwrap_or_default())
            .str("phone", "")
            .str("skype", "")
            .str("real_name", &real_name)
            .str("real_name_normalized", &normalized(&real_name))
            .str("display_name", &display_name)
            .str("display_name_normalized", &normalized(&display_name))
            .str("status_text", "")
            .str("status_emoji", "")
            .int("status_expiration", 0)
            .str("avatar_hash", &format!("g{}", &avatar[1..]));
        if bot {
            pr.str("bot_id", &format!("B{:010X}", hash & 0xff_ffff_ffff))
                .str("api_app_id", &format!("A{:010X}", (hash >> 20) & 0xff_ffff_ffff))
                .bool("always_active", true);
        }
        if slackbot {
            pr.bool("always_active", true);
        }
        if with_email {
            pr.opt_str("email", p.email.as_deref());
        }
        if !bot {
            pr.str("first_name", &p.given_name).str("last_name", &p.family_name);
        }
        for size in [24, 32, 48, 72, 192, 512] {
            pr.str(
                &format!("image_{size}"),
                &format!("https://secure.gravatar.com/avatar/{avatar}.jpg?s={size}&d=mp"),
            );
        }
        pr.str("team", team);
    });
    if !deleted {
        let guest = matches!(p.kind, PersonKind::Guest | PersonKind::SingleChannelGuest);
        o.bool("is_admin", p.kind == PersonKind::Admin)
            .bool("is_owner", false)
            .bool("is_primary_owner", false)
            .bool("is_restricted", guest)
            .bool("is_ultra_restricted", p.kind == PersonKind::SingleChannelGuest);
    }
    o.bool("is_bot", bot).bool("is_app_user", p.kind == PersonKind::AppUser);
    if p.kind == PersonKind::Invited {
        o.bool("is_invited_user", true);
    }
    o.int("updated", p.created as i64);
    if !deleted && !bot && !slackbot {
        o.bool("is_email_confirmed", p.kind != PersonKind::Invited)
            .str("who_can_share_contact_card", "EVERYONE");
    }
    o.end();
}

// ---------------------------------------------------------------------------------------------
// Install

/// The install's consent screen, approving at once (or declining under
/// [`Fault::ConsentDenied`](super::Fault::ConsentDenied)).
async fn authorize(State(s): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let Some(q) = parse_params(query.unwrap_or_default().as_bytes()) else {
        return (StatusCode::BAD_REQUEST, "a parameter is repeated").into_response();
    };
    if q.get("client_id") != Some(&s.client_id) {
        return (
            StatusCode::BAD_REQUEST,
            format!("invalid_client_id (this fake accepts {:?})", s.client_id),
        )
            .into_response();
    }
    let Some(redirect_uri) = q.get("redirect_uri").filter(|u| acceptable_redirect_uri(u)) else {
        return (
            StatusCode::BAD_REQUEST,
            "bad_redirect_uri: this fake needs an absolute http(s) redirect_uri",
        )
            .into_response();
    };
    let state = q.get("state").map(String::as_str).unwrap_or_default();
    let mut st = s.lock();
    if st.faults.consent_denied {
        drop(st);
        return redirect_with(redirect_uri, &[("error", "access_denied"), ("state", state)]);
    }
    let code = format!("{}.{}", now(), random_token(24));
    st.slack_codes.retain(|_, g| g.issued.elapsed() < CODE_LIFETIME);
    st.slack_codes.insert(
        code.clone(),
        SlackGrant {
            redirect_uri: redirect_uri.clone(),
            scope: q.get("scope").cloned().unwrap_or_default(),
            issued: Instant::now(),
        },
    );
    drop(st);
    redirect_with(redirect_uri, &[("code", &code), ("state", state)])
}

async fn oauth_access(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let Some(args) = arguments(query.as_deref(), &headers, &body) else {
        return slack_error("invalid_arguments");
    };
    let basic = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| pair.split_once(':').map(|(i, p)| (form_decode(i), form_decode(p))));
    let (client_id, secret) = match basic {
        Some(pair) => pair,
        None => (
            args.get("client_id").cloned().unwrap_or_default(),
            args.get("client_secret").cloned().unwrap_or_default(),
        ),
    };
    if client_id != s.client_id {
        return slack_error("invalid_client_id");
    }
    if secret != s.client_secret {
        return slack_error("bad_client_secret");
    }
    let Some(code) = args.get("code") else {
        return slack_error("invalid_code");
    };
    let (grant, missing_email_scope, team, snapshot) = {
        let mut st = s.lock();
        (
            st.slack_codes.remove(code),
            st.faults.missing_scope,
            st.org.clone(),
            st.current(),
        )
    };
    let Some(grant) = grant.filter(|g| g.issued.elapsed() < CODE_LIFETIME) else {
        return slack_error("invalid_code");
    };
    if args.get("redirect_uri").is_some_and(|u| *u != grant.redirect_uri) {
        return slack_error("bad_redirect_uri");
    }
    let scope: Vec<&str> = grant
        .scope
        .split([',', ' '])
        .filter(|sc| SCOPES.contains(sc) && !(missing_email_scope && *sc == "users:read.email"))
        .collect();
    let installer = snapshot
        .people
        .iter()
        .find(|p| p.kind == PersonKind::Admin)
        .map_or("U0FAKEADMIN", |p| p.id.as_str());
    Json(json!({
        "ok": true,
        "app_id": APP_ID,
        "authed_user": {"id": installer},
        "scope": scope.join(","),
        "token_type": "bot",
        "access_token": s.token,
        "bot_user_id": BOT_USER_ID,
        "team": {"id": team, "name": "Fake Team"},
        "enterprise": null,
        "is_enterprise_install": false,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fold_accents() {
        assert_eq!(normalized("Zoë Østergaard"), "Zoe Østergaard".replace('Ø', "O"));
        assert_eq!(normalized("Łukasz Wójcik"), "Lukasz Wojcik");
    }
}

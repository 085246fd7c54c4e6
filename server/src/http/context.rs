//! Resolves who is calling (session cookie), from where, and under which request id, once per
//! request, and hands it to every handler and server function as a request extension. A view
//! of the Users tab also gets its page of users from the same statement as the session.

use app::model::UsersQuery;
use app::ssr::{cookie_value, PreloadedUsersPage, RequestContext, SharedState, SESSION_COOKIE};
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use identity::sessions::SessionUser;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub async fn attach(State(state): State<SharedState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    // Static files never need a session lookup.
    let is_asset = path.starts_with("/pkg/") || path == "/favicon.ico" || path.starts_with("/assets/");
    let headers = req.headers();
    let cookie_header = headers
        .get(http::header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let user_agent = headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let forwarded = if state.trust_proxy {
        headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_owned())
    } else {
        None
    };
    let ip = forwarded.or_else(|| {
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ci| ci.0.ip().to_string())
    });

    // A view of the Users tab reads its page with the session, in one round trip.
    let users_query = (req.method() == http::Method::GET && req.uri().path() == "/users")
        .then(|| {
            let params: Vec<(String, String)> = form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
            app::users::preload_query(|key| params.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
        })
        .flatten();
    let (session, users_page) = match (is_asset, cookie_value(cookie_header.as_deref(), SESSION_COOKIE)) {
        (false, Some(token)) => match resolve(&state, token, users_query).await {
            Ok(resolved) => resolved,
            Err(err) => {
                tracing::error!(error = ?err, request_id, "session lookup failed");
                (None, None)
            }
        },
        _ => (None, None),
    };
    req.extensions_mut().insert(RequestContext {
        session,
        ip,
        request_id,
        user_agent,
        cookie_header,
        users_page,
    });
    next.run(req).await
}

/// The session behind `token`, with the Users page when `users_query` asks for one.
async fn resolve(
    state: &SharedState,
    token: &str,
    users_query: Option<(UsersQuery, identity::users::UserQuery)>,
) -> identity::Result<(Option<SessionUser>, Option<Arc<PreloadedUsersPage>>)> {
    let Some((shown, query)) = users_query else {
        return Ok((
            identity::sessions::resolve(&state.db, &state.lane, &state.sessions, token).await?,
            None,
        ));
    };
    let resolved =
        match identity::sessions::resolve_with_users_page(&state.db, &state.lane, &state.sessions, token, &query).await
        {
            Ok(resolved) => resolved,
            // The session alone, so a failure to read the page is reported by the page (with its
            // request id), not taken for a sign-out.
            Err(err) => {
                tracing::warn!(error = ?err, "reading the Users page with the session failed");
                return Ok((
                    identity::sessions::resolve(&state.db, &state.lane, &state.sessions, token).await?,
                    None,
                ));
            }
        };
    Ok(match resolved {
        None => (None, None),
        Some((user, page)) => {
            let page = page.map(|page| {
                Arc::new(PreloadedUsersPage {
                    query: shown,
                    page: Mutex::new(Some(page)),
                })
            });
            (Some(user), page)
        }
    })
}

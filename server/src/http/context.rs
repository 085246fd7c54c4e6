//! Resolves who is calling (session cookie), from where, and under which request id, once per
//! request, and hands it to every handler and server function as a request extension.

use app::ssr::{cookie_value, RequestContext, SharedState, SESSION_COOKIE};
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::net::SocketAddr;

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

    let session = match (is_asset, cookie_value(cookie_header.as_deref(), SESSION_COOKIE)) {
        (false, Some(token)) => match identity::sessions::resolve(&state.db, &state.sessions, token).await {
            Ok(session) => session,
            Err(err) => {
                tracing::error!(error = ?err, request_id, "session lookup failed");
                None
            }
        },
        _ => None,
    };
    req.extensions_mut().insert(RequestContext {
        session,
        ip,
        request_id,
        user_agent,
        cookie_header,
    });
    next.run(req).await
}

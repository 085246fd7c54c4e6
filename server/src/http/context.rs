//! Resolves who is calling (session cookie), from where, and under which request id, once per
//! request, and hands it to every page, server function and `/auth` route as a request
//! extension. It knows no page: a page that wants its data read with the session says so
//! through the app's hook (`app::ssr::session_read_for`), and this runs what the hook returns.

use app::ssr::preload::{Preloaded, SessionRead};
use app::ssr::{cookie_value, session_read_for, RequestContext, SharedState, SESSION_COOKIE};
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use identity::sessions::SessionUser;
use std::net::SocketAddr;

pub async fn attach(State(state): State<SharedState>, mut req: Request, next: Next) -> Response {
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

    let (session, preloaded) = match cookie_value(cookie_header.as_deref(), SESSION_COOKIE) {
        Some(token) => {
            let read = session_read_for(req.method(), req.uri());
            match resolve(&state, token, read).await {
                Ok(resolved) => resolved,
                Err(err) => {
                    tracing::error!(error = ?err, request_id, "session lookup failed");
                    (None, None)
                }
            }
        }
        None => (None, None),
    };
    req.extensions_mut().insert(RequestContext {
        session,
        ip,
        request_id,
        user_agent,
        cookie_header,
        preloaded,
    });
    next.run(req).await
}

/// The session behind `token`, with its page's data when the page asked for a read.
#[tracing::instrument(name = "session", skip_all)]
async fn resolve(
    state: &SharedState,
    token: &str,
    read: Option<Box<dyn SessionRead>>,
) -> identity::Result<(Option<SessionUser>, Option<Preloaded>)> {
    let Some(read) = read else {
        return Ok((state.sessions.resolve(token).await?, None));
    };
    match read.resolve(&state.sessions, token).await {
        Ok(None) => Ok((None, None)),
        Ok(Some((user, preloaded))) => Ok((Some(user), preloaded)),
        // The session alone, so a failure to read the page is reported by the page (with its
        // request id), not taken for a sign-out.
        Err(err) => {
            tracing::warn!(error = ?err, "reading a page's data with the session failed");
            Ok((state.sessions.resolve(token).await?, None))
        }
    }
}

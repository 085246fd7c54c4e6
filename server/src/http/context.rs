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
use std::net::{IpAddr, SocketAddr};

pub async fn attach(State(state): State<SharedState>, mut req: Request, next: Next) -> Response {
    let headers = req.headers();
    let cookie_header = headers
        .get(http::header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let request_id = super::request_id(headers).to_owned();
    let user_agent = headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|ci| ci.0.ip());
    let ip = client_address(headers, state.trusted_proxy_hops, peer).map(|ip| ip.to_string());

    let (session, preloaded) = match cookie_value(cookie_header.as_deref(), SESSION_COOKIE, state.secure_cookies) {
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

/// The client's address: the connection's peer, or behind `hops` proxies of ours, the
/// X-Forwarded-For entry `hops` places from the right (each proxy appends the address it saw;
/// what stands further left is the client's own text). With fewer entries than that, or one that
/// is not an address, the peer: a request that did not come through all the proxies.
fn client_address(headers: &http::HeaderMap, hops: usize, peer: Option<IpAddr>) -> Option<IpAddr> {
    if hops == 0 {
        return peer;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    entries
        .len()
        .checked_sub(hops)
        .and_then(|at| entries[at].parse().ok())
        .or(peer)
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

#[cfg(test)]
mod tests {
    use super::client_address;
    use std::net::IpAddr;

    fn forwarded(values: &[&str]) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", v.parse().unwrap());
        }
        headers
    }

    #[test]
    fn behind_a_proxy_the_client_is_the_entry_the_proxy_appended_not_what_the_client_wrote() {
        let peer: Option<IpAddr> = Some("10.0.0.2".parse().unwrap());
        let spoofed = forwarded(&["6.6.6.6, 203.0.113.7"]);
        assert_eq!(client_address(&spoofed, 1, peer), "203.0.113.7".parse().ok());
        assert_eq!(client_address(&spoofed, 2, peer), "6.6.6.6".parse().ok());
        let split = forwarded(&["6.6.6.6", "203.0.113.7"]);
        assert_eq!(client_address(&split, 1, peer), "203.0.113.7".parse().ok());
        // Not trusted, too few entries, or not an address: the connection's own peer.
        assert_eq!(client_address(&spoofed, 0, peer), peer);
        assert_eq!(client_address(&forwarded(&["203.0.113.7"]), 2, peer), peer);
        assert_eq!(client_address(&forwarded(&["not-an-ip"]), 1, peer), peer);
        assert_eq!(client_address(&http::HeaderMap::new(), 1, peer), peer);
    }
}

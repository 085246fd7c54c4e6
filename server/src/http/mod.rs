//! The HTTP surface: health checks, the plain-form auth routes, the Leptos pages and server
//! functions, and the middleware every request passes through.

mod auth;
pub mod bundle;
mod context;
mod directory;
mod guard;
mod health;
mod providers;
mod provisioning;
pub mod serve;

use app::ssr::SharedState;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{middleware, Router};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// Request bodies larger than this are refused with 413 before any handler reads them. Sized
/// for the largest legitimate request: a pasted list of 10,000 invitations.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub fn router(
    state: SharedState,
    leptos_options: LeptosOptions,
    bundle: bundle::Bundle,
    public_origin: String,
) -> Router {
    let x_request_id = http::HeaderName::from_static("x-request-id");
    // Served over https: browsers are told to use nothing else for a year.
    let hsts = state.secure_cookies.then(|| {
        SetResponseHeaderLayer::if_not_present(
            http::header::STRICT_TRANSPORT_SECURITY,
            http::HeaderValue::from_static("max-age=31536000"),
        )
    });
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(state.clone())
        .merge(browser_surface(state.clone(), leptos_options.clone(), public_origin))
        // Bearer-token clients: no session, no same-origin check, SCIM's own body limit and errors.
        .merge(crate::scim::router(state))
        // Static files: no session, no origin check. What no route serves is tried as a public
        // file, then rendered as the app's not-found page.
        .nest_service("/pkg", bundle.router())
        .fallback(leptos_axum::file_and_error_handler(app::shell))
        .with_state(leptos_options)
        // Pages and server functions are compressed as they stream out: zstd for browsers that
        // take it (current Chrome, Edge and Firefox), gzip for the others, both at level 1. For a
        // Users page of 23.6 KB, zstd 1 makes 5.1 KB in 0.035 ms and gzip 1 5.6 KB in 0.05 ms,
        // where brotli takes 0.16-0.21 ms at any level from 1 to 4 (4.5-5.3 KB): brotli at
        // level 4, tower-http's default, doubled the server's CPU per page (bench/users-page:
        // 0.26 -> 0.52 ms). Brotli pays off for the bundle, compressed once at a high level.
        // Responses that arrive compressed (the bundle's files) pass through untouched.
        .layer(
            CompressionLayer::new()
                .no_br()
                .no_deflate()
                .quality(CompressionLevel::Fastest),
        )
        .layer(SetResponseHeaderLayer::if_not_present(
            http::header::X_CONTENT_TYPE_OPTIONS,
            http::HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            http::header::X_FRAME_OPTIONS,
            http::HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            http::header::REFERRER_POLICY,
            http::HeaderValue::from_static("same-origin"),
        ))
        .layer(tower::util::option_layer(hsts))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &http::Request<_>| {
            let id = request_id(req.headers());
            tracing::info_span!("request", method = %req.method(), path = %logged_path(req.uri().path()), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
        .layer(axum::middleware::map_request(drop_unfit_request_id))
}

/// The request's id, as the request-id layer set it (or the client chose it, when fit); `-`
/// before that layer runs.
pub(crate) fn request_id(headers: &http::HeaderMap) -> &str {
    headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-")
}

/// The longest request id a client may choose (trace ids of common tracers fit).
const MAX_REQUEST_ID: usize = 64;

/// A request id the client chose is kept only when it is short and plain (letters, digits,
/// `.`, `_`, `-`): it reaches logs, error messages and the audit log. Otherwise it is dropped
/// and the server makes one.
async fn drop_unfit_request_id(mut req: axum::extract::Request) -> axum::extract::Request {
    let fit = req.headers().get("x-request-id").map(|id| {
        let id = id.as_bytes();
        !id.is_empty()
            && id.len() <= MAX_REQUEST_ID
            && id.iter().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(b))
    });
    if fit == Some(false) {
        req.headers_mut().remove("x-request-id");
    }
    req
}

/// A path as logs may show it: invitation and access links' tokens are credentials, so they
/// are left out.
fn logged_path(path: &str) -> std::borrow::Cow<'_, str> {
    match (path.strip_prefix("/invite/"), path.strip_prefix("/access/")) {
        (Some(token), _) if !token.is_empty() => "/invite/<token>".into(),
        (_, Some(token)) if !token.is_empty() => "/access/<token>".into(),
        _ => path.into(),
    }
}

/// What browsers use with a session cookie: the pages, their server functions and the plain-form
/// `/auth` routes. Only these resolve the session and accept writes from Rollcall's own origin
/// alone; a router for bearer-token clients (SCIM) mounts beside this one, without either.
fn browser_surface(state: SharedState, leptos_options: LeptosOptions, public_origin: String) -> Router<LeptosOptions> {
    let routes = generate_route_list(app::App);
    let context_state = state.clone();
    let provide_state = move || provide_context(context_state.clone());
    let pages = Router::new().leptos_routes_with_context(&leptos_options, routes, provide_state, {
        let options = leptos_options.clone();
        move || app::shell(options.clone())
    });
    let auth = Router::new()
        .route("/auth/setup", post(auth::setup))
        .route("/auth/login", post(auth::login))
        .route("/auth/login/workspace", post(auth::choose_workspace))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/invite/accept", post(auth::accept_invite))
        .route("/auth/access", post(providers::access_set_password))
        .route("/auth/{provider}/start", get(providers::start_sign_in))
        .route("/auth/{provider}/link", get(providers::start_link))
        .route("/auth/{provider}/connect", get(providers::start_connect))
        .route("/auth/{provider}/invite", get(providers::start_invite))
        .route("/auth/{provider}/access", get(providers::start_access))
        .route("/auth/{provider}/callback", get(providers::callback))
        .route("/integrations/require-sso", post(providers::require_sso))
        .route("/integrations/{provider}/mode", post(providers::set_mode))
        .route("/integrations/{provider}/disable", post(providers::disable))
        .route("/integrations/{provider}/directory/connect", get(directory::connect))
        .route("/integrations/{provider}/directory/sync", post(directory::sync))
        .route("/integrations/{provider}/directory/schedule", post(directory::schedule))
        .route(
            "/integrations/{provider}/directory/disconnect",
            post(directory::disconnect),
        )
        .route("/integrations/{provider}/import", post(directory::import))
        .route("/provisioning/tokens/{id}/revoke", post(provisioning::revoke_token))
        .route("/provisioning/holds/approve", post(provisioning::approve_holds))
        .route("/provisioning/holds/discard", post(provisioning::discard_holds))
        .route("/provisioning/users/{id}/restore", post(provisioning::restore_user))
        .route(
            "/integrations/{provider}/deactivate-removed",
            post(directory::deactivate_removed),
        )
        .route("/profile/accounts/{provider}/unlink", post(providers::unlink))
        .route(
            "/users/{id}/accounts/{provider}/unlink",
            post(providers::unlink_for_user),
        )
        .with_state(state.clone());
    pages
        .merge(auth)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(middleware::from_fn(guard::server_fn_status))
        .layer(middleware::from_fn_with_state(state, context::attach))
        .layer(middleware::from_fn_with_state(
            guard::Origin(public_origin),
            guard::same_origin_writes,
        ))
}

#[cfg(test)]
mod tests {
    use super::logged_path;

    #[test]
    fn an_invitation_token_never_reaches_the_logs() {
        assert_eq!(logged_path("/invite/0123456789abcdef"), "/invite/<token>");
        assert_eq!(logged_path("/users/42"), "/users/42");
        assert_eq!(logged_path("/invite/"), "/invite/");
    }
}

//! Request guards: cross-origin writes are refused, and server-function errors leave with the
//! HTTP status that matches them.

use app::error::AppError;
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

#[derive(Clone)]
pub struct Origin(pub String);

/// Refuses state-changing requests that a browser says come from another site. Cookies are
/// `SameSite=Lax` already; this closes the rest (old browsers, same-site subdomains).
pub async fn same_origin_writes(State(Origin(public_origin)): State<Origin>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let headers = req.headers();
    let host = headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let claimed = headers
        .get(http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| *o != "null")
        .map(str::to_owned)
        .or_else(|| {
            headers
                .get(http::header::REFERER)
                .and_then(|v| v.to_str().ok())
                .map(origin_of)
        });
    let cross_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site");
    let allowed = match &claimed {
        Some(origin) => *origin == public_origin || origin_host(origin) == host,
        // No Origin, no Referer: not a browser form post, so not a CSRF vector.
        None => !cross_site,
    };
    if !allowed {
        tracing::warn!(origin = ?claimed, "refused a cross-origin write");
        return (
            StatusCode::FORBIDDEN,
            "This request came from another site and was refused. Submit the form from Rollcall itself.",
        )
            .into_response();
    }
    next.run(req).await
}

fn origin_of(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return String::new();
    };
    let host = rest.split('/').next().unwrap_or("");
    format!("{scheme}://{host}")
}

fn origin_host(origin: &str) -> &str {
    origin.split_once("://").map(|(_, host)| host).unwrap_or("")
}

/// Server functions report every error as 500; give each the status its `AppError` means, so
/// API clients see 400/401/403/404/409/422/429 like from any well-behaved API.
pub async fn server_fn_status(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    if !response.headers().contains_key("serverfnerror") || response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, 64 * 1024).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "error body too large").into_response();
    };
    if let Ok(err) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    }
    Response::from_parts(parts, Body::from(bytes))
}

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

/// Refuses state-changing requests that do not come from Rollcall's own public origin.
///
/// `SameSite=Lax` cookies stop other sites, but not a sibling subdomain or another port of the
/// same host (same site, other origin), nor a page that sends `Origin: null` (with
/// `Referrer-Policy: no-referrer`, or from a sandboxed frame). So a write is accepted only when:
/// - `Sec-Fetch-Site`, when the browser sends it, is `same-origin` (or `none`: typed by the
///   person, never a page's doing); and
/// - `Origin` is exactly the public origin; or, without `Origin`, `Referer` is on it; or neither
///   is sent at all, which no browser does for a cross-origin form post or fetch (curl, scripts).
///   `Origin: null` is refused.
pub async fn same_origin_writes(State(Origin(public_origin)): State<Origin>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    if let Err(why) = judge_write(req.headers(), &public_origin) {
        tracing::warn!(why, "refused a cross-origin write");
        return (
            StatusCode::FORBIDDEN,
            "This request came from another site and was refused. Submit the form from Rollcall itself.",
        )
            .into_response();
    }
    next.run(req).await
}

/// Whether a write's headers show it coming from `public_origin` (see `same_origin_writes`).
fn judge_write(headers: &http::HeaderMap, public_origin: &str) -> Result<(), &'static str> {
    let header = |name: http::HeaderName| headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"));
    match header(http::HeaderName::from_static("sec-fetch-site")) {
        None | Some("same-origin") | Some("none") => {}
        Some(_) => return Err("sec-fetch-site is not same-origin"),
    }
    match (header(http::header::ORIGIN), header(http::header::REFERER)) {
        (Some(origin), _) if origin == public_origin => Ok(()),
        (Some(_), _) => Err("origin is not the public origin"),
        (None, Some(referer)) if origin_of(referer) == public_origin => Ok(()),
        (None, Some(_)) => Err("referer is not on the public origin"),
        (None, None) => Ok(()),
    }
}

fn origin_of(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return String::new();
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    format!("{scheme}://{host}")
}

/// Server functions report every error as 500; give each the status its `AppError` means, so
/// API clients see 400/401/403/404/409/422/429 like from any well-behaved API. An error made
/// before the function ran (its arguments could not be read) knows no request id: it gets this
/// request's.
pub async fn server_fn_status(req: Request, next: Next) -> Response {
    let request_id = super::request_id(req.headers()).to_owned();
    let response = next.run(req).await;
    if !response.headers().contains_key("serverfnerror") || response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, 64 * 1024).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "error body too large").into_response();
    };
    let Ok(mut err) = serde_json::from_slice::<AppError>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    if let AppError::Internal { request_id: unknown } = &mut err {
        if unknown.starts_with("none") {
            tracing::error!(request_id, detail = %unknown, "server function failed before it ran");
            *unknown = request_id;
        }
    }
    parts.status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&err).unwrap_or_else(|_| bytes.to_vec());
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::judge_write;

    const ORIGIN: &str = "https://id.acme.test";

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (http::HeaderName::from_static(k), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn only_writes_from_the_public_origin_itself_are_accepted() {
        let accepted: &[&[(&'static str, &str)]] = &[
            &[("origin", ORIGIN), ("sec-fetch-site", "same-origin")],
            &[("origin", ORIGIN)],
            &[("referer", "https://id.acme.test/login?next=/users")],
            &[("sec-fetch-site", "none")],
            &[],
        ];
        for case in accepted {
            assert_eq!(judge_write(&headers(case), ORIGIN), Ok(()), "{case:?}");
        }
        let refused: &[&[(&'static str, &str)]] = &[
            &[("origin", "null")],
            &[("origin", "null"), ("sec-fetch-site", "same-origin")],
            &[("origin", "https://evil.acme.test"), ("sec-fetch-site", "same-site")],
            &[("origin", "https://id.acme.test:8443")],
            &[("origin", "http://id.acme.test")],
            &[("sec-fetch-site", "same-site")],
            &[("sec-fetch-site", "cross-site"), ("origin", ORIGIN)],
            &[("referer", "https://evil.acme.test/page")],
            &[("referer", "https://id.acme.test.evil.example/")],
        ];
        for case in refused {
            assert!(judge_write(&headers(case), ORIGIN).is_err(), "{case:?}");
        }
    }
}

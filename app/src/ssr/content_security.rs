//! The Content-Security-Policy every page is sent with. Scripts run only from Rollcall's own
//! origin or inline with this response's nonce (Leptos puts it on the hydration script it
//! writes), so markup that ever slipped past escaping could run nothing; WASM may be compiled
//! (`'wasm-unsafe-eval'`), nothing may be `eval`ed; no page may be framed, and forms post only
//! to this origin (provider sign-in starts with a link, not a form, so it is not affected).

use leptos::prelude::*;

/// The policy for a response whose inline scripts carry `nonce` (with none, no inline script
/// may run at all). Under `cargo leptos watch` (`watching`), pages also connect to its
/// live-reload socket, on another port.
pub fn policy(nonce: Option<&str>, watching: bool) -> String {
    let inline = nonce.map(|nonce| format!(" 'nonce-{nonce}'")).unwrap_or_default();
    let live_reload = if watching { " ws: wss:" } else { "" };
    format!(
        "default-src 'self'; script-src 'self'{inline} 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'{live_reload}; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'; form-action 'self'"
    )
}

/// Sends the policy with the page being rendered, under the nonce Leptos made for it.
pub fn declare() {
    let Some(response) = use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    let nonce = leptos::nonce::use_nonce();
    let watching = std::env::var_os("LEPTOS_WATCH").is_some();
    if let Ok(value) = http::HeaderValue::from_str(&policy(nonce.as_deref(), watching)) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_policy_allows_scripts_only_from_this_origin_or_with_the_nonce() {
        let policy = super::policy(Some("abc123"), false);
        assert!(
            policy.contains("script-src 'self' 'nonce-abc123' 'wasm-unsafe-eval';"),
            "{policy}"
        );
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(policy.contains("object-src 'none'"), "{policy}");
        assert!(policy.contains("connect-src 'self';"), "{policy}");
        // Without a nonce the policy still holds, and no inline script may run.
        let without = super::policy(None, false);
        assert!(without.contains("script-src 'self' 'wasm-unsafe-eval';"), "{without}");
        // Only under `cargo leptos watch`: its live-reload socket.
        let watching = super::policy(Some("abc123"), true);
        assert!(watching.contains("connect-src 'self' ws: wss:;"), "{watching}");
    }
}

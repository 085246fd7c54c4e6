//! The Content-Security-Policy every page is sent with. Scripts run only from Rollcall's own
//! origin or inline with this response's nonce (Leptos puts it on the hydration script it
//! writes), so markup that ever slipped past escaping could run nothing; WASM may be compiled
//! (`'wasm-unsafe-eval'`), nothing may be `eval`ed; no page may be framed, and forms post only
//! to this origin.

use leptos::prelude::*;

/// The policy for a response whose inline scripts carry `nonce`.
pub fn policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'; form-action 'self'"
    )
}

/// Sends the policy with the page being rendered, under the nonce Leptos made for it.
pub fn declare() {
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    if let Ok(value) = http::HeaderValue::from_str(&policy(&nonce)) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_policy_allows_scripts_only_from_this_origin_or_with_the_nonce() {
        let policy = super::policy("abc123");
        assert!(
            policy.contains("script-src 'self' 'nonce-abc123' 'wasm-unsafe-eval';"),
            "{policy}"
        );
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(policy.contains("object-src 'none'"), "{policy}");
    }
}

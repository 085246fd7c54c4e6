//! Cookies: reading one from the request, writing Rollcall's with its defaults, and the
//! one-shot flash that carries a plain form's error across its redirect.

use crate::session::Flash;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

pub const SESSION_COOKIE: &str = "rollcall_session";
pub const FLASH_COOKIE: &str = "rollcall_flash";
pub const PENDING_COOKIE: &str = "rollcall_pending";

/// Over https every cookie's name carries this prefix: browsers then accept it only with
/// `Secure`, `Path=/` and no `Domain`, so a sibling subdomain cannot plant or overwrite one.
const HOST_PREFIX: &str = "__Host-";

/// Reads one of Rollcall's cookies from a `Cookie` header (`secure`: served over https, where
/// the name carries the `__Host-` prefix).
pub fn cookie_value<'a>(header: Option<&'a str>, name: &str, secure: bool) -> Option<&'a str> {
    let prefix = if secure { HOST_PREFIX } else { "" };
    header?
        .split(';')
        .map(str::trim)
        .find_map(|pair| pair.strip_prefix(prefix)?.strip_prefix(name)?.strip_prefix('='))
}

/// Everything but unreserved characters is escaped: a cookie value may hold none of `;`, `,`,
/// spaces or quotes.
const COOKIE_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

pub fn encode_flash(flash: &Flash) -> String {
    let json = serde_json::to_string(flash).unwrap_or_default();
    utf8_percent_encode(&json, COOKIE_VALUE).to_string()
}

pub fn decode_flash(raw: &str) -> Option<Flash> {
    let json = percent_decode_str(raw).decode_utf8().ok()?;
    serde_json::from_str(&json).ok()
}

/// A `Set-Cookie` value with Rollcall's defaults: HttpOnly, SameSite=Lax, path /.
pub fn cookie(name: &str, value: &str, max_age_secs: Option<i64>, secure: bool) -> String {
    let prefix = if secure { HOST_PREFIX } else { "" };
    let mut c = format!("{prefix}{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age_secs {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flash_survives_the_round_trip_through_a_cookie() {
        let mut flash = Flash {
            error: "Email or password is incorrect; \"try\" again".into(),
            field: Some("email".into()),
            ..Default::default()
        };
        flash.values.insert("email".into(), "ädа@example.com".into());
        let encoded = encode_flash(&flash);
        assert!(encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)));
        assert_eq!(decode_flash(&encoded), Some(flash));
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let header = Some("a=1; rollcall_session=abc; rollcall_sessionx=no");
        assert_eq!(cookie_value(header, "rollcall_session", false), Some("abc"));
        assert_eq!(cookie_value(header, "missing", false), None);
    }

    #[test]
    fn over_https_only_host_prefixed_cookies_count() {
        // A sibling subdomain can set `rollcall_session` for the whole site, never `__Host-…`.
        let header = Some("rollcall_session=planted; __Host-rollcall_session=real");
        assert_eq!(cookie_value(header, "rollcall_session", true), Some("real"));
        assert_eq!(
            cookie_value(Some("rollcall_session=planted"), "rollcall_session", true),
            None
        );
        let set = cookie("rollcall_session", "v", Some(60), true);
        assert!(
            set.starts_with("__Host-rollcall_session=v; Path=/;") && set.ends_with("; Secure"),
            "{set}"
        );
        assert!(!set.contains("Domain"));
    }
}

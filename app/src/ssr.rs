//! Server-only glue for server functions: the shared state, who is calling, and the mapping
//! from identity errors to UI errors. Compiled only with the `ssr` feature.

use crate::error::AppError;
use crate::model::{Flash, Me, Role};
use identity::audit::Actor;
use identity::sessions::{SessionPolicy, SessionUser};
use identity::throttle::ThrottlePolicy;
use identity::Db;
use leptos::prelude::*;
use std::sync::Arc;

/// Everything a request handler needs, shared by every request of one server process.
pub struct ServerState {
    pub db: Db,
    /// Connections for the session read every request starts with (see `ReadLane`).
    pub lane: identity::db::ReadLane,
    pub sessions: SessionPolicy,
    pub throttle: ThrottlePolicy,
    pub open_signup: bool,
    /// Served over https: cookies get `Secure`.
    pub secure_cookies: bool,
    /// Behind a reverse proxy of our own: take the client address from X-Forwarded-For.
    pub trust_proxy: bool,
    /// Invite links are derived from it.
    pub secret_key: identity::secret_key::SecretKey,
    /// Where people reach Rollcall, for links in mail (no trailing slash).
    pub public_url: String,
    /// Whether an SMTP server is configured; without one, mail waits in the outbox.
    pub smtp_configured: bool,
}

pub type SharedState = Arc<ServerState>;

/// Per-request facts resolved by the server's middleware before any handler runs.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub session: Option<SessionUser>,
    pub ip: Option<String>,
    pub request_id: String,
    pub user_agent: Option<String>,
    pub cookie_header: Option<String>,
    /// The Users tab's page, when the middleware read it with the session (a GET of `/users`).
    pub users_page: Option<Arc<PreloadedUsersPage>>,
}

/// A page of the Users tab read in the same statement as the caller's session (see
/// `identity::sessions::resolve_with_users_page`), waiting for `list_users` to take it.
#[derive(Debug)]
pub struct PreloadedUsersPage {
    /// The state of the table this page is for, as the page's URL gives it.
    pub query: crate::model::UsersQuery,
    pub page: std::sync::Mutex<Option<identity::users::UserPage>>,
}

impl RequestContext {
    /// The preloaded Users page if it answers exactly `query`; the first call takes it.
    pub fn take_users_page(&self, query: &crate::model::UsersQuery) -> Option<identity::users::UserPage> {
        let preloaded = self.users_page.as_ref().filter(|p| p.query == *query)?;
        preloaded.page.lock().ok()?.take()
    }
}

pub const SESSION_COOKIE: &str = "rollcall_session";
pub const FLASH_COOKIE: &str = "rollcall_flash";
pub const PENDING_COOKIE: &str = "rollcall_pending";

pub fn state() -> Result<SharedState, AppError> {
    use_context::<SharedState>().ok_or_else(|| AppError::Internal {
        request_id: "no-state".into(),
    })
}

/// The request's context, as the server's middleware resolved it before any handler ran.
pub fn request() -> Result<RequestContext, AppError> {
    let parts = use_context::<http::request::Parts>().ok_or_else(|| AppError::Internal {
        request_id: "no-request".into(),
    })?;
    parts
        .extensions
        .get::<RequestContext>()
        .cloned()
        .ok_or_else(|| AppError::Internal {
            request_id: "no-context".into(),
        })
}

/// The caller, who must be signed in.
pub struct Caller {
    pub state: SharedState,
    pub ctx: RequestContext,
    pub user: SessionUser,
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor {
            org_id: self.user.org_id,
            user_id: Some(self.user.user_id),
            label: self.user.email.clone(),
            ip: self.ctx.ip.clone(),
            request_id: Some(self.ctx.request_id.clone()),
        }
    }

    /// Maps an identity error for this request (500s are logged with the request id).
    pub fn fail(&self, err: identity::Error) -> AppError {
        map_identity_error(err, &self.ctx.request_id)
    }
}

pub async fn signed_in() -> Result<Caller, AppError> {
    let state = state()?;
    let ctx = request()?;
    let user = ctx.session.clone().ok_or(AppError::Unauthenticated)?;
    Ok(Caller { state, ctx, user })
}

pub async fn admin() -> Result<Caller, AppError> {
    let caller = signed_in().await?;
    if !caller.user.is_admin() {
        return Err(AppError::Forbidden("Only workspace admins can do this.".into()));
    }
    Ok(caller)
}

pub fn me_of(user: &SessionUser) -> Me {
    Me {
        user_id: user.user_id,
        display_name: user.display_name(),
        email: user.email.clone(),
        role: if user.is_admin() { Role::Admin } else { Role::Member },
        org_name: user.org_name.clone(),
        org_slug: user.org_slug.clone(),
    }
}

pub fn map_identity_error(err: identity::Error, request_id: &str) -> AppError {
    use identity::Error as E;
    match err {
        E::Invalid { field, message } => AppError::Invalid {
            field: field.into(),
            message,
        },
        E::Conflict { field, message } => AppError::Conflict {
            field: field.into(),
            message,
        },
        E::NotFound => AppError::NotFound,
        E::Forbidden(message) => AppError::Forbidden(message),
        E::InvalidCredentials => AppError::Forbidden(E::InvalidCredentials.to_string()),
        err @ E::RateLimited { retry_after_secs } => AppError::RateLimited {
            message: err.to_string(),
            retry_after_secs,
        },
        err @ (E::Database(_) | E::Internal(_)) => {
            tracing::error!(request_id, error = ?err, "request failed");
            AppError::Internal {
                request_id: request_id.to_owned(),
            }
        }
    }
}

/// Reads one cookie from a `Cookie` header.
pub fn cookie_value<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?
        .split(';')
        .map(str::trim)
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

pub fn encode_flash(flash: &Flash) -> String {
    let json = serde_json::to_string(flash).unwrap_or_default();
    form_urlencoded_encode(&json)
}

pub fn decode_flash(raw: &str) -> Option<Flash> {
    let json = percent_decode(raw)?;
    serde_json::from_str(&json).ok()
}

fn form_urlencoded_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A `Set-Cookie` value with Rollcall's defaults: HttpOnly, SameSite=Lax, path /.
pub fn cookie(name: &str, value: &str, max_age_secs: Option<i64>, secure: bool) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
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
        assert_eq!(cookie_value(header, "rollcall_session"), Some("abc"));
        assert_eq!(cookie_value(header, "missing"), None);
    }

    use crate::model::UsersQuery;

    fn context_with_page_for(query: UsersQuery) -> RequestContext {
        RequestContext {
            session: None,
            ip: None,
            request_id: "-".into(),
            user_agent: None,
            cookie_header: None,
            users_page: Some(Arc::new(PreloadedUsersPage {
                query,
                page: std::sync::Mutex::new(Some(identity::users::UserPage {
                    users: Vec::new(),
                    total: 7,
                    total_is_lower_bound: false,
                })),
            })),
        }
    }

    #[test]
    fn a_preloaded_users_page_answers_only_its_own_query_and_only_once() {
        let shown = UsersQuery {
            q: "ada".into(),
            page: 2,
            ..Default::default()
        };
        let ctx = context_with_page_for(shown.clone());
        let other_page = UsersQuery {
            page: 3,
            ..shown.clone()
        };
        assert!(ctx.take_users_page(&other_page).is_none(), "another page was answered");
        assert_eq!(ctx.take_users_page(&shown).map(|p| p.total), Some(7));
        assert!(ctx.take_users_page(&shown).is_none(), "the page was handed out twice");
    }
}

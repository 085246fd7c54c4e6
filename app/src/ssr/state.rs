//! The state every request shares and the context each request carries.

use super::preload::Preloaded;
use identity::auth::ThrottlePolicy;
use identity::secrets::SecretKey;
use identity::sessions::{SessionStore, SessionUser};
use identity::Db;
use std::sync::Arc;

/// Everything a request handler needs, shared by every request of one server process.
pub struct ServerState {
    pub db: Db,
    /// Sessions, read on the engine's own connections (see `identity::sessions::SessionStore`).
    pub sessions: SessionStore,
    pub throttle: ThrottlePolicy,
    pub open_signup: bool,
    /// Served over https: cookies get `Secure`.
    pub secure_cookies: bool,
    /// Behind this many reverse proxies of our own (0: none), each appending to
    /// X-Forwarded-For: the client's address is the entry this many places from the right.
    pub trusted_proxy_hops: usize,
    /// Invite links are derived from it.
    pub secret_key: SecretKey,
    /// Where people reach Rollcall, for links in mail (no trailing slash).
    pub public_url: String,
    /// Whether an SMTP server is configured; without one, mail waits in the outbox.
    pub smtp_configured: bool,
    /// Sign in with Google, Microsoft or Slack: the providers the operator configured.
    pub providers: identity::auth::oidc::Providers,
    /// SCIM bearer tokens this server checked recently (emptied on any revocation).
    pub scim_tokens: Arc<identity::scim::tokens::TokenCache>,
}

pub type SharedState = Arc<ServerState>;

/// Per-request facts resolved by the server's middleware before any handler runs. `Debug`
/// leaves out the cookie header: it holds the session token.
#[derive(Clone)]
pub struct RequestContext {
    pub session: Option<SessionUser>,
    pub ip: Option<String>,
    pub request_id: String,
    pub user_agent: Option<String>,
    pub cookie_header: Option<String>,
    /// What the request's page asked to have read with the session (see `preload`), until the
    /// page takes it.
    pub preloaded: Option<Preloaded>,
}

impl std::fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestContext")
            .field("session", &self.session.as_ref().map(|s| (s.org_id, s.user_id)))
            .field("ip", &self.ip)
            .field("request_id", &self.request_id)
            .field("cookie_header", &self.cookie_header.as_ref().map(|_| "(redacted)"))
            .field("preloaded", &self.preloaded)
            .finish_non_exhaustive()
    }
}

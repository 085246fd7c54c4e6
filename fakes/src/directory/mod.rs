//! Fake directory APIs: Google Workspace Directory `users.list`, Microsoft Graph `users`,
//! `users/delta` and app-only tokens, and Slack `users.list` with its OAuth v2 install, for
//! Rollcall's directory import tests and benchmarks (PROTOCOLS.md §4–6).
//!
//! A [`FakeDirectory`] serves a list of [`DirectoryPerson`]s the way one of the real APIs
//! does: its paging tokens, its field presence rules, its error envelopes. Everything a client
//! must cope with is reproduced on purpose: Google omits `users` on an empty page, Graph's
//! `accountEnabled` appears only when `$select`ed and its `@odata.nextLink` is an absolute URL,
//! Slack answers errors with HTTP 200 `{"ok":false}`, omits `profile.email` without
//! `users:read.email`, sometimes returns fewer members than `limit` before the last page, and
//! uses padded base64 cursors that must be URL-encoded.
//!
//! A [`Fault`] makes the next requests fail in one specific way (429 with `Retry-After`, 5xx,
//! a revoked token, an empty page mid-way, ...). [`generate`] makes directories of any size
//! with the bots, guests, suspended and deleted people real ones have.
//!
//! ```no_run
//! # async fn demo() {
//! use fakes::directory::{generate, DirectoryFlavor, FakeDirectory, Fault};
//! let dir = FakeDirectory::start(DirectoryFlavor::Slack, generate(DirectoryFlavor::Slack, 3000, 1)).await;
//! // ROLLCALL_SLACK_API_URL=dir.base_url(); call it with `Authorization: Bearer {dir.token()}`
//! dir.inject(Fault::RateLimited { retry_after: "0.5".into(), times: 2 });
//! # }
//! ```
//!
//! Where each flavor serves what, relative to [`FakeDirectory::origin`]:
//!
//! | flavor | endpoints |
//! |---|---|
//! | Google | `GET /admin/directory/v1/users` |
//! | Microsoft | `POST /{tenant}/oauth2/v2.0/token`, `GET /{tenant}/adminconsent`, `GET /v1.0/users`, `GET /v1.0/users/delta` |
//! | Slack | `GET`/`POST /api/users.list`, `POST /api/oauth.v2.access`, `GET /oauth/v2/authorize` |
//!
//! Files: `people.rs` the people and the generator, `state.rs` the shared state and page
//! tokens, `google.rs`, `graph.rs`, `slack.rs` each API, `json.rs` a fast JSON writer for pages.

mod google;
mod graph;
mod json;
mod people;
mod slack;
mod state;

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::Router;
use tokio::sync::Notify;

pub use graph::DELTA_PAGE_SIZE as GRAPH_DELTA_PAGE_SIZE;
pub use people::{generate, generate_in, DirectoryPerson, PersonKind, DEFAULT_DOMAIN};

use crate::Flavor;

/// The tenant ID of a fresh Microsoft fake (its `org`).
pub const DEFAULT_TENANT: &str = "5b3c8e2a-7f41-4d09-9c1e-2a6f0d4b8e71";
/// The team ID of a fresh Slack fake (its `org`).
pub const DEFAULT_TEAM: &str = "T0FAKETEAM";

/// Which real directory API a [`FakeDirectory`] imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DirectoryFlavor {
    /// Google Workspace Admin SDK Directory API, `users.list`.
    Google,
    /// Microsoft Graph v1.0 `users` and `users/delta`, app-only (client credentials).
    Microsoft,
    /// Slack Web API `users.list`, with the OAuth v2 install.
    Slack,
}

impl DirectoryFlavor {
    /// Lower-case name, as the `fake-directory` binary's `--flavor` takes it.
    pub fn name(self) -> &'static str {
        Flavor::from(self).name()
    }
}

impl From<DirectoryFlavor> for Flavor {
    fn from(flavor: DirectoryFlavor) -> Flavor {
        match flavor {
            DirectoryFlavor::Google => Flavor::Google,
            DirectoryFlavor::Microsoft => Flavor::Microsoft,
            DirectoryFlavor::Slack => Flavor::Slack,
        }
    }
}

impl From<Flavor> for DirectoryFlavor {
    fn from(flavor: Flavor) -> DirectoryFlavor {
        match flavor {
            Flavor::Google => DirectoryFlavor::Google,
            Flavor::Microsoft => DirectoryFlavor::Microsoft,
            Flavor::Slack => DirectoryFlavor::Slack,
        }
    }
}

impl FromStr for DirectoryFlavor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Flavor::from_str(s).map(DirectoryFlavor::from)
    }
}

/// A way for the next list requests to go wrong. "List requests" are Google `users.list`,
/// Graph `/v1.0/users` and `/v1.0/users/delta`, Slack `users.list`. Faults that name `times`
/// (and the one-shot page faults) queue in injection order; the others stay until
/// [`FakeDirectory::clear_faults`]. Faults apply only to otherwise valid, authenticated
/// requests: a request with a bad token or bad parameters fails as it would anyway and
/// consumes nothing.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// HTTP 429 with `Retry-After: {retry_after}` verbatim (`"1"`, `"0.5"`, `"2.128"`; an empty
    /// string sends no header). Google: its envelope, reason `rateLimitExceeded`; Graph:
    /// `TooManyRequests` with `innerError`; Slack: `{"ok":false,"error":"ratelimited"}`.
    RateLimited { retry_after: String, times: usize },
    /// Google's quota refusal: HTTP 403, reason `userRateLimitExceeded`, no `Retry-After`.
    /// Graph and Slack get a 429 with `Retry-After: 1` instead.
    GoogleRateLimit403 { times: usize },
    /// HTTP `status` (500, 502, 503, 504, ...). 502 has an HTML body, as a gateway's; the
    /// others the provider's JSON error (Google `backendError`, Graph `generalException` /
    /// `serviceNotAvailable`, Slack `fatal_error` / `service_unavailable`).
    ServerError { status: u16, times: usize },
    /// Until cleared: Google 401 `authError` "Invalid Credentials"; Graph 401
    /// `InvalidAuthenticationToken`, and its token endpoint refuses with `unauthorized_client`
    /// AADSTS700016 (the app is gone from the tenant); Slack HTTP 200 `token_revoked`.
    RevokedToken,
    /// The next list request that carries a page token (so, mid-way) gets a page with no people
    /// and a next-page token that resumes where it would have started. Google's page has
    /// `"users": []`; compare [`Fault::MissingUsersKey`].
    EmptyPageMidway,
    /// Google: like [`Fault::EmptyPageMidway`] but the page has no `users` key at all, as
    /// Google writes empty pages. Graph and Slack always send their keys, so there it is an
    /// [`Fault::EmptyPageMidway`].
    MissingUsersKey,
    /// Until cleared, the token lacks a scope. Slack: `users:read.email` (members come without
    /// `profile.email`, and `oauth.v2.access` grants only `users:read`); Graph: HTTP 403
    /// `Authorization_RequestDenied` (no `User.Read.All` consent); Google: HTTP 403
    /// `insufficientPermissions`.
    MissingScope,
    /// Until cleared, the token may not list users at all. Google: 403 `forbidden` "Not
    /// Authorized to access this resource/api" (not an admin); Graph: 403
    /// `Authorization_RequestDenied`; Slack: `missing_scope` with `needed: "users:read"`.
    NotAuthorized,
    /// Until cleared, consent screens refuse: Graph admin consent and Slack's authorize
    /// redirect back with `error=access_denied`.
    ConsentDenied,
    /// Graph: the next delta request carrying a `$deltatoken` or delta `$skiptoken` gets 410
    /// Gone, code `syncStateNotFound`, with a `Location` to restart a full sync. No effect on
    /// Google and Slack.
    DeltaTokenExpired,
}

/// A running fake directory: an axum server on a loopback port, in a task of the current tokio
/// runtime. Dropping it stops the server.
pub struct FakeDirectory {
    shared: Arc<state::Shared>,
    base_url: String,
    shutdown: Arc<Notify>,
}

impl FakeDirectory {
    /// Starts a fake of `flavor` holding `people` on `127.0.0.1:0`.
    ///
    /// Panics when no loopback port can be bound (tests want the panic, not a `Result`).
    pub async fn start(flavor: DirectoryFlavor, people: Vec<DirectoryPerson>) -> FakeDirectory {
        Self::start_with(flavor, SocketAddr::from(([127, 0, 0, 1], 0)), people)
            .await
            .expect("bind a loopback port for the fake directory")
    }

    /// Starts a fake listening on `listen` (port 0 picks a free port).
    pub async fn start_with(
        flavor: DirectoryFlavor,
        listen: SocketAddr,
        people: Vec<DirectoryPerson>,
    ) -> std::io::Result<FakeDirectory> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let (directory, router) = Self::serving(flavor, &listener, people)?;
        directory.spawn(listener, router);
        Ok(directory)
    }

    /// Starts a fake directory together with the provider's sign-in on the same origin, as the
    /// real services share a host: Google's consent (with `access_type=offline` refresh tokens)
    /// whose access tokens this directory accepts, Entra's OpenID endpoints beside its
    /// admin consent and client-credentials token, Slack's OpenID sign-in beside its install.
    /// Both use the directory's client ID and secret; the fake provider signs in as the
    /// directory's administrator `ada@…` of its org (its `hd`, `tid` or team).
    pub async fn start_with_idp(
        flavor: DirectoryFlavor,
        listen: SocketAddr,
        people: Vec<DirectoryPerson>,
    ) -> std::io::Result<(FakeDirectory, crate::FakeIdp)> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let (directory, router) = Self::serving(flavor, &listener, people)?;
        let (idp, idp_router) = crate::FakeIdp::serving(
            flavor.into(),
            directory.origin(),
            directory.client_id(),
            directory.client_secret(),
            directory.shutdown.clone(),
        );
        let admin = directory
            .people()
            .into_iter()
            .find(|p| p.kind == PersonKind::Admin)
            .and_then(|p| p.email)
            .unwrap_or_else(|| format!("ada@{DEFAULT_DOMAIN}"));
        idp.sign_in_as(crate::Persona::from_login_hint(
            flavor.into(),
            &admin,
            Some(directory.org()),
        ));
        directory.spawn(listener, router.merge(idp_router));
        Ok((directory, idp))
    }

    fn serving(
        flavor: DirectoryFlavor,
        listener: &tokio::net::TcpListener,
        people: Vec<DirectoryPerson>,
    ) -> std::io::Result<(FakeDirectory, Router)> {
        let origin = format!("http://{}", listener.local_addr()?);
        let org = match flavor {
            DirectoryFlavor::Google => DEFAULT_DOMAIN,
            DirectoryFlavor::Microsoft => DEFAULT_TENANT,
            DirectoryFlavor::Slack => DEFAULT_TEAM,
        };
        let token = format!("{}{}", token_prefix(flavor), crate::server::random_token(24));
        let shared = Arc::new(state::Shared::new(
            flavor,
            origin.clone(),
            org.to_owned(),
            people,
            token,
        ));
        let base_url = match flavor {
            DirectoryFlavor::Slack => format!("{origin}/api"),
            _ => origin,
        };
        let router = router(shared.clone());
        Ok((
            FakeDirectory {
                shared,
                base_url,
                shutdown: Arc::new(Notify::new()),
            },
            router,
        ))
    }

    fn spawn(&self, listener: tokio::net::TcpListener, app: Router) {
        let stop = self.shutdown.clone();
        tokio::spawn(async move {
            // `notify_one` stores a permit, so a drop before this task first polls still stops it.
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.notified().await })
                .await;
        });
    }

    /// The API's base URL: the value for `ROLLCALL_GOOGLE_DIRECTORY_URL` (`http://127.0.0.1:PORT`,
    /// as `https://admin.googleapis.com`), `ROLLCALL_GRAPH_URL` (`http://127.0.0.1:PORT`, as
    /// `https://graph.microsoft.com`) or `ROLLCALL_SLACK_API_URL` (`http://127.0.0.1:PORT/api`,
    /// as `https://slack.com/api`).
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// `http://127.0.0.1:PORT`: where the non-API endpoints live. Microsoft: the authority of
    /// `/{tenant}/oauth2/v2.0/token` and `/{tenant}/adminconsent` (as
    /// `https://login.microsoftonline.com`); Slack: `/oauth/v2/authorize` (as `https://slack.com`).
    pub fn origin(&self) -> String {
        self.shared.origin.clone()
    }

    /// The flavor this fake imitates.
    pub fn flavor(&self) -> DirectoryFlavor {
        self.shared.flavor
    }

    /// The bearer token the list endpoints accept: random per fake, shaped like the real ones
    /// (`ya29.…`, `eyJ0eXAi…`, `xoxb-…`). Graph's client-credentials grant and Slack's
    /// `oauth.v2.access` hand out this same token. Google also accepts an access token that a
    /// Google-flavored [`FakeIdp`](crate::FakeIdp) issued, when its subject (or email) is a
    /// [`PersonKind::Admin`] of this directory, and answers 403 for anyone else's.
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// The client ID Graph's token endpoint and Slack's `oauth.v2.access` accept: the same
    /// `fake-FLAVOR-client` a [`FakeIdp`](crate::FakeIdp) registers by default.
    pub fn client_id(&self) -> &str {
        &self.shared.client_id
    }

    /// The secret that goes with [`client_id`](Self::client_id): `fake-FLAVOR-secret`.
    pub fn client_secret(&self) -> &str {
        &self.shared.client_secret
    }

    /// The org this directory belongs to: Google domain ([`DEFAULT_DOMAIN`] at first), Entra
    /// tenant ID ([`DEFAULT_TENANT`]), Slack team ID ([`DEFAULT_TEAM`]).
    pub fn org(&self) -> String {
        self.shared.lock().org.clone()
    }

    /// Moves the directory to another org (for wrong-org tests). Google: the domain `domain=`
    /// must name (and of which `customerId` is derived); Microsoft: the only tenant the token
    /// endpoint knows; Slack: `team_id` and `oauth.v2.access`'s `team.id`. The people's emails
    /// do not change; [`generate_in`] makes people at another domain.
    pub fn set_org(&self, org: impl Into<String>) {
        self.shared.lock().org = org.into();
    }

    /// Google's `customerId` for this directory's org (`C0` and 7 characters derived from the
    /// domain); `my_customer` and this are the `customer` values it accepts.
    pub fn customer_id(&self) -> String {
        google::customer_id(&self.org())
    }

    /// The people the directory holds now.
    pub fn people(&self) -> Vec<DirectoryPerson> {
        self.shared.lock().people()
    }

    /// Replaces the directory. Listings already under way finish over the people they started
    /// with (their page tokens name that generation; the last 16 are kept); a Graph deltaLink
    /// issued earlier then returns the changes.
    pub fn set_people(&self, people: Vec<DirectoryPerson>) {
        self.shared.lock().set_people(people);
    }

    /// Makes the next requests fail as `fault` says (see [`Fault`]).
    pub fn inject(&self, fault: Fault) {
        self.shared.lock().faults.add(fault);
    }

    /// Forgets every pending and standing fault.
    pub fn clear_faults(&self) {
        self.shared.lock().faults = Default::default();
    }

    /// How many list requests arrived, failed ones included.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::Relaxed)
    }
}

impl Drop for FakeDirectory {
    fn drop(&mut self) {
        self.shutdown.notify_one();
    }
}

fn token_prefix(flavor: DirectoryFlavor) -> &'static str {
    match flavor {
        DirectoryFlavor::Google => "ya29.fake-directory-",
        // Graph tokens are JWTs; clients must treat them as opaque, so this one only looks like one.
        DirectoryFlavor::Microsoft => "eyJ0eXAiOiJKV1QifQ.fake-graph-",
        DirectoryFlavor::Slack => "xoxb-fake-",
    }
}

fn router(shared: Arc<state::Shared>) -> Router {
    match shared.flavor {
        DirectoryFlavor::Google => google::router(),
        DirectoryFlavor::Microsoft => graph::router(),
        DirectoryFlavor::Slack => slack::router(),
    }
    .with_state(shared)
}

/// Sets `Retry-After` to `value` verbatim; an empty value sends none (clients must then back
/// off on their own).
fn retry_after(response: &mut axum::response::Response, value: &str) {
    if let Ok(value) = axum::http::HeaderValue::from_str(value) {
        if !value.is_empty() {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, value);
        }
    }
}

/// A 502 as a load balancer in front of any of the APIs sends it: HTML, not the API's JSON.
/// Clients must not need a parsable body to retry a 5xx.
fn gateway_page() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::BAD_GATEWAY,
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=UTF-8")],
        "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\
         <body><h1>Bad Gateway</h1><p>The server encountered a temporary error.</p></body></html>\n",
    )
        .into_response()
}

//! Fake OpenID Connect providers for Rollcall's integration tests and benchmarks.
//!
//! A [`FakeIdp`] imitates one of three real providers ([`Flavor`]): Google, Microsoft Entra ID
//! (the v2.0 `organizations` authority, multi-tenant) or Sign in with Slack. It serves
//! discovery, JWKS, an authorization endpoint that signs in at once (no user interaction) as a
//! chosen [`Persona`], a token endpoint that issues RS256-signed ID tokens, and userinfo. Every
//! provider quirk Rollcall must cope with is reproduced on purpose: Entra's `{tenantid}` issuer
//! template, Google's schemeless legacy issuer, Slack's HTTP 200 `{"ok":false}` errors.
//!
//! A [`Sabotage`] makes the fake misbehave in one specific way (a bad signature, a wrong
//! audience, an unknown `kid`, a token endpoint outage, ...) so tests can check that Rollcall
//! rejects or survives it.
//!
//! ```no_run
//! # async fn demo() {
//! use fakes::{FakeIdp, Flavor, Persona, Sabotage};
//! let idp = FakeIdp::start(Flavor::Google).await;
//! idp.sign_in_as(Persona::new("108000000000000000042", "ada@acme.com").org("acme.com"));
//! // point ROLLCALL_GOOGLE_ISSUER at idp.base_url(), use idp.client_id()/client_secret()
//! idp.sabotage(Sabotage::WrongAudience);
//! # }
//! ```
//!
//! Files: `server.rs` holds the HTTP endpoints and in-memory state, `token.rs` the ID-token
//! claims each provider emits, `keys.rs` the signing keys and JWT encoding, `persona.rs` the
//! test users. The `fake-idp` binary runs one fake as a stand-alone process for benchmarks.
//!
//! [`directory`] fakes the directory APIs a connected organisation's people are imported from
//! (Google Directory `users.list`, Microsoft Graph `users` and `users/delta`, Slack
//! `users.list`); the `fake-directory` binary runs one of those stand-alone.

pub mod directory;
mod keys;
mod persona;
mod server;
mod token;

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::Notify;

pub use persona::Persona;

/// Which real provider a [`FakeIdp`] imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// Google: issuer at the root, `hd` claim for Workspace accounts.
    Google,
    /// Microsoft Entra ID v2.0 through the `organizations` authority: templated issuer, `tid`/`oid`.
    Microsoft,
    /// Sign in with Slack: issuer at the root, `https://slack.com/team_id`, `ok:false` errors.
    Slack,
}

impl Flavor {
    /// Lower-case name, as the `fake-idp` binary's `--flavor` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Google => "google",
            Flavor::Microsoft => "microsoft",
            Flavor::Slack => "slack",
        }
    }

    /// The client ID [`FakeIdp::start`] registers, e.g. `fake-google-client`.
    pub fn default_client_id(self) -> String {
        format!("fake-{}-client", self.name())
    }

    /// The client secret [`FakeIdp::start`] registers, e.g. `fake-google-secret`.
    pub fn default_client_secret(self) -> String {
        format!("fake-{}-secret", self.name())
    }
}

impl FromStr for Flavor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "google" => Ok(Flavor::Google),
            "microsoft" | "entra" => Ok(Flavor::Microsoft),
            "slack" => Ok(Flavor::Slack),
            other => Err(format!(
                "unknown flavor {other:?} (expected google, microsoft or slack)"
            )),
        }
    }
}

/// One way for the fake to misbehave. Set with [`FakeIdp::sabotage`]; it applies to every
/// token and response until [`FakeIdp::clear_sabotage`] (or another `sabotage` call, which
/// replaces it: one sabotage at a time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sabotage {
    /// A correctly built token whose RS256 signature has one byte flipped.
    BadSignature,
    /// `aud` names another client (`azp` still ours).
    WrongAudience,
    /// `iss` is another issuer URL (for Microsoft: right shape, wrong host).
    WrongIssuer,
    /// `azp` names another client while `aud` is still ours (Slack tokens gain an `azp`).
    WrongAuthorizedParty,
    /// `iat` 2 h ago, `exp` 1 h ago: beyond any reasonable clock-skew allowance.
    Expired,
    /// `iat`/`nbf`/`auth_time` 1 h in the future.
    IssuedInFuture,
    /// `nonce` is a different random value.
    NonceMismatch,
    /// No `nonce` claim.
    NoNonce,
    /// Header `{"alg":"none"}` and an empty signature.
    AlgNone,
    /// `alg` HS256 with the HMAC keyed by the signing key's public key as SPKI PEM text
    /// (`-----BEGIN PUBLIC KEY-----`, LF line endings, trailing newline): the key-confusion attack.
    Hs256WithPublicKey,
    /// Signed by a key that is not in the JWKS, under a `kid` that is never published.
    UnknownKid,
    /// Signed by a new key whose `kid` is not in the JWKS at first. The first JWKS request after
    /// such a token was issued publishes it (next to the current key), so a client that refetches
    /// the JWKS once on an unknown `kid` succeeds. Later tokens under this sabotage use the same
    /// key; setting the sabotage again starts over with a new key.
    UnknownKidPublishedLater,
    /// The JWKS serves two keys (a decoy first, then the signing key); the token header has no `kid`.
    NoKidTwoKeys,
    /// No `sub` claim (other identifiers such as Entra `oid` are kept).
    MissingSubject,
    /// `iss` is the expected issuer with its scheme removed (`127.0.0.1:PORT`), as Google's
    /// legacy `accounts.google.com`. Meant for Google, where it must be accepted; the other
    /// flavors emit it too, where it is just a wrong issuer.
    LegacyGoogleIssuer,
    /// Microsoft: `iss` carries a different tenant GUID than the `tid` claim. No effect on the
    /// other flavors.
    MicrosoftIssuerTenantMismatch,
    /// The token endpoint refuses the code: Google/Microsoft HTTP 400 `invalid_grant`, Slack
    /// HTTP 200 `{"ok":false,"error":"invalid_code"}`.
    TokenEndpointError,
    /// The token endpoint answers with this HTTP status (429 and 503 add `Retry-After: 1`).
    TokenEndpointStatus(u16),
    /// Authorization redirects back with `error=access_denied` instead of a code.
    DenyConsent,
    /// Discovery answers HTTP 500.
    DiscoveryBroken,
    /// Discovery answers HTTP 200 with a document lacking the endpoints and other required fields.
    DiscoveryInvalid,
}

/// A running fake provider: an axum server on a loopback port, in a task of the current tokio
/// runtime. Dropping it stops the server.
pub struct FakeIdp {
    shared: Arc<server::Shared>,
    shutdown: Arc<Notify>,
}

impl FakeIdp {
    /// Starts a fake of `flavor` on `127.0.0.1:0` with the flavor's default client ID and
    /// secret, signing in as [`Persona::default_for`]`(flavor)`.
    ///
    /// Panics when no loopback port can be bound (tests want the panic, not a `Result`).
    pub async fn start(flavor: Flavor) -> FakeIdp {
        let listen = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start_with(
            flavor,
            listen,
            &flavor.default_client_id(),
            &flavor.default_client_secret(),
        )
        .await
        .expect("bind a loopback port for the fake identity provider")
    }

    /// Starts a fake listening on `listen` (port 0 picks a free port) that accepts only the
    /// given client credentials.
    pub async fn start_with(
        flavor: Flavor,
        listen: SocketAddr,
        client_id: &str,
        client_secret: &str,
    ) -> std::io::Result<FakeIdp> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(server::Shared::new(
            flavor,
            format!("http://{addr}"),
            client_id.to_owned(),
            client_secret.to_owned(),
        ));
        let shutdown = Arc::new(Notify::new());
        let app = server::router(shared.clone());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            // `notify_one` stores a permit, so a drop that happens before this task first polls
            // still stops the server.
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.notified().await })
                .await;
        });
        Ok(FakeIdp { shared, shutdown })
    }

    /// `http://127.0.0.1:PORT`: the value for `ROLLCALL_GOOGLE_ISSUER`,
    /// `ROLLCALL_MICROSOFT_AUTHORITY` or `ROLLCALL_SLACK_ISSUER`.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The flavor this fake imitates.
    pub fn flavor(&self) -> Flavor {
        self.shared.flavor
    }

    /// The only client ID the fake accepts.
    pub fn client_id(&self) -> &str {
        &self.shared.client_id
    }

    /// The client secret that goes with [`client_id`](Self::client_id).
    pub fn client_secret(&self) -> &str {
        &self.shared.client_secret
    }

    /// Who the next (and every later) authorization signs in as, unless its request carries a
    /// `login_hint` (see [`Persona::from_login_hint`]). Codes already issued keep their persona.
    pub fn sign_in_as(&self, persona: Persona) {
        self.shared.lock().persona = persona;
    }

    /// Makes every later response misbehave as `sabotage` says, replacing any earlier one.
    pub fn sabotage(&self, sabotage: Sabotage) {
        let mut state = self.shared.lock();
        state.keys.sabotage_changed();
        state.sabotage = Some(sabotage);
    }

    /// Back to correct behaviour.
    pub fn clear_sabotage(&self) {
        let mut state = self.shared.lock();
        state.keys.sabotage_changed();
        state.sabotage = None;
    }

    /// How many JWKS requests arrived.
    pub fn jwks_requests(&self) -> usize {
        self.shared.jwks_requests.load(Ordering::Relaxed)
    }

    /// How many discovery-document requests arrived.
    pub fn discovery_requests(&self) -> usize {
        self.shared.discovery_requests.load(Ordering::Relaxed)
    }

    /// How many token-endpoint requests arrived (successful or not).
    pub fn token_requests(&self) -> usize {
        self.shared.token_requests.load(Ordering::Relaxed)
    }

    /// Publishes a new signing key under a new `kid` and signs with it from now on; every older
    /// key leaves the JWKS at once (so tokens signed earlier no longer verify after a refetch).
    pub fn rotate_keys(&self) {
        self.shared.lock().keys.rotate();
    }

    /// Revokes every Google refresh token handed out so far (as an admin removing the app's
    /// access does): refreshing with one answers `invalid_grant`.
    pub fn revoke_refresh_tokens(&self) {
        self.shared.lock().refresh_tokens.clear();
    }

    /// How many Google refresh tokens are outstanding.
    pub fn refresh_tokens(&self) -> usize {
        self.shared.lock().refresh_tokens.len()
    }

    /// The `kid` of the key currently signing ID tokens.
    pub fn current_kid(&self) -> String {
        self.shared.lock().keys.current_kid().to_owned()
    }
}

impl FakeIdp {
    /// A handle on a fake served by someone else's server (see
    /// [`FakeDirectory::start_with_idp`](crate::directory::FakeDirectory::start_with_idp)).
    pub(crate) fn serving(
        flavor: Flavor,
        base_url: String,
        client_id: &str,
        client_secret: &str,
        shutdown: Arc<Notify>,
    ) -> (FakeIdp, axum::Router) {
        let shared = Arc::new(server::Shared::new(
            flavor,
            base_url,
            client_id.to_owned(),
            client_secret.to_owned(),
        ));
        let router = server::router(shared.clone());
        (FakeIdp { shared, shutdown }, router)
    }
}

impl Drop for FakeIdp {
    fn drop(&mut self) {
        self.shutdown.notify_one();
    }
}

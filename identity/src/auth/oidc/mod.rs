//! Provider sign-in with OpenID Connect: the authorization code flow with PKCE (S256), `state`
//! and `nonce`, for Google, Microsoft (Entra, multi-tenant) and Slack.
//!
//! - [`start`] records the attempt in the database (shared by every app server: a sign-in
//!   started on one completes on another), bound to the browser by a cookie whose digest the
//!   row keeps, and returns the provider's authorization URL.
//! - [`finish`] consumes the attempt (single use, 10 minutes), exchanges the code, and checks
//!   the ID token (`verify`). What the sign-in is *for* (signing in, linking, connecting the
//!   organisation, accepting an invitation) is the caller's [`Purpose`]; the rules that decide
//!   whether it may happen live in `identities` and `integrations`.
//!
//! `openidconnect` does the protocol work: discovery documents, authorization URLs, PKCE and ID
//! token verification. Two of its defaults do not fit these providers (PROTOCOLS.md §0): the
//! discovery document is fetched by us (Entra publishes a `{tenantid}` template issuer) and the
//! issuer checked per provider; and the code is exchanged by us, so Slack's HTTP 200
//! `{"ok":false}` errors read as errors with their message.

mod discovery;
mod verify;

pub use discovery::{discovery_url, expected_issuer, JWKS_REFETCH_INTERVAL};
pub use verify::CLOCK_SKEW;

use crate::error::{Error, Result};
use crate::providers::Provider;
use crate::secrets::token::{self, Secret};
use crate::secrets::{ExposeSecret, SecretString};
use crate::Db;
use chrono::{Duration, Utc};
use discovery::Discovered;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient};
use openidconnect::{
    ClientId, ClientSecret, CsrfToken, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// How long a started sign-in may take at the provider.
pub const ATTEMPT_LIFETIME: Duration = Duration::minutes(10);
/// Longest `code` or `state` read from a callback.
const MAX_PARAM_BYTES: usize = 4096;

/// One provider's OAuth client, as the operator configured it.
#[derive(Clone)]
pub struct ProviderSettings {
    pub provider: Provider,
    pub client_id: String,
    pub client_secret: SecretString,
    /// Google and Slack: the issuer. Microsoft: the authority (`https://login.microsoftonline.com`).
    pub issuer: String,
    /// `<public URL>/auth/<provider>/callback`.
    pub redirect_uri: String,
    /// Where the organisation's directory is read: Google's Admin SDK
    /// (`https://admin.googleapis.com`), Microsoft Graph (`https://graph.microsoft.com`),
    /// Slack's Web API (`https://slack.com/api`).
    pub directory_url: String,
}

impl std::fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("provider", &self.provider)
            .field("client_id", &self.client_id)
            .field("issuer", &self.issuer)
            .field("redirect_uri", &self.redirect_uri)
            .field("directory_url", &self.directory_url)
            .finish_non_exhaustive()
    }
}

/// A provider could not be used. People see a plain message; the detail is logged and shown to
/// admins on the provider's card.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("could not reach the provider: {0}")]
    Unreachable(String),
    #[error("the provider is misconfigured: {0}")]
    Misconfigured(String),
}

/// The account an ID token proved, read from its verified claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedAccount {
    pub provider: Provider,
    /// Entra tenant id, Slack team id; empty for Google (its `sub` is global).
    pub tenant: String,
    /// Google `sub`, Entra `oid`, Slack user id.
    pub subject: String,
    /// The signed organisation claim: Google `hd`, Entra `tid`, Slack team id.
    pub org_claim: Option<String>,
    pub email: Option<String>,
    /// Whether the provider vouches for the email (Entra: only with `xms_edov`).
    pub email_verified: bool,
    pub name: Option<String>,
}

/// What a provider sign-in is for, kept with the attempt until the callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Purpose {
    /// Sign in, through a workspace's page (`workspace`: its slug) or the generic one.
    SignIn { workspace: Option<String>, next: String },
    /// A signed-in person links an account from their profile.
    Link { org_id: Uuid, user_id: Uuid },
    /// An admin connects their organisation (records the org key from the token).
    Connect { org_id: Uuid, user_id: Uuid },
    /// Accept an invitation with the provider.
    Invite { org_id: Uuid, invite_id: Uuid },
    /// Get back in through a one-time access link by linking this provider.
    Access { org_id: Uuid, link_id: Uuid },
    /// An admin gives Rollcall read access to the organisation's directory (#19): Google's
    /// offline consent, Entra's admin consent, Slack's app install.
    Directory { org_id: Uuid, user_id: Uuid },
}

/// Google's read-only scope on the Admin SDK Directory's users.
pub const GOOGLE_DIRECTORY_SCOPE: &str = "https://www.googleapis.com/auth/admin.directory.user.readonly";

/// Every configured provider, with what this process has discovered of each.
#[derive(Clone)]
pub struct Providers {
    inner: Arc<BTreeMap<Provider, ProviderEntry>>,
    http: reqwest::Client,
}

struct ProviderEntry {
    settings: ProviderSettings,
    discovered: Discovered,
}

/// A configured provider's state, for its card and `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// No client configured: what the operator must set.
    NotConfigured,
    Ready,
    /// Configured, but its discovery failed: why.
    Misconfigured(String),
}

impl Providers {
    pub fn new(settings: Vec<ProviderSettings>) -> Providers {
        let http = reqwest::Client::builder()
            // Endpoints come from the operator's configuration and the provider's documents;
            // a redirect from them is never followed.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(10))
            .user_agent("Rollcall")
            .build()
            .expect("an HTTP client with static settings");
        let inner = settings
            .into_iter()
            .map(|s| {
                (
                    s.provider,
                    ProviderEntry {
                        settings: s,
                        discovered: Discovered::new(),
                    },
                )
            })
            .collect();
        Providers {
            inner: Arc::new(inner),
            http,
        }
    }

    /// Providers with a configured client, in display order.
    pub fn configured(&self) -> Vec<Provider> {
        self.inner.keys().copied().collect()
    }

    pub fn is_configured(&self, provider: Provider) -> bool {
        self.inner.contains_key(&provider)
    }

    pub fn settings(&self, provider: Provider) -> Option<&ProviderSettings> {
        self.inner.get(&provider).map(|e| &e.settings)
    }

    /// Fetches every configured provider's discovery document now (at start-up), so a
    /// misconfiguration shows at once; failures are kept and retried on use.
    pub async fn discover_all(&self) {
        for (provider, entry) in self.inner.iter() {
            if let Err(err) = entry.discovered.get(self.http(), &entry.settings).await {
                tracing::warn!(provider = %provider, error = %err, "provider sign-in is unavailable");
            }
        }
    }

    pub async fn availability(&self, provider: Provider) -> Availability {
        match self.inner.get(&provider) {
            None => Availability::NotConfigured,
            Some(entry) => match entry.discovered.problem().await {
                Some(why) => Availability::Misconfigured(why),
                None => Availability::Ready,
            },
        }
    }

    /// The client every provider request goes through (no redirects followed, short timeouts).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The provider's token endpoint, from its discovery document.
    pub async fn token_endpoint(&self, provider: Provider) -> Result<String> {
        let entry = self.entry(provider)?;
        let (metadata, _) = entry
            .discovered
            .get(self.http(), &entry.settings)
            .await
            .map_err(|e| unavailable(provider, &e))?;
        Ok(metadata.token_endpoint.clone())
    }

    fn entry(&self, provider: Provider) -> Result<&ProviderEntry> {
        self.inner.get(&provider).ok_or_else(|| {
            Error::Forbidden(format!(
                "Sign-in with {} is not available on this server. Ask its operator to set it up.",
                provider.label()
            ))
        })
    }
}

fn unavailable(provider: Provider, err: &UpstreamError) -> Error {
    tracing::warn!(provider = %provider, error = %err, "provider sign-in failed upstream");
    Error::Upstream(format!(
        "{} could not be reached, or is not set up correctly on this server. Try again in a few minutes, or sign in another way.",
        provider.label()
    ))
}

/// A started sign-in: where to send the browser, and the browser's binding cookie (set again at
/// every start, so it outlives the newest attempt).
pub struct Started {
    pub authorization_url: String,
    pub browser_secret: Secret,
}

/// Starts a provider sign-in for `purpose`. `browser` is the binding cookie the browser already
/// has, if any: one browser may have several sign-ins in flight (tabs).
#[tracing::instrument(skip_all, fields(provider = %provider))]
pub async fn start(
    db: &Db,
    providers: &Providers,
    provider: Provider,
    purpose: &Purpose,
    browser: Option<&str>,
    login_hint: Option<&str>,
) -> Result<Started> {
    let entry = providers.entry(provider)?;
    let (metadata, _) = entry
        .discovered
        .get(providers.http(), &entry.settings)
        .await
        .map_err(|e| unavailable(provider, &e))?;
    let settings = &entry.settings;
    let client = CoreClient::from_provider_metadata(
        metadata.parsed.clone(),
        ClientId::new(settings.client_id.clone()),
        Some(ClientSecret::new(settings.client_secret.expose_secret().to_owned())),
    )
    .set_redirect_uri(
        RedirectUrl::new(settings.redirect_uri.clone()).map_err(|e| Error::Internal(format!("redirect URI: {e}")))?,
    );
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let state = Secret::generate();
    let nonce = Secret::generate();
    let (state_value, nonce_value) = (state.expose().to_owned(), nonce.expose().to_owned());
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            move || CsrfToken::new(state_value),
            move || Nonce::new(nonce_value),
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge);
    if let Some(hint) = login_hint.filter(|h| !h.is_empty() && h.len() <= 254) {
        request = request.add_extra_param("login_hint", hint.to_owned());
    }
    if matches!(purpose, Purpose::Directory { .. }) {
        // Google's consent to read the directory, with a refresh token for later syncs: offline
        // access, and the consent screen every time (Google hands out a refresh token only then).
        request = request
            .add_scope(Scope::new(GOOGLE_DIRECTORY_SCOPE.into()))
            .add_extra_param("access_type", "offline")
            .add_extra_param("prompt", "consent");
    }
    let (url, _, _) = request.url();

    let browser_secret = record_attempt(
        db,
        provider,
        purpose,
        browser,
        &state,
        nonce.expose(),
        verifier.secret(),
    )
    .await?;
    Ok(Started {
        authorization_url: url.to_string(),
        browser_secret,
    })
}

/// Keeps an attempt in flight until its callback: the digests of its `state` and of the
/// browser's binding cookie, what it is for, its nonce and PKCE verifier. Returns the cookie:
/// the browser's own when it is one of ours in form (several tabs may have attempts in flight),
/// else a new one.
pub async fn record_attempt(
    db: &Db,
    provider: Provider,
    purpose: &Purpose,
    browser: Option<&str>,
    state: &Secret,
    nonce: &str,
    pkce_verifier: &str,
) -> Result<Secret> {
    let browser_secret = match browser.filter(|b| b.len() == 64 && b.bytes().all(|c| c.is_ascii_hexdigit())) {
        Some(existing) => Secret::from_existing(existing),
        None => Secret::generate(),
    };
    sqlx::query(
        "insert into oidc_attempts (state_hash, browser_hash, provider, purpose, nonce, pkce_verifier, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(state.digest())
    .bind(browser_secret.digest())
    .bind(provider.as_str())
    .bind(serde_json::to_value(purpose).map_err(|e| Error::Internal(e.to_string()))?)
    .bind(nonce)
    .bind(pkce_verifier)
    .bind(Utc::now() + ATTEMPT_LIFETIME)
    .execute(db)
    .await?;
    Ok(browser_secret)
}

/// What the provider sent back to the callback.
pub struct Callback<'a> {
    pub state: &'a str,
    pub code: Option<&'a str>,
    /// `error` and `error_description`, when the person cancelled or the provider refused.
    pub error: Option<&'a str>,
    pub error_description: Option<&'a str>,
    /// The binding cookie of the browser calling back.
    pub browser: Option<&'a str>,
}

/// Messages for the ways a callback fails before the token is checked.
pub const ATTEMPT_EXPIRED: &str =
    "This sign-in attempt has expired or was already used. Start again from the sign-in page.";

/// A callback's attempt, consumed and checked: the browser that started it, the provider, its
/// lifetime, and no error sent back.
pub struct TakenAttempt {
    pub purpose: Purpose,
    nonce: String,
    pkce_verifier: String,
}

/// Completes a provider sign-in: consumes the attempt (whatever happens next), exchanges the
/// code and checks the ID token. Returns what the attempt was for, the account proved, and the
/// time spent waiting on the provider (the code exchange and any key refetch).
#[tracing::instrument(skip_all, fields(provider = %provider))]
pub async fn finish(
    db: &Db,
    providers: &Providers,
    provider: Provider,
    callback: Callback<'_>,
) -> Result<(Purpose, VerifiedAccount, std::time::Duration)> {
    let attempt = take_attempt(db, provider, &callback).await?;
    let (account, waited, _) = complete(providers, provider, &attempt, callback.code).await?;
    Ok((attempt.purpose, account, waited))
}

/// Consumes the attempt a callback names (single use: deleted on the first callback that names
/// it, whatever that callback carries) and checks it belongs to this browser and provider, is
/// still current, and was not refused or cancelled at the provider.
pub async fn take_attempt(db: &Db, provider: Provider, callback: &Callback<'_>) -> Result<TakenAttempt> {
    if callback.state.is_empty() || callback.state.len() > MAX_PARAM_BYTES {
        return Err(Error::Forbidden(ATTEMPT_EXPIRED.into()));
    }
    #[derive(sqlx::FromRow)]
    struct Attempt {
        browser_hash: Vec<u8>,
        provider: String,
        purpose: serde_json::Value,
        nonce: String,
        pkce_verifier: String,
        expired: bool,
    }
    let attempt: Option<Attempt> = sqlx::query_as(
        "delete from oidc_attempts where state_hash = $1
         returning browser_hash, provider, purpose, nonce, pkce_verifier, expires_at <= now() as expired",
    )
    .bind(token::digest(callback.state))
    .fetch_optional(db)
    .await?;
    let Some(attempt) = attempt else {
        return Err(Error::Forbidden(ATTEMPT_EXPIRED.into()));
    };
    // Bound to the browser that started it: a callback URL replayed in (or planted into)
    // another browser is refused. Digests compared: no timing signal about the cookie.
    let same_browser = callback
        .browser
        .is_some_and(|b| token::digest(b) == attempt.browser_hash);
    if !same_browser || attempt.provider != provider.as_str() || attempt.expired {
        return Err(Error::Forbidden(ATTEMPT_EXPIRED.into()));
    }
    let purpose: Purpose =
        serde_json::from_value(attempt.purpose).map_err(|e| Error::Internal(format!("attempt purpose: {e}")))?;
    if let Some(error) = callback.error {
        let cancelled = matches!(
            error,
            "access_denied" | "consent_required" | "interaction_required" | "login_required"
        );
        let description: String = callback.error_description.unwrap_or("").chars().take(200).collect();
        let error_logged: String = error.chars().take(60).collect();
        tracing::info!(provider = %provider, error = error_logged, description, "the provider sent back an error");
        let what = match purpose {
            Purpose::Directory { .. } => "directory access",
            _ => "sign-in",
        };
        return Err(Error::Forbidden(if cancelled {
            format!(
                "The {what} was cancelled or not allowed at {}. Nothing was changed. Start again if you meant to do it.",
                provider.label()
            )
        } else {
            format!(
                "{} refused the {what} ({}). Start again; if it keeps happening, ask your admin.",
                provider.label(),
                error
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .take(60)
                    .collect::<String>()
            )
        }));
    }
    Ok(TakenAttempt {
        purpose,
        nonce: attempt.nonce,
        pkce_verifier: attempt.pkce_verifier,
    })
}

/// What a token endpoint handed out beside the ID token (Google's directory consent keeps it).
pub struct TokenGrant {
    pub access_token: Option<SecretString>,
    pub refresh_token: Option<SecretString>,
    pub expires_in: Option<i64>,
    pub scope: Option<String>,
}

/// Exchanges a taken attempt's code and checks the ID token it brings: the account proved,
/// the time spent waiting on the provider, and the tokens handed out.
pub async fn complete(
    providers: &Providers,
    provider: Provider,
    attempt: &TakenAttempt,
    code: Option<&str>,
) -> Result<(VerifiedAccount, std::time::Duration, TokenGrant)> {
    let code = code
        .filter(|c| !c.is_empty() && c.len() <= MAX_PARAM_BYTES)
        .ok_or_else(|| Error::Forbidden(ATTEMPT_EXPIRED.into()))?;

    let entry = providers.entry(provider)?;
    let (metadata, keys) = entry
        .discovered
        .get(providers.http(), &entry.settings)
        .await
        .map_err(|e| unavailable(provider, &e))?;
    let waiting = std::time::Instant::now();
    let body = exchange_code(
        providers.http(),
        &entry.settings,
        &metadata.token_endpoint,
        code,
        &attempt.pkce_verifier,
    )
    .await
    .map_err(|e| match e {
        Exchange::Upstream(e) => unavailable(provider, &e),
        Exchange::Refused(why) => {
            tracing::info!(provider = %provider, why, "the provider refused the code");
            Error::Forbidden(format!(
                "{} did not confirm this sign-in (the code was refused). Start again from the sign-in page.",
                provider.label()
            ))
        }
    })?;
    let mut provider_wait = waiting.elapsed();
    let text = |name: &str| body.get(name).and_then(|t| t.as_str()).map(str::to_owned);
    let id_token = text("id_token").ok_or_else(|| {
        tracing::info!(provider = %provider, "the token response has no id_token");
        Error::Forbidden(format!(
            "{} did not confirm this sign-in (no ID token). Start again from the sign-in page.",
            provider.label()
        ))
    })?;
    let grant = TokenGrant {
        access_token: text("access_token").map(SecretString::from),
        refresh_token: text("refresh_token").map(SecretString::from),
        expires_in: body.get("expires_in").and_then(|v| v.as_i64()),
        scope: text("scope"),
    };
    let verified = match verify::verify(&entry.settings, &metadata, &keys, &id_token, &attempt.nonce) {
        Err(verify::Refusal::UnknownKey) => {
            let refetching = std::time::Instant::now();
            let fresh = entry.discovered.refetch_keys(providers.http()).await;
            provider_wait += refetching.elapsed();
            match fresh {
                Some(fresh) => verify::verify(&entry.settings, &metadata, &fresh, &id_token, &attempt.nonce),
                None => Err(verify::Refusal::Invalid("the token's signing key is unknown".into())),
            }
        }
        other => other,
    };
    let account = verified.map_err(|refusal| {
        let why = match refusal {
            verify::Refusal::UnknownKey => "the token's signing key is unknown".to_owned(),
            verify::Refusal::Invalid(why) => why,
        };
        tracing::warn!(provider = %provider, why, "an ID token was refused");
        Error::Forbidden(format!(
            "{}'s answer could not be verified, so you were not signed in. Start again; if it keeps happening, tell your admin.",
            provider.label()
        ))
    })?;
    Ok((account, provider_wait, grant))
}

enum Exchange {
    Upstream(UpstreamError),
    Refused(String),
}

/// The token request (client credentials in the body, which all three accept), returning the
/// token response. Errors: RFC 6749's JSON `error`, or Slack's HTTP 200 `{"ok": false}`.
async fn exchange_code(
    http: &reqwest::Client,
    settings: &ProviderSettings,
    token_endpoint: &str,
    code: &str,
    pkce_verifier: &str,
) -> std::result::Result<serde_json::Value, Exchange> {
    let verifier = PkceCodeVerifier::new(pkce_verifier.to_owned());
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", settings.redirect_uri.as_str()),
        ("client_id", settings.client_id.as_str()),
        ("client_secret", settings.client_secret.expose_secret()),
        ("code_verifier", verifier.secret().as_str()),
    ];
    let response = http
        .post(token_endpoint)
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&form)
        .send()
        .await
        .map_err(|e| {
            Exchange::Upstream(UpstreamError::Unreachable(format!(
                "{token_endpoint}: {}",
                discovery::error_chain(&e)
            )))
        })?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.map_err(|e| {
        Exchange::Upstream(UpstreamError::Misconfigured(format!(
            "the token endpoint answered HTTP {status} without JSON ({e})"
        )))
    })?;
    let error_text = |body: &serde_json::Value| {
        let error = body.get("error").and_then(|e| e.as_str()).unwrap_or("unknown_error");
        match body.get("error_description").and_then(|e| e.as_str()) {
            Some(d) => format!("{error}: {}", d.chars().take(200).collect::<String>()),
            None => error.to_owned(),
        }
    };
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Err(Exchange::Upstream(UpstreamError::Unreachable(format!(
            "the token endpoint answered HTTP {status}"
        ))));
    }
    if !status.is_success() || body.get("ok") == Some(&serde_json::Value::Bool(false)) {
        return Err(Exchange::Refused(error_text(&body)));
    }
    Ok(body)
}

/// Deletes attempts that expired (housekeeping).
#[tracing::instrument(skip_all)]
pub async fn purge_expired(db: &Db) -> Result<u64> {
    Ok(sqlx::query("delete from oidc_attempts where expires_at < now()")
        .execute(db)
        .await?
        .rows_affected())
}

//! A provider's discovery document and signing keys, fetched once and kept per process. Each
//! app server keeps its own copy: they need not agree, since each is only ever a copy of what
//! the provider publishes. Keys are refetched when a token names a key we do not have, at most
//! once per [`JWKS_REFETCH_INTERVAL`], so a stream of bad tokens cannot make us hammer the
//! provider; and when older than an hour, so a key the provider withdrew stops being trusted.
//! Keys are fetched outside the cache's lock: sign-ins with the keys we have never wait on one.

use super::{ProviderSettings, UpstreamError};
use crate::providers::Provider;
use openidconnect::core::CoreProviderMetadata;
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Least time between two key refetches caused by unknown key ids.
pub const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// Signing keys older than this are fetched again when next used.
const KEYS_MAX_AGE: Duration = Duration::from_secs(60 * 60);
/// A failed discovery is retried on the next sign-in after this long.
const DISCOVERY_RETRY: Duration = Duration::from_secs(15);

/// What Rollcall needs from a discovery document.
#[derive(Debug, Clone)]
pub struct Metadata {
    /// The `issuer` as published (Entra's multi-tenant documents publish a `{tenantid}` template).
    pub issuer: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    /// As parsed by `openidconnect`, for building authorization requests.
    pub parsed: CoreProviderMetadata,
}

/// A provider's RSA signing keys (its JWKS), as raw modulus and exponent, for `verify`'s
/// signature check.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    pub rsa: Vec<RsaKey>,
}

#[derive(Debug, Clone)]
pub(super) struct RsaKey {
    pub kid: Option<String>,
    /// Entra publishes which issuer each key signs for (a `{tenantid}` template, or one tenant).
    pub issuer: Option<String>,
    pub n: Vec<u8>,
    pub e: Vec<u8>,
}

/// The RSA keys of a JWKS document meant for signatures (`use` absent or `sig`).
fn rsa_keys(body: &serde_json::Value) -> Vec<RsaKey> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let keys = body.get("keys").and_then(|k| k.as_array()).cloned().unwrap_or_default();
    keys.iter()
        .filter(|k| k.get("kty").and_then(|t| t.as_str()) == Some("RSA"))
        .filter(|k| k.get("use").and_then(|u| u.as_str()).is_none_or(|u| u == "sig"))
        .filter_map(|k| {
            let field = |name: &str| {
                URL_SAFE_NO_PAD
                    .decode(k.get(name)?.as_str()?.trim_end_matches('='))
                    .ok()
            };
            Some(RsaKey {
                kid: k.get("kid").and_then(|i| i.as_str()).map(str::to_owned),
                issuer: k.get("issuer").and_then(|i| i.as_str()).map(str::to_owned),
                n: field("n")?,
                e: field("e")?,
            })
        })
        .collect()
}

#[derive(Default)]
struct Cached {
    metadata: Option<Arc<Metadata>>,
    keys: Option<Arc<Keys>>,
    keys_fetched_at: Option<Instant>,
    last_failure: Option<(Instant, String)>,
    last_refetch: Option<Instant>,
}

/// One provider's published configuration, as this process knows it.
pub(super) struct Discovered {
    cache: Mutex<Cached>,
}

impl Discovered {
    pub fn new() -> Self {
        Discovered {
            cache: Mutex::new(Cached::default()),
        }
    }

    /// The metadata and keys, fetching them if this process has none yet (or its last try
    /// failed long enough ago).
    pub async fn get(
        &self,
        http: &reqwest::Client,
        settings: &ProviderSettings,
    ) -> Result<(Arc<Metadata>, Arc<Keys>), UpstreamError> {
        let (metadata, keys, stale) = {
            let cache = self.cache.lock().await;
            let stale = cache.keys_fetched_at.is_some_and(|at| at.elapsed() > KEYS_MAX_AGE);
            (cache.metadata.clone(), cache.keys.clone(), stale)
        };
        if let (Some(m), Some(k)) = (metadata, keys) {
            if stale {
                // Keys a provider has since withdrawn (rotated out, revoked) stop being trusted
                // within the hour; a failed refresh keeps the ones we have.
                if let Some(fresh) = self.refresh_keys(http, &m.jwks_uri).await {
                    return Ok((m, fresh));
                }
            }
            return Ok((m, k));
        }
        let mut cache = self.cache.lock().await;
        // Another sign-in may have discovered the provider while this one waited for the lock.
        if let (Some(m), Some(k)) = (&cache.metadata, &cache.keys) {
            return Ok((m.clone(), k.clone()));
        }
        if let Some((at, why)) = &cache.last_failure {
            if at.elapsed() < DISCOVERY_RETRY {
                return Err(UpstreamError::Misconfigured(why.clone()));
            }
        }
        match fetch(http, settings).await {
            Ok((metadata, keys)) => {
                let (m, k) = (Arc::new(metadata), Arc::new(keys));
                cache.metadata = Some(m.clone());
                cache.keys = Some(k.clone());
                cache.keys_fetched_at = Some(Instant::now());
                cache.last_failure = None;
                Ok((m, k))
            }
            Err(err) => {
                cache.last_failure = Some((Instant::now(), err.to_string()));
                Err(err)
            }
        }
    }

    /// Fetches the keys again after a token named a key we lack. `None` when a refetch happened
    /// too recently (the token is then refused).
    pub async fn refetch_keys(&self, http: &reqwest::Client) -> Option<Arc<Keys>> {
        let jwks_uri = {
            let mut cache = self.cache.lock().await;
            if cache
                .last_refetch
                .is_some_and(|at| at.elapsed() < JWKS_REFETCH_INTERVAL)
            {
                return None;
            }
            cache.last_refetch = Some(Instant::now());
            cache.metadata.as_ref()?.jwks_uri.clone()
        };
        // Fetched without the lock: sign-ins with keys we have go on meanwhile.
        match fetch_keys(http, &jwks_uri).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                let mut cache = self.cache.lock().await;
                cache.keys = Some(keys.clone());
                cache.keys_fetched_at = Some(Instant::now());
                Some(keys)
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not refetch a provider's signing keys");
                None
            }
        }
    }

    /// Fetches the keys again because they are old (see [`KEYS_MAX_AGE`]), outside the lock;
    /// `None` on failure (the old keys stay).
    async fn refresh_keys(&self, http: &reqwest::Client, jwks_uri: &str) -> Option<Arc<Keys>> {
        {
            // One refresh at a time: the others go on with the keys they have.
            let mut cache = self.cache.lock().await;
            if cache.keys_fetched_at.is_some_and(|at| at.elapsed() <= KEYS_MAX_AGE) {
                return cache.keys.clone();
            }
            cache.keys_fetched_at = Some(Instant::now());
        }
        match fetch_keys(http, jwks_uri).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                self.cache.lock().await.keys = Some(keys.clone());
                Some(keys)
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not refresh a provider's signing keys");
                None
            }
        }
    }

    /// The last discovery failure, if discovery has not succeeded since.
    pub async fn problem(&self) -> Option<String> {
        let cache = self.cache.lock().await;
        match (&cache.metadata, &cache.last_failure) {
            (Some(_), _) => None,
            (None, Some((_, why))) => Some(why.clone()),
            (None, None) => None,
        }
    }
}

/// Where the discovery document lives: Entra's multi-tenant `organizations` document under the
/// authority; the issuer's well-known path for the others.
pub fn discovery_url(provider: Provider, base: &str) -> String {
    let base = base.trim_end_matches('/');
    match provider {
        Provider::Microsoft => format!("{base}/organizations/v2.0/.well-known/openid-configuration"),
        _ => format!("{base}/.well-known/openid-configuration"),
    }
}

/// The issuer the discovery document must publish.
pub fn expected_issuer(provider: Provider, base: &str) -> String {
    let base = base.trim_end_matches('/');
    match provider {
        Provider::Microsoft => format!("{base}/{{tenantid}}/v2.0"),
        _ => base.to_owned(),
    }
}

async fn fetch(http: &reqwest::Client, settings: &ProviderSettings) -> Result<(Metadata, Keys), UpstreamError> {
    let url = discovery_url(settings.provider, &settings.issuer);
    let body = get_json(http, &url).await?;
    // The fields Rollcall reads, checked before openidconnect's own parse so a broken document
    // is named precisely.
    #[derive(Deserialize)]
    struct Required {
        issuer: String,
        // Read by openidconnect below; required here so its absence is named.
        #[allow(dead_code)]
        authorization_endpoint: String,
        token_endpoint: String,
        jwks_uri: String,
    }
    let required: Required = serde_json::from_value(body.clone()).map_err(|e| {
        UpstreamError::Misconfigured(format!(
            "the discovery document at {url} is missing a required field ({e})"
        ))
    })?;
    let expected = expected_issuer(settings.provider, &settings.issuer);
    if required.issuer.trim_end_matches('/') != expected {
        return Err(UpstreamError::Misconfigured(format!(
            "the discovery document at {url} names issuer {} instead of {expected}",
            required.issuer
        )));
    }
    // openidconnect checks the published issuer against the URL it fetched from, which Entra's
    // template issuer fails (PROTOCOLS.md §0): the document is fetched here and parsed with
    // serde, and the issuer checked above instead.
    let parsed: CoreProviderMetadata = serde_json::from_value(body)
        .map_err(|e| UpstreamError::Misconfigured(format!("the discovery document at {url} is not valid ({e})")))?;
    let keys = fetch_keys(http, &required.jwks_uri).await?;
    Ok((
        Metadata {
            issuer: required.issuer,
            token_endpoint: required.token_endpoint,
            jwks_uri: required.jwks_uri,
            parsed,
        },
        keys,
    ))
}

async fn fetch_keys(http: &reqwest::Client, jwks_uri: &str) -> Result<Keys, UpstreamError> {
    let body = get_json(http, jwks_uri).await?;
    if body.get("keys").and_then(|k| k.as_array()).is_none() {
        return Err(UpstreamError::Misconfigured(format!(
            "the signing keys at {jwks_uri} are not a JWKS document (no \"keys\" list)"
        )));
    }
    Ok(Keys { rsa: rsa_keys(&body) })
}

async fn get_json(http: &reqwest::Client, url: &str) -> Result<serde_json::Value, UpstreamError> {
    let response = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| UpstreamError::Unreachable(format!("{url}: {}", error_chain(&e))))?;
    let status = response.status();
    if !status.is_success() {
        return Err(UpstreamError::Misconfigured(format!("{url} answered HTTP {status}")));
    }
    response
        .json()
        .await
        .map_err(|e| UpstreamError::Misconfigured(format!("{url} did not answer with JSON ({e})")))
}

/// An error and its causes on one line (reqwest's own message alone says little).
pub(super) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

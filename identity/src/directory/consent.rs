//! Asking an administrator of the organisation's directory for read access, and what comes back
//! (PROTOCOLS.md §4–6): Google's OAuth consent to `admin.directory.user.readonly` with offline
//! access (a refresh token), Entra's admin consent to the application permission `User.Read.All`
//! (then app-only tokens by client credentials for that tenant), Slack's app install with
//! `users:read` and `users:read.email`.
//!
//! Each goes out and comes back through the provider's one registered redirect URI
//! (`/auth/{provider}/callback`), as an attempt of the sign-in machinery (`auth::oidc`): single
//! use, bound to the browser that started it, and naming the admin and workspace it is for. The
//! directory must be the organisation the workspace connected (the integration's org key, from
//! a signed ID token); any other is refused, naming both.

use super::connections::{self, Granted};
use super::fetch::graph_app_token;
use crate::audit::Actor;
use crate::auth::oidc::{self, Providers, Purpose, Started, TakenAttempt, GOOGLE_DIRECTORY_SCOPE};
use crate::error::{Error, Result};
use crate::providers::Provider;
use crate::secrets::sealed::Sealer;
use crate::secrets::token::Secret;
use crate::secrets::{ExposeSecret, SecretString};
use crate::Db;
use chrono::{Duration, Utc};
use uuid::Uuid;

/// Slack's bot scopes for reading people with their emails.
pub const SLACK_SCOPES: &str = "users:read,users:read.email";

/// The organisation the workspace connected for `provider`, which the directory must belong to.
async fn org_key(db: &Db, org_id: Uuid, provider: Provider) -> Result<String> {
    let key: Option<Option<String>> =
        sqlx::query_scalar("select org_key from integrations where org_id = $1 and provider = $2 and mode <> 'off'")
            .bind(org_id)
            .bind(provider.as_str())
            .fetch_optional(db)
            .await?;
    key.flatten().ok_or_else(|| {
        Error::Forbidden(format!(
            "Connect your organisation's {} first (Integrations, \"Connect organisation\"): Rollcall imports only from the organisation it is connected to.",
            provider.label()
        ))
    })
}

/// Where to send the admin to grant read access to the directory.
pub async fn start(
    db: &Db,
    providers: &Providers,
    provider: Provider,
    org_id: Uuid,
    user_id: Uuid,
    browser: Option<&str>,
) -> Result<Started> {
    let key = org_key(db, org_id, provider).await?;
    let purpose = Purpose::Directory { org_id, user_id };
    let settings = providers.settings(provider).ok_or_else(|| {
        Error::Forbidden(format!(
            "{} is not available on this server. Ask its operator to set it up.",
            provider.label()
        ))
    })?;
    if provider == Provider::Google {
        return oidc::start(db, providers, provider, &purpose, browser, None).await;
    }
    let state = Secret::generate();
    let browser_secret = oidc::record_attempt(db, provider, &purpose, browser, &state, "", "").await?;
    let (base, params): (String, Vec<(&str, &str)>) = match provider {
        Provider::Microsoft => (
            format!("{}/{key}/adminconsent", settings.issuer),
            vec![
                ("client_id", settings.client_id.as_str()),
                ("redirect_uri", settings.redirect_uri.as_str()),
                ("state", state.expose()),
            ],
        ),
        _ => (
            format!("{}/oauth/v2/authorize", settings.issuer),
            vec![
                ("client_id", settings.client_id.as_str()),
                ("scope", SLACK_SCOPES),
                ("redirect_uri", settings.redirect_uri.as_str()),
                ("state", state.expose()),
            ],
        ),
    };
    let url = reqwest::Url::parse_with_params(&base, &params)
        .map_err(|e| Error::Internal(format!("directory consent URL: {e}")))?;
    Ok(Started {
        authorization_url: url.to_string(),
        browser_secret,
    })
}

/// What the provider sent back beside `state`.
#[derive(Default)]
pub struct Answer<'a> {
    pub code: Option<&'a str>,
    /// Entra: `admin_consent=True` and the `tenant` consented in.
    pub admin_consent: Option<&'a str>,
    pub tenant: Option<&'a str>,
}

fn other_directory(provider: Provider, found: &str, expected: &str) -> Error {
    Error::Forbidden(format!(
        "That {} directory belongs to {found}, but this workspace is connected to {expected}. \
         Grant access as an administrator of {expected}, or connect {found} as the organisation first.",
        provider.label()
    ))
}

fn upstream(provider: Provider, why: impl std::fmt::Display) -> Error {
    tracing::warn!(provider = %provider, why = %why, "directory consent failed upstream");
    Error::Upstream(format!(
        "{} could not be reached or did not confirm the access. Try again in a few minutes.",
        provider.label()
    ))
}

/// Completes a consent the admin `actor` started (the caller checked the session is still that
/// admin's): checks the directory is the connected organisation's, keeps the tokens sealed and
/// starts the first read. Returns the fetch's id.
pub async fn complete(
    db: &Db,
    sealer: &Sealer,
    providers: &Providers,
    actor: &Actor,
    provider: Provider,
    attempt: &TakenAttempt,
    answer: Answer<'_>,
) -> Result<i64> {
    let expected = org_key(db, actor.org_id, provider).await?;
    let settings = providers
        .settings(provider)
        .ok_or_else(|| Error::Forbidden(format!("{} is not available on this server.", provider.label())))?;
    let granted = match provider {
        Provider::Google => {
            let (account, _, grant) = oidc::complete(providers, provider, attempt, answer.code).await?;
            let found = account
                .org_claim
                .clone()
                .unwrap_or_else(|| "a personal Google account".into());
            if account.org_claim.as_deref() != Some(expected.as_str()) {
                return Err(other_directory(provider, &found, &expected));
            }
            let scopes = grant.scope.clone().unwrap_or_default();
            if !scopes.split(' ').any(|s| s == GOOGLE_DIRECTORY_SCOPE) {
                return Err(Error::Forbidden(format!(
                    "Google did not grant read access to the directory ({GOOGLE_DIRECTORY_SCOPE}). Start again and allow it."
                )));
            }
            let Some(refresh_token) = grant.refresh_token else {
                return Err(Error::Forbidden(
                    "Google did not grant offline access, so Rollcall could not sync later. Start again and allow it."
                        .into(),
                ));
            };
            let expires = Utc::now() + Duration::seconds(grant.expires_in.unwrap_or(3600).clamp(60, 86_400));
            Granted {
                access_token: grant.access_token.map(|t| (t, Some(expires))),
                refresh_token: Some(refresh_token),
                scope: grant.scope,
            }
        }
        Provider::Microsoft => {
            if !answer.admin_consent.is_some_and(|v| v.eq_ignore_ascii_case("true")) {
                return Err(Error::Forbidden(
                    "Microsoft did not confirm the admin consent. Start again as an administrator of the tenant."
                        .into(),
                ));
            }
            let found = answer.tenant.unwrap_or_default().trim().to_ascii_lowercase();
            if found != expected {
                return Err(other_directory(provider, &found, &expected));
            }
            // The consent is proved by an app-only token for that tenant, not by the redirect's
            // word (its parameters are the browser's to change).
            let token = graph_app_token(
                providers.http(),
                &settings.issuer,
                &expected,
                &settings.client_id,
                settings.client_secret.expose_secret(),
            )
            .await
            .map_err(|e| upstream(provider, e))?;
            Granted {
                access_token: Some((SecretString::from(token), Some(Utc::now() + Duration::minutes(50)))),
                refresh_token: None,
                scope: Some("https://graph.microsoft.com/User.Read.All".into()),
            }
        }
        Provider::Slack => {
            let code = answer
                .code
                .filter(|c| !c.is_empty() && c.len() <= 2048)
                .ok_or_else(|| Error::Forbidden(oidc::ATTEMPT_EXPIRED.into()))?;
            let form = [
                ("client_id", settings.client_id.as_str()),
                ("client_secret", settings.client_secret.expose_secret()),
                ("code", code),
                ("redirect_uri", settings.redirect_uri.as_str()),
            ];
            let response = providers
                .http()
                .post(format!("{}/oauth.v2.access", settings.directory_url))
                .form(&form)
                .send()
                .await
                .map_err(|e| upstream(provider, e))?;
            let status = response.status();
            let body: serde_json::Value = response
                .json()
                .await
                .map_err(|e| upstream(provider, format!("HTTP {status}: {e}")))?;
            let text = |path: &[&str]| {
                path.iter()
                    .try_fold(&body, |v, key| v.get(key))
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            if body.get("ok") != Some(&serde_json::Value::Bool(true)) {
                let error = text(&["error"]).unwrap_or_else(|| format!("HTTP {status}"));
                tracing::info!(error, "Slack refused the install");
                return Err(Error::Forbidden(format!(
                    "Slack did not complete the install ({}). Start again.",
                    error
                        .chars()
                        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .take(60)
                        .collect::<String>()
                )));
            }
            let found = text(&["enterprise", "id"])
                .or_else(|| text(&["team", "id"]))
                .unwrap_or_default()
                .to_ascii_uppercase();
            if found != expected {
                return Err(other_directory(provider, &found, &expected));
            }
            let scope = text(&["scope"]).unwrap_or_default();
            let granted: Vec<&str> = scope.split(',').map(str::trim).collect();
            if let Some(missing) = SLACK_SCOPES.split(',').find(|s| !granted.contains(s)) {
                return Err(Error::Forbidden(format!(
                    "The Slack install did not grant {missing}. Start again and allow it."
                )));
            }
            let token = text(&["access_token"]).ok_or_else(|| upstream(provider, "no access_token"))?;
            Granted {
                access_token: Some((SecretString::from(token), None)),
                refresh_token: None,
                scope: Some(scope),
            }
        }
    };
    connections::save(db, sealer, actor, provider, &expected, granted).await
}

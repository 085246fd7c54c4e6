//! Checking an ID token: signature and algorithm, audience and authorized party, expiry and
//! issue time with five minutes of skew, and the nonce (all by `openidconnect`), then each
//! provider's issuer rule (by us: PROTOCOLS.md §0's first pitfall), and reading the account the
//! token names.

use super::discovery::{Keys, Metadata};
use super::{ProviderSettings, VerifiedAccount};
use crate::providers::{is_guid, Provider};
use chrono::{Duration, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AdditionalClaims, ClaimsVerificationError, ClientId, IdToken, IdTokenVerifier, IssuerUrl, Nonce,
    SignatureVerificationError,
};
use serde::{Deserialize, Serialize};

/// Skew allowed on `exp` and `iat`.
pub const CLOCK_SKEW: Duration = Duration::minutes(5);

/// The claims beyond the standard ones that Rollcall reads.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProviderClaims {
    /// Google: the Workspace domain; absent for consumer accounts.
    #[serde(default)]
    hd: Option<String>,
    /// Entra: tenant and object ids, and whether the email's domain owner is verified.
    #[serde(default)]
    tid: Option<String>,
    #[serde(default)]
    oid: Option<String>,
    #[serde(default)]
    xms_edov: Option<serde_json::Value>,
    /// Slack: the workspace (team) and, for Enterprise Grid, the enterprise.
    #[serde(default, rename = "https://slack.com/team_id")]
    slack_team_id: Option<String>,
}

impl AdditionalClaims for ProviderClaims {}

type ProviderIdToken =
    IdToken<ProviderClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

/// Why a token was refused, in words for the log; people see a plain message.
#[derive(Debug)]
pub enum Refusal {
    /// The token names a signing key we do not have (refetch the keys once, then refuse).
    UnknownKey,
    Invalid(String),
}

pub fn verify(
    settings: &ProviderSettings,
    metadata: &Metadata,
    keys: &Keys,
    raw: &str,
    nonce: &str,
) -> Result<VerifiedAccount, Refusal> {
    // Google's legacy issuer spelling: its signature checked here, its claims below on a copy.
    let legacy_copy = match settings.provider {
        Provider::Google => google_legacy_copy(settings, keys, raw)?,
        _ => None,
    };
    let token: ProviderIdToken = legacy_copy
        .as_deref()
        .unwrap_or(raw)
        .parse()
        .map_err(|e| Refusal::Invalid(format!("the ID token could not be read ({e})")))?;
    let now = Utc::now();
    // RS256 only (the three providers' one algorithm): never `none`, and with no client secret
    // given to the verifier, never an HMAC keyed by something public.
    let verifier: IdTokenVerifier<'_, CoreJsonWebKey> = IdTokenVerifier::new_public_client(
        ClientId::new(settings.client_id.clone()),
        // Unused: the issuer is checked below, per provider.
        IssuerUrl::new("https://issuer.invalid".into()).expect("a valid URL"),
        keys.set.clone(),
    )
    .require_issuer_match(false)
    .set_allowed_algs([CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256])
    // `exp` is compared with this time: five minutes of grace for a slow clock.
    .set_time_fn(move || now - CLOCK_SKEW)
    .set_issue_time_verifier_fn(move |iat| {
        if iat > now + CLOCK_SKEW {
            Err(format!("issued in the future ({iat})"))
        } else {
            Ok(())
        }
    });
    // The copy's signature no longer matches its payload; the original's was checked.
    let verifier = if legacy_copy.is_some() {
        verifier.insecure_disable_signature_check()
    } else {
        verifier
    };
    let expected_nonce = Nonce::new(nonce.to_owned());
    let claims = match token.claims(&verifier, &expected_nonce) {
        Ok(claims) => claims,
        Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
            return Err(Refusal::UnknownKey)
        }
        Err(err) => return Err(Refusal::Invalid(err.to_string())),
    };
    // openidconnect leaves `azp` to the client: when present it must be us, and a token for
    // several audiences must name us in it.
    match claims.authorized_party() {
        Some(azp) if azp.as_str() != settings.client_id => {
            return Err(Refusal::Invalid(format!(
                "azp is {} instead of our client",
                azp.as_str()
            )))
        }
        None if claims.audiences().len() > 1 => return Err(Refusal::Invalid("several audiences and no azp".into())),
        _ => {}
    }
    let extra = claims.additional_claims();
    let iss = claims.issuer().as_str().trim_end_matches('/').to_owned();
    let base = settings.issuer.trim_end_matches('/');
    let subject = claims.subject().as_str().to_owned();
    if subject.is_empty() || subject.len() > 255 {
        return Err(Refusal::Invalid("sub is empty or too long".into()));
    }
    let email = claims
        .email()
        .map(|e| e.as_str().trim().to_owned())
        .filter(|e| !e.is_empty());
    let name = claims
        .name()
        .and_then(|n| n.get(None))
        .map(|n| n.as_str().trim().to_owned())
        .filter(|n| !n.is_empty());
    let account = match settings.provider {
        Provider::Google => {
            // Exactly the published issuer and Google's documented scheme-less legacy form.
            let legacy = base.split_once("://").map(|(_, rest)| rest).unwrap_or(base);
            if iss != base && iss != legacy {
                return Err(Refusal::Invalid(format!("iss {iss} is not Google's")));
            }
            VerifiedAccount {
                provider: Provider::Google,
                tenant: String::new(),
                subject,
                org_claim: extra
                    .hd
                    .as_deref()
                    .and_then(|hd| Provider::Google.normalise_org_key(hd)),
                email_verified: claims.email_verified() == Some(true) && email.is_some(),
                email,
                name,
            }
        }
        Provider::Microsoft => {
            let tid = extra.tid.as_deref().unwrap_or_default().to_ascii_lowercase();
            if !is_guid(&tid) {
                return Err(Refusal::Invalid("tid is missing or not a GUID".into()));
            }
            // Microsoft's multi-tenant rule: the token's tenant, put into the published
            // template, must give exactly the token's issuer.
            let expected = metadata.issuer.trim_end_matches('/').replace("{tenantid}", &tid);
            if claims.issuer().as_str() != expected || !metadata.issuer.contains("{tenantid}") {
                return Err(Refusal::Invalid(format!("iss {iss} does not match tenant {tid}")));
            }
            let oid = extra.oid.as_deref().unwrap_or_default().to_ascii_lowercase();
            if !is_guid(&oid) {
                return Err(Refusal::Invalid("oid is missing or not a GUID".into()));
            }
            // Entra's `email` is unverified and mutable (nOAuth): it counts as verified only
            // when the token says the domain's owner verified it.
            let edov = matches!(&extra.xms_edov, Some(serde_json::Value::Bool(true)))
                || matches!(&extra.xms_edov, Some(serde_json::Value::String(s)) if s == "true" || s == "1");
            VerifiedAccount {
                provider: Provider::Microsoft,
                tenant: tid.clone(),
                subject: oid,
                org_claim: Some(tid),
                email_verified: edov && email.is_some(),
                email,
                name,
            }
        }
        Provider::Slack => {
            if iss != base {
                return Err(Refusal::Invalid(format!("iss {iss} is not Slack's")));
            }
            let team = extra
                .slack_team_id
                .as_deref()
                .and_then(|t| Provider::Slack.normalise_org_key(t));
            VerifiedAccount {
                provider: Provider::Slack,
                tenant: team.clone().unwrap_or_default(),
                subject,
                org_claim: team,
                email_verified: claims.email_verified() == Some(true) && email.is_some(),
                email,
                name,
            }
        }
    };
    Ok(account)
}

/// Google documents that its ID tokens may carry the scheme-less legacy issuer
/// `accounts.google.com`, which `openidconnect` cannot read (it parses `iss` as a URL). For such
/// a token this checks the signature of the token as sent (RS256, with the provider's key named
/// by `kid`, or its only key), then returns a copy whose `iss` is the published issuer, for
/// `openidconnect` to check every other claim with its signature check off. `None`: not a legacy
/// token, verified the usual way.
fn google_legacy_copy(settings: &ProviderSettings, keys: &Keys, raw: &str) -> Result<Option<String>, Refusal> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use openidconnect::JsonWebKey;
    let base = settings.issuer.trim_end_matches('/');
    let legacy = base.split_once("://").map(|(_, rest)| rest).unwrap_or(base);
    let parts: Vec<&str> = raw.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return Ok(None);
    };
    let decode =
        |part: &str| -> Option<serde_json::Value> { serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok() };
    let Some(mut claims) = decode(payload) else {
        return Ok(None);
    };
    if claims.get("iss").and_then(|i| i.as_str()) != Some(legacy) {
        return Ok(None);
    }
    let header = decode(header).ok_or_else(|| Refusal::Invalid("unreadable header".into()))?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("RS256") {
        return Err(Refusal::Invalid("a legacy-issuer token not signed with RS256".into()));
    }
    let kid = header.get("kid").and_then(|k| k.as_str());
    let candidates: Vec<_> = keys
        .set
        .keys()
        .iter()
        .filter(|k| kid.is_none() || k.key_id().map(|id| id.as_str()) == kid)
        .collect();
    let key = match candidates[..] {
        [] => return Err(Refusal::UnknownKey),
        [key] => key,
        _ => return Err(Refusal::Invalid("several keys and no kid".into())),
    };
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| Refusal::Invalid("unreadable signature".into()))?;
    let signed = raw.len() - parts[2].len() - 1;
    key.verify_signature(
        &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        &raw.as_bytes()[..signed],
        &signature,
    )
    .map_err(|e| Refusal::Invalid(format!("bad signature ({e})")))?;
    claims["iss"] = serde_json::Value::String(base.to_owned());
    let copy = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).map_err(|e| Refusal::Invalid(e.to_string()))?);
    Ok(Some(format!("{}.{copy}.{}", parts[0], parts[2])))
}

//! Checking an ID token: signature and algorithm, audience and authorized party, expiry and
//! issue time with five minutes of skew, and the nonce (all by `openidconnect`), then each
//! provider's issuer rule (by us: PROTOCOLS.md §0's first pitfall), and reading the account the
//! token names.

use super::discovery::{Keys, Metadata, RsaKey};
use super::{ProviderSettings, VerifiedAccount};
use crate::providers::{is_guid, Provider};
use chrono::{Duration, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{AdditionalClaims, ClientId, IdToken, IdTokenVerifier, IssuerUrl, Nonce};
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
    let signing_key = check_signature(keys, raw)?;
    // Google's legacy issuer spelling: its claims are checked on a copy (see below).
    let legacy_copy = match settings.provider {
        Provider::Google => google_legacy_copy(settings, raw),
        _ => None,
    };
    let token: ProviderIdToken = legacy_copy
        .as_deref()
        .unwrap_or(raw)
        .parse()
        .map_err(|e| Refusal::Invalid(format!("the ID token could not be read ({e})")))?;
    let now = Utc::now();
    // RS256 only (the three providers' one algorithm), checked by `check_signature`; the list
    // is kept here too, should the signature check ever move back into openidconnect.
    let verifier: IdTokenVerifier<'_, CoreJsonWebKey> = IdTokenVerifier::new_public_client(
        ClientId::new(settings.client_id.clone()),
        // Unused: the issuer is checked below, per provider.
        IssuerUrl::new("https://issuer.invalid".into()).expect("a valid URL"),
        // No keys: the signature is checked by `check_signature`, before this verifier runs.
        openidconnect::JsonWebKeySet::new(vec![]),
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
    // The signature was checked above, on the token as sent (`check_signature`).
    let verifier = verifier.insecure_disable_signature_check();
    let expected_nonce = Nonce::new(nonce.to_owned());
    let claims = token
        .claims(&verifier, &expected_nonce)
        .map_err(|err| Refusal::Invalid(err.to_string()))?;
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
            // Microsoft's step 4: a key published for one issuer (say, the consumer tenant's)
            // signs only for that issuer; a templated key for any tenant, once filled in.
            if let Some(key_issuer) = &signing_key.issuer {
                if key_issuer.replace("{tenantid}", &tid) != claims.issuer().as_str() {
                    return Err(Refusal::Invalid(format!(
                        "the signing key is for {key_issuer}, not {iss}"
                    )));
                }
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

/// Checks the token's RS256 signature with the provider's key: the one its `kid` names, or,
/// without a `kid`, the provider's only key. Any other `alg` (`none`, HS256...) is refused.
///
/// Done with `ring` rather than by `openidconnect`, whose RSA arithmetic (`num-bigint-dig`)
/// took 37% of the server's CPU per sign-in in bench/sso (perf, 2026-12-06); `openidconnect`
/// then checks every claim with its own signature check off. See the README's benchmark table
/// for the measured gain.
fn check_signature<'k>(keys: &'k Keys, raw: &str) -> Result<&'k RsaKey, Refusal> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let parts: Vec<&str> = raw.split('.').collect();
    let [header, _, signature] = parts[..] else {
        return Err(Refusal::Invalid("not a signed JWT".into()));
    };
    let header: serde_json::Value = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or_else(|| Refusal::Invalid("unreadable header".into()))?;
    let alg = header.get("alg").and_then(|a| a.as_str()).unwrap_or("");
    if alg != "RS256" {
        return Err(Refusal::Invalid(format!("alg {alg:?} is not RS256")));
    }
    let kid = header.get("kid").and_then(|k| k.as_str());
    let candidates: Vec<&RsaKey> = keys
        .rsa
        .iter()
        .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
        .collect();
    let key = match candidates[..] {
        [] => return Err(Refusal::UnknownKey),
        [key] => key,
        _ => return Err(Refusal::Invalid("several keys match and the token names none".into())),
    };
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| Refusal::Invalid("unreadable signature".into()))?;
    let signed = &raw.as_bytes()[..raw.len() - parts[2].len() - 1];
    ring::signature::RsaPublicKeyComponents { n: &key.n, e: &key.e }
        .verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, signed, &signature)
        .map_err(|_| Refusal::Invalid("bad signature".into()))?;
    Ok(key)
}

/// Google documents that its ID tokens may carry the scheme-less legacy issuer
/// `accounts.google.com`, which `openidconnect` cannot read (it parses `iss` as a URL). For such
/// a token (its signature already checked on the token as sent), a copy whose `iss` is the
/// published issuer, for `openidconnect` to check the claims of. `None`: not a legacy token.
fn google_legacy_copy(settings: &ProviderSettings, raw: &str) -> Option<String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let base = settings.issuer.trim_end_matches('/');
    let legacy = base.split_once("://").map(|(_, rest)| rest).unwrap_or(base);
    let parts: Vec<&str> = raw.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return None;
    };
    let mut claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    if claims.get("iss").and_then(|i| i.as_str()) != Some(legacy) {
        return None;
    }
    claims["iss"] = serde_json::Value::String(base.to_owned());
    let copy = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).ok()?);
    Some(format!("{header}.{copy}.{signature}"))
}

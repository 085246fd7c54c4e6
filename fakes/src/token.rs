//! The claims each flavor puts in its ID tokens and userinfo answers, and how each
//! [`Sabotage`] bends them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::{Flavor, Persona, Sabotage};

/// Entra's tenant for personal Microsoft accounts: the `tid` of a persona without `org`.
pub(crate) const CONSUMER_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
/// The client an audience/authorized-party sabotage names instead of ours.
const OTHER_CLIENT: &str = "fake-other-client";
/// The tenant [`Sabotage::MicrosoftIssuerTenantMismatch`] puts in `iss`.
const OTHER_TENANT: &str = "0badbad0-0000-4000-8000-00000000bad0";
/// ID and access tokens live an hour, as with all three real providers.
const LIFETIME: i64 = 3600;

/// What an ID token is about: the parts that come from the authorization.
pub(crate) struct Subject<'a> {
    pub flavor: Flavor,
    pub base_url: &'a str,
    pub client_id: &'a str,
    pub persona: &'a Persona,
    pub nonce: &'a str,
}

/// The Entra issuer for tenant `tid` (the discovery document publishes it with `{tenantid}`).
pub(crate) fn microsoft_issuer(base_url: &str, tid: &str) -> String {
    format!("{base_url}/{tid}/v2.0")
}

/// The claims of a correct ID token, before sabotage and the persona's extra claims.
pub(crate) fn base_claims(s: &Subject, now: i64) -> Map<String, Value> {
    let p = s.persona;
    let mut c = Map::new();
    let mut put = |k: &str, v: Value| {
        c.insert(k.to_owned(), v);
    };
    put("aud", s.client_id.into());
    put("iat", now.into());
    put("exp", (now + LIFETIME).into());
    put("nonce", s.nonce.into());
    match s.flavor {
        Flavor::Google => {
            put("iss", s.base_url.into());
            put("azp", s.client_id.into());
            put("sub", p.subject.as_str().into());
            if let Some(email) = &p.email {
                put("email", email.as_str().into());
            }
            if let Some(verified) = p.email_verified {
                put("email_verified", verified.into());
            }
            if let Some(hd) = &p.org {
                put("hd", hd.as_str().into());
            }
        }
        Flavor::Microsoft => {
            let tid = p.org.as_deref().unwrap_or(CONSUMER_TENANT);
            put("iss", microsoft_issuer(s.base_url, tid).into());
            put("ver", "2.0".into());
            put("tid", tid.into());
            put("oid", p.subject.as_str().into());
            // Entra's `sub` is pairwise (differs per app) and is not the `oid`: a client keying
            // users on `sub` would get identifiers that match nothing in Graph.
            let pairwise = Sha256::new()
                .chain_update(s.client_id)
                .chain_update(b":")
                .chain_update(p.subject.as_bytes())
                .finalize();
            put("sub", URL_SAFE_NO_PAD.encode(pairwise).into());
            put("azp", s.client_id.into());
            put("nbf", now.into());
            if let Some(email) = &p.email {
                put("email", email.as_str().into());
                put("preferred_username", email.as_str().into());
            }
            if let Some(verified) = p.email_verified {
                put("xms_edov", verified.into());
            }
        }
        Flavor::Slack => {
            put("iss", s.base_url.into());
            put("sub", p.subject.as_str().into());
            put("auth_time", now.into());
            put("https://slack.com/user_id", p.subject.as_str().into());
            if let Some(team) = &p.org {
                put("https://slack.com/team_id", team.as_str().into());
            }
            if let Some(email) = &p.email {
                put("email", email.as_str().into());
            }
            if let Some(verified) = p.email_verified {
                put("email_verified", verified.into());
            }
        }
    }
    if let Some(name) = &p.name {
        put("name", name.as_str().into());
    }
    c
}

/// `at_hash`: the left half of the access token's SHA-256, base64url (OIDC Core 3.1.3.6).
pub(crate) fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// Bends a correct token's claims the way `sabotage` says. Sabotage that is not about claims
/// (signatures, endpoints) leaves them alone.
pub(crate) fn sabotage_claims(c: &mut Map<String, Value>, flavor: Flavor, sabotage: Sabotage, now: i64) {
    match sabotage {
        Sabotage::Expired => set_times(c, now - 2 * LIFETIME),
        Sabotage::IssuedInFuture => set_times(c, now + LIFETIME),
        Sabotage::WrongAudience => {
            c.insert("aud".into(), OTHER_CLIENT.into());
        }
        Sabotage::WrongAuthorizedParty => {
            c.insert("azp".into(), OTHER_CLIENT.into());
        }
        Sabotage::WrongIssuer => {
            let iss = match flavor {
                Flavor::Microsoft => {
                    let tid = c
                        .get("tid")
                        .and_then(Value::as_str)
                        .unwrap_or(CONSUMER_TENANT)
                        .to_owned();
                    microsoft_issuer("https://issuer.example.invalid", &tid)
                }
                _ => "https://issuer.example.invalid".to_owned(),
            };
            c.insert("iss".into(), iss.into());
        }
        Sabotage::LegacyGoogleIssuer => {
            if let Some(Value::String(iss)) = c.get_mut("iss") {
                if let Some((_, rest)) = iss.split_once("://") {
                    *iss = rest.to_owned();
                }
            }
        }
        Sabotage::MicrosoftIssuerTenantMismatch if flavor == Flavor::Microsoft => {
            if let Some(Value::String(iss)) = c.get_mut("iss") {
                let tid = format!("/{}/", issuer_tenant(iss));
                *iss = iss.replacen(&tid, &format!("/{OTHER_TENANT}/"), 1);
            }
        }
        Sabotage::NonceMismatch => {
            let mut bytes = [0u8; 16];
            rand::thread_rng().fill_bytes(&mut bytes);
            c.insert("nonce".into(), URL_SAFE_NO_PAD.encode(bytes).into());
        }
        Sabotage::NoNonce => {
            c.remove("nonce");
        }
        Sabotage::MissingSubject => {
            c.remove("sub");
        }
        _ => {}
    }
}

/// Moves every time claim present so that the token was issued at `iat`.
fn set_times(c: &mut Map<String, Value>, iat: i64) {
    c.insert("iat".into(), iat.into());
    c.insert("exp".into(), (iat + LIFETIME).into());
    for claim in ["nbf", "auth_time"] {
        if c.contains_key(claim) {
            c.insert(claim.into(), iat.into());
        }
    }
}

/// The tenant segment of an Entra issuer `{base}/{tid}/v2.0`.
fn issuer_tenant(iss: &str) -> &str {
    iss.trim_end_matches("/v2.0").rsplit('/').next().unwrap_or_default()
}

/// Merges the persona's extra claims over `c`; `null` removes a claim.
pub(crate) fn apply_extra(c: &mut Map<String, Value>, extra: &Map<String, Value>) {
    for (k, v) in extra {
        if v.is_null() {
            c.remove(k);
        } else {
            c.insert(k.clone(), v.clone());
        }
    }
}

/// What the userinfo endpoint returns for this user: the identity claims of a correct token.
pub(crate) fn userinfo_claims(c: &Map<String, Value>) -> Map<String, Value> {
    const KEEP: [&str; 9] = [
        "sub",
        "email",
        "email_verified",
        "name",
        "hd",
        "tid",
        "oid",
        "https://slack.com/user_id",
        "https://slack.com/team_id",
    ];
    c.iter()
        .filter(|(k, _)| KEEP.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(flavor: Flavor, persona: &Persona) -> Map<String, Value> {
        let s = Subject {
            flavor,
            base_url: "http://127.0.0.1:9",
            client_id: "me",
            persona,
            nonce: "n",
        };
        base_claims(&s, 1_000_000)
    }

    #[test]
    fn microsoft_tenant_and_issuer() {
        let p = Persona::new("oid-1", "a@b.c").org("11111111-2222-3333-4444-555555555555");
        let mut c = claims(Flavor::Microsoft, &p);
        assert_eq!(c["iss"], "http://127.0.0.1:9/11111111-2222-3333-4444-555555555555/v2.0");
        assert_eq!(c["oid"], "oid-1");
        assert_ne!(c["sub"], "oid-1");
        assert_eq!(c["xms_edov"], true);
        sabotage_claims(&mut c, Flavor::Microsoft, Sabotage::MicrosoftIssuerTenantMismatch, 0);
        assert_eq!(c["iss"], format!("http://127.0.0.1:9/{OTHER_TENANT}/v2.0"));
        assert_eq!(c["tid"], "11111111-2222-3333-4444-555555555555");

        let personal = claims(Flavor::Microsoft, &Persona::new("oid-2", "a@b.c"));
        assert_eq!(personal["tid"], CONSUMER_TENANT);
    }

    #[test]
    fn legacy_issuer_and_times() {
        let p = Persona::new("1", "a@b.c");
        let mut c = claims(Flavor::Google, &p);
        sabotage_claims(&mut c, Flavor::Google, Sabotage::LegacyGoogleIssuer, 0);
        assert_eq!(c["iss"], "127.0.0.1:9");
        assert!(!c.contains_key("hd"));

        let mut c = claims(Flavor::Slack, &p);
        sabotage_claims(&mut c, Flavor::Slack, Sabotage::Expired, 1_000_000);
        assert_eq!(c["exp"], 1_000_000 - LIFETIME);
        assert_eq!(c["auth_time"], 1_000_000 - 2 * LIFETIME);
        assert!(!c.contains_key("https://slack.com/team_id"));
    }

    #[test]
    fn extra_claims_override_and_remove() {
        let p = Persona::new("1", "a@b.c").claim("email", "x@y.z").without_claim("name");
        let mut c = claims(Flavor::Google, &p);
        apply_extra(&mut c, &p.extra_claims);
        assert_eq!(c["email"], "x@y.z");
        assert!(!c.contains_key("name"));
    }
}

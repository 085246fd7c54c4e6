//! Signing keys (a fixed pool of test-only RSA keys), the key ring each fake publishes in its
//! JWKS, and JWT encoding, including the deliberately broken encodings sabotage asks for.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Map, Value};
use sha2::Sha256;

use crate::Sabotage;

/// TEST-ONLY keys, committed on purpose (see `keys/README.md`): generating 2048-bit keys at
/// start-up would cost up to seconds per fake and per rotation.
const POOL_PEMS: [&str; 8] = [
    include_str!("../keys/test-only-rsa-1.pem"),
    include_str!("../keys/test-only-rsa-2.pem"),
    include_str!("../keys/test-only-rsa-3.pem"),
    include_str!("../keys/test-only-rsa-4.pem"),
    include_str!("../keys/test-only-rsa-5.pem"),
    include_str!("../keys/test-only-rsa-6.pem"),
    include_str!("../keys/test-only-rsa-7.pem"),
    include_str!("../keys/test-only-rsa-8.pem"),
];

/// Parsed lazily, once per process: parsing checks and precomputes the CRT values.
static POOL: [OnceLock<Arc<PoolKey>>; POOL_PEMS.len()] = [const { OnceLock::new() }; POOL_PEMS.len()];

/// Spreads fakes started in one process over the pool, so two fakes rarely share key material.
static NEXT_START: AtomicUsize = AtomicUsize::new(0);

/// One RSA key with the public forms the JWKS and the HS256 sabotage need, computed once.
pub(crate) struct PoolKey {
    /// ring signs: about three times faster than the `rsa` crate (0.7 ms against 2 ms per
    /// token here), and signing is nearly all of a fake's work during a benchmark.
    signing: RsaKeyPair,
    n: String,
    e: String,
    public_pem: String,
}

fn pool_key(index: usize) -> Arc<PoolKey> {
    POOL[index]
        .get_or_init(|| {
            // The `rsa` crate reads the PEM and derives the public forms; ring only takes DER.
            let private = RsaPrivateKey::from_pkcs8_pem(POOL_PEMS[index]).expect("embedded test key parses");
            let der = private.to_pkcs8_der().expect("re-encode test key");
            let public = private.to_public_key();
            Arc::new(PoolKey {
                signing: RsaKeyPair::from_pkcs8(der.as_bytes()).expect("ring accepts the test key"),
                n: URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
                e: URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
                public_pem: public.to_public_key_pem(LineEnding::LF).expect("encode public key"),
            })
        })
        .clone()
}

/// A pool key put in use under a `kid` of its own.
#[derive(Clone)]
pub(crate) struct KeyInUse {
    index: usize,
    key: Arc<PoolKey>,
    kid: String,
}

impl KeyInUse {
    fn jwk(&self, issuer: Option<&str>) -> Value {
        let mut jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": self.key.n,
            "e": self.key.e,
        });
        if let Some(issuer) = issuer {
            jwk["issuer"] = Value::from(issuer);
        }
        jwk
    }
}

/// The key published later by [`Sabotage::UnknownKidPublishedLater`].
struct LateKey {
    key: KeyInUse,
    /// A token signed with it went out, so the next JWKS request publishes it.
    issued: bool,
    published: bool,
}

/// The keys of one fake: what its JWKS lists and what signs its tokens.
pub(crate) struct KeyRing {
    next_index: usize,
    current: KeyInUse,
    /// Published but no longer signing: late keys kept after their sabotage ended, so clients
    /// that cached them see no churn. At most two are kept.
    retired: Vec<KeyInUse>,
    late: Option<LateKey>,
    /// Listed before the signing key while [`Sabotage::NoKidTwoKeys`] is on.
    decoy: Option<KeyInUse>,
    /// Signs under [`Sabotage::UnknownKid`]; never published.
    unknown: Option<KeyInUse>,
}

impl KeyRing {
    pub(crate) fn new() -> KeyRing {
        let start = NEXT_START.fetch_add(3, Ordering::Relaxed) % POOL_PEMS.len();
        let current = KeyInUse {
            index: start,
            key: pool_key(start),
            kid: random_kid(),
        };
        KeyRing {
            next_index: start + 1,
            current,
            retired: Vec::new(),
            late: None,
            decoy: None,
            unknown: None,
        }
    }

    pub(crate) fn current_kid(&self) -> &str {
        &self.current.kid
    }

    /// A pool key no other role uses, under a new random `kid`.
    fn fresh(&mut self) -> KeyInUse {
        let in_use: Vec<usize> = std::iter::once(self.current.index)
            .chain(self.retired.iter().map(|k| k.index))
            .chain(self.late.iter().map(|l| l.key.index))
            .chain(self.decoy.iter().map(|k| k.index))
            .chain(self.unknown.iter().map(|k| k.index))
            .collect();
        // At most six roles exist at once (current, two retired, late, decoy, unknown), so one of
        // the eight pool keys is always free.
        let index = (0..POOL_PEMS.len())
            .map(|i| (self.next_index + i) % POOL_PEMS.len())
            .find(|i| !in_use.contains(i))
            .expect("a free pool key");
        self.next_index = index + 1;
        KeyInUse {
            index,
            key: pool_key(index),
            kid: random_kid(),
        }
    }

    /// New signing key; every older key leaves the JWKS.
    pub(crate) fn rotate(&mut self) {
        self.retired.clear();
        self.late = None;
        self.decoy = None;
        self.unknown = None;
        self.current = self.fresh();
    }

    /// A sabotage was set or cleared: keys made for the previous one are dropped, except a late
    /// key already published, which stays published.
    pub(crate) fn sabotage_changed(&mut self) {
        if let Some(late) = self.late.take() {
            if late.published {
                self.retired.push(late.key);
                if self.retired.len() > 2 {
                    self.retired.remove(0);
                }
            }
        }
        self.decoy = None;
        self.unknown = None;
    }

    /// The JWKS as of this request. Publishes a late key whose token already went out.
    pub(crate) fn jwks(&mut self, sabotage: Option<Sabotage>, issuer: Option<&str>) -> Value {
        let mut keys = Vec::new();
        if sabotage == Some(Sabotage::NoKidTwoKeys) {
            let decoy = self.decoy_key();
            keys.push(decoy.jwk(issuer));
        }
        keys.push(self.current.jwk(issuer));
        keys.extend(self.retired.iter().map(|k| k.jwk(issuer)));
        if let Some(late) = &mut self.late {
            late.published |= late.issued;
            if late.published {
                keys.push(late.key.jwk(issuer));
            }
        }
        json!({ "keys": keys })
    }

    fn decoy_key(&mut self) -> KeyInUse {
        if self.decoy.is_none() {
            self.decoy = Some(self.fresh());
        }
        self.decoy.clone().expect("just set")
    }

    /// How the next ID token is to be signed under `sabotage`. Call only for a token that will
    /// be sent: it marks a late key as issued.
    pub(crate) fn signer(&mut self, sabotage: Option<Sabotage>) -> Signer {
        match sabotage {
            Some(Sabotage::BadSignature) => Signer::Rs256 {
                key: self.current.key.clone(),
                kid: Some(self.current.kid.clone()),
                corrupt: true,
            },
            Some(Sabotage::AlgNone) => Signer::None,
            Some(Sabotage::Hs256WithPublicKey) => Signer::Hs256 {
                secret: self.current.key.public_pem.clone(),
                kid: self.current.kid.clone(),
            },
            Some(Sabotage::NoKidTwoKeys) => {
                // The decoy must exist before the token does, or a JWKS fetched in between lacks it.
                self.decoy_key();
                Signer::Rs256 {
                    key: self.current.key.clone(),
                    kid: None,
                    corrupt: false,
                }
            }
            Some(Sabotage::UnknownKid) => {
                if self.unknown.is_none() {
                    self.unknown = Some(self.fresh());
                }
                let unknown = self.unknown.as_ref().expect("just set");
                Signer::Rs256 {
                    key: unknown.key.clone(),
                    kid: Some(unknown.kid.clone()),
                    corrupt: false,
                }
            }
            Some(Sabotage::UnknownKidPublishedLater) => {
                if self.late.is_none() {
                    let key = self.fresh();
                    self.late = Some(LateKey {
                        key,
                        issued: false,
                        published: false,
                    });
                }
                let late = self.late.as_mut().expect("just set");
                late.issued = true;
                Signer::Rs256 {
                    key: late.key.key.clone(),
                    kid: Some(late.key.kid.clone()),
                    corrupt: false,
                }
            }
            _ => Signer::Rs256 {
                key: self.current.key.clone(),
                kid: Some(self.current.kid.clone()),
                corrupt: false,
            },
        }
    }
}

/// 20 random bytes as hex: the shape of Google's `kid` values (SHA-1 thumbprints).
fn random_kid() -> String {
    let mut bytes = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How one token gets signed. Built under the fake's lock, used outside it: signing is the
/// expensive part of a sign-in and must not serialise concurrent requests.
pub(crate) enum Signer {
    Rs256 {
        key: Arc<PoolKey>,
        kid: Option<String>,
        corrupt: bool,
    },
    None,
    Hs256 {
        secret: String,
        kid: String,
    },
}

impl Signer {
    /// The compact JWS of `claims`.
    pub(crate) fn sign(&self, claims: &Map<String, Value>) -> String {
        let header = match self {
            Signer::Rs256 { kid: Some(kid), .. } => json!({"alg": "RS256", "kid": kid, "typ": "JWT"}),
            Signer::Rs256 { kid: None, .. } => json!({"alg": "RS256", "typ": "JWT"}),
            Signer::None => json!({"alg": "none"}),
            Signer::Hs256 { kid, .. } => json!({"alg": "HS256", "kid": kid, "typ": "JWT"}),
        };
        let mut jwt = URL_SAFE_NO_PAD.encode(header.to_string());
        jwt.push('.');
        jwt.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialise")));
        let signature = match self {
            Signer::Rs256 { key, corrupt, .. } => {
                let mut sig = vec![0; key.signing.public().modulus_len()];
                let rng = ring::rand::SystemRandom::new();
                key.signing
                    .sign(&RSA_PKCS1_SHA256, &rng, jwt.as_bytes(), &mut sig)
                    .expect("RSA signing");
                if *corrupt {
                    let middle = sig.len() / 2;
                    sig[middle] ^= 0x01;
                }
                sig
            }
            Signer::None => Vec::new(),
            Signer::Hs256 { secret, .. } => {
                let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
                mac.update(jwt.as_bytes());
                mac.finalize().into_bytes().to_vec()
            }
        };
        jwt.push('.');
        jwt.push_str(&URL_SAFE_NO_PAD.encode(signature));
        jwt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kids(jwks: &Value) -> Vec<String> {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    }

    fn header_kid(jwt: &str) -> Option<String> {
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jwt.split('.').next().unwrap()).unwrap()).unwrap();
        header.get("kid").and_then(Value::as_str).map(str::to_owned)
    }

    #[test]
    fn every_pool_key_parses() {
        for i in 0..POOL_PEMS.len() {
            let key = pool_key(i);
            assert_eq!(key.e, "AQAB");
            assert!(key.public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        }
    }

    #[test]
    fn rotation_replaces_the_published_key() {
        let mut ring = KeyRing::new();
        let before = kids(&ring.jwks(None, None));
        ring.rotate();
        let after = kids(&ring.jwks(None, None));
        assert_eq!(after.len(), 1);
        assert_ne!(before, after);
        assert_eq!(after[0], ring.current_kid());
    }

    #[test]
    fn late_key_is_published_only_after_its_token_went_out() {
        let mut ring = KeyRing::new();
        let sabotage = Some(Sabotage::UnknownKidPublishedLater);
        assert_eq!(kids(&ring.jwks(sabotage, None)).len(), 1);
        let token = ring.signer(sabotage).sign(&Map::new());
        let kid = header_kid(&token).unwrap();
        assert_ne!(kid, ring.current_kid());
        assert!(kids(&ring.jwks(sabotage, None)).contains(&kid));
        // Published once, it stays through a clear (like a real key roll-over) ...
        ring.sabotage_changed();
        assert!(kids(&ring.jwks(None, None)).contains(&kid));
        // ... and until rotation.
        ring.rotate();
        assert!(!kids(&ring.jwks(None, None)).contains(&kid));
    }

    #[test]
    fn unknown_and_decoy_keys_use_other_material() {
        let mut ring = KeyRing::new();
        let Signer::Rs256 { key, .. } = ring.signer(Some(Sabotage::UnknownKid)) else {
            panic!()
        };
        assert_ne!(key.n, ring.current.key.n);
        let jwks = ring.jwks(Some(Sabotage::NoKidTwoKeys), None);
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
        assert_ne!(jwks["keys"][0]["n"], jwks["keys"][1]["n"]);
        assert_eq!(
            header_kid(&ring.signer(Some(Sabotage::NoKidTwoKeys)).sign(&Map::new())),
            None
        );
    }
}

//! Secrets Rollcall must be able to read back (a directory's OAuth access and refresh tokens):
//! sealed at rest with ChaCha20-Poly1305 (`ring`) under a key derived from the server's secret
//! key, so a database dump alone opens nothing. Each sealed value is bound to what it belongs to
//! (its *context*: workspace, provider, which token), so one copied onto another row does not
//! open there. Layout: a version byte, the 96-bit random nonce, then ciphertext and tag.

use super::SecretKey;
use crate::error::{Error, Result};
use rand::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use secrecy::SecretString;

/// The layout's version, first byte of every sealed value.
const VERSION: u8 = 1;

/// Seals and opens values under one server key. Cheap to clone the key it came from; build one
/// per use or keep one in the server's state.
pub struct Sealer {
    key: LessSafeKey,
}

impl Sealer {
    pub fn new(secret_key: &SecretKey) -> Sealer {
        let derived = secret_key.derive("sealed-secrets-v1", &[]);
        let key = UnboundKey::new(&CHACHA20_POLY1305, &derived).expect("a 32-byte key fits ChaCha20-Poly1305");
        Sealer {
            key: LessSafeKey::new(key),
        }
    }

    /// Seals `secret` for `context` (say `b"<org id>/google/refresh_token"`).
    pub fn seal(&self, secret: &str, context: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + secret.len() + CHACHA20_POLY1305.tag_len());
        sealed.push(VERSION);
        sealed.extend_from_slice(&nonce);
        let mut body = secret.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context), &mut body)
            .expect("sealing in memory cannot fail for a value this size");
        sealed.extend_from_slice(&body);
        sealed
    }

    /// Opens a value sealed for `context`. Fails, saying nothing about why, for another
    /// context, another server key, or any change to the bytes.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<SecretString> {
        let refused =
            || Error::Internal("a sealed secret could not be opened (wrong key or context, or damaged)".into());
        if sealed.len() < 1 + NONCE_LEN + CHACHA20_POLY1305.tag_len() || sealed[0] != VERSION {
            return Err(refused());
        }
        let nonce: [u8; NONCE_LEN] = sealed[1..1 + NONCE_LEN].try_into().map_err(|_| refused())?;
        let mut body = sealed[1 + NONCE_LEN..].to_vec();
        let plain = self
            .key
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(context), &mut body)
            .map_err(|_| refused())?;
        let text = String::from_utf8(plain.to_vec()).map_err(|_| refused())?;
        Ok(SecretString::from(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn a_sealed_secret_opens_only_for_its_context_under_its_key_and_unchanged() {
        let key = SecretKey::generate();
        let sealer = Sealer::new(&key);
        let sealed = sealer.seal("1//refresh-token", b"org-1/google/refresh_token");
        assert!(!sealed.windows(7).any(|w| w == b"refresh"), "the plaintext shows");
        assert_eq!(
            sealer
                .open(&sealed, b"org-1/google/refresh_token")
                .unwrap()
                .expose_secret(),
            "1//refresh-token"
        );
        // Another row's context, another server's key, a flipped bit, a truncation: all refused.
        assert!(sealer.open(&sealed, b"org-2/google/refresh_token").is_err());
        assert!(Sealer::new(&SecretKey::generate())
            .open(&sealed, b"org-1/google/refresh_token")
            .is_err());
        for i in 0..sealed.len() {
            let mut damaged = sealed.clone();
            damaged[i] ^= 1;
            assert!(
                sealer.open(&damaged, b"org-1/google/refresh_token").is_err(),
                "byte {i}"
            );
        }
        assert!(sealer
            .open(&sealed[..sealed.len() - 1], b"org-1/google/refresh_token")
            .is_err());
        assert!(sealer.open(&[], b"org-1/google/refresh_token").is_err());
        // Two seals of one value differ (fresh nonce each time).
        assert_ne!(sealed, sealer.seal("1//refresh-token", b"org-1/google/refresh_token"));
    }
}

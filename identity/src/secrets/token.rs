//! Random bearer secrets (session cookies, invite links, SCIM tokens): 256 bits from the OS,
//! URL-safe, and only ever stored as a SHA-256 digest.

use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// A freshly generated secret to hand to its holder exactly once; `Debug` shows no part of it.
#[derive(Debug)]
pub struct Secret(SecretString);

impl Secret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Secret(hex::encode(bytes).into())
    }

    /// A secret the holder already had (a cookie presented again), to hand back to them.
    pub fn from_existing(value: &str) -> Self {
        Secret(value.to_owned().into())
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn digest(&self) -> Vec<u8> {
        digest(self.expose())
    }
}

/// What the database keys secrets by. Comparing digests by index lookup leaks nothing useful
/// about the secret itself, so no constant-time compare is needed on this path.
pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

//! Random bearer secrets (session cookies, invite links, SCIM tokens): 256 bits from the OS,
//! URL-safe, and only ever stored as a SHA-256 digest.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// A freshly generated secret to hand to its holder exactly once.
pub struct Secret(String);

impl Secret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Secret(hex::encode(bytes))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> Vec<u8> {
        digest(&self.0)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// What the database keys secrets by. Comparing digests by index lookup leaks nothing useful
/// about the secret itself, so no constant-time compare is needed on this path.
pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

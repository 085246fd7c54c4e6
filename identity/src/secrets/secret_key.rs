//! The server's secret key: invite links (and later other one-time links) are derived from it
//! with HMAC-SHA256, so the database alone never holds a usable link.

use crate::error::{Error, Result};
use crate::Db;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The key's bytes are zeroed when dropped and never shown by `Debug`; clones share them.
#[derive(Clone, Debug)]
pub struct SecretKey(Arc<SecretBox<[u8; 32]>>);

impl SecretKey {
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        SecretKey(Arc::new(SecretBox::new(Box::new(bytes))))
    }

    /// Parses 64 hexadecimal characters.
    pub fn from_hex(hex_text: &str) -> Result<Self> {
        let bytes = hex::decode(hex_text.trim())
            .map_err(|_| Error::invalid("secret_key", "The secret key must be 64 hexadecimal characters."))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::invalid("secret_key", "The secret key must be 64 hexadecimal characters."))?;
        Ok(SecretKey(Arc::new(SecretBox::new(Box::new(bytes)))))
    }

    /// For writing the key to its file: the one place its value leaves the process.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.expose_secret())
    }

    /// HMAC-SHA256 of `parts` under this key, domain-separated by `purpose`.
    pub fn derive(&self, purpose: &str, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.expose_secret()).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    fn fingerprint(&self) -> Vec<u8> {
        Sha256::digest(self.derive("fingerprint", &[])).to_vec()
    }
}

/// Records this key's fingerprint on first use and refuses a different key afterwards.
pub async fn check_matches_database(db: &Db, key: &SecretKey) -> Result<()> {
    let fingerprint = key.fingerprint();
    sqlx::query("insert into server_key (id, fingerprint) values (1, $1) on conflict (id) do nothing")
        .bind(&fingerprint)
        .execute(db)
        .await?;
    let stored: Vec<u8> = sqlx::query_scalar("select fingerprint from server_key where id = 1")
        .fetch_one(db)
        .await?;
    if stored != fingerprint {
        return Err(Error::Forbidden(
            "This database was set up with a different ROLLCALL_SECRET_KEY. Every app server sharing a database \
             needs the same key (see the README, \"Running several app servers\")."
                .into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_depends_on_key_purpose_and_data() {
        let a = SecretKey::from_hex(&"11".repeat(32)).unwrap();
        let b = SecretKey::from_hex(&"22".repeat(32)).unwrap();
        assert_eq!(a.derive("invite", &[b"x"]), a.derive("invite", &[b"x"]));
        assert_ne!(a.derive("invite", &[b"x"]), b.derive("invite", &[b"x"]));
        assert_ne!(a.derive("invite", &[b"x"]), a.derive("other", &[b"x"]));
        assert_ne!(a.derive("invite", &[b"x"]), a.derive("invite", &[b"y"]));
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert!(SecretKey::from_hex("abc").is_err());
        assert!(SecretKey::from_hex(&"zz".repeat(32)).is_err());
        let key = SecretKey::generate();
        assert_eq!(SecretKey::from_hex(&key.to_hex()).unwrap().to_hex(), key.to_hex());
        assert!(!format!("{key:?}").contains(&key.to_hex()[..8]));
    }
}

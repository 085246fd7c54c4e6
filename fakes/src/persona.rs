//! Test users the fakes sign in as, and the stable users derived from a `login_hint`.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::Flavor;

/// A user the fake signs in as. Each flavor maps the fields onto its own claims (see each
/// field); `extra_claims` are merged into the ID token last.
#[derive(Clone, Debug)]
pub struct Persona {
    /// Google `sub`, Entra `oid` (Entra's `sub` is derived from it, pairwise), Slack user ID (`sub`).
    pub subject: String,
    /// `email` claim (and Entra `preferred_username`); `None` omits them.
    pub email: Option<String>,
    /// Google/Slack `email_verified`; Microsoft emits `xms_edov` with this value. `None` omits it.
    pub email_verified: Option<bool>,
    /// `name` claim; `None` omits it.
    pub name: Option<String>,
    /// Google `hd`, Entra `tid`, Slack `https://slack.com/team_id`. `None` is a personal account:
    /// no `hd` (Google), the consumer tenant `9188040d-6c67-4c5b-b112-36a304b66dad` (Microsoft),
    /// no team claim (Slack).
    pub org: Option<String>,
    /// Merged into the ID token after everything else, sabotage included, so it can override
    /// any claim; a JSON `null` removes the claim instead.
    pub extra_claims: Map<String, Value>,
}

impl Persona {
    /// A personal-account user with a verified email and a name made from the email's local
    /// part (`ada.lovelace@…` → `Ada Lovelace`).
    pub fn new(subject: impl Into<String>, email: impl Into<String>) -> Persona {
        let email = email.into();
        Persona {
            subject: subject.into(),
            name: Some(name_from_email(&email)),
            email: Some(email),
            email_verified: Some(true),
            org: None,
            extra_claims: Map::new(),
        }
    }

    /// The persona an authorization with `login_hint=hint` signs in as: a subject derived from
    /// the hint alone (Google: 21-digit number; Microsoft: GUID; Slack: `U` + 10 hex digits), so
    /// the same hint is the same user across runs; the hint as verified email; `org` as given.
    pub fn from_login_hint(flavor: Flavor, hint: &str, org: Option<String>) -> Persona {
        let digest = Sha256::new()
            .chain_update(flavor.name())
            .chain_update(b":")
            .chain_update(hint.trim().to_lowercase())
            .finalize();
        let subject = match flavor {
            Flavor::Google => {
                let n = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
                // Real Google subjects are 21-digit numbers starting with 1; u64::MAX has 20 digits.
                format!("1{n:020}")
            }
            Flavor::Microsoft => {
                let bytes: [u8; 16] = digest[..16].try_into().expect("16 bytes");
                uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
            }
            Flavor::Slack => {
                let hex: String = digest[..5].iter().map(|b| format!("{b:02X}")).collect();
                format!("U{hex}")
            }
        };
        Persona {
            org,
            ..Persona::new(subject, hint)
        }
    }

    /// The persona a fresh [`FakeIdp`](crate::FakeIdp) signs in as: `ada@example.com`, derived
    /// as from a login hint, personal account (`org` `None`).
    pub fn default_for(flavor: Flavor) -> Persona {
        Persona::from_login_hint(flavor, "ada@example.com", None)
    }

    /// Member of `org` (Google hosted domain, Entra tenant ID, Slack team ID).
    pub fn org(mut self, org: impl Into<String>) -> Persona {
        self.org = Some(org.into());
        self
    }

    /// Personal account: no org.
    pub fn personal(mut self) -> Persona {
        self.org = None;
        self
    }

    /// `email_verified: false` (Microsoft: `xms_edov: false`).
    pub fn unverified(mut self) -> Persona {
        self.email_verified = Some(false);
        self
    }

    /// No `email_verified` (Microsoft: no `xms_edov`), as Entra emits by default.
    pub fn verification_unknown(mut self) -> Persona {
        self.email_verified = None;
        self
    }

    /// No email at all (as without the `email` scope).
    pub fn no_email(mut self) -> Persona {
        self.email = None;
        self.email_verified = None;
        self
    }

    /// Sets the display name.
    pub fn name(mut self, name: impl Into<String>) -> Persona {
        self.name = Some(name.into());
        self
    }

    /// Adds or overrides one ID-token claim.
    pub fn claim(mut self, key: impl Into<String>, value: impl Into<Value>) -> Persona {
        self.extra_claims.insert(key.into(), value.into());
        self
    }

    /// Removes one claim the flavor would otherwise emit (e.g. Entra `oid`).
    pub fn without_claim(self, key: impl Into<String>) -> Persona {
        self.claim(key, Value::Null)
    }
}

/// `ada.lovelace@x` → `Ada Lovelace`: something name-like that differs per user.
fn name_from_email(email: &str) -> String {
    let local = email.split('@').next().unwrap_or(email);
    let words: Vec<String> = local
        .split(['.', '_', '-', '+'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => String::new(),
            }
        })
        .collect();
    if words.is_empty() {
        local.to_owned()
    } else {
        words.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_local_part() {
        assert_eq!(name_from_email("ada.lovelace@example.com"), "Ada Lovelace");
        assert_eq!(name_from_email("grace_hopper+x@example.com"), "Grace Hopper X");
        assert_eq!(name_from_email("bob"), "Bob");
    }

    #[test]
    fn hint_subjects_are_stable_and_shaped_like_the_real_ones() {
        let g = Persona::from_login_hint(Flavor::Google, "Ada@Example.com", None);
        assert_eq!(
            g.subject,
            Persona::from_login_hint(Flavor::Google, "ada@example.com", None).subject
        );
        assert_eq!(g.subject.len(), 21);
        assert!(g.subject.starts_with('1') && g.subject.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(g.email.as_deref(), Some("Ada@Example.com"));
        assert_eq!(g.email_verified, Some(true));

        let m = Persona::from_login_hint(Flavor::Microsoft, "ada@example.com", Some("t".into()));
        assert!(uuid::Uuid::parse_str(&m.subject).is_ok());
        assert_eq!(m.org.as_deref(), Some("t"));

        let s = Persona::from_login_hint(Flavor::Slack, "ada@example.com", None);
        assert_eq!(s.subject.len(), 11);
        assert!(s.subject.starts_with('U'));
        assert_ne!(
            s.subject,
            Persona::from_login_hint(Flavor::Slack, "bob@example.com", None).subject
        );
    }
}

//! The identity providers Rollcall integrates with, and what differs between them: names, the
//! org claim an admin connects, and how their accounts are keyed (PROTOCOLS.md §0).

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Google,
    Microsoft,
    Slack,
}

impl Provider {
    pub const ALL: [Provider; 3] = [Provider::Google, Provider::Microsoft, Provider::Slack];

    /// The id used in URLs, the database and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Google => "google",
            Provider::Microsoft => "microsoft",
            Provider::Slack => "slack",
        }
    }

    pub fn parse(text: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// What people call the provider ("Continue with Google").
    pub fn label(self) -> &'static str {
        match self {
            Provider::Google => "Google",
            Provider::Microsoft => "Microsoft",
            Provider::Slack => "Slack",
        }
    }

    /// What an admin connects ("Google Workspace").
    pub fn organisation_product(self) -> &'static str {
        match self {
            Provider::Google => "Google Workspace",
            Provider::Microsoft => "Microsoft 365",
            Provider::Slack => "Slack",
        }
    }

    /// What the org key is called for this provider, in words.
    pub fn org_key_name(self) -> &'static str {
        match self {
            Provider::Google => "Google Workspace domain",
            Provider::Microsoft => "Entra tenant id",
            Provider::Slack => "Slack workspace (team) id",
        }
    }

    /// The environment variable prefix of this provider's operator settings.
    pub fn env_prefix(self) -> &'static str {
        match self {
            Provider::Google => "ROLLCALL_GOOGLE",
            Provider::Microsoft => "ROLLCALL_MICROSOFT",
            Provider::Slack => "ROLLCALL_SLACK",
        }
    }

    /// Normalises an org key as typed by an operator or read from a claim: Google domains and
    /// Entra tenant ids compare case-insensitively; Slack team ids are upper case.
    pub fn normalise_org_key(self, key: &str) -> Option<String> {
        let key = key.trim();
        let ok = match self {
            Provider::Google => {
                key.len() <= 253
                    && key.contains('.')
                    && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                    && !key.starts_with(['.', '-'])
                    && !key.ends_with(['.', '-'])
            }
            Provider::Microsoft => is_guid(key),
            Provider::Slack => {
                (2..=32).contains(&key.len())
                    && key.starts_with(['T', 'E', 't', 'e'])
                    && key.bytes().all(|b| b.is_ascii_alphanumeric())
            }
        };
        ok.then(|| match self {
            Provider::Slack => key.to_ascii_uppercase(),
            _ => key.to_ascii_lowercase(),
        })
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The personal-account tenant of Microsoft (consumer MSAs): never an organisation.
pub const MICROSOFT_CONSUMER_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// `8-4-4-4-12` hex digits, as Entra writes tenant and object ids.
pub fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// How a workspace lets people use a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Off,
    /// Anyone may link an account of this provider.
    SsoOnly,
    /// Only accounts of the connected organisation (by signed claim).
    OrgConnected,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::SsoOnly => "sso_only",
            Mode::OrgConnected => "org_connected",
        }
    }

    /// Accepts the database's and the CLI's spellings (`sso_only`, `sso-only`).
    pub fn parse(text: &str) -> Option<Mode> {
        match text.trim().replace('-', "_").as_str() {
            "off" => Some(Mode::Off),
            "sso_only" => Some(Mode::SsoOnly),
            "org_connected" => Some(Mode::OrgConnected),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Mode::Off => "Off",
            Mode::SsoOnly => "SSO only",
            Mode::OrgConnected => "Organisation connected",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_keys_are_checked_and_normalised_per_provider() {
        assert_eq!(
            Provider::Google.normalise_org_key(" Acme.COM "),
            Some("acme.com".into())
        );
        assert_eq!(Provider::Google.normalise_org_key("acme"), None);
        assert_eq!(Provider::Google.normalise_org_key("acme.com/evil"), None);
        assert_eq!(
            Provider::Microsoft.normalise_org_key("4A1F6B0E-2C3D-4E5F-8A9B-0C1D2E3F4A5B"),
            Some("4a1f6b0e-2c3d-4e5f-8a9b-0c1d2e3f4a5b".into())
        );
        assert_eq!(Provider::Microsoft.normalise_org_key("contoso.com"), None);
        assert_eq!(Provider::Slack.normalise_org_key("t0123abc"), Some("T0123ABC".into()));
        assert_eq!(Provider::Slack.normalise_org_key("U0123"), None);
    }

    #[test]
    fn modes_read_both_spellings() {
        assert_eq!(Mode::parse("sso-only"), Some(Mode::SsoOnly));
        assert_eq!(Mode::parse("org_connected"), Some(Mode::OrgConnected));
        assert_eq!(Mode::parse("on"), None);
    }
}

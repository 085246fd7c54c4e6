//! Sign in with Google, Microsoft or Slack, as people see it: the Integrations tab (a card per
//! provider, Require SSO, the disable impact page), "Continue with …" buttons on sign-in and
//! invitation pages (`buttons`), the profile's connected accounts (`accounts`), the one-time
//! access page and the page every failed provider step lands on (`pages`).
//!
//! Every page here is server-rendered with plain forms and links: no island, so none of it
//! adds to the browser bundle, and all of it works without JavaScript. Provider sign-ins start
//! with GET links (the page policy's `form-action 'self'` would stop a form whose answer
//! redirects to a provider).

pub mod accounts;
pub mod buttons;
pub mod cards;
pub mod import;
pub mod pages;

use serde::{Deserialize, Serialize};

/// A "Continue with …" link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderLink {
    /// `google`, `microsoft`, `slack`.
    pub id: String,
    pub label: String,
}

impl ProviderLink {
    /// The link that starts this provider's sign-in for `purpose` (`start`, `invite`, `access`),
    /// with its query.
    pub fn href(&self, purpose: &str, query: &str) -> String {
        if query.is_empty() {
            format!("/auth/{}/{purpose}", self.id)
        } else {
            format!("/auth/{}/{purpose}?{query}", self.id)
        }
    }
}

/// The query of a `/auth/<provider>/start` link.
pub fn start_query(workspace: Option<&str>, next: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(slug) = workspace {
        query.append_pair("workspace", slug);
    }
    if !next.is_empty() {
        query.append_pair("next", next);
    }
    query.finish()
}

#[cfg(feature = "ssr")]
pub(crate) fn link_of(provider: identity::providers::Provider) -> ProviderLink {
    ProviderLink {
        id: provider.as_str().to_owned(),
        label: provider.label().to_owned(),
    }
}

/// Of `enabled`, the providers this server can actually use (configured), as links.
#[cfg(feature = "ssr")]
pub(crate) fn usable_links(
    state: &crate::ssr::SharedState,
    enabled: impl IntoIterator<Item = identity::providers::Provider>,
) -> Vec<ProviderLink> {
    enabled
        .into_iter()
        .filter(|p| state.providers.is_configured(*p))
        .map(link_of)
        .collect()
}

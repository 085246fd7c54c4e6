//! Reading an organisation's directory (Google Workspace, Microsoft Graph, Slack) for import
//! (#19): one page at a time (`fetch`), each page's people as one shape with the reason a person
//! would be skipped, retries that ride out rate limits and passing failures (`retry`), and the
//! durable read of a whole directory, resumable page by page, into `directory_entries`
//! (`fetches`). The import view builds on these.

pub mod connections;
pub mod consent;
pub mod fetch;
pub mod fetches;
pub mod import;
pub mod retry;
pub mod view;

pub use fetch::{fetch_page, graph_app_token, DirectorySource, FetchError, Page};
pub use retry::{with_retries, Backoff};

use serde::{Deserialize, Serialize};

/// One person as a directory shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryUser {
    /// Google user `id` (= OIDC `sub`), Graph `id` (= `oid`), Slack user id.
    pub upstream_id: String,
    pub email: Option<String>,
    pub given_name: String,
    pub family_name: String,
    /// Why an import would leave this person out, if it would.
    pub skip: Option<SkipReason>,
    /// Google org unit path, where the directory has one.
    pub org_unit: Option<String>,
    /// Graph `userType` (`Member`, `Guest`), where the directory has one.
    pub user_type: Option<String>,
}

/// Why a directory person is not imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    Bot,
    Slackbot,
    AppUser,
    Guest,
    Deleted,
    Suspended,
    Archived,
    NoEmail,
}

impl SkipReason {
    /// The name stored in `directory_entries.skip_reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Bot => "bot",
            SkipReason::Slackbot => "slackbot",
            SkipReason::AppUser => "app_user",
            SkipReason::Guest => "guest",
            SkipReason::Deleted => "deleted",
            SkipReason::Suspended => "suspended",
            SkipReason::Archived => "archived",
            SkipReason::NoEmail => "no_email",
        }
    }

    /// The reason stored as `as_str` says.
    pub fn parse(s: &str) -> Option<SkipReason> {
        use SkipReason::*;
        [Bot, Slackbot, AppUser, Guest, Deleted, Suspended, Archived, NoEmail]
            .into_iter()
            .find(|r| r.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            SkipReason::Bot => "bot",
            SkipReason::Slackbot => "Slackbot",
            SkipReason::AppUser => "app user",
            SkipReason::Guest => "guest",
            SkipReason::Deleted => "deleted",
            SkipReason::Suspended => "suspended",
            SkipReason::Archived => "archived",
            SkipReason::NoEmail => "no email",
        }
    }
}

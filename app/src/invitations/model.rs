//! What the invitation pages show, as the server sends it to the browser.

use chrono::{DateTime, Utc};
use people::Role;
use serde::{Deserialize, Serialize};

/// One row of the "Invite people" preview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvitePreviewRow {
    pub line: usize,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub outcome: InviteOutcome,
    /// Why a row is invalid.
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InviteOutcome {
    NewInvite,
    InviteExisting,
    AlreadyMember,
    AlreadyInvited,
    Deactivated,
    Duplicate,
    Invalid,
}

impl InviteOutcome {
    pub fn label(self) -> &'static str {
        match self {
            InviteOutcome::NewInvite => "New invite",
            InviteOutcome::InviteExisting => "Invite (already in the workspace)",
            InviteOutcome::AlreadyMember => "Already a member",
            InviteOutcome::AlreadyInvited => "Already invited",
            InviteOutcome::Deactivated => "Deactivated: reactivate first",
            InviteOutcome::Duplicate => "Listed twice",
            InviteOutcome::Invalid => "Invalid",
        }
    }
    pub fn sends(self) -> bool {
        matches!(self, InviteOutcome::NewInvite | InviteOutcome::InviteExisting)
    }
    pub fn chip_class(self) -> &'static str {
        match self {
            InviteOutcome::NewInvite | InviteOutcome::InviteExisting => "chip chip-active",
            InviteOutcome::Invalid | InviteOutcome::Deactivated => "chip chip-deactivated",
            _ => "chip",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct InviteSummary {
    pub invited: usize,
    pub skipped: usize,
    pub invalid: usize,
}

/// What an invitation link leads to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum InvitationView {
    Open {
        org_name: String,
        email: String,
        given_name: String,
        family_name: String,
        inviter: String,
        expires_at: DateTime<Utc>,
        /// "Join with Google / Microsoft / Slack": the workspace's enabled providers.
        providers: Vec<crate::integrations::ProviderLink>,
        /// False when the workspace requires SSO of members: join with a provider only.
        password_allowed: bool,
    },
    Expired {
        org_name: String,
        inviter: String,
    },
    Used {
        org_name: String,
    },
    NoLongerValid {
        org_name: String,
    },
    Unknown,
}

//! Data shared by the server and the browser: what server functions take and return.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "Admin",
            Role::Member => "Member",
        }
    }
    pub fn parse(raw: &str) -> Option<Role> {
        match raw {
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    Imported,
    Invited,
    Active,
    Deactivated,
    Deleted,
}

impl UserStatus {
    pub const LISTED: [UserStatus; 4] = [
        UserStatus::Active,
        UserStatus::Invited,
        UserStatus::Imported,
        UserStatus::Deactivated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Imported => "imported",
            UserStatus::Invited => "invited",
            UserStatus::Active => "active",
            UserStatus::Deactivated => "deactivated",
            UserStatus::Deleted => "deleted",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            UserStatus::Imported => "Imported",
            UserStatus::Invited => "Invited",
            UserStatus::Active => "Active",
            UserStatus::Deactivated => "Deactivated",
            UserStatus::Deleted => "Deleted",
        }
    }
    pub fn parse(raw: &str) -> Option<UserStatus> {
        UserStatus::LISTED
            .into_iter()
            .chain([UserStatus::Deleted])
            .find(|s| s.as_str() == raw)
    }
}

/// The signed-in person, as the UI needs them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Me {
    pub user_id: Uuid,
    pub display_name: String,
    pub email: String,
    pub role: Role,
    pub org_name: String,
    pub org_slug: String,
}

impl Me {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: Uuid,
    pub display_name: String,
    pub given_name: String,
    pub family_name: String,
    pub email: String,
    pub role: Role,
    pub status: UserStatus,
    pub source: String,
    pub has_password: bool,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The current invitation, if one is open (possibly expired).
    pub invite: Option<InviteStatus>,
}

/// One line of the Users table: only what the table shows, because every row is also sent to the
/// browser as hydration data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserListRow {
    pub id: Uuid,
    pub display_name: String,
    pub email: String,
    pub role: Role,
    pub status: UserStatus,
    pub source: String,
    pub last_login_at: Option<DateTime<Utc>>,
    pub invite: Option<InviteStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InviteStatus {
    pub sent_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub expired: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UserSortKey {
    #[default]
    Name,
    Email,
    Role,
    Status,
    Created,
    LastLogin,
}

impl UserSortKey {
    pub fn as_str(self) -> &'static str {
        match self {
            UserSortKey::Name => "name",
            UserSortKey::Email => "email",
            UserSortKey::Role => "role",
            UserSortKey::Status => "status",
            UserSortKey::Created => "created",
            UserSortKey::LastLogin => "last_login",
        }
    }
    pub fn parse(raw: &str) -> UserSortKey {
        [
            UserSortKey::Name,
            UserSortKey::Email,
            UserSortKey::Role,
            UserSortKey::Status,
            UserSortKey::Created,
            UserSortKey::LastLogin,
        ]
        .into_iter()
        .find(|k| k.as_str() == raw)
        .unwrap_or_default()
    }
}

/// The Users tab's state, which is also its URL query (`?q=&status=&sort=&dir=&page=`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct UsersQuery {
    pub q: String,
    pub status: Option<UserStatus>,
    pub sort: UserSortKey,
    pub descending: bool,
    pub page: u32,
}

pub const USERS_PER_PAGE: u32 = 50;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsersPage {
    pub users: Vec<UserListRow>,
    pub total: i64,
    pub total_is_lower_bound: bool,
    pub page: u32,
    pub per_page: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityEvent {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub target_id: Option<Uuid>,
    pub summary: String,
    pub ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityPage {
    pub events: Vec<ActivityEvent>,
    pub older_than: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetupInfo {
    pub first_run: bool,
    pub open_signup: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workspace {
    pub slug: String,
    pub name: String,
}

/// A one-shot message carried across a plain-form redirect (sign-in and setup errors), so
/// forms show their errors and keep what was typed even before the page is hydrated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Flash {
    pub error: String,
    pub field: Option<String>,
    pub values: std::collections::BTreeMap<String, String>,
}

impl Flash {
    pub fn value(&self, name: &str) -> String {
        self.values.get(name).cloned().unwrap_or_default()
    }
}

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub id: i64,
    pub recipient: String,
    pub subject: String,
    pub created_at: DateTime<Utc>,
    pub state: MailState,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailState {
    Sent,
    Queued,
    Retrying,
    Failed,
    Cancelled,
    /// No SMTP server is configured: the mail waits here for an admin.
    Held,
}

impl MailState {
    pub fn label(self) -> &'static str {
        match self {
            MailState::Sent => "Sent",
            MailState::Queued => "Queued",
            MailState::Retrying => "Retrying",
            MailState::Failed => "Failed",
            MailState::Cancelled => "Not sent",
            MailState::Held => "Waiting",
        }
    }
    pub fn chip_class(self) -> &'static str {
        match self {
            MailState::Sent => "chip chip-active",
            MailState::Queued | MailState::Held => "chip chip-invited",
            MailState::Retrying => "chip chip-imported",
            MailState::Failed => "chip chip-deactivated",
            MailState::Cancelled => "chip",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxListing {
    pub entries: Vec<OutboxEntry>,
    pub older_than: Option<i64>,
    pub smtp_configured: bool,
    pub waiting: i64,
    pub failed: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderedMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    /// The invitation link inside, for copying.
    pub link: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgSettings {
    pub name: String,
    pub invite_ttl_days: i32,
}

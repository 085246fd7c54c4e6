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
    /// The status chip's classes, shared by the chip component and the rows written as HTML.
    pub fn chip_class(self) -> &'static str {
        match self {
            UserStatus::Imported => "chip chip-imported",
            UserStatus::Invited => "chip chip-invited",
            UserStatus::Active => "chip chip-active",
            UserStatus::Deactivated => "chip chip-deactivated",
            UserStatus::Deleted => "chip chip-deleted",
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
    #[serde(with = "utc_text::optional")]
    pub last_login_at: Option<DateTime<Utc>>,
    #[serde(with = "utc_text")]
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
    #[serde(with = "utc_text::optional")]
    pub last_login_at: Option<DateTime<Utc>>,
    pub invite: Option<InviteStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InviteStatus {
    #[serde(with = "utc_text")]
    pub sent_at: DateTime<Utc>,
    #[serde(with = "utc_text")]
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

/// A page of the users table as the browser keeps it once its rows are on screen: who is on it
/// (to select the whole page) and where it sits in the list. The server-rendered page sends the
/// browser this rather than every row's details a second time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsersPageSummary {
    /// Left out of the island's props: the browser reads them from the rows already in the page
    /// (`rows::ids_on_screen`). As escaped JSON they were a tenth of the page's bytes.
    #[serde(skip)]
    pub ids: Vec<Uuid>,
    pub total: i64,
    pub total_is_lower_bound: bool,
    pub page: u32,
    pub per_page: u32,
}

impl UsersPage {
    pub fn summary(&self) -> UsersPageSummary {
        UsersPageSummary {
            ids: self.users.iter().map(|user| user.id).collect(),
            total: self.total,
            total_is_lower_bound: self.total_is_lower_bound,
            page: self.page,
            per_page: self.per_page,
        }
    }
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

/// Timestamps sent to the browser, as the RFC 3339 text chrono writes (`2026-11-29T04:33:12.123Z`).
///
/// Written by chrono as usual; read back by this small parser instead of chrono's general one,
/// which was the largest single library in the browser bundle after the views themselves.
pub mod utc_text {
    use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
    use serde::{de::Error, Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        at.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).ok_or_else(|| D::Error::custom(format_args!("not an RFC 3339 timestamp: {text:?}")))
    }

    /// The same, for a timestamp that may be missing (`null`).
    pub mod optional {
        use super::*;

        pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
            at.serialize(serializer)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
            match Option::<String>::deserialize(deserializer)? {
                None => Ok(None),
                Some(text) => parse(&text)
                    .map(Some)
                    .ok_or_else(|| D::Error::custom(format_args!("not an RFC 3339 timestamp: {text:?}"))),
            }
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS`, an optional fraction of a second, then `Z` or an offset `±HH:MM`.
    pub fn parse(text: &str) -> Option<DateTime<Utc>> {
        let bytes = text.as_bytes();
        let number = |from: usize, to: usize| -> Option<u32> {
            let digits = text.get(from..to)?;
            digits
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| digits.parse().ok())?
        };
        let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
        if bytes.len() < 20
            || separators.iter().any(|&(at, want)| bytes[at] != want)
            || !matches!(bytes[10], b'T' | b't' | b' ')
        {
            return None;
        }
        let date = NaiveDate::from_ymd_opt(number(0, 4)? as i32, number(5, 7)?, number(8, 10)?)?;
        let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
        let mut rest = &text[19..];
        let mut nanos = 0;
        if let Some(fraction) = rest.strip_prefix('.') {
            let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            for (place, digit) in fraction.bytes().take(digits.min(9)).enumerate() {
                nanos += u32::from(digit - b'0') * 10u32.pow(8 - place as u32);
            }
            rest = &fraction[digits..];
        }
        let offset_minutes = match rest.as_bytes() {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
                let (hours, minutes) = (
                    number(text.len() - 5, text.len() - 3)?,
                    number(text.len() - 2, text.len())?,
                );
                if hours > 23 || minutes > 59 {
                    return None;
                }
                let minutes = i64::from(hours * 60 + minutes);
                if *sign == b'-' {
                    -minutes
                } else {
                    minutes
                }
            }
            _ => return None,
        };
        let local = date.and_hms_nano_opt(hour, minute, second, nanos)?;
        let utc = local.checked_sub_signed(TimeDelta::minutes(offset_minutes))?;
        Some(DateTime::from_naive_utc_and_offset(utc, Utc))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn chrono_reads(text: &str) -> DateTime<Utc> {
            DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
        }

        #[test]
        fn what_chrono_writes_is_read_back_to_the_nanosecond() {
            for text in [
                "2026-11-29T04:33:12Z",
                "2026-11-29T04:33:12.5Z",
                "2026-11-29T04:33:12.123456Z",
                "2026-11-29T04:33:12.123456789Z",
                "1999-12-31T23:59:59.999999999Z",
            ] {
                let at = chrono_reads(text);
                assert_eq!(parse(text), Some(at), "{text}");
                let written = serde_json::to_string(&at).unwrap();
                assert_eq!(parse(written.trim_matches('"')), Some(at), "{written}");
            }
        }

        #[test]
        fn offsets_are_turned_into_utc() {
            for text in [
                "2026-03-01T01:30:00+02:00",
                "2026-02-28T22:15:00-01:15",
                "2026-02-28T23:30:00.25+00:00",
            ] {
                assert_eq!(parse(text), Some(chrono_reads(text)), "{text}");
            }
        }

        #[test]
        fn anything_else_is_refused() {
            for text in [
                "",
                "2026-11-29",
                "2026-11-29T04:33:12",
                "2026-11-29T04:33:12.Z",
                "2026-13-01T00:00:00Z",
                "2026-02-30T00:00:00Z",
                "2026-11-29T24:00:00Z",
                "2026-11-29T04:33:12+2:00",
                "2026-11-29T04:33:12+24:00",
                "2026-11-29T04:33:12Zjunk",
                "+026-11-29T04:33:12Z",
                "2026-11-29T04:33:1٣Z",
            ] {
                assert_eq!(parse(text), None, "{text:?}");
            }
        }

        #[test]
        fn rows_keep_their_timestamps_across_the_wire() {
            let at = chrono_reads("2026-11-29T04:33:12.123456Z");
            let invite = InviteStatusWire {
                sent_at: at,
                expires_at: at,
                expired: false,
            };
            let json = serde_json::to_string(&invite).unwrap();
            assert_eq!(
                json,
                r#"{"sent_at":"2026-11-29T04:33:12.123456Z","expires_at":"2026-11-29T04:33:12.123456Z","expired":false}"#
            );
            assert_eq!(serde_json::from_str::<InviteStatusWire>(&json).unwrap(), invite);
            let none: Option<DateTime<Utc>> =
                optional::deserialize(&mut serde_json::Deserializer::from_str("null")).unwrap();
            assert_eq!(none, None);
        }

        type InviteStatusWire = crate::model::InviteStatus;
    }
}

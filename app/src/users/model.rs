//! What the Users tab and a profile show, as the server sends it to the browser.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use people::{Role, Source, Status, UserSort};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: Uuid,
    pub display_name: String,
    pub given_name: String,
    pub family_name: String,
    pub email: String,
    pub role: Role,
    pub status: Status,
    pub source: Source,
    pub has_password: bool,
    #[serde(with = "crate::timestamps::optional")]
    pub last_login_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::timestamps")]
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
    pub status: Status,
    pub source: Source,
    #[serde(with = "crate::timestamps::optional")]
    pub last_login_at: Option<DateTime<Utc>>,
    pub invite: Option<InviteStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InviteStatus {
    #[serde(with = "crate::timestamps")]
    pub sent_at: DateTime<Utc>,
    #[serde(with = "crate::timestamps")]
    pub expires_at: DateTime<Utc>,
    pub expired: bool,
}

/// The Users tab's state, which is also its URL query (`?q=&status=&sort=&dir=&page=`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct UsersQuery {
    pub q: String,
    pub status: Option<Status>,
    pub sort: UserSort,
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

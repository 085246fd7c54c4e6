//! People in an organisation: the model (`User`, names, emails), the list at scale (`list`),
//! the Users tab's page read in the same statement as the session (`page_with_session`), and
//! the lifecycle: creation, profile edits, deactivate / reactivate with its safety rules
//! (`lifecycle`).

mod email;
mod lifecycle;
mod list;
mod page_with_session;

pub use email::EmailAddress;
pub use lifecycle::{create, deactivate, insert, reactivate, update_profile, NewUser, ProfileChange};
pub use list::{
    count_by_status, invitable_ids_matching, list, ListedUser, UserPage, UserQuery, MAX_PER_PAGE, SEARCH_COUNT_CAP,
};
pub use page_with_session::resolve_with_page;
pub use people::{display_name, Role, Source, Status, UserSort};

use crate::error::{Error, Result};
use crate::Db;
use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct User {
    pub org_id: Uuid,
    pub id: Uuid,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub role: Role,
    pub status: Status,
    pub source: Source,
    pub has_password: bool,
    pub version: i64,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl User {
    pub fn display_name(&self) -> String {
        display_name(&self.given_name, &self.family_name, &self.email)
    }
}

const USER_COLUMNS: &str = "org_id, id, email, given_name, family_name, role, status, source, \
     password_hash is not null as has_password, version, last_login_at, created_at, updated_at";

/// Longest given or family name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// A name as typed, trimmed; empty is allowed (the email stands in).
pub fn parse_name(field: &'static str, raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::invalid(field, "Names can be at most 100 characters."));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(field, "Names cannot contain control characters."));
    }
    // What a form decoder puts in place of bytes that were not UTF-8: the name as sent was not
    // readable text, and saving it would store the damage.
    if name.contains('\u{fffd}') {
        return Err(Error::invalid(
            field,
            "This name contains characters that could not be read. Type it again.",
        ));
    }
    Ok(name.to_owned())
}

#[tracing::instrument(level = "debug", skip_all, fields(org = %org_id, %user_id))]
pub async fn get(db: &Db, org_id: Uuid, user_id: Uuid) -> Result<User> {
    fetch(db, org_id, user_id, "").await
}

async fn get_for_update(conn: &mut sqlx::PgConnection, org_id: Uuid, user_id: Uuid) -> Result<User> {
    fetch(conn, org_id, user_id, " for update").await
}

/// One user of one org (never another org's: `org_id` is part of every lookup).
async fn fetch(db: impl sqlx::PgExecutor<'_>, org_id: Uuid, user_id: Uuid, lock: &str) -> Result<User> {
    sqlx::query_as(&format!(
        "select {USER_COLUMNS} from users where org_id = $1 and id = $2 and status <> 'deleted'{lock}"
    ))
    .bind(org_id)
    .bind(user_id)
    .fetch_optional(db)
    .await?
    .ok_or(Error::NotFound)
}

/// The display name of one person of `org_id`, for mail that names who did something.
pub(crate) async fn display_name_of(
    conn: &mut sqlx::PgConnection,
    org_id: Uuid,
    user_id: Uuid,
) -> Result<Option<String>> {
    let names: Option<(String, String, String)> =
        sqlx::query_as("select given_name, family_name, email from users where org_id = $1 and id = $2")
            .bind(org_id)
            .bind(user_id)
            .fetch_optional(conn)
            .await?;
    Ok(names.map(|(given, family, email)| display_name(&given, &family, &email)))
}

/// Whether the person has a password (a way in besides their linked accounts).
pub async fn has_password(db: &Db, org_id: Uuid, user_id: Uuid) -> Result<bool> {
    Ok(
        sqlx::query_scalar("select password_hash is not null from users where org_id = $1 and id = $2")
            .bind(org_id)
            .bind(user_id)
            .fetch_optional(db)
            .await?
            .unwrap_or(false),
    )
}

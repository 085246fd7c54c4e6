//! People in an organisation: listing at scale, manual creation, profile edits, and the
//! deactivate / reactivate lifecycle with its safety rules.

use crate::audit::{self, Actor, Target};
use crate::email::EmailAddress;
use crate::error::{Error, Result};
use crate::{password, Db};
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection, Postgres, QueryBuilder, Row};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum UserStatus {
    Imported,
    Invited,
    Active,
    Deactivated,
    Deleted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum UserSource {
    Manual,
    Invite,
    Google,
    Microsoft,
    Slack,
    Scim,
}

#[derive(Debug, Clone, FromRow)]
pub struct User {
    pub org_id: Uuid,
    pub id: Uuid,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub role: Role,
    pub status: UserStatus,
    pub source: UserSource,
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

pub fn display_name(given: &str, family: &str, email: &str) -> String {
    let name = format!("{given} {family}");
    let name = name.trim();
    if name.is_empty() {
        email.to_owned()
    } else {
        name.to_owned()
    }
}

const USER_COLUMNS: &str = "org_id, id, email, given_name, family_name, role, status, source, \
     password_hash is not null as has_password, version, last_login_at, created_at, updated_at";

/// A name as typed, trimmed; empty is allowed (the email stands in).
pub fn parse_name(field: &'static str, raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.chars().count() > 100 {
        return Err(Error::invalid(field, "Names can be at most 100 characters."));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(field, "Names cannot contain control characters."));
    }
    Ok(name.to_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserSort {
    #[default]
    Name,
    Email,
    Role,
    Status,
    Created,
    LastLogin,
}

#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    pub search: Option<String>,
    pub status: Option<UserStatus>,
    pub sort: UserSort,
    pub descending: bool,
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
}

/// A user as the users table lists them: only the columns it shows (a page is read on every
/// visit to the Users tab, so unused columns are bytes to send and decode for nothing), with
/// their open invitation, if any.
#[derive(Debug, Clone)]
pub struct ListedUser {
    pub id: Uuid,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub role: Role,
    pub status: UserStatus,
    pub source: UserSource,
    pub last_login_at: Option<DateTime<Utc>>,
    /// When the open invitation (possibly expired) was sent, and when its link expires.
    pub invite_sent_at: Option<DateTime<Utc>>,
    pub invite_expires_at: Option<DateTime<Utc>>,
}

impl ListedUser {
    pub fn display_name(&self) -> String {
        display_name(&self.given_name, &self.family_name, &self.email)
    }
}

/// The columns the Users tab shows. The name-order index includes exactly these (migrations 0004
/// and 0006), so the default page is read from the index alone; change both together.
const LISTED_COLUMNS: &str =
    "id, email, given_name, family_name, role, status, source, last_login_at, invite_sent_at, invite_expires_at";

pub(crate) struct ListedRow {
    listed: ListedUser,
    /// The unfiltered total from the counters, carried on every row (see `push_list`).
    total: Option<i64>,
}

/// Decoded by position, in the order `push_list` selects: `LISTED_COLUMNS`, then the total when
/// it rides along. Looking each column up by name (the derived decoder) was 4% of the server's
/// CPU time on the Users tab: 500 hashed lookups a page.
/// The columns' types are fixed by `push_list`'s own text, so each value is decoded without
/// sqlx's per-value check of the declared type against every type Rust's could come from (a
/// further 5% of that CPU time); decoding still rejects a value of the wrong width or encoding.
impl ListedRow {
    /// Reads a listed user from `row`, starting at column `at`; `None` when the id there is null
    /// (a row that carries something else, see `sessions::resolve_with_users_page`).
    pub(crate) fn decode_at(row: &PgRow, at: usize) -> sqlx::Result<Option<ListedRow>> {
        let Some(id) = row.try_get_unchecked(at)? else {
            return Ok(None);
        };
        let status: UserStatus = row.try_get_unchecked(at + 5)?;
        // Only an invited person's invitation is shown (someone deactivated while invited may
        // still hold an open link).
        let invited = status == UserStatus::Invited;
        Ok(Some(ListedRow {
            listed: ListedUser {
                id,
                email: row.try_get_unchecked(at + 1)?,
                given_name: row.try_get_unchecked(at + 2)?,
                family_name: row.try_get_unchecked(at + 3)?,
                role: row.try_get_unchecked(at + 4)?,
                status,
                source: row.try_get_unchecked(at + 6)?,
                last_login_at: row.try_get_unchecked(at + 7)?,
                invite_sent_at: if invited { row.try_get_unchecked(at + 8)? } else { None },
                invite_expires_at: if invited { row.try_get_unchecked(at + 9)? } else { None },
            },
            total: if row.len() > at + 10 {
                row.try_get_unchecked(at + 10)?
            } else {
                None
            },
        }))
    }
}

impl<'r> FromRow<'r, PgRow> for ListedRow {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        ListedRow::decode_at(row, 0)?.ok_or_else(|| sqlx::Error::ColumnDecode {
            index: "0".into(),
            source: "a listed user without an id".into(),
        })
    }
}

#[derive(Debug, Clone)]
pub struct UserPage {
    pub users: Vec<ListedUser>,
    pub total: i64,
    /// True when a search matched more rows than we are willing to count exactly.
    pub total_is_lower_bound: bool,
}

/// Searches past this many matches show "10,000+" rather than counting every row.
pub const SEARCH_COUNT_CAP: i64 = 10_000;
pub const MAX_PER_PAGE: u32 = 200;
/// Pages of the users list whose statements stay prepared on each connection (see `push_list`).
const PREPARED_PAGES: i64 = 10;

/// Which organisation's users a list statement reads.
#[derive(Clone, Copy)]
pub(crate) enum OrgScope {
    /// An organisation already known (the caller's session was resolved before).
    Id(Uuid),
    /// The organisation of the session resolved in the same statement, as the column `me.org_id`
    /// of its `me` table (see `sessions::resolve_with_users_page`).
    SessionTable,
}

impl OrgScope {
    fn push<'a>(self, qb: &mut QueryBuilder<'a, Postgres>) {
        match self {
            OrgScope::Id(id) => qb.push_bind(id),
            OrgScope::SessionTable => qb.push("me.org_id"),
        };
    }
}

fn push_filters<'a>(
    qb: &mut QueryBuilder<'a, Postgres>,
    org: OrgScope,
    query: &'a UserQuery,
    pattern: &'a Option<String>,
) {
    qb.push(" where users.org_id = ");
    org.push(qb);
    // Deleted users are kept for SCIM history but never listed.
    match query.status {
        Some(status) => {
            qb.push(" and status = ").push_bind(status);
        }
        None => {
            qb.push(" and status <> 'deleted'");
        }
    }
    if let Some(pattern) = pattern {
        qb.push(" and search_text like ").push_bind(pattern.as_str());
    }
}

impl UserQuery {
    /// The LIKE pattern for the search text, if there is any.
    pub(crate) fn search_pattern(&self) -> Option<String> {
        self.search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(like_pattern)
    }
}

fn like_pattern(search: &str) -> String {
    let escaped = search
        .trim()
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

pub async fn list(db: &Db, org_id: Uuid, query: &UserQuery) -> Result<UserPage> {
    let pattern = query.search_pattern();
    let mut qb = QueryBuilder::new("");
    let statement = push_list(&mut qb, OrgScope::Id(org_id), query, &pattern);
    let rows: Vec<ListedRow> = qb
        .build_query_as()
        .persistent(statement.keep_prepared)
        .fetch_all(db)
        .await?;
    finish_page(db, org_id, query, &pattern, rows).await
}

/// What `push_list` wrote.
pub(crate) struct ListStatement {
    pub keep_prepared: bool,
    /// `LISTED_COLUMNS` and, when nothing filters the list, the total (see `ListedRow`).
    pub columns: usize,
}

/// Writes the statement for one page of the list, scoped to `org`.
pub(crate) fn push_list<'a>(
    qb: &mut QueryBuilder<'a, Postgres>,
    org: OrgScope,
    query: &'a UserQuery,
    pattern: &'a Option<String>,
) -> ListStatement {
    let per_page = query.per_page.clamp(1, MAX_PER_PAGE) as i64;
    let page = query.page.max(1) as i64;

    // Sort keys come from a closed enum, never from the request text.
    let (column, nulls) = match query.sort {
        UserSort::Name => ("sort_name", ""),
        UserSort::Email => ("lower(email)", ""),
        UserSort::Role => ("role", ""),
        UserSort::Status => ("status", ""),
        UserSort::Created => ("created_at", ""),
        UserSort::LastLogin => (
            "last_login_at",
            if query.descending {
                " nulls last"
            } else {
                " nulls first"
            },
        ),
    };
    let direction = if query.descending { " desc" } else { " asc" };
    let order = format!(" order by {column}{direction}{nulls}, id{direction}");
    // Limit and offset are written into the statement (they are integers we computed, not
    // request text): as parameters, PostgreSQL costs a cached generic plan as if it read 10% of
    // the table, so it plans every execution afresh, which cost more than running the query.
    let offset = (page - 1) * per_page;
    let limit = format!(" limit {per_page} offset {offset}");

    // One round trip for the page. Each invited person's open invitation is on their row
    // (mirrored from invites, migration 0006), and when nothing filters the list, the total
    // rides along from the trigger-kept counters.
    let counted_inline = pattern.is_none() && query.status.is_none();
    qb.push(format!("select {LISTED_COLUMNS}"));
    if counted_inline {
        qb.push(", (select sum(n)::bigint from org_user_counts c where c.org_id = ");
        org.push(qb);
        qb.push(" and c.status <> 'deleted') as total");
    }
    qb.push(" from users");
    push_filters(qb, org, query, pattern);
    qb.push(format!("{order}{limit}"));
    // Each page number is its own statement text, so only the first pages (nearly all traffic)
    // are kept prepared; walking deep pages must not push everything else out of the cache.
    // Searches are planned for their actual pattern (an unnamed statement): a cached generic
    // plan can pick a full index scan and turn a 5 ms search into a 500 ms one.
    ListStatement {
        keep_prepared: pattern.is_none() && page <= PREPARED_PAGES,
        columns: if counted_inline { 11 } else { 10 },
    }
}

/// The page from its rows, counting the matches separately when the total did not ride along.
pub(crate) async fn finish_page(
    db: &Db,
    org_id: Uuid,
    query: &UserQuery,
    pattern: &Option<String>,
    rows: Vec<ListedRow>,
) -> Result<UserPage> {
    let inline_total = rows.first().and_then(|r| r.total);
    let users = rows.into_iter().map(|r| r.listed).collect();
    let (total, total_is_lower_bound) = if let Some(total) = inline_total {
        (total, false)
    } else if pattern.is_some() {
        let mut count = QueryBuilder::new("select count(*) from (select 1 from users");
        push_filters(&mut count, OrgScope::Id(org_id), query, pattern);
        count.push(" limit ").push_bind(SEARCH_COUNT_CAP + 1).push(") capped");
        let n: i64 = count.build_query_scalar().persistent(false).fetch_one(db).await?;
        (n.min(SEARCH_COUNT_CAP), n > SEARCH_COUNT_CAP)
    } else {
        (count_by_status(db, org_id, query.status).await?, false)
    };
    Ok(UserPage {
        users,
        total,
        total_is_lower_bound,
    })
}

/// Ids of the users a filter matches who could be invited (imported, or invited with an
/// expired link), for "select all N matching".
pub async fn invitable_ids_matching(db: &Db, org_id: Uuid, query: &UserQuery, limit: i64) -> Result<Vec<Uuid>> {
    let pattern = query.search_pattern();
    let mut qb = QueryBuilder::new("select id from users");
    push_filters(&mut qb, OrgScope::Id(org_id), query, &pattern);
    qb.push(
        " and (status = 'imported' or (status = 'invited' and not exists (select 1 from invites i where i.org_id = users.org_id
           and i.user_id = users.id and i.expires_at > now() and i.accepted_at is null and i.revoked_at is null
           and i.superseded_at is null)))",
    );
    qb.push(" limit ").push_bind(limit);
    Ok(qb.build_query_scalar().fetch_all(db).await?)
}

/// Reads the trigger-maintained counters instead of counting rows.
pub async fn count_by_status(db: &Db, org_id: Uuid, status: Option<UserStatus>) -> Result<i64> {
    let n: Option<i64> = match status {
        Some(status) => {
            sqlx::query_scalar("select n from org_user_counts where org_id = $1 and status = $2")
                .bind(org_id)
                .bind(status)
                .fetch_optional(db)
                .await?
        }
        None => {
            sqlx::query_scalar("select sum(n)::bigint from org_user_counts where org_id = $1 and status <> 'deleted'")
                .bind(org_id)
                .fetch_one(db)
                .await?
        }
    };
    Ok(n.unwrap_or(0))
}

pub async fn get(db: &Db, org_id: Uuid, user_id: Uuid) -> Result<User> {
    fetch(db, org_id, user_id, "").await
}

async fn get_for_update(conn: &mut PgConnection, org_id: Uuid, user_id: Uuid) -> Result<User> {
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

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: EmailAddress,
    pub given_name: String,
    pub family_name: String,
    pub role: Role,
    pub status: UserStatus,
    pub source: UserSource,
    /// Plain password to hash; `None` leaves the account without one (invite or SSO later).
    pub password: Option<String>,
}

/// Inserts a user inside the caller's transaction (used by org creation and the CLI as well).
pub async fn insert(
    conn: &mut PgConnection,
    org_id: Uuid,
    new: &NewUser,
    password_hash: Option<String>,
) -> Result<User> {
    let user: User = sqlx::query_as(&format!(
        "insert into users (org_id, id, email, given_name, family_name, role, status, source, password_hash)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning {USER_COLUMNS}"
    ))
    .bind(org_id)
    .bind(Uuid::now_v7())
    .bind(new.email.as_str())
    .bind(parse_name("given_name", &new.given_name)?)
    .bind(parse_name("family_name", &new.family_name)?)
    .bind(new.role)
    .bind(new.status)
    .bind(new.source)
    .bind(password_hash)
    .fetch_one(conn)
    .await?;
    Ok(user)
}

pub async fn create(db: &Db, actor: &Actor, new: NewUser) -> Result<User> {
    parse_name("given_name", &new.given_name)?;
    parse_name("family_name", &new.family_name)?;
    let password_hash = match &new.password {
        Some(p) => Some(password::hash(p.clone()).await?),
        None => None,
    };
    let mut tx = db.begin().await?;
    let user = insert(&mut tx, actor.org_id, &new, password_hash).await?;
    audit::record(
        &mut tx,
        actor,
        "user.created",
        Some(Target {
            id: user.id,
            label: &user.email,
        }),
        json!({ "role": role_str(user.role), "status": status_str(user.status), "with_password": user.has_password }),
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

#[derive(Debug, Clone)]
pub struct ProfileChange {
    pub email: EmailAddress,
    pub given_name: String,
    pub family_name: String,
    /// `None` keeps the role (members editing their own profile cannot change it).
    pub role: Option<Role>,
}

/// Serialises every change that could leave an org without an active admin.
async fn lock_org(conn: &mut PgConnection, org_id: Uuid) -> Result<()> {
    sqlx::query("select 1 from orgs where id = $1 for update")
        .bind(org_id)
        .fetch_one(conn)
        .await?;
    Ok(())
}

async fn other_active_admins(conn: &mut PgConnection, org_id: Uuid, user_id: Uuid) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "select count(*) from users where org_id = $1 and id <> $2 and role = 'admin' and status = 'active'",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_one(conn)
    .await?)
}

pub async fn update_profile(db: &Db, actor: &Actor, user_id: Uuid, change: ProfileChange) -> Result<User> {
    let given_name = parse_name("given_name", &change.given_name)?;
    let family_name = parse_name("family_name", &change.family_name)?;
    let mut tx = db.begin().await?;
    lock_org(&mut tx, actor.org_id).await?;
    let before = get_for_update(&mut tx, actor.org_id, user_id).await?;
    let role = change.role.unwrap_or(before.role);
    if before.role == Role::Admin
        && role == Role::Member
        && before.status == UserStatus::Active
        && other_active_admins(&mut tx, actor.org_id, user_id).await? == 0
    {
        return Err(Error::conflict(
            "role",
            "This is the last active admin. Make someone else an admin first, then change this role.",
        ));
    }
    let after: User = sqlx::query_as(&format!(
        "update users set email = $3, given_name = $4, family_name = $5, role = $6, version = version + 1
         where org_id = $1 and id = $2 returning {USER_COLUMNS}"
    ))
    .bind(actor.org_id)
    .bind(user_id)
    .bind(change.email.as_str())
    .bind(&given_name)
    .bind(&family_name)
    .bind(role)
    .fetch_one(&mut *tx)
    .await?;

    let mut changed = serde_json::Map::new();
    let mut note = |field: &str, from: &str, to: &str| {
        if from != to {
            changed.insert(field.to_owned(), json!({ "from": from, "to": to }));
        }
    };
    note("email", &before.email, &after.email);
    note("given_name", &before.given_name, &after.given_name);
    note("family_name", &before.family_name, &after.family_name);
    note("role", role_str(before.role), role_str(after.role));
    if !changed.is_empty() {
        audit::record(
            &mut tx,
            actor,
            "user.updated",
            Some(Target {
                id: after.id,
                label: &after.email,
            }),
            changed.into(),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(after)
}

/// Deactivation ends every session of the user in the same transaction, so the very next
/// request they make is refused.
pub async fn deactivate(db: &Db, actor: &Actor, user_id: Uuid) -> Result<User> {
    if actor.user_id == Some(user_id) {
        return Err(Error::conflict(
            "status",
            "You cannot deactivate yourself. Ask another admin.",
        ));
    }
    let mut tx = db.begin().await?;
    lock_org(&mut tx, actor.org_id).await?;
    let before = get_for_update(&mut tx, actor.org_id, user_id).await?;
    if before.status == UserStatus::Deactivated {
        return Ok(before);
    }
    if before.role == Role::Admin
        && before.status == UserStatus::Active
        && other_active_admins(&mut tx, actor.org_id, user_id).await? == 0
    {
        return Err(Error::conflict(
            "status",
            "This is the last active admin and cannot be deactivated.",
        ));
    }
    let after = set_status(&mut tx, actor.org_id, user_id, UserStatus::Deactivated).await?;
    let ended = crate::sessions::revoke_all_for_user(&mut tx, actor.org_id, user_id).await?;
    audit::record(
        &mut tx,
        actor,
        "user.deactivated",
        Some(Target {
            id: after.id,
            label: &after.email,
        }),
        json!({ "sessions_ended": ended, "previous_status": status_str(before.status) }),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Brings a deactivated user back: active if they have ever been able to sign in, otherwise
/// back to imported so they can be invited.
pub async fn reactivate(db: &Db, actor: &Actor, user_id: Uuid) -> Result<User> {
    let mut tx = db.begin().await?;
    let before = get_for_update(&mut tx, actor.org_id, user_id).await?;
    if before.status != UserStatus::Deactivated {
        return Ok(before);
    }
    let status = if before.has_password || before.last_login_at.is_some() {
        UserStatus::Active
    } else {
        UserStatus::Imported
    };
    let after = set_status(&mut tx, actor.org_id, user_id, status).await?;
    audit::record(
        &mut tx,
        actor,
        "user.reactivated",
        Some(Target {
            id: after.id,
            label: &after.email,
        }),
        json!({ "status": status_str(status) }),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

async fn set_status(conn: &mut PgConnection, org_id: Uuid, user_id: Uuid, status: UserStatus) -> Result<User> {
    Ok(sqlx::query_as(&format!(
        "update users set status = $3, version = version + 1 where org_id = $1 and id = $2 returning {USER_COLUMNS}"
    ))
    .bind(org_id)
    .bind(user_id)
    .bind(status)
    .fetch_one(conn)
    .await?)
}

pub fn role_str(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::Member => "member",
    }
}

pub fn status_str(status: UserStatus) -> &'static str {
    match status {
        UserStatus::Imported => "imported",
        UserStatus::Invited => "invited",
        UserStatus::Active => "active",
        UserStatus::Deactivated => "deactivated",
        UserStatus::Deleted => "deleted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_wildcards_typed_by_a_person_match_literally() {
        assert_eq!(like_pattern(" 100%_A\\ "), "%100\\%\\_a\\\\%");
    }

    #[test]
    fn a_user_without_names_is_displayed_by_email() {
        assert_eq!(display_name(" ", "", "a@b.co"), "a@b.co");
        assert_eq!(display_name("Ada", "Lovelace", "a@b.co"), "Ada Lovelace");
    }
}

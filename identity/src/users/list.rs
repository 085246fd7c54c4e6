//! The users list at scale: search, status filter, sort and paging in one statement, with the
//! total from trigger-kept counters, so a page costs the same at 100,000 people as at 10.

use super::{display_name, Role, Source, Status, UserSort};
use crate::db::columns::column_table;
use crate::error::Result;
use crate::Db;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{FromRow, Postgres, QueryBuilder, Row};
use uuid::Uuid;

#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    pub search: Option<String>,
    pub status: Option<Status>,
    pub sort: UserSort,
    pub descending: bool,
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
}

column_table! {
    /// A user as the users table lists them: only the columns it shows (a page is read on every
    /// visit to the Users tab, so unused columns are bytes to send and decode for nothing), with
    /// their open invitation, if any. The name-order index includes exactly these columns
    /// (migrations 0004 and 0006), so the default page is read from the index alone: change both
    /// together.
    #[derive(Debug, Clone)]
    pub struct ListedUser {
        id: Uuid = "uuid",
        email: String = "text",
        given_name: String = "text",
        family_name: String = "text",
        role: Role = "text",
        status: Status = "text",
        source: Source = "text",
        last_login_at: Option<DateTime<Utc>> = "timestamptz",
        /// When the open invitation (possibly expired) was sent, and when its link expires.
        invite_sent_at: Option<DateTime<Utc>> = "timestamptz",
        invite_expires_at: Option<DateTime<Utc>> = "timestamptz",
    }
}

impl ListedUser {
    pub fn display_name(&self) -> String {
        display_name(&self.given_name, &self.family_name, &self.email)
    }
}

/// A listed user as `push_list` selects them: `ListedUser`'s columns, then the unfiltered total
/// when it rides along.
pub(crate) struct ListedRow {
    pub(crate) listed: ListedUser,
    pub(crate) total: Option<i64>,
}

impl ListedRow {
    /// Reads a listed user from `row`, starting at column `at`.
    pub(crate) fn decode_at(row: &PgRow, at: usize) -> sqlx::Result<ListedRow> {
        let mut listed = ListedUser::decode_at(row, at)?;
        // Only an invited person's invitation is shown (someone deactivated while invited may
        // still hold an open link).
        if listed.status != Status::Invited {
            listed.invite_sent_at = None;
            listed.invite_expires_at = None;
        }
        let after = at + ListedUser::COUNT;
        let total = if row.len() > after {
            row.try_get_unchecked(after)?
        } else {
            None
        };
        Ok(ListedRow { listed, total })
    }
}

impl<'r> FromRow<'r, PgRow> for ListedRow {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        ListedRow::decode_at(row, 0)
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
    /// of its `me` table (see `users::resolve_with_page`).
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

#[tracing::instrument(level = "debug", skip_all, fields(org = %org_id))]
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
    /// `ListedUser`'s columns and, when nothing filters the list, the total (see `ListedRow`).
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
    qb.push("select ").push(ListedUser::select_list());
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
        columns: ListedUser::COUNT + usize::from(counted_inline),
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
#[tracing::instrument(level = "debug", skip_all, fields(org = %org_id))]
pub async fn invitable_ids_matching(db: &Db, org_id: Uuid, query: &UserQuery, limit: i64) -> Result<Vec<Uuid>> {
    let pattern = query.search_pattern();
    let mut qb = QueryBuilder::new("select id from users");
    push_filters(&mut qb, OrgScope::Id(org_id), query, &pattern);
    qb.push(
        " and (status = 'imported' or (status = 'invited' and not exists (select 1 from open_invites i where i.org_id = users.org_id
           and i.user_id = users.id and i.expires_at > now())))",
    );
    qb.push(" limit ").push_bind(limit);
    Ok(qb.build_query_scalar().fetch_all(db).await?)
}

/// Reads the trigger-maintained counters instead of counting rows.
#[tracing::instrument(level = "debug", skip_all, fields(org = %org_id))]
pub async fn count_by_status(db: &Db, org_id: Uuid, status: Option<Status>) -> Result<i64> {
    let n: Option<i64> = match status {
        Some(status) => {
            sqlx::query_scalar("select sum(n)::bigint from org_user_counts where org_id = $1 and status = $2")
                .bind(org_id)
                .bind(status)
                .fetch_one(db)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_wildcards_typed_by_a_person_match_literally() {
        assert_eq!(like_pattern(" 100%_A\\ "), "%100\\%\\_a\\\\%");
    }
}

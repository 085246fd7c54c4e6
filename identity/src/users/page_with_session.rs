//! The Users tab's page read in the same statement as the caller's session. A view of the tab
//! then costs one round trip to the database instead of two: the round trip, more than the
//! reading of rows, was most of that page's cost (bench/users-page).

use super::list::{finish_page, push_list, ListedRow, OrgScope};
use super::{UserPage, UserQuery};
use crate::error::Result;
use crate::sessions::{SessionStore, SessionUser};
use sqlx::Row;
use uuid::Uuid;

/// The session behind `token` if it is live, and in the same statement the page of the Users
/// tab that `query` asks for when the session is an admin's (`None` for anyone else).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn resolve_with_page(
    sessions: &SessionStore,
    token: &str,
    query: &UserQuery,
) -> Result<Option<(SessionUser, Option<UserPage>)>> {
    let Some(hash) = SessionStore::token_hash(token) else {
        return Ok(None);
    };
    let pattern = query.search_pattern();
    // The page's rows (for an admin), then the session's row, each with the other's columns
    // null: the session's columns are sent once, not on every row of the page.
    let mut qb = sqlx::QueryBuilder::new("with me as (");
    sessions.push_live_session(&mut qb, &hash);
    qb.push(") select ")
        .push(SessionUser::nulls())
        .push(", page.* from me cross join lateral (");
    let statement = push_list(&mut qb, OrgScope::SessionTable, query, &pattern);
    qb.push(") page where me.role = 'admin' union all select me.*, ");
    // The page's columns as the session's row carries them: all null.
    qb.push(super::ListedUser::nulls());
    if statement.columns > super::ListedUser::COUNT {
        qb.push(", null::bigint");
    }
    qb.push(" from me");
    let rows = sessions.read(qb.build().persistent(statement.keep_prepared)).await?;
    let mut session = None;
    let mut listed = Vec::with_capacity(rows.len());
    for row in &rows {
        // The session's row is the one whose org is not null; the page keeps its order.
        if row.try_get::<Option<Uuid>, _>(0)?.is_some() {
            session = Some(SessionUser::decode_at(row, 0)?);
        } else {
            listed.push(ListedRow::decode_at(row, SessionUser::COUNT)?);
        }
    }
    let Some(user) = session else {
        return Ok(None);
    };
    sessions.touch_if_stale(&user, &hash).await?;
    if !user.is_admin() {
        return Ok(Some((user, None)));
    }
    let page = finish_page(sessions.db(), user.org_id, query, &pattern, listed).await?;
    Ok(Some((user, Some(page))))
}

//! Server-side sessions in Postgres: any app server can resolve any session, and revoking one
//! takes effect on the next request everywhere.

use crate::db::ReadLane;
use crate::error::Result;
use crate::token::{self, Secret};
use crate::users::{self, ListedRow, OrgScope, Role, UserPage, UserQuery};
use crate::Db;
use chrono::{DateTime, Duration, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct SessionPolicy {
    /// A session unused for this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, however active.
    pub absolute_lifetime: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle_timeout: Duration::hours(8),
            absolute_lifetime: Duration::days(14),
        }
    }
}

/// Who a valid session belongs to, resolved once per request.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub org_id: Uuid,
    pub org_slug: String,
    pub org_name: String,
    pub user_id: Uuid,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub role: Role,
    pub token_hash: Vec<u8>,
    pub last_seen_at: DateTime<Utc>,
}

impl SessionUser {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn display_name(&self) -> String {
        crate::users::display_name(&self.given_name, &self.family_name, &self.email)
    }
}

pub struct NewSession<'a> {
    pub org_id: Uuid,
    pub user_id: Uuid,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// Starts a session and returns the token for the cookie. Always a new token: signing in never
/// reuses a session id that existed before (no fixation).
pub async fn create(db: &Db, policy: &SessionPolicy, new: NewSession<'_>) -> Result<Secret> {
    let secret = Secret::generate();
    sqlx::query(
        "insert into sessions (token_hash, org_id, user_id, expires_at, ip, user_agent) values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(secret.digest())
    .bind(new.org_id)
    .bind(new.user_id)
    .bind(Utc::now() + policy.absolute_lifetime)
    .bind(new.ip)
    .bind(new.user_agent.map(|ua| ua.chars().take(300).collect::<String>()))
    .execute(db)
    .await?;
    Ok(secret)
}

/// Writes the statement for the live session behind `token_hash`: its columns are decoded by
/// `SessionUser::decode`, in this order.
fn push_live_session<'a>(qb: &mut QueryBuilder<'a, Postgres>, token_hash: &'a [u8], policy: &SessionPolicy) {
    qb.push(
        "select s.org_id, o.slug as org_slug, o.name as org_name, s.user_id, u.email,
           u.given_name, u.family_name, u.role, s.last_seen_at
         from sessions s
         join users u on u.org_id = s.org_id and u.id = s.user_id
         join orgs o on o.id = s.org_id
         where s.token_hash = ",
    )
    .push_bind(token_hash)
    .push(" and s.expires_at > now() and s.last_seen_at > now() - make_interval(secs => ")
    .push_bind(policy.idle_timeout.num_seconds() as f64)
    .push(") and u.status = 'active'");
}

/// Columns `push_live_session` selects.
const LIVE_SESSION_COLUMNS: usize = 9;
/// Nulls of the types of a listed user's columns, in `ListedRow`'s order; the total is last.
const PAGE_NULLS: [&str; 11] = [
    "null::uuid",
    "null::text",
    "null::text",
    "null::text",
    "null::text",
    "null::text",
    "null::text",
    "null::timestamptz",
    "null::timestamptz",
    "null::timestamptz",
    "null::bigint",
];
/// Nulls of the types of `push_live_session`'s columns, in its order.
const SESSION_NULLS: &str = "null::uuid, null::text, null::text, null::uuid, null::text, null::text, null::text, \
                             null::text, null::timestamptz";

impl SessionUser {
    /// Decoded by position without sqlx's type check, like `ListedRow::decode_at`: the columns
    /// are `push_live_session`'s own.
    fn decode(row: &PgRow, token_hash: Vec<u8>) -> sqlx::Result<SessionUser> {
        Ok(SessionUser {
            org_id: row.try_get_unchecked(0)?,
            org_slug: row.try_get_unchecked(1)?,
            org_name: row.try_get_unchecked(2)?,
            user_id: row.try_get_unchecked(3)?,
            email: row.try_get_unchecked(4)?,
            given_name: row.try_get_unchecked(5)?,
            family_name: row.try_get_unchecked(6)?,
            role: row.try_get_unchecked(7)?,
            last_seen_at: row.try_get_unchecked(8)?,
            token_hash,
        })
    }
}

/// Resolves a cookie token to its user if the session is live and the user still active.
pub async fn resolve(db: &Db, lane: &ReadLane, policy: &SessionPolicy, token: &str) -> Result<Option<SessionUser>> {
    if token.len() != 64 {
        return Ok(None);
    }
    let hash = token::digest(token);
    let mut qb = QueryBuilder::new("");
    push_live_session(&mut qb, &hash, policy);
    let mut conn = lane.acquire().await?;
    let row = qb.build().fetch_optional(&mut *conn).await?;
    conn.finished();
    drop(qb);
    let Some(row) = row else {
        return Ok(None);
    };
    let user = SessionUser::decode(&row, hash)?;
    touch_if_stale(db, &user).await?;
    Ok(Some(user))
}

/// `resolve`, and in the same statement the page of the Users tab that `query` asks for when
/// the session is an admin's (`None` for anyone else). A view of the Users tab then costs one
/// round trip to the database instead of two: the round trip, more than the reading of rows,
/// was most of that page's cost (bench/users-page).
pub async fn resolve_with_users_page(
    db: &Db,
    lane: &ReadLane,
    policy: &SessionPolicy,
    token: &str,
    query: &UserQuery,
) -> Result<Option<(SessionUser, Option<UserPage>)>> {
    if token.len() != 64 {
        return Ok(None);
    }
    let hash = token::digest(token);
    let pattern = query.search_pattern();
    // The page's rows (for an admin), then the session's row, each with the other's columns
    // null: the session's columns are sent once, not on every row of the page.
    let mut qb = QueryBuilder::new("with me as (");
    push_live_session(&mut qb, &hash, policy);
    qb.push(") select ")
        .push(SESSION_NULLS)
        .push(", page.* from me cross join lateral (");
    let statement = users::push_list(&mut qb, OrgScope::SessionTable, query, &pattern);
    qb.push(") page where me.role = 'admin' union all select me.*, ");
    qb.push(PAGE_NULLS[..statement.columns].join(", "));
    qb.push(" from me");
    let mut conn = lane.acquire().await?;
    let rows = qb
        .build()
        .persistent(statement.keep_prepared)
        .fetch_all(&mut *conn)
        .await?;
    conn.finished();
    let mut session = None;
    let mut listed = Vec::with_capacity(rows.len());
    for row in &rows {
        // The session's row is the one whose org is not null; the page keeps its order.
        if row.try_get::<Option<Uuid>, _>(0)?.is_some() {
            session = Some(SessionUser::decode(row, hash.clone())?);
        } else if let Some(found) = ListedRow::decode_at(row, LIVE_SESSION_COLUMNS)? {
            listed.push(found);
        }
    }
    let Some(user) = session else {
        return Ok(None);
    };
    touch_if_stale(db, &user).await?;
    if !user.is_admin() {
        return Ok(Some((user, None)));
    }
    let page = users::finish_page(db, user.org_id, query, &pattern, listed).await?;
    Ok(Some((user, Some(page))))
}

/// Touch at most once a minute: keeps the idle clock honest without a write per request.
async fn touch_if_stale(db: &Db, user: &SessionUser) -> Result<()> {
    if Utc::now() - user.last_seen_at > Duration::seconds(60) {
        sqlx::query("update sessions set last_seen_at = now() where token_hash = $1")
            .bind(&user.token_hash)
            .execute(db)
            .await?;
    }
    Ok(())
}

pub async fn revoke(db: &Db, token: &str) -> Result<()> {
    sqlx::query("delete from sessions where token_hash = $1")
        .bind(token::digest(token))
        .execute(db)
        .await?;
    Ok(())
}

/// Ends every session of one user; returns how many ended.
pub async fn revoke_all_for_user(conn: &mut PgConnection, org_id: Uuid, user_id: Uuid) -> Result<u64> {
    Ok(sqlx::query("delete from sessions where org_id = $1 and user_id = $2")
        .bind(org_id)
        .bind(user_id)
        .execute(conn)
        .await?
        .rows_affected())
}

/// Housekeeping any server may run; idempotent.
pub async fn purge_expired(db: &Db, policy: &SessionPolicy) -> Result<u64> {
    let sessions = sqlx::query(
        "delete from sessions where expires_at < now() or last_seen_at < now() - make_interval(secs => $1)",
    )
    .bind(policy.idle_timeout.num_seconds() as f64)
    .execute(db)
    .await?
    .rows_affected();
    sqlx::query("delete from pending_logins where expires_at < now()")
        .execute(db)
        .await?;
    Ok(sessions)
}

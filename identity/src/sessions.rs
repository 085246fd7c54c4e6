//! Server-side sessions in Postgres: any app server can resolve any session, and revoking one
//! takes effect on the next request everywhere. The request path reads them through a
//! [`SessionStore`]; a page that wants its data read in the same statement builds on
//! `push_live_session` (see `users::resolve_with_page`).

use crate::db::columns::column_table;
use crate::db::lane::ReadLane;
use crate::error::Result;
use crate::secrets::token::{self, Secret};
use crate::Db;
use chrono::{DateTime, Duration, Utc};
use people::Role;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder};
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

impl SessionUser {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn display_name(&self) -> String {
        people::display_name(&self.given_name, &self.family_name, &self.email)
    }
}

pub struct NewSession<'a> {
    pub org_id: Uuid,
    pub user_id: Uuid,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// How the person signed in (`password`, `invite`, `setup`, or a provider's id): disabling
    /// a provider ends the sessions it started.
    pub method: &'a str,
    /// The request that signed them in, for the audit log.
    pub request_id: Option<&'a str>,
}

/// Starts a session and returns the token for the cookie. Always a new token: signing in never
/// reuses a session id that existed before (no fixation). The sign-in is stamped on the person
/// (and on the linked account it used) and audit-logged in the same statement: one round trip
/// and one commit per sign-in, which `bench/sso` measures. Only for someone active when the
/// statement gets their row: a deprovisioning that locked it first is waited for, and then
/// no session is made (`NotFound`), so none outlives it.
#[tracing::instrument(skip_all)]
pub async fn create(db: &Db, policy: &SessionPolicy, new: NewSession<'_>) -> Result<Secret> {
    let secret = Secret::generate();
    let user_agent = new.user_agent.map(|ua| ua.chars().take(300).collect::<String>());
    let recorded = sqlx::query(
        "with stamped as (
             update users set last_login_at = now() where org_id = $2 and id = $3 and status = 'active' returning email
         ), session as (
             insert into sessions (token_hash, org_id, user_id, expires_at, ip, user_agent, method)
             select $1, $2, $3, $4, $5, $6, $7 from stamped
         ), account as (
             update identities set last_login_at = now() where org_id = $2 and user_id = $3 and provider = $7
         )
         insert into audit_events (org_id, actor_id, actor_label, action, target_id, target_label, details, ip, request_id)
         select $2, $3, email, 'user.signed_in', $3, email, jsonb_build_object('method', $7::text), $5, $8 from stamped",
    )
    .bind(secret.digest())
    .bind(new.org_id)
    .bind(new.user_id)
    .bind(Utc::now() + policy.absolute_lifetime)
    .bind(new.ip)
    .bind(user_agent)
    .bind(new.method)
    .bind(new.request_id)
    .execute(db)
    .await?
    .rows_affected();
    if recorded != 1 {
        return Err(crate::Error::NotFound);
    }
    Ok(secret)
}

column_table! {
    /// Who a valid session belongs to, resolved once per request: the columns
    /// `push_live_session` selects, decoded by position (see `column_table`).
    #[derive(Debug, Clone)]
    pub struct SessionUser {
        org_id: Uuid = "uuid" from "s.org_id",
        org_slug: String = "text" from "o.slug",
        org_name: String = "text" from "o.name",
        user_id: Uuid = "uuid" from "s.user_id",
        email: String = "text" from "u.email",
        given_name: String = "text" from "u.given_name",
        family_name: String = "text" from "u.family_name",
        role: Role = "text" from "u.role",
        last_seen_at: DateTime<Utc> = "timestamptz" from "s.last_seen_at",
    }
}

/// Sessions as the request path reads them: on the read lane, a few connections kept for the
/// read every request starts with and handed back without sqlx's release ping (see
/// `db::lane`). The lane is the engine's own; callers see only this store.
#[derive(Clone)]
pub struct SessionStore {
    db: Db,
    lane: ReadLane,
    policy: SessionPolicy,
}

impl SessionStore {
    /// A store reading sessions of `db` on a lane of at most `lane_size` connections (opened on
    /// demand, beside the pool's).
    pub fn new(db: &Db, lane_size: u32, policy: SessionPolicy) -> SessionStore {
        SessionStore {
            db: db.clone(),
            lane: ReadLane::new(db, lane_size),
            policy,
        }
    }

    pub fn policy(&self) -> &SessionPolicy {
        &self.policy
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    /// The digest a cookie token is stored under; `None` for what can never be a token.
    pub(crate) fn token_hash(token: &str) -> Option<Vec<u8>> {
        (token.len() == 64).then(|| token::digest(token))
    }

    /// Writes the statement for the live session behind `token_hash`: its columns are
    /// `SessionUser`, in order.
    pub(crate) fn push_live_session<'a>(&self, qb: &mut QueryBuilder<'a, Postgres>, token_hash: &'a [u8]) {
        qb.push("select ")
            .push(SessionUser::select_list())
            .push(
                " from sessions s
                 join users u on u.org_id = s.org_id and u.id = s.user_id
                 join orgs o on o.id = s.org_id
                 where s.token_hash = ",
            )
            .push_bind(token_hash)
            .push(" and s.expires_at > now() and s.last_seen_at > now() - make_interval(secs => ")
            .push_bind(self.policy.idle_timeout.num_seconds() as f64)
            .push(") and u.status = 'active'");
    }

    /// Runs one read statement on the lane.
    pub(crate) async fn read<'q>(
        &self,
        query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<Vec<PgRow>> {
        let mut conn = self.lane.acquire().await?;
        let rows = query.fetch_all(&mut *conn).await?;
        conn.finished();
        Ok(rows)
    }

    /// Resolves a cookie token to its user if the session is live and the user still active.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn resolve(&self, token: &str) -> Result<Option<SessionUser>> {
        let Some(hash) = Self::token_hash(token) else {
            return Ok(None);
        };
        let mut qb = QueryBuilder::new("");
        self.push_live_session(&mut qb, &hash);
        let rows = self.read(qb.build()).await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let user = SessionUser::decode_at(row, 0)?;
        self.touch_if_stale(&user, &hash).await?;
        Ok(Some(user))
    }

    /// Touch at most once a minute: keeps the idle clock honest without a write per request.
    pub(crate) async fn touch_if_stale(&self, user: &SessionUser, token_hash: &[u8]) -> Result<()> {
        if Utc::now() - user.last_seen_at > Duration::seconds(60) {
            sqlx::query("update sessions set last_seen_at = now() where token_hash = $1")
                .bind(token_hash)
                .execute(&self.db)
                .await?;
        }
        Ok(())
    }

    /// Housekeeping any server may run; idempotent.
    #[tracing::instrument(skip_all)]
    pub async fn purge_expired(&self) -> Result<u64> {
        let sessions = sqlx::query(
            "delete from sessions where expires_at < now() or last_seen_at < now() - make_interval(secs => $1)",
        )
        .bind(self.policy.idle_timeout.num_seconds() as f64)
        .execute(&self.db)
        .await?
        .rows_affected();
        sqlx::query("delete from pending_logins where expires_at < now()")
            .execute(&self.db)
            .await?;
        Ok(sessions)
    }
}

pub async fn revoke(db: &Db, token: &str) -> Result<()> {
    sqlx::query("delete from sessions where token_hash = $1")
        .bind(token::digest(token))
        .execute(db)
        .await?;
    Ok(())
}

/// Ends every session of one user; returns how many ended.
#[tracing::instrument(skip_all, fields(org = %org_id, %user_id))]
pub async fn revoke_all_for_user(conn: &mut PgConnection, org_id: Uuid, user_id: Uuid) -> Result<u64> {
    Ok(sqlx::query("delete from sessions where org_id = $1 and user_id = $2")
        .bind(org_id)
        .bind(user_id)
        .execute(conn)
        .await?
        .rows_affected())
}

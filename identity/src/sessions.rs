//! Server-side sessions in Postgres: any app server can resolve any session, and revoking one
//! takes effect on the next request everywhere.

use crate::error::Result;
use crate::token::{self, Secret};
use crate::users::Role;
use crate::Db;
use chrono::{DateTime, Duration, Utc};
use sqlx::{FromRow, PgConnection};
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
#[derive(Debug, Clone, FromRow)]
pub struct SessionUser {
    pub org_id: Uuid,
    pub org_slug: String,
    pub org_name: String,
    pub user_id: Uuid,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub role: Role,
    #[sqlx(skip)]
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

/// Resolves a cookie token to its user if the session is live and the user still active.
pub async fn resolve(db: &Db, policy: &SessionPolicy, token: &str) -> Result<Option<SessionUser>> {
    if token.len() != 64 {
        return Ok(None);
    }
    let hash = token::digest(token);
    let found: Option<SessionUser> = sqlx::query_as(
        "select s.org_id, o.slug as org_slug, o.name as org_name, s.user_id, u.email, u.given_name, u.family_name, u.role, s.last_seen_at
         from sessions s
         join users u on u.org_id = s.org_id and u.id = s.user_id
         join orgs o on o.id = s.org_id
         where s.token_hash = $1 and s.expires_at > now() and s.last_seen_at > now() - make_interval(secs => $2)
           and u.status = 'active'",
    )
    .bind(&hash)
    .bind(policy.idle_timeout.num_seconds() as f64)
    .fetch_optional(db)
    .await?;
    let Some(mut user) = found else {
        return Ok(None);
    };
    // Touch at most once a minute: keeps the idle clock honest without a write per request.
    if Utc::now() - user.last_seen_at > Duration::seconds(60) {
        sqlx::query("update sessions set last_seen_at = now() where token_hash = $1")
            .bind(&hash)
            .execute(db)
            .await?;
    }
    user.token_hash = hash;
    Ok(Some(user))
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

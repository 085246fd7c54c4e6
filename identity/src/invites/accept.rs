//! Opening an invitation link (what state it is in, and what to tell its holder) and accepting
//! it with a new password.

use super::token_for;
use crate::audit::{self, Actor, Target};
use crate::auth::AccountRef;
use crate::error::{Error, Result};
use crate::secrets::{password, token, ExposeSecret, SecretKey, SecretString};
use crate::users::{self, Status};
use crate::Db;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{FromRow, PgConnection};
use subtle::ConstantTimeEq;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct InviteDetails {
    pub org_id: Uuid,
    pub invite_id: Uuid,
    pub org_name: String,
    pub user_id: Uuid,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub inviter: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub enum InviteState {
    Open(InviteDetails),
    Expired { org_name: String, inviter: String },
    Used { org_name: String },
    Revoked { org_name: String },
    Replaced { org_name: String },
    Unknown,
}

#[derive(FromRow)]
struct InviteRow {
    org_id: Uuid,
    id: Uuid,
    nonce: Vec<u8>,
    user_id: Uuid,
    expires_at: DateTime<Utc>,
    accepted_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    superseded_at: Option<DateTime<Utc>>,
    invited_by_label: String,
    org_name: String,
    email: String,
    given_name: String,
    family_name: String,
    status: Status,
}

async fn find(conn: &mut PgConnection, key: &SecretKey, presented: &str, lock: bool) -> Result<Option<InviteRow>> {
    if presented.len() != 64 || !presented.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let row: Option<InviteRow> = sqlx::query_as(&format!(
        "select i.org_id, i.id, i.nonce, i.user_id, i.expires_at, i.accepted_at, i.revoked_at, i.superseded_at, i.invited_by_label,
                o.name as org_name, u.email, u.given_name, u.family_name, u.status
         from invites i join orgs o on o.id = i.org_id join users u on u.org_id = i.org_id and u.id = i.user_id
         where i.token_hash = $1 {}",
        if lock { "for update of i, u" } else { "" }
    ))
    .bind(token::digest(presented))
    .fetch_optional(conn)
    .await?;
    // Re-derive and compare in constant time: the hash lookup found the row, this proves the
    // token is the one this server issued for it.
    Ok(row.filter(|r| {
        token_for(key, r.id, &r.nonce)
            .as_bytes()
            .ct_eq(presented.as_bytes())
            .into()
    }))
}

fn state_of(row: InviteRow) -> InviteState {
    let org_name = row.org_name.clone();
    if row.accepted_at.is_some() {
        InviteState::Used { org_name }
    } else if row.revoked_at.is_some() {
        InviteState::Revoked { org_name }
    } else if row.superseded_at.is_some() {
        InviteState::Replaced { org_name }
    } else if row.expires_at <= Utc::now() {
        InviteState::Expired {
            org_name,
            inviter: row.invited_by_label,
        }
    } else if row.status == Status::Deactivated {
        InviteState::Revoked { org_name }
    } else {
        InviteState::Open(InviteDetails {
            org_id: row.org_id,
            invite_id: row.id,
            org_name,
            user_id: row.user_id,
            email: row.email,
            given_name: row.given_name,
            family_name: row.family_name,
            inviter: row.invited_by_label,
            expires_at: row.expires_at,
        })
    }
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn lookup(db: &Db, key: &SecretKey, presented: &str) -> Result<InviteState> {
    let mut conn = db.acquire().await?;
    Ok(find(&mut conn, key, presented, false)
        .await?
        .map(state_of)
        .unwrap_or(InviteState::Unknown))
}

/// Accepts an invitation with a new password: single use, checked under a row lock so two
/// clicks cannot both succeed.
#[tracing::instrument(skip_all)]
pub async fn accept(
    db: &Db,
    key: &SecretKey,
    presented: &str,
    given_name: &str,
    family_name: &str,
    new_password: SecretString,
    ip: Option<String>,
) -> Result<AccountRef> {
    let given_name = users::parse_name("given_name", given_name)?;
    let family_name = users::parse_name("family_name", family_name)?;
    // The link first: only the holder of an open invitation gets a password hashed (hashing is
    // the expensive part, and must not be free for anyone). Checked again under the row lock.
    password::check_policy(new_password.expose_secret())?;
    {
        let mut conn = db.acquire().await?;
        let (_, details) = open_invite(find(&mut conn, key, presented, false).await?)?;
        if requires_sso(db, details.org_id, details.user_id).await? {
            return Err(Error::Forbidden(format!(
                "{} requires single sign-on: join with one of the accounts offered on this page instead of a password.",
                details.org_name
            )));
        }
    }
    let hash = password::hash(new_password).await?;
    let mut tx = db.begin().await?;
    let (invite_id, details) = open_invite(find(&mut tx, key, presented, true).await?)?;
    sqlx::query("update invites set accepted_at = now() where org_id = $1 and id = $2")
        .bind(details.org_id)
        .bind(invite_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "update users set password_hash = $3, given_name = $4, family_name = $5, status = 'active', version = version + 1
         where org_id = $1 and id = $2",
    )
    .bind(details.org_id)
    .bind(details.user_id)
    .bind(hash)
    .bind(&given_name)
    .bind(&family_name)
    .execute(&mut *tx)
    .await?;
    let actor = Actor {
        org_id: details.org_id,
        user_id: Some(details.user_id),
        label: details.email.clone(),
        ip,
        request_id: None,
    };
    audit::record(
        &mut tx,
        &actor,
        "invite.accepted",
        Some(Target {
            id: details.user_id,
            label: &details.email,
        }),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(AccountRef {
        org_id: details.org_id,
        user_id: details.user_id,
    })
}

/// Whether the person must use a provider, not a password: their workspace requires SSO, they
/// are a member, and some provider is on (with none on, a password is the only way in).
pub async fn requires_sso(db: &Db, org_id: Uuid, user_id: Uuid) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "select o.require_sso and u.role = 'member'
                and exists (select 1 from integrations i where i.org_id = o.id and i.mode <> 'off')
         from orgs o join users u on u.org_id = o.id where o.id = $1 and u.id = $2",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_optional(db)
    .await?
    .unwrap_or(false))
}

/// The invitation a link names, if it can still be accepted; otherwise what to tell its holder.
fn open_invite(row: Option<InviteRow>) -> Result<(Uuid, InviteDetails)> {
    let Some(row) = row else {
        return Err(Error::Forbidden(
            "This invitation link is not valid. Check that you copied all of it.".into(),
        ));
    };
    let id = row.id;
    match state_of(row) {
        InviteState::Open(details) => Ok((id, details)),
        InviteState::Expired { inviter, .. } => Err(Error::Forbidden(format!(
            "This invitation has expired. Ask {inviter} to send a new one."
        ))),
        InviteState::Used { .. } => Err(Error::Forbidden(
            "This invitation has already been used. Sign in instead.".into(),
        )),
        _ => Err(Error::Forbidden(
            "This invitation is no longer valid. Ask an admin for a new one.".into(),
        )),
    }
}

//! Invitations: who to invite (`parse`: pasted lists and CSV), previewing and sending them in one
//! transaction with their outbox mail, resending and revoking (`issue`), and opening and
//! accepting a link (`accept`).
//!
//! A link's token is HMAC(server key, invite id || random nonce): 128 random bits the server
//! can re-derive (for "copy invite link"), while the database keeps only its SHA-256.
//!
//! **An open invitation** is one neither accepted, revoked nor replaced by a newer one; it may
//! have expired. SQL reads it from the view `open_invites` (migration 0007), the one place the
//! rule is written for the database; `InviteState` is the one place it is written in Rust.

mod accept;
mod issue;
mod parse;

pub use accept::{accept, lookup, requires_sso, InviteDetails, InviteState};
pub(crate) use issue::close_open;
pub use issue::{
    invite_all_uninvited, invite_existing, preview, resend, revoke, send, set_ttl, SendSummary, INVITE_TTL_FIELD,
    MAX_INVITE_TTL_DAYS,
};
pub use parse::{parse_csv, parse_list};

use crate::error::{Error, Result};
use crate::secrets::SecretKey;
use crate::users::Role;
use crate::Db;
use chrono::{DateTime, Utc};
use sqlx::FromRow;
use std::collections::HashMap;
use uuid::Uuid;

/// More than this in one go is refused: split the list.
pub const MAX_PER_BATCH: usize = 10_000;

/// One person to invite, as typed or uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteRequest {
    /// 1-based line (CSV) or position (pasted list), to point at problems.
    pub line: usize,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub role: Option<Role>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not in the workspace yet: becomes a user and gets an invite.
    NewInvite,
    /// In the workspace (imported or added by hand) but never invited, or their invite expired.
    InviteExisting,
    AlreadyMember,
    AlreadyInvited,
    /// Deactivated people must be reactivated before they can be invited.
    Deactivated,
    Duplicate,
    Invalid(String),
}

impl Outcome {
    pub fn sends(&self) -> bool {
        matches!(self, Outcome::NewInvite | Outcome::InviteExisting)
    }
}

#[derive(Debug, Clone)]
pub struct PreviewRow {
    pub request: InviteRequest,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, FromRow)]
pub struct OpenInvite {
    pub user_id: Uuid,
    pub id: Uuid,
    pub nonce: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The open invitation (the view `open_invites`) of each of `user_ids` who has one.
#[tracing::instrument(level = "debug", skip_all, fields(org = %org_id))]
pub async fn open_for_users(db: &Db, org_id: Uuid, user_ids: &[Uuid]) -> Result<HashMap<Uuid, OpenInvite>> {
    let rows: Vec<OpenInvite> = sqlx::query_as(
        "select user_id, id, nonce, created_at, expires_at from open_invites where org_id = $1 and user_id = any($2)",
    )
    .bind(org_id)
    .bind(user_ids)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.user_id, r)).collect())
}

/// The token of a user's open invite, for "copy invite link".
#[tracing::instrument(skip_all, fields(org = %org_id, %user_id))]
pub async fn current_token(db: &Db, key: &SecretKey, org_id: Uuid, user_id: Uuid) -> Result<String> {
    let open = open_for_users(db, org_id, &[user_id]).await?;
    let invite = open
        .get(&user_id)
        .ok_or_else(|| Error::conflict("invite", "There is no open invitation. Send one first."))?;
    if invite.expires_at <= Utc::now() {
        return Err(Error::conflict(
            "invite",
            "This invitation has expired. Resend it to get a new link.",
        ));
    }
    Ok(token_for(key, invite.id, &invite.nonce))
}

/// The link token of invite `invite_id`: HMAC(server key, id || nonce), so the database alone
/// never holds a usable link.
pub fn token_for(key: &SecretKey, invite_id: Uuid, nonce: &[u8]) -> String {
    hex::encode(key.derive("invite", &[invite_id.as_bytes(), nonce]))
}

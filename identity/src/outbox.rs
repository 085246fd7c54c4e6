//! The mail outbox: rows written with the change that causes them, claimed by workers on any
//! app server with `FOR UPDATE SKIP LOCKED` and a lease, retried with back-off, and visible to
//! admins (with the rendered mail) when no SMTP server is configured.

use crate::audit::{self, Actor};
use crate::error::{Error, Result};
use crate::mail::{self, Mail};
use crate::secret_key::SecretKey;
use crate::Db;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::FromRow;
use uuid::Uuid;

/// After this many failed attempts a mail is marked failed and waits for an admin's retry.
pub const MAX_ATTEMPTS: i32 = 8;
/// How long a claimed row stays locked to its worker.
pub const LEASE_SECS: i64 = 120;

#[derive(Debug, Clone, FromRow)]
pub struct Claimed {
    pub org_id: Uuid,
    pub id: i64,
    pub invite_id: Option<Uuid>,
    pub recipient: String,
    pub attempts: i32,
}

/// Claims up to `limit` due mails for this worker.
pub async fn claim(db: &Db, limit: i64) -> Result<Vec<Claimed>> {
    Ok(sqlx::query_as(
        "update outbox o set locked_until = now() + make_interval(secs => $2), attempts = o.attempts + 1
         from (select org_id, id from outbox
               where sent_at is null and failed_at is null and next_attempt_at <= now()
                 and (locked_until is null or locked_until < now())
               order by next_attempt_at, id limit $1 for update skip locked) due
         where o.org_id = due.org_id and o.id = due.id
         returning o.org_id, o.id, o.invite_id, o.recipient, o.attempts",
    )
    .bind(limit)
    .bind(LEASE_SECS as f64)
    .fetch_all(db)
    .await?)
}

/// What to send for a claimed row, or `None` if it should not go out any more (the invite was
/// accepted, revoked or replaced meanwhile).
pub async fn render(
    db: &Db,
    key: &SecretKey,
    public_url: &str,
    org_id: Uuid,
    invite_id: Option<Uuid>,
) -> Result<Option<Mail>> {
    let Some(invite_id) = invite_id else { return Ok(None) };
    #[derive(FromRow)]
    struct Row {
        nonce: Vec<u8>,
        expires_at: DateTime<Utc>,
        open: bool,
        inviter: String,
        org_name: String,
        email: String,
        given_name: String,
    }
    let row: Option<Row> = sqlx::query_as(
        "select i.nonce, i.expires_at, (i.accepted_at is null and i.revoked_at is null and i.superseded_at is null) as open,
                i.invited_by_label as inviter, o.name as org_name, u.email, u.given_name
         from invites i join orgs o on o.id = i.org_id join users u on u.org_id = i.org_id and u.id = i.user_id
         where i.org_id = $1 and i.id = $2",
    )
    .bind(org_id)
    .bind(invite_id)
    .fetch_optional(db)
    .await?;
    let Some(row) = row.filter(|r| r.open) else {
        return Ok(None);
    };
    let link = format!(
        "{}/invite/{}",
        public_url.trim_end_matches('/'),
        crate::invites::token_for(key, invite_id, &row.nonce)
    );
    Ok(Some(mail::invite(&mail::InviteMail {
        to: &row.email,
        recipient_name: &row.given_name,
        org_name: &row.org_name,
        inviter: &row.inviter,
        link: &link,
        expires_at: row.expires_at,
    })))
}

pub async fn mark_sent(db: &Db, org_id: Uuid, id: i64) -> Result<()> {
    sqlx::query(
        "update outbox set sent_at = now(), locked_until = null, last_error = null where org_id = $1 and id = $2",
    )
    .bind(org_id)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn mark_cancelled(db: &Db, org_id: Uuid, id: i64, why: &str) -> Result<()> {
    sqlx::query(
        "update outbox set failed_at = now(), locked_until = null, last_error = $3 where org_id = $1 and id = $2",
    )
    .bind(org_id)
    .bind(id)
    .bind(why)
    .execute(db)
    .await?;
    Ok(())
}

/// Records a failed attempt: retried after 30 s, 1, 2, 4 … minutes (at most an hour apart), and
/// marked failed after `MAX_ATTEMPTS`.
pub async fn mark_failed(db: &Db, claimed: &Claimed, error: &str) -> Result<()> {
    let backoff = Duration::seconds((30i64 << (claimed.attempts - 1).clamp(0, 7)).min(3600));
    let give_up = claimed.attempts >= MAX_ATTEMPTS;
    sqlx::query(
        "update outbox set locked_until = null, last_error = $3, next_attempt_at = now() + make_interval(secs => $4),
                failed_at = case when $5 then now() end
         where org_id = $1 and id = $2",
    )
    .bind(claimed.org_id)
    .bind(claimed.id)
    .bind(error.chars().take(500).collect::<String>())
    .bind(backoff.num_seconds() as f64)
    .bind(give_up)
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct Entry {
    pub id: i64,
    pub recipient: String,
    pub subject: String,
    pub created_at: DateTime<Utc>,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub invite_id: Option<Uuid>,
}

pub struct EntryPage {
    pub entries: Vec<Entry>,
    pub older_than: Option<i64>,
}

/// `only_problems`: just failed or retrying mails.
pub async fn list(
    db: &Db,
    org_id: Uuid,
    older_than: Option<i64>,
    only_problems: bool,
    limit: i64,
) -> Result<EntryPage> {
    let entries: Vec<Entry> = sqlx::query_as(
        "select id, recipient, subject, created_at, attempts, next_attempt_at, sent_at, failed_at, last_error, invite_id
         from outbox where org_id = $1 and ($2::bigint is null or id < $2)
           and (not $3 or (sent_at is null and last_error is not null))
         order by id desc limit $4",
    )
    .bind(org_id)
    .bind(older_than)
    .bind(only_problems)
    .bind(limit + 1)
    .fetch_all(db)
    .await?;
    let (entries, older_than) = crate::db::keyset_page(entries, limit, |e| e.id);
    Ok(EntryPage { entries, older_than })
}

pub async fn counts(db: &Db, org_id: Uuid) -> Result<(i64, i64)> {
    Ok(sqlx::query_as(
        "select count(*) filter (where sent_at is null and failed_at is null),
                count(*) filter (where failed_at is not null and sent_at is null)
         from outbox where org_id = $1",
    )
    .bind(org_id)
    .fetch_one(db)
    .await?)
}

/// Puts a failed mail back in the queue now.
pub async fn retry(db: &Db, actor: &Actor, id: i64) -> Result<()> {
    let mut tx = db.begin().await?;
    let recipient: Option<String> = sqlx::query_scalar(
        "update outbox set failed_at = null, attempts = 0, next_attempt_at = now(), locked_until = null
         where org_id = $1 and id = $2 and sent_at is null returning recipient",
    )
    .bind(actor.org_id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let recipient = recipient.ok_or(Error::NotFound)?;
    audit::record(&mut tx, actor, "mail.retried", None, json!({ "recipient": recipient })).await?;
    sqlx::query("select pg_notify('rollcall_outbox', '')")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The rendered mail of one outbox row, for the admin's outbox view.
pub async fn rendered(db: &Db, key: &SecretKey, public_url: &str, org_id: Uuid, id: i64) -> Result<Option<Mail>> {
    let invite_id: Option<Option<Uuid>> =
        sqlx::query_scalar("select invite_id from outbox where org_id = $1 and id = $2")
            .bind(org_id)
            .bind(id)
            .fetch_optional(db)
            .await?;
    let invite_id = invite_id.ok_or(Error::NotFound)?;
    render(db, key, public_url, org_id, invite_id).await
}

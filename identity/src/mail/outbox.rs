//! The mail outbox: rows written with the change that causes them, delivered by workers on any
//! app server through the jobs mechanism (leased, retried with back-off), and visible to admins
//! (with the rendered mail) when no SMTP server is configured.

use super::templates::{self, Mail};
use crate::audit::{self, Actor};
use crate::error::{Error, Result};
use crate::jobs::{self, Backoff, Claim, Queue};
use crate::secrets::SecretKey;
use crate::Db;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::FromRow;
use uuid::Uuid;

/// The outbox as a queue of the jobs mechanism: a mail is to do until sent; a claimed mail is
/// leased for two minutes; failed attempts are retried after 30 s, 1, 2, 4 … minutes (at most an
/// hour apart), and after eight the mail is marked failed and waits for an admin's retry.
pub const QUEUE: Queue = Queue {
    table: "outbox",
    pending: "sent_at is null",
    lease: Duration::seconds(120),
    backoff: Backoff {
        first: Duration::seconds(30),
        max: Duration::hours(1),
        // None: mail is few, and the admin's outbox view shows when a retry comes.
        jitter: 0.0,
        max_attempts: 8,
    },
    channel: "rollcall_outbox",
};

/// What to send for an outbox row, or `None` if it should not go out any more (the invite was
/// accepted, revoked or replaced meanwhile, or its recipient deactivated).
#[tracing::instrument(level = "debug", skip_all, fields(org = %org_id))]
pub async fn render(db: &Db, key: &SecretKey, public_url: &str, org_id: Uuid, id: i64) -> Result<Option<Mail>> {
    #[derive(FromRow)]
    struct Row {
        invite_id: Uuid,
        nonce: Vec<u8>,
        expires_at: DateTime<Utc>,
        inviter: String,
        org_name: String,
        email: String,
        given_name: String,
    }
    let row: Option<Row> = sqlx::query_as(
        "select i.id as invite_id, i.nonce, i.expires_at, i.invited_by_label as inviter, o.name as org_name, u.email,
                u.given_name
         from outbox m join open_invites i on i.org_id = m.org_id and i.id = m.invite_id
           join orgs o on o.id = i.org_id join users u on u.org_id = i.org_id and u.id = i.user_id
         where m.org_id = $1 and m.id = $2 and u.status not in ('deactivated', 'deleted')",
    )
    .bind(org_id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    let Some(row) = row else {
        // Not an open invitation's mail: a link back in after a provider was disabled (one more
        // query, only for those and for invitations that closed meanwhile).
        return crate::access_links::render_mail(db, key, public_url, org_id, id).await;
    };
    let link = format!(
        "{}/invite/{}",
        public_url.trim_end_matches('/'),
        crate::invites::token_for(key, row.invite_id, &row.nonce)
    );
    Ok(Some(templates::invite(&templates::InviteMail {
        to: &row.email,
        recipient_name: &row.given_name,
        org_name: &row.org_name,
        inviter: &row.inviter,
        link: &link,
        expires_at: row.expires_at,
    })))
}

/// Sent: done.
#[tracing::instrument(skip_all)]
pub async fn mark_sent(db: &Db, claim: &Claim) -> Result<()> {
    jobs::succeeded(db, &QUEUE, claim, "sent_at = now()").await
}

/// Not to be sent any more; `why` is shown in the admin's outbox view.
#[tracing::instrument(skip_all)]
pub async fn mark_cancelled(db: &Db, claim: &Claim, why: &str) -> Result<()> {
    jobs::cancelled(db, &QUEUE, claim, why).await
}

/// A failed attempt, retried after the queue's back-off (see [`QUEUE`]).
#[tracing::instrument(skip_all)]
pub async fn mark_failed(db: &Db, claim: &Claim, error: &str) -> Result<()> {
    jobs::failed(db, &QUEUE, claim, error).await
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
#[tracing::instrument(level = "debug", skip_all, fields(org = %org_id))]
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

#[tracing::instrument(level = "debug", skip_all, fields(org = %org_id))]
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

/// Puts a failed or waiting mail back in the queue now (not one a worker is sending).
#[tracing::instrument(skip_all, fields(org = %actor.org_id))]
pub async fn retry(db: &Db, actor: &Actor, id: i64) -> Result<()> {
    let mut tx = db.begin().await?;
    let recipient: Option<String> =
        sqlx::query_scalar("select recipient from outbox where org_id = $1 and id = $2 for update")
            .bind(actor.org_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let recipient = recipient.ok_or(Error::NotFound)?;
    if !jobs::retry_now(&mut tx, &QUEUE, actor.org_id, id).await? {
        return Err(Error::NotFound);
    }
    audit::record(&mut tx, actor, "mail.retried", None, json!({ "recipient": recipient })).await?;
    jobs::notify(&mut tx, &QUEUE).await?;
    tx.commit().await?;
    Ok(())
}

/// The rendered mail of one outbox row, for the admin's outbox view.
#[tracing::instrument(level = "debug", skip_all, fields(org = %org_id))]
pub async fn rendered(db: &Db, key: &SecretKey, public_url: &str, org_id: Uuid, id: i64) -> Result<Option<Mail>> {
    let exists: bool = sqlx::query_scalar("select exists (select 1 from outbox where org_id = $1 and id = $2)")
        .bind(org_id)
        .bind(id)
        .fetch_one(db)
        .await?;
    if !exists {
        return Err(Error::NotFound);
    }
    render(db, key, public_url, org_id, id).await
}

//! The audit log: who did what to whom, when and from where. Written in the same transaction as
//! the change it describes, so the log can never disagree with the data.

use crate::error::Result;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::Db;

/// Whoever causes a change: a signed-in person, the CLI, or (later) a SCIM client.
#[derive(Debug, Clone)]
pub struct Actor {
    pub org_id: Uuid,
    pub user_id: Option<Uuid>,
    pub label: String,
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

impl Actor {
    pub fn system(org_id: Uuid, label: &str) -> Self {
        Actor {
            org_id,
            user_id: None,
            label: label.to_owned(),
            ip: None,
            request_id: None,
        }
    }
}

pub struct Target<'a> {
    pub id: Uuid,
    pub label: &'a str,
}

pub async fn record(
    conn: &mut PgConnection,
    actor: &Actor,
    action: &str,
    target: Option<Target<'_>>,
    details: Value,
) -> Result<()> {
    sqlx::query(
        "insert into audit_events (org_id, actor_id, actor_label, action, target_id, target_label, details, ip, request_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(actor.org_id)
    .bind(actor.user_id)
    .bind(&actor.label)
    .bind(action)
    .bind(target.as_ref().map(|t| t.id))
    .bind(target.as_ref().map(|t| t.label))
    .bind(details)
    .bind(&actor.ip)
    .bind(&actor.request_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// One entry per target, all with the same action and details, in one statement (a batch of
/// 5,000 invitations is one insert, not 5,000).
pub async fn record_each(
    conn: &mut PgConnection,
    actor: &Actor,
    action: &str,
    targets: &[Target<'_>],
    details: Value,
) -> Result<()> {
    if targets.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "insert into audit_events (org_id, actor_id, actor_label, action, target_id, target_label, details, ip, request_id)
         select $1, $2, $3, $4, target_id, target_label, $5, $6, $7
         from unnest($8::uuid[], $9::text[]) as t(target_id, target_label)",
    )
    .bind(actor.org_id)
    .bind(actor.user_id)
    .bind(&actor.label)
    .bind(action)
    .bind(details)
    .bind(&actor.ip)
    .bind(&actor.request_id)
    .bind(targets.iter().map(|t| t.id).collect::<Vec<_>>())
    .bind(targets.iter().map(|t| t.label).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct AuditEvent {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_label: String,
    pub action: String,
    pub target_id: Option<Uuid>,
    pub target_label: Option<String>,
    pub details: Value,
    pub ip: Option<String>,
}

pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Cursor for the next (older) page, if there is one.
    pub older_than: Option<i64>,
}

/// Newest first, keyset-paged by id so page 1,000 costs the same as page 1.
pub async fn list(db: &Db, org_id: Uuid, older_than: Option<i64>, limit: i64) -> Result<AuditPage> {
    let events: Vec<AuditEvent> = sqlx::query_as(
        "select id, occurred_at, actor_id, actor_label, action, target_id, target_label, details, ip
         from audit_events where org_id = $1 and ($2::bigint is null or id < $2)
         order by id desc limit $3",
    )
    .bind(org_id)
    .bind(older_than)
    .bind(limit + 1)
    .fetch_all(db)
    .await?;
    let (events, older_than) = crate::db::keyset_page(events, limit, |e| e.id);
    Ok(AuditPage { events, older_than })
}

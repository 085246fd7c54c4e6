//! Previewing and sending invitations (one transaction with their users, outbox mail and audit
//! entries, one statement per step for the whole batch), resending, revoking, and the
//! workspace's invitation expiry.

use super::{token_for, InviteRequest, Outcome, PreviewRow, MAX_PER_BATCH};
use crate::audit::{self, Actor, Target};
use crate::error::{Error, Result};
use crate::secrets::{token, SecretKey};
use crate::users::{self, EmailAddress, Role, Status};
use crate::{db, jobs, mail, Db};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde_json::json;
use sqlx::{FromRow, PgConnection};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

#[derive(FromRow)]
struct Existing {
    id: Uuid,
    email_key: String,
    status: Status,
    open_invite_expires_at: Option<DateTime<Utc>>,
}

async fn existing_by_email(
    conn: &mut PgConnection,
    org_id: Uuid,
    emails: &[String],
) -> Result<HashMap<String, Existing>> {
    let rows: Vec<Existing> = sqlx::query_as(
        "select u.id, lower(u.email) as email_key, u.status,
                (select i.expires_at from open_invites i where i.org_id = u.org_id and i.user_id = u.id) as open_invite_expires_at
         from users u where u.org_id = $1 and lower(u.email) = any($2) and u.status <> 'deleted'",
    )
    .bind(org_id)
    .bind(emails)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.email_key.clone(), r)).collect())
}

struct Classified {
    rows: Vec<PreviewRow>,
    existing: HashMap<String, Existing>,
}

async fn classify(conn: &mut PgConnection, org_id: Uuid, requests: Vec<InviteRequest>) -> Result<Classified> {
    if requests.len() > MAX_PER_BATCH {
        return Err(Error::invalid(
            "emails",
            format!("Invite at most {MAX_PER_BATCH} people at a time; split the list."),
        ));
    }
    let keys: Vec<String> = requests.iter().map(|r| r.email.trim().to_lowercase()).collect();
    let existing = existing_by_email(conn, org_id, &keys).await?;
    let now = Utc::now();
    let mut seen = HashSet::new();
    let rows = requests
        .into_iter()
        .map(|request| {
            let outcome = match EmailAddress::parse(&request.email) {
                Err(err) => Outcome::Invalid(err.to_string()),
                Ok(email) => {
                    let key = email.as_str().to_lowercase();
                    let names_ok = users::parse_name("given_name", &request.given_name)
                        .and_then(|_| users::parse_name("family_name", &request.family_name));
                    if let Err(err) = names_ok {
                        Outcome::Invalid(err.to_string())
                    } else if !seen.insert(key.clone()) {
                        Outcome::Duplicate
                    } else {
                        match existing.get(&key) {
                            None => Outcome::NewInvite,
                            Some(user) => match user.status {
                                Status::Active => Outcome::AlreadyMember,
                                Status::Deactivated => Outcome::Deactivated,
                                _ if user.open_invite_expires_at.is_some_and(|at| at > now) => Outcome::AlreadyInvited,
                                _ => Outcome::InviteExisting,
                            },
                        }
                    }
                }
            };
            PreviewRow { request, outcome }
        })
        .collect();
    Ok(Classified { rows, existing })
}

/// What would happen to each row, without changing anything.
#[tracing::instrument(level = "debug", skip_all, fields(org = %org_id))]
pub async fn preview(db: &Db, org_id: Uuid, requests: Vec<InviteRequest>) -> Result<Vec<PreviewRow>> {
    let mut conn = db.acquire().await?;
    Ok(classify(&mut conn, org_id, requests).await?.rows)
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendSummary {
    pub invited: usize,
    pub skipped: usize,
    pub invalid: usize,
}

/// A freshly minted invite: what to insert, and the token to hand out once.
struct Minted {
    id: Uuid,
    user_id: Uuid,
    nonce: Vec<u8>,
    token_hash: Vec<u8>,
}

fn mint(key: &SecretKey, user_id: Uuid) -> Minted {
    let id = Uuid::new_v4();
    let mut nonce = vec![0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let token_hash = token::digest(&token_for(key, id, &nonce));
    Minted {
        id,
        user_id,
        nonce,
        token_hash,
    }
}

async fn lock_org(conn: &mut PgConnection, org_id: Uuid) -> Result<(String, i32)> {
    Ok(
        sqlx::query_as("select name, invite_ttl_hours from orgs where id = $1 for update")
            .bind(org_id)
            .fetch_one(conn)
            .await?,
    )
}

/// Invitations (new, resent or bulk) a workspace may send a day, and each of its admins.
pub const INVITES_PER_DAY_PER_WORKSPACE: i64 = 20_000;
pub const INVITES_PER_DAY_PER_ADMIN: i64 = 10_000;
const DAY_SECS: i64 = 24 * 3600;

/// Writes invites, their outbox mail and their audit events for `targets` (user id, email).
async fn issue(
    conn: &mut PgConnection,
    actor: &Actor,
    key: &SecretKey,
    org_name: &str,
    ttl_hours: i32,
    targets: &[(Uuid, String)],
    action: &str,
) -> Result<()> {
    if targets.is_empty() {
        return Ok(());
    }
    // Invitation mail goes out under the operator's address, and with open sign-up anyone may
    // have a workspace: each workspace, and each admin in it, sends a bounded number a day.
    let org_key = format!("invites:org:{}", actor.org_id);
    let actor_key = format!(
        "invites:actor:{}:{}",
        actor.org_id,
        actor.user_id.map(|id| id.to_string()).unwrap_or_default()
    );
    db::rate_window::take(
        conn,
        &[
            db::rate_window::Window {
                key: &org_key,
                limit: INVITES_PER_DAY_PER_WORKSPACE,
                window_secs: DAY_SECS,
                used: |n| format!("This workspace has sent {n} invitations"),
            },
            db::rate_window::Window {
                key: &actor_key,
                limit: INVITES_PER_DAY_PER_ADMIN,
                window_secs: DAY_SECS,
                used: |n| format!("You have sent {n} invitations"),
            },
        ],
        targets.len() as i64,
    )
    .await?;
    let user_ids: Vec<Uuid> = targets.iter().map(|(id, _)| *id).collect();
    // A new link replaces any earlier one (including expired ones): only the newest works.
    sqlx::query("update open_invites set superseded_at = now() where org_id = $1 and user_id = any($2)")
        .bind(actor.org_id)
        .bind(&user_ids)
        .execute(&mut *conn)
        .await?;
    sqlx::query("update users set status = 'invited', version = version + 1 where org_id = $1 and id = any($2) and status <> 'invited'")
        .bind(actor.org_id)
        .bind(&user_ids)
        .execute(&mut *conn)
        .await?;
    // Mail says who invited them by name ("Ada Lovelace"), the audit log by account.
    let inviter = match actor.user_id {
        Some(user_id) => users::display_name_of(conn, actor.org_id, user_id).await?,
        None => None,
    }
    .unwrap_or_else(|| actor.label.clone());
    let minted: Vec<Minted> = user_ids.iter().map(|id| mint(key, *id)).collect();
    let expires_at = Utc::now() + Duration::hours(ttl_hours as i64);
    sqlx::query(
        "insert into invites (org_id, id, user_id, nonce, token_hash, invited_by, invited_by_label, expires_at)
         select $1, id, user_id, nonce, token_hash, $2, $3, $4
         from unnest($5::uuid[], $6::uuid[], $7::bytea[], $8::bytea[]) as t(id, user_id, nonce, token_hash)",
    )
    .bind(actor.org_id)
    .bind(actor.user_id)
    .bind(&inviter)
    .bind(expires_at)
    .bind(minted.iter().map(|m| m.id).collect::<Vec<_>>())
    .bind(minted.iter().map(|m| m.user_id).collect::<Vec<_>>())
    .bind(minted.iter().map(|m| m.nonce.clone()).collect::<Vec<_>>())
    .bind(minted.iter().map(|m| m.token_hash.clone()).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    let subject = mail::invite_subject(&inviter, org_name);
    sqlx::query(
        "insert into outbox (org_id, kind, invite_id, recipient, subject)
         select $1, 'invite', invite_id, recipient, $2 from unnest($3::uuid[], $4::text[]) as t(invite_id, recipient)",
    )
    .bind(actor.org_id)
    .bind(&subject)
    .bind(minted.iter().map(|m| m.id).collect::<Vec<_>>())
    .bind(targets.iter().map(|(_, email)| email.clone()).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    let audited: Vec<Target<'_>> = targets
        .iter()
        .map(|(id, email)| Target { id: *id, label: email })
        .collect();
    // To the microsecond, as PostgreSQL keeps it on the invite.
    let expires_at = chrono::SubsecRound::trunc_subsecs(expires_at, 6);
    audit::record_each(conn, actor, action, &audited, json!({ "expires_at": expires_at })).await?;
    jobs::notify(conn, &mail::outbox::QUEUE).await?;
    Ok(())
}

/// Invites every row that can be invited, in one transaction; the rest are counted, not sent.
/// Rows are classified again here: a preview is advice, not authority.
#[tracing::instrument(skip_all, fields(org = %actor.org_id))]
pub async fn send(
    db: &Db,
    actor: &Actor,
    key: &SecretKey,
    requests: Vec<InviteRequest>,
    default_role: Role,
) -> Result<SendSummary> {
    let mut tx = db.begin().await?;
    let (org_name, ttl) = lock_org(&mut tx, actor.org_id).await?;
    let classified = classify(&mut tx, actor.org_id, requests).await?;
    let mut summary = SendSummary::default();
    let mut new_users = Vec::new();
    let mut targets = Vec::new();
    for row in &classified.rows {
        match &row.outcome {
            Outcome::Invalid(_) => summary.invalid += 1,
            Outcome::NewInvite => new_users.push(row),
            Outcome::InviteExisting => {
                let key = row.request.email.trim().to_lowercase();
                let user = &classified.existing[&key];
                targets.push((user.id, row.request.email.trim().to_owned()));
            }
            _ => summary.skipped += 1,
        }
    }
    if !new_users.is_empty() {
        let ids: Vec<Uuid> = new_users.iter().map(|_| Uuid::now_v7()).collect();
        let emails: Vec<String> = new_users
            .iter()
            .map(|r| EmailAddress::parse(&r.request.email).map(|e| e.to_string()))
            .collect::<Result<_>>()?;
        sqlx::query(
            "insert into users (org_id, id, email, given_name, family_name, role, status, source)
             select $1, id, email, given_name, family_name, role, 'invited', 'invite'
             from unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[]) as t(id, email, given_name, family_name, role)",
        )
        .bind(actor.org_id)
        .bind(&ids)
        .bind(&emails)
        .bind(new_users.iter().map(|r| r.request.given_name.trim().to_owned()).collect::<Vec<_>>())
        .bind(new_users.iter().map(|r| r.request.family_name.trim().to_owned()).collect::<Vec<_>>())
        .bind(new_users.iter().map(|r| r.request.role.unwrap_or(default_role).as_str()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
        targets.extend(ids.into_iter().zip(emails));
    }
    issue(&mut tx, actor, key, &org_name, ttl, &targets, "invite.sent").await?;
    tx.commit().await?;
    summary.invited = targets.len();
    Ok(summary)
}

/// Invites people already in the workspace (imported or added by hand), by id. Active,
/// deactivated and already-invited people are skipped, not failed.
#[tracing::instrument(skip_all, fields(org = %actor.org_id))]
pub async fn invite_existing(db: &Db, actor: &Actor, key: &SecretKey, user_ids: &[Uuid]) -> Result<SendSummary> {
    if user_ids.len() > MAX_PER_BATCH {
        return Err(Error::invalid(
            "users",
            format!("Invite at most {MAX_PER_BATCH} people at a time."),
        ));
    }
    let mut tx = db.begin().await?;
    let (org_name, ttl) = lock_org(&mut tx, actor.org_id).await?;
    let rows: Vec<(Uuid, String)> = sqlx::query_as(
        "select u.id, u.email from users u where u.org_id = $1 and u.id = any($2) and u.status in ('imported', 'invited')
           and not exists (select 1 from open_invites i where i.org_id = u.org_id and i.user_id = u.id and i.expires_at > now())",
    )
    .bind(actor.org_id)
    .bind(user_ids)
    .fetch_all(&mut *tx)
    .await?;
    issue(&mut tx, actor, key, &org_name, ttl, &rows, "invite.sent").await?;
    tx.commit().await?;
    Ok(SendSummary {
        invited: rows.len(),
        skipped: user_ids.len() - rows.len(),
        invalid: 0,
    })
}

/// Invites everyone in the workspace who is imported and not yet invited.
#[tracing::instrument(skip_all, fields(org = %actor.org_id))]
pub async fn invite_all_uninvited(db: &Db, actor: &Actor, key: &SecretKey) -> Result<SendSummary> {
    let ids: Vec<Uuid> = sqlx::query_scalar("select id from users where org_id = $1 and status = 'imported' limit $2")
        .bind(actor.org_id)
        .bind(MAX_PER_BATCH as i64)
        .fetch_all(db)
        .await?;
    invite_existing(db, actor, key, &ids).await
}

/// Sends a new link; the previous one stops working.
#[tracing::instrument(skip_all, fields(org = %actor.org_id, %user_id))]
pub async fn resend(db: &Db, actor: &Actor, key: &SecretKey, user_id: Uuid) -> Result<()> {
    let mut tx = db.begin().await?;
    let (org_name, ttl) = lock_org(&mut tx, actor.org_id).await?;
    let user: Option<(String, Status)> = sqlx::query_as(
        "select email, status from users where org_id = $1 and id = $2 and status <> 'deleted' for update",
    )
    .bind(actor.org_id)
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (email, status) = user.ok_or(Error::NotFound)?;
    match status {
        Status::Active => {
            return Err(Error::conflict(
                "invite",
                "They have already joined; there is nothing to resend.",
            ))
        }
        Status::Deactivated => return Err(Error::conflict("invite", "Reactivate them before inviting them again.")),
        _ => {}
    }
    issue(
        &mut tx,
        actor,
        key,
        &org_name,
        ttl,
        &[(user_id, email)],
        "invite.resent",
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Revokes a person's open invitation, if any, inside the caller's transaction, and cancels its
/// mail still waiting in the outbox (it must not go out with a dead link), saying `why`.
/// Returns how many invitations closed (0 or 1).
pub(crate) async fn close_open(conn: &mut PgConnection, org_id: Uuid, user_id: Uuid, why: &str) -> Result<usize> {
    let revoked: Vec<Uuid> = sqlx::query_scalar(
        "update open_invites set revoked_at = now() where org_id = $1 and user_id = $2 returning id",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?;
    if !revoked.is_empty() {
        sqlx::query(
            "update outbox set failed_at = now(), last_error = $3
             where org_id = $1 and invite_id = any($2) and sent_at is null and failed_at is null",
        )
        .bind(org_id)
        .bind(&revoked)
        .bind(why)
        .execute(&mut *conn)
        .await?;
    }
    Ok(revoked.len())
}

/// The link stops working and the person goes back to "imported" (not invited).
#[tracing::instrument(skip_all, fields(org = %actor.org_id, %user_id))]
pub async fn revoke(db: &Db, actor: &Actor, user_id: Uuid) -> Result<()> {
    let mut tx = db.begin().await?;
    let revoked = close_open(
        &mut tx,
        actor.org_id,
        user_id,
        "Not sent: the invitation was revoked first.",
    )
    .await?;
    if revoked == 0 {
        return Err(Error::conflict("invite", "There is no open invitation to revoke."));
    }
    let email: String = sqlx::query_scalar(
        "update users set status = case when status = 'invited' then 'imported' else status end, version = version + 1
         where org_id = $1 and id = $2 returning email",
    )
    .bind(actor.org_id)
    .bind(user_id)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        "invite.revoked",
        Some(Target {
            id: user_id,
            label: &email,
        }),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// How long new invitation links stay valid, in whole days (1 to 90). The field is the Settings
/// form's, so the message shows under it.
pub const INVITE_TTL_FIELD: &str = "invite_ttl_days";
pub const MAX_INVITE_TTL_DAYS: i32 = 90;

#[tracing::instrument(skip_all, fields(org = %actor.org_id))]
pub async fn set_ttl(db: &Db, actor: &Actor, days: i32) -> Result<()> {
    if !(1..=MAX_INVITE_TTL_DAYS).contains(&days) {
        return Err(Error::invalid(
            INVITE_TTL_FIELD,
            "Enter a whole number of days, from 1 to 90.",
        ));
    }
    let hours = days * 24;
    let mut tx = db.begin().await?;
    sqlx::query("update orgs set invite_ttl_hours = $2 where id = $1")
        .bind(actor.org_id)
        .bind(hours)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        actor,
        "settings.invite_expiry",
        None,
        json!({ "hours": hours }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

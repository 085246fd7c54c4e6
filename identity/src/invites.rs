//! Invitations: who to invite (parsing lists and CSV, previewing each row), sending them in
//! one transaction with their outbox mail, resending, revoking, and accepting a link.
//!
//! A link's token is HMAC(server key, invite id || random nonce): 128 random bits the server
//! can re-derive (for "copy invite link"), while the database keeps only its SHA-256.

use crate::audit::{self, Actor, Target};
use crate::auth::AccountRef;
use crate::email::EmailAddress;
use crate::error::{Error, Result};
use crate::secret_key::SecretKey;
use crate::users::{self, Role, UserStatus};
use crate::{password, token, Db};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde_json::json;
use sqlx::{FromRow, PgConnection};
use std::collections::{HashMap, HashSet};
use subtle::ConstantTimeEq;
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

/// Splits pasted text on commas, semicolons, spaces and new lines.
pub fn parse_list(text: &str) -> Vec<InviteRequest> {
    text.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .map(|s| s.trim().trim_start_matches('<').trim_end_matches('>'))
        .filter(|s| !s.is_empty())
        .enumerate()
        .map(|(i, email)| InviteRequest {
            line: i + 1,
            email: email.to_owned(),
            given_name: String::new(),
            family_name: String::new(),
            role: None,
        })
        .collect()
}

/// Reads `email, given name, family name, role` rows. A first line naming an `email` column is
/// a header and may order the columns freely; without one, that order is assumed.
pub fn parse_csv(text: &str) -> Result<Vec<InviteRequest>> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .peekable();
    let mut columns = [0usize, 1, 2, 3];
    if let Some((_, first)) = lines.peek() {
        let header: Vec<String> = split_csv_line(first)
            .iter()
            .map(|h| h.trim().to_lowercase().replace(['_', '-'], " "))
            .collect();
        if header
            .iter()
            .any(|h| h == "email" || h == "email address" || h == "e mail")
        {
            let find = |names: &[&str]| {
                header
                    .iter()
                    .position(|h| names.contains(&h.as_str()))
                    .unwrap_or(usize::MAX)
            };
            columns = [
                find(&["email", "email address", "e mail"]),
                find(&["given name", "first name", "firstname", "given", "first"]),
                find(&["family name", "last name", "lastname", "surname", "family", "last"]),
                find(&["role"]),
            ];
            lines.next();
        }
    }
    let mut requests = Vec::new();
    for (index, line) in lines {
        let fields = split_csv_line(line);
        let get = |i: usize| fields.get(i).map(|f| f.trim().to_owned()).unwrap_or_default();
        let role_text = get(columns[3]).to_lowercase();
        let role = match role_text.as_str() {
            "" => None,
            "admin" | "administrator" => Some(Role::Admin),
            "member" | "user" => Some(Role::Member),
            other => {
                return Err(Error::invalid(
                    "csv",
                    format!(
                        "Line {}: the role \u{201c}{other}\u{201d} is neither admin nor member.",
                        index + 1
                    ),
                ))
            }
        };
        requests.push(InviteRequest {
            line: index + 1,
            email: get(columns[0]),
            given_name: get(columns[1]),
            family_name: get(columns[2]),
            role,
        });
    }
    Ok(requests)
}

/// Splits one CSV line, honouring double quotes (with "" as an escaped quote).
fn split_csv_line(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().expect("one field").push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) | (';', false) => fields.push(String::new()),
            (c, _) => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}

#[derive(FromRow)]
struct Existing {
    id: Uuid,
    email_key: String,
    status: UserStatus,
    open_invite_expires_at: Option<DateTime<Utc>>,
}

async fn existing_by_email(
    conn: &mut PgConnection,
    org_id: Uuid,
    emails: &[String],
) -> Result<HashMap<String, Existing>> {
    let rows: Vec<Existing> = sqlx::query_as(
        "select u.id, lower(u.email) as email_key, u.status,
                (select i.expires_at from invites i where i.org_id = u.org_id and i.user_id = u.id
                   and i.accepted_at is null and i.revoked_at is null and i.superseded_at is null) as open_invite_expires_at
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
                                UserStatus::Active => Outcome::AlreadyMember,
                                UserStatus::Deactivated => Outcome::Deactivated,
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

fn invite_token(key: &SecretKey, invite_id: Uuid, nonce: &[u8]) -> String {
    hex::encode(key.derive("invite", &[invite_id.as_bytes(), nonce]))
}

fn mint(key: &SecretKey, user_id: Uuid) -> Minted {
    let id = Uuid::new_v4();
    let mut nonce = vec![0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let token_hash = token::digest(&invite_token(key, id, &nonce));
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
    let user_ids: Vec<Uuid> = targets.iter().map(|(id, _)| *id).collect();
    // A new link replaces any earlier one (including expired ones): only the newest works.
    sqlx::query(
        "update invites set superseded_at = now() where org_id = $1 and user_id = any($2)
           and accepted_at is null and revoked_at is null and superseded_at is null",
    )
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
    let inviter: Option<String> = sqlx::query_scalar(
        "select coalesce(nullif(btrim(given_name || ' ' || family_name), ''), email) from users where org_id = $1 and id = $2",
    )
    .bind(actor.org_id)
    .bind(actor.user_id)
    .fetch_optional(&mut *conn)
    .await?;
    let inviter = inviter.unwrap_or_else(|| actor.label.clone());
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
    let subject = crate::mail::invite_subject(&inviter, org_name);
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
    sqlx::query(
        "insert into audit_events (org_id, actor_id, actor_label, action, target_id, target_label, details, ip, request_id)
         select $1, $2, $3, $4, target_id, target_label, jsonb_build_object('expires_at', $5::timestamptz), $6, $7
         from unnest($8::uuid[], $9::text[]) as t(target_id, target_label)",
    )
    .bind(actor.org_id)
    .bind(actor.user_id)
    .bind(&actor.label)
    .bind(action)
    .bind(expires_at)
    .bind(&actor.ip)
    .bind(&actor.request_id)
    .bind(&user_ids)
    .bind(targets.iter().map(|(_, email)| email.clone()).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    sqlx::query("select pg_notify('rollcall_outbox', '')")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Invites every row that can be invited, in one transaction; the rest are counted, not sent.
/// Rows are classified again here: a preview is advice, not authority.
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
        .bind(new_users.iter().map(|r| users::role_str(r.request.role.unwrap_or(default_role)).to_owned()).collect::<Vec<_>>())
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
           and not exists (select 1 from invites i where i.org_id = u.org_id and i.user_id = u.id and i.expires_at > now()
                           and i.accepted_at is null and i.revoked_at is null and i.superseded_at is null)",
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
pub async fn invite_all_uninvited(db: &Db, actor: &Actor, key: &SecretKey) -> Result<SendSummary> {
    let ids: Vec<Uuid> = sqlx::query_scalar("select id from users where org_id = $1 and status = 'imported' limit $2")
        .bind(actor.org_id)
        .bind(MAX_PER_BATCH as i64)
        .fetch_all(db)
        .await?;
    invite_existing(db, actor, key, &ids).await
}

/// Sends a new link; the previous one stops working.
pub async fn resend(db: &Db, actor: &Actor, key: &SecretKey, user_id: Uuid) -> Result<()> {
    let mut tx = db.begin().await?;
    let (org_name, ttl) = lock_org(&mut tx, actor.org_id).await?;
    let user: Option<(String, UserStatus)> = sqlx::query_as(
        "select email, status from users where org_id = $1 and id = $2 and status <> 'deleted' for update",
    )
    .bind(actor.org_id)
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (email, status) = user.ok_or(Error::NotFound)?;
    match status {
        UserStatus::Active => {
            return Err(Error::conflict(
                "invite",
                "They have already joined; there is nothing to resend.",
            ))
        }
        UserStatus::Deactivated => {
            return Err(Error::conflict("invite", "Reactivate them before inviting them again."))
        }
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

/// The link stops working and the person goes back to "imported" (not invited).
pub async fn revoke(db: &Db, actor: &Actor, user_id: Uuid) -> Result<()> {
    let mut tx = db.begin().await?;
    let revoked: Vec<Uuid> = sqlx::query_scalar(
        "update invites set revoked_at = now() where org_id = $1 and user_id = $2
           and accepted_at is null and revoked_at is null and superseded_at is null returning id",
    )
    .bind(actor.org_id)
    .bind(user_id)
    .fetch_all(&mut *tx)
    .await?;
    if revoked.is_empty() {
        return Err(Error::conflict("invite", "There is no open invitation to revoke."));
    }
    // A mail still waiting in the outbox must not go out with a dead link.
    sqlx::query(
        "update outbox set failed_at = now(), last_error = 'Not sent: the invitation was revoked first.'
         where org_id = $1 and invite_id = any($2) and sent_at is null and failed_at is null",
    )
    .bind(actor.org_id)
    .bind(&revoked)
    .execute(&mut *tx)
    .await?;
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

#[derive(Debug, Clone, FromRow)]
pub struct OpenInvite {
    pub user_id: Uuid,
    pub id: Uuid,
    pub nonce: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The current (unaccepted, unrevoked, newest) invite of each of `user_ids`.
pub async fn open_for_users(db: &Db, org_id: Uuid, user_ids: &[Uuid]) -> Result<HashMap<Uuid, OpenInvite>> {
    let rows: Vec<OpenInvite> = sqlx::query_as(
        "select user_id, id, nonce, created_at, expires_at from invites where org_id = $1 and user_id = any($2)
           and accepted_at is null and revoked_at is null and superseded_at is null",
    )
    .bind(org_id)
    .bind(user_ids)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.user_id, r)).collect())
}

/// The token of a user's open invite, for "copy invite link".
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
    Ok(invite_token(key, invite.id, &invite.nonce))
}

pub fn token_for(key: &SecretKey, invite_id: Uuid, nonce: &[u8]) -> String {
    invite_token(key, invite_id, nonce)
}

#[derive(Debug, Clone)]
pub struct InviteDetails {
    pub org_id: Uuid,
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
    status: UserStatus,
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
        invite_token(key, r.id, &r.nonce)
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
    } else if row.status == UserStatus::Deactivated {
        InviteState::Revoked { org_name }
    } else {
        InviteState::Open(InviteDetails {
            org_id: row.org_id,
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

pub async fn lookup(db: &Db, key: &SecretKey, presented: &str) -> Result<InviteState> {
    let mut conn = db.acquire().await?;
    Ok(find(&mut conn, key, presented, false)
        .await?
        .map(state_of)
        .unwrap_or(InviteState::Unknown))
}

/// Accepts an invitation with a new password: single use, checked under a row lock so two
/// clicks cannot both succeed.
pub async fn accept(
    db: &Db,
    key: &SecretKey,
    presented: &str,
    given_name: &str,
    family_name: &str,
    new_password: String,
    ip: Option<String>,
) -> Result<AccountRef> {
    let given_name = users::parse_name("given_name", given_name)?;
    let family_name = users::parse_name("family_name", family_name)?;
    let hash = password::hash(new_password).await?;
    let mut tx = db.begin().await?;
    let row = find(&mut tx, key, presented, true).await?;
    let (invite_id, details) = match row {
        Some(row) => {
            let id = row.id;
            match state_of(row) {
                InviteState::Open(details) => (id, details),
                InviteState::Expired { inviter, .. } => {
                    return Err(Error::Forbidden(format!(
                        "This invitation has expired. Ask {inviter} to send a new one."
                    )))
                }
                InviteState::Used { .. } => {
                    return Err(Error::Forbidden(
                        "This invitation has already been used. Sign in instead.".into(),
                    ))
                }
                _ => {
                    return Err(Error::Forbidden(
                        "This invitation is no longer valid. Ask an admin for a new one.".into(),
                    ))
                }
            }
        }
        None => {
            return Err(Error::Forbidden(
                "This invitation link is not valid. Check that you copied all of it.".into(),
            ))
        }
    };
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

pub async fn set_ttl(db: &Db, actor: &Actor, hours: i32) -> Result<()> {
    if !(1..=2160).contains(&hours) {
        return Err(Error::invalid("invite_ttl", "Choose between 1 hour and 90 days."));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_lists_split_on_commas_spaces_and_new_lines() {
        let emails: Vec<String> = parse_list("a@x.co, b@x.co\n<c@x.co>; d@x.co  e@x.co\n\n")
            .into_iter()
            .map(|r| r.email)
            .collect();
        assert_eq!(emails, ["a@x.co", "b@x.co", "c@x.co", "d@x.co", "e@x.co"]);
    }

    #[test]
    fn csv_with_a_header_maps_columns_by_name() {
        let rows = parse_csv("Last name,Email,First name,Role\n\"O'Neil, Jr\",jo@x.co,Jo,Admin\nSmith,sam@x.co,Sam,\n")
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (
                rows[0].email.as_str(),
                rows[0].given_name.as_str(),
                rows[0].family_name.as_str()
            ),
            ("jo@x.co", "Jo", "O'Neil, Jr")
        );
        assert_eq!(rows[0].role, Some(Role::Admin));
        assert_eq!((rows[1].line, rows[1].role), (3, None));
    }

    #[test]
    fn csv_without_a_header_is_email_given_family_role() {
        let rows = parse_csv("jo@x.co,Jo,Jones,member").unwrap();
        assert_eq!(
            (rows[0].family_name.as_str(), rows[0].role),
            ("Jones", Some(Role::Member))
        );
    }

    #[test]
    fn an_unknown_role_in_csv_names_its_line() {
        let err = parse_csv("email,role\na@x.co,admin\nb@x.co,owner").unwrap_err();
        assert!(err.to_string().starts_with("Line 3"), "{err}");
    }
}

//! One-time links that get a person back in after their way to sign in was taken away (an
//! integration disabled): set a password, or link another enabled provider. Like invitation
//! links, a token is HMAC(server key, id || nonce), only its SHA-256 is stored, it works once
//! and it expires; the mail carrying it is rendered at send time, so no usable link is stored.

use crate::audit::{self, Actor, Target};
use crate::auth::AccountRef;
use crate::error::{Error, Result};
use crate::jobs;
use crate::mail;
use crate::secrets::{password, token, ExposeSecret, SecretKey, SecretString};
use crate::Db;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde_json::json;
use sqlx::{FromRow, PgConnection};
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// How long a link to get back in stays valid.
pub const LIFETIME: Duration = Duration::days(7);

pub fn token_for(key: &SecretKey, id: Uuid, nonce: &[u8]) -> String {
    hex::encode(key.derive("access", &[id.as_bytes(), nonce]))
}

/// Issues links (and their outbox mail) for `users` (id, email), in the caller's transaction.
pub(crate) async fn issue(
    conn: &mut PgConnection,
    key: &SecretKey,
    org_id: Uuid,
    org_name: &str,
    users: &[(Uuid, String)],
    reason: &str,
) -> Result<()> {
    if users.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::with_capacity(users.len());
    let mut nonces = Vec::with_capacity(users.len());
    let mut hashes = Vec::with_capacity(users.len());
    for _ in users {
        let id = Uuid::now_v7();
        let mut nonce = vec![0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        hashes.push(token::digest(&token_for(key, id, &nonce)));
        ids.push(id);
        nonces.push(nonce);
    }
    let user_ids: Vec<Uuid> = users.iter().map(|(id, _)| *id).collect();
    // Any older open link of these people is closed: only the newest works.
    sqlx::query("update access_links set used_at = now() where org_id = $1 and user_id = any($2) and used_at is null")
        .bind(org_id)
        .bind(&user_ids)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "insert into access_links (org_id, id, user_id, nonce, token_hash, reason, expires_at)
         select $1, id, user_id, nonce, token_hash, $2, $3
         from unnest($4::uuid[], $5::uuid[], $6::bytea[], $7::bytea[]) as t(id, user_id, nonce, token_hash)",
    )
    .bind(org_id)
    .bind(reason)
    .bind(Utc::now() + LIFETIME)
    .bind(&ids)
    .bind(&user_ids)
    .bind(&nonces)
    .bind(&hashes)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "insert into outbox (org_id, kind, access_link_id, recipient, subject)
         select $1, 'access_link', id, recipient, $2 from unnest($3::uuid[], $4::text[]) as t(id, recipient)",
    )
    .bind(org_id)
    .bind(mail::templates::access_link_subject(org_name))
    .bind(&ids)
    .bind(users.iter().map(|(_, email)| email.clone()).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    jobs::notify(conn, &mail::outbox::QUEUE).await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct AccessLink {
    pub org_id: Uuid,
    pub id: Uuid,
    pub user_id: Uuid,
    pub org_name: String,
    pub org_slug: String,
    pub email: String,
    pub reason: String,
    pub expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
    status: String,
    nonce: Vec<u8>,
}

/// What a link is, for its page and before using it.
#[derive(Debug, Clone)]
pub enum AccessState {
    Open(Box<AccessLink>),
    Used,
    Expired,
    Unknown,
}

async fn find(conn: &mut PgConnection, key: &SecretKey, presented: &str, lock: bool) -> Result<Option<AccessLink>> {
    if presented.len() != 64 || !presented.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let row: Option<AccessLink> = sqlx::query_as(&format!(
        "select a.org_id, a.id, a.user_id, o.name as org_name, o.slug as org_slug, u.email, a.reason, a.expires_at,
                a.used_at, u.status, a.nonce
         from access_links a join orgs o on o.id = a.org_id join users u on u.org_id = a.org_id and u.id = a.user_id
         where a.token_hash = $1 {}",
        if lock { "for update of a, u" } else { "" }
    ))
    .bind(token::digest(presented))
    .fetch_optional(conn)
    .await?;
    // Re-derived and compared in constant time: the digest found the row, this proves the token
    // is the one this server issued for it.
    Ok(row.filter(|r| {
        token_for(key, r.id, &r.nonce)
            .as_bytes()
            .ct_eq(presented.as_bytes())
            .into()
    }))
}

fn state_of(link: Option<AccessLink>) -> AccessState {
    match link {
        None => AccessState::Unknown,
        Some(l) if l.used_at.is_some() || l.status != "active" => AccessState::Used,
        Some(l) if l.expires_at <= Utc::now() => AccessState::Expired,
        Some(l) => AccessState::Open(Box::new(l)),
    }
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn lookup(db: &Db, key: &SecretKey, presented: &str) -> Result<AccessState> {
    let mut conn = db.acquire().await?;
    Ok(state_of(find(&mut conn, key, presented, false).await?))
}

fn open(state: AccessState) -> Result<AccessLink> {
    match state {
        AccessState::Open(link) => Ok(*link),
        other => Err(refusal(&other)),
    }
}

/// What to tell the holder of a link that cannot be used.
pub fn refusal(state: &AccessState) -> Error {
    Error::Forbidden(
        match state {
            AccessState::Used | AccessState::Open(_) => {
                "This link has already been used. Sign in instead, or ask an admin for help."
            }
            AccessState::Expired => "This link has expired. Ask an admin of your workspace for help getting back in.",
            AccessState::Unknown => "This link is not valid. Check that you copied all of it.",
        }
        .into(),
    )
}

/// Sets a password through an open link, which is then used up.
#[tracing::instrument(skip_all)]
pub async fn set_password(
    db: &Db,
    key: &SecretKey,
    presented: &str,
    new_password: SecretString,
    ip: Option<String>,
) -> Result<AccountRef> {
    password::check_policy(new_password.expose_secret())?;
    // The link first: only its holder gets a password hashed.
    let link = open(lookup(db, key, presented).await?)?;
    if crate::invites::requires_sso(db, link.org_id, link.user_id).await? {
        return Err(Error::Forbidden(format!(
            "{} requires single sign-on: connect one of the accounts offered on this page instead of setting a password.",
            link.org_name
        )));
    }
    let hash = password::hash(new_password).await?;
    let mut tx = db.begin().await?;
    let link = open(state_of(find(&mut tx, key, presented, true).await?))?;
    sqlx::query("update access_links set used_at = now() where org_id = $1 and id = $2")
        .bind(link.org_id)
        .bind(link.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("update users set password_hash = $3, version = version + 1 where org_id = $1 and id = $2")
        .bind(link.org_id)
        .bind(link.user_id)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
    let actor = Actor {
        org_id: link.org_id,
        user_id: Some(link.user_id),
        label: link.email.clone(),
        ip,
        request_id: None,
    };
    audit::record(
        &mut tx,
        &actor,
        "access_link.password_set",
        Some(Target {
            id: link.user_id,
            label: &link.email,
        }),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(AccountRef {
        org_id: link.org_id,
        user_id: link.user_id,
    })
}

/// The link a provider sign-in started from, locked and still open, for linking the account
/// the provider proved (see `identities::link_through_access_link`).
pub(crate) async fn take_by_id(conn: &mut PgConnection, org_id: Uuid, id: Uuid) -> Result<(Uuid, String)> {
    #[derive(FromRow)]
    struct Row {
        user_id: Uuid,
        email: String,
        used_at: Option<DateTime<Utc>>,
        expires_at: DateTime<Utc>,
        status: String,
    }
    let row: Option<Row> = sqlx::query_as(
        "select a.user_id, u.email, a.used_at, a.expires_at, u.status
         from access_links a join users u on u.org_id = a.org_id and u.id = a.user_id
         where a.org_id = $1 and a.id = $2 for update of a, u",
    )
    .bind(org_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(r) if r.used_at.is_none() && r.expires_at > Utc::now() && r.status == "active" => {
            sqlx::query("update access_links set used_at = now() where org_id = $1 and id = $2")
                .bind(org_id)
                .bind(id)
                .execute(&mut *conn)
                .await?;
            Ok((r.user_id, r.email))
        }
        Some(r) if r.used_at.is_some() || r.status != "active" => Err(refusal(&AccessState::Used)),
        Some(_) => Err(refusal(&AccessState::Expired)),
        None => Err(refusal(&AccessState::Unknown)),
    }
}

/// The mail of outbox row `outbox_id` if it carries an access link, rendered now (`None`: it
/// carries none, or the link was used or replaced meanwhile, or its person deactivated).
pub(crate) async fn render_mail(
    db: &Db,
    key: &SecretKey,
    public_url: &str,
    org_id: Uuid,
    outbox_id: i64,
) -> Result<Option<mail::templates::Mail>> {
    #[derive(FromRow)]
    struct Row {
        link_id: Uuid,
        nonce: Vec<u8>,
        org_name: String,
        email: String,
        given_name: String,
        reason: String,
        expires_at: DateTime<Utc>,
    }
    let row: Option<Row> = sqlx::query_as(
        "select a.id as link_id, a.nonce, o.name as org_name, u.email, u.given_name, a.reason, a.expires_at
         from outbox m join access_links a on a.org_id = m.org_id and a.id = m.access_link_id
           join orgs o on o.id = a.org_id join users u on u.org_id = a.org_id and u.id = a.user_id
         where m.org_id = $1 and m.id = $2 and a.used_at is null and a.expires_at > now() and u.status = 'active'",
    )
    .bind(org_id)
    .bind(outbox_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| {
        let link = format!(
            "{}/access/{}",
            public_url.trim_end_matches('/'),
            token_for(key, r.link_id, &r.nonce)
        );
        mail::templates::access_link(&mail::templates::AccessLinkMail {
            to: &r.email,
            recipient_name: &r.given_name,
            org_name: &r.org_name,
            reason: &r.reason,
            link: &link,
            expires_at: r.expires_at,
        })
    }))
}

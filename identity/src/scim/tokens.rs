//! The bearer tokens a directory provisions with: 256 random bits (`rcs_` and 64 hex digits),
//! shown once, stored only as a SHA-256 digest with a short prefix for display, each belonging
//! to one workspace. At most two are active at once, so a token can be rotated without a gap.

use crate::audit::{self, Actor};
use crate::error::{Error, Result};
use crate::secrets::token::{self, Secret};
use crate::Db;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::FromRow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// How many tokens of a workspace may be active at once.
pub const MAX_ACTIVE: i64 = 2;
const PREFIX: &str = "rcs_";

#[derive(Debug, Clone, FromRow)]
pub struct TokenInfo {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub created_by_label: String,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Creates a token named `name`; returns it (the only time it is seen) and its row.
pub async fn create(db: &Db, actor: &Actor, name: &str) -> Result<(String, TokenInfo)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid(
            "name",
            "Give the token a name of 1 to 100 characters, say \"Entra ID\".",
        ));
    }
    let secret = format!("{PREFIX}{}", Secret::generate().expose());
    let prefix: String = secret.chars().take(PREFIX.len() + 8).collect();
    let mut tx = db.begin().await?;
    // Counted under the workspace's lock, so two creations at once cannot both pass.
    sqlx::query("select 1 from orgs where id = $1 for update")
        .bind(actor.org_id)
        .execute(&mut *tx)
        .await?;
    let active: i64 = sqlx::query_scalar("select count(*) from scim_tokens where org_id = $1 and revoked_at is null")
        .bind(actor.org_id)
        .fetch_one(&mut *tx)
        .await?;
    if active >= MAX_ACTIVE {
        return Err(Error::conflict(
            "name",
            "Two tokens are already active. Revoke the one you are replacing first.",
        ));
    }
    let info: TokenInfo = sqlx::query_as(
        "insert into scim_tokens (org_id, id, name, token_hash, prefix, created_by_label)
         values ($1, $2, $3, $4, $5, $6)
         returning id, name, prefix, created_at, created_by_label, last_used_at, revoked_at",
    )
    .bind(actor.org_id)
    .bind(Uuid::now_v7())
    .bind(name)
    .bind(token::digest(&secret))
    .bind(&prefix)
    .bind(&actor.label)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        "scim.token_created",
        None,
        json!({ "name": name, "prefix": prefix }),
    )
    .await?;
    tx.commit().await?;
    Ok((secret, info))
}

pub async fn list(db: &Db, org_id: Uuid) -> Result<Vec<TokenInfo>> {
    Ok(sqlx::query_as(
        "select id, name, prefix, created_at, created_by_label, last_used_at, revoked_at
         from scim_tokens where org_id = $1 order by revoked_at is not null, created_at desc limit 50",
    )
    .bind(org_id)
    .fetch_all(db)
    .await?)
}

/// Revokes a token of the actor's workspace: requests with it fail from now on.
pub async fn revoke(db: &Db, actor: &Actor, id: Uuid) -> Result<()> {
    let mut tx = db.begin().await?;
    let revoked: Option<String> = sqlx::query_scalar(
        "update scim_tokens set revoked_at = now() where org_id = $1 and id = $2 and revoked_at is null returning name",
    )
    .bind(actor.org_id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(name) = revoked else {
        return Err(Error::NotFound);
    };
    audit::record(&mut tx, actor, "scim.token_revoked", None, json!({ "name": name })).await?;
    // Every server forgets the tokens it has checked recently (`TokenCache`), at this commit.
    sqlx::query("select pg_notify($1, '')")
        .bind(REVOKED_CHANNEL)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Who a presented token is: its workspace and id, when it is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authenticated {
    pub org_id: Uuid,
    pub token_id: Uuid,
}

impl Authenticated {
    /// The token as the Activity tab names it.
    pub fn actor(&self) -> Actor {
        Actor {
            org_id: self.org_id,
            user_id: None,
            label: format!("SCIM token {}", self.token_id),
            ip: None,
            request_id: None,
        }
    }
}

/// The channel a revocation is announced on (`NOTIFY`), so every server's [`TokenCache`]
/// forgets what it checked.
pub const REVOKED_CHANNEL: &str = "scim_tokens_revoked";

/// How long a checked token is trusted without asking the database again, at most. Revocations
/// reach every server at once through `REVOKED_CHANNEL`; this bounds what a lost notification
/// could leave, and keeps `last_used_at` fresh.
pub const CACHE_LIFETIME: Duration = Duration::from_secs(10);

/// The tokens this server checked recently, so a directory's requests need no lookup of their
/// token each (measured in bench/scim: the lookup and the pool's ping after it were two of a
/// `userName` lookup's four round trips). Only tokens that were found active are kept, keyed
/// by their digest (never the token itself).
///
/// Trusted only while this server is following `REVOKED_CHANNEL` (see [`follow_revocations`]):
/// any revocation, and any gap in following, empties it; an answer read from the database
/// before an emptying is not kept after it (the generation).
#[derive(Default)]
pub struct TokenCache {
    inner: Mutex<CacheState>,
}

#[derive(Default)]
struct CacheState {
    following: bool,
    generation: u64,
    checked: HashMap<Vec<u8>, (Authenticated, Instant)>,
}

/// More distinct active tokens than any server sees at once (two per workspace); past it the
/// cache starts over rather than grow.
const CACHE_MOST: usize = 10_000;

impl TokenCache {
    fn state(&self) -> std::sync::MutexGuard<'_, CacheState> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn get(&self, digest: &[u8]) -> Option<Authenticated> {
        let state = self.state();
        if !state.following {
            return None;
        }
        state
            .checked
            .get(digest)
            .filter(|(_, at)| at.elapsed() < CACHE_LIFETIME)
            .map(|(found, _)| *found)
    }

    fn generation(&self) -> u64 {
        self.state().generation
    }

    fn keep(&self, generation: u64, digest: Vec<u8>, found: Authenticated) {
        let mut state = self.state();
        if !state.following || state.generation != generation {
            return;
        }
        if state.checked.len() >= CACHE_MOST {
            state.checked.clear();
        }
        state.checked.insert(digest, (found, Instant::now()));
    }

    /// Forgets every token checked so far (a revocation, here or on another server).
    pub fn forget_all(&self) {
        let mut state = self.state();
        state.generation += 1;
        state.checked.clear();
    }

    fn set_following(&self, following: bool) {
        let mut state = self.state();
        state.following = following;
        state.generation += 1;
        state.checked.clear();
    }
}

/// Follows revocations announced by any server (or the CLI) for as long as the server runs,
/// emptying `cache` on each; while not following (connecting, or after a lost connection, whose
/// notifications may be lost with it), the cache is not used at all.
pub async fn follow_revocations(db: Db, cache: Arc<TokenCache>) {
    loop {
        if let Ok(mut listener) = crate::db::listen(&db, REVOKED_CHANNEL).await {
            cache.set_following(true);
            // `Ok(None)`: the connection was lost (notifications with it); start over.
            while let Ok(Some(_)) = listener.try_recv().await {
                cache.forget_all();
            }
        }
        cache.set_following(false);
        if db.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// [`authenticate`], answered from `cache` when this server checked the token recently.
pub async fn authenticate_cached(db: &Db, cache: &TokenCache, presented: &str) -> Result<Option<Authenticated>> {
    if !well_formed(presented) {
        return Ok(None);
    }
    let digest = token::digest(presented);
    if let Some(found) = cache.get(&digest) {
        return Ok(Some(found));
    }
    let generation = cache.generation();
    let found = authenticate(db, presented).await?;
    if let Some(found) = found {
        cache.keep(generation, digest, found);
    }
    Ok(found)
}

fn well_formed(presented: &str) -> bool {
    presented.starts_with(PREFIX) && presented.len() == PREFIX.len() + 64
}

/// Checks a presented bearer token. Looked up by its digest, and the digest compared again in
/// constant time; `last_used_at` is written at most once a minute per token.
pub async fn authenticate(db: &Db, presented: &str) -> Result<Option<Authenticated>> {
    if !well_formed(presented) {
        return Ok(None);
    }
    let digest = token::digest(presented);
    let row: Option<(Uuid, Uuid, Vec<u8>, bool)> = sqlx::query_as(
        "select org_id, id, token_hash, coalesce(last_used_at < now() - interval '1 minute', true)
         from scim_tokens where token_hash = $1 and revoked_at is null",
    )
    .bind(&digest)
    .fetch_optional(db)
    .await?;
    let Some((org_id, token_id, stored, stale)) = row else {
        return Ok(None);
    };
    if !bool::from(stored.ct_eq(&digest)) {
        return Ok(None);
    }
    if stale {
        sqlx::query("update scim_tokens set last_used_at = now() where org_id = $1 and id = $2")
            .bind(org_id)
            .bind(token_id)
            .execute(db)
            .await?;
    }
    Ok(Some(Authenticated { org_id, token_id }))
}

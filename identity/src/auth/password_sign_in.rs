//! Password sign-in across workspaces: throttled, uniform in its failures, and asking which
//! workspace only after the password has proved the person owns more than one account.

use super::throttle::{self, ThrottlePolicy};
use super::AccountRef;
use crate::error::{Error, Result};
use crate::secrets::token::{self, Secret};
use crate::secrets::{password, ExposeSecret, SecretString};
use crate::users::Status;
use crate::Db;
use chrono::{Duration, Utc};
use sqlx::FromRow;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct WorkspaceChoice {
    pub slug: String,
    pub name: String,
}

pub enum SignIn {
    /// Exactly one account matched: start its session.
    Account(AccountRef),
    /// The password matched accounts in several workspaces; the person picks one.
    ChooseWorkspace {
        token: Secret,
        choices: Vec<WorkspaceChoice>,
    },
}

/// Most accounts one sign-in checks the password of (each check is an argon2 hash). Oldest
/// first: workspaces an outsider creates for someone's email (open sign-up) come after the
/// person's real account, so they cannot push it out of the check, whatever their names.
const MAX_ACCOUNTS_CHECKED: i64 = 20;

/// Longest email a sign-in looks up (RFC 5321's limit for a path).
pub const MAX_EMAIL_BYTES: usize = 254;
/// Longest workspace address a sign-in looks up.
pub const MAX_WORKSPACE_BYTES: usize = 100;

pub struct Attempt<'a> {
    pub email: &'a str,
    pub password: SecretString,
    /// Set when signing in through a workspace's own address (`/o/{slug}/login`).
    pub workspace: Option<&'a str>,
    pub ip: Option<&'a str>,
}

#[derive(FromRow)]
struct Candidate {
    org_id: Uuid,
    user_id: Uuid,
    password_hash: Option<String>,
    status: Status,
    slug: String,
    name: String,
    /// Require SSO is on and this is a member: the password is checked, then refused.
    sso_required: bool,
}

#[tracing::instrument(skip_all)]
pub async fn sign_in(db: &Db, policy: &ThrottlePolicy, attempt: Attempt<'_>) -> Result<SignIn> {
    let email = attempt.email.trim();
    let ip_key = attempt.ip.map(|ip| (throttle::ip_key(ip), policy.max_failures_per_ip));
    // Nothing oversized reaches the throttle's keys or the database: such an attempt is a
    // plain failure, counted against the client's address like any other.
    let well_formed = !email.is_empty()
        && email.len() <= MAX_EMAIL_BYTES
        && !attempt.password.expose_secret().is_empty()
        && attempt.workspace.is_none_or(|w| w.len() <= MAX_WORKSPACE_BYTES);
    if !well_formed {
        if let Some(ip_key) = ip_key {
            throttle::begin_attempt(db, policy, &[ip_key]).await?;
        }
        return Err(Error::InvalidCredentials);
    }
    let mut keys = vec![(throttle::account_key(email), policy.max_failures_per_account)];
    keys.extend(ip_key);
    throttle::begin_attempt(db, policy, &keys).await?;

    let candidates: Vec<Candidate> = sqlx::query_as(
        "select u.org_id, u.id as user_id, u.password_hash, u.status, o.slug, o.name,
                o.require_sso and u.role = 'member'
                  and exists (select 1 from integrations i where i.org_id = o.id and i.mode <> 'off') as sso_required
         from users u join orgs o on o.id = u.org_id
         where lower(u.email) = lower($1) and u.password_hash is not null and u.status in ('active', 'deactivated')
           and ($2::text is null or lower(o.slug) = lower($2))
         order by u.created_at, u.id
         limit $3",
    )
    .bind(email)
    .bind(attempt.workspace)
    .bind(MAX_ACCOUNTS_CHECKED)
    .fetch_all(db)
    .await?;

    let mut matched = Vec::new();
    if candidates.is_empty() {
        password::verify(attempt.password.clone(), None).await?;
    }
    for candidate in candidates {
        if password::verify(attempt.password.clone(), candidate.password_hash.clone()).await? {
            matched.push(candidate);
        }
    }

    if matched.is_empty() {
        // The attempt was counted before the password was checked.
        return Err(Error::InvalidCredentials);
    }
    throttle::forgive(db, &keys).await?;

    let (active, deactivated): (Vec<_>, Vec<_>) = matched.into_iter().partition(|c| c.status == Status::Active);
    // Only someone who knows the password learns that their workspace requires SSO.
    let (sso_only, active): (Vec<_>, Vec<_>) = active.into_iter().partition(|c| c.sso_required);
    if active.is_empty() && !sso_only.is_empty() {
        let names: Vec<String> = sso_only.iter().map(|c| c.name.clone()).collect();
        return Err(Error::Forbidden(format!(
            "{} requires single sign-on: use a \"Continue with\" button on its sign-in page instead of your password.",
            names.join(", ")
        )));
    }
    match active.len() {
        0 => {
            // Only someone who knows the password learns this, so saying it plainly is safe.
            let names: Vec<String> = deactivated.iter().map(|c| c.name.clone()).collect();
            Err(Error::Forbidden(format!(
                "Your account in {} has been deactivated. Ask an admin of that workspace to reactivate it.",
                names.join(", ")
            )))
        }
        1 => Ok(SignIn::Account(AccountRef {
            org_id: active[0].org_id,
            user_id: active[0].user_id,
        })),
        _ => {
            let (token, choices) = pending_choice(
                db,
                active.into_iter().map(|c| (c.org_id, c.user_id, c.slug, c.name)),
                "password",
            )
            .await?;
            Ok(SignIn::ChooseWorkspace { token, choices })
        }
    }
}

/// Records a sign-in that matched accounts in several workspaces (org id, user id, slug, name;
/// oldest first) until the person picks one; returns the token for their cookie and the
/// choices, by name. `method` is how they proved who they are (`password` or a provider).
pub(crate) async fn pending_choice(
    db: &Db,
    accounts: impl Iterator<Item = (Uuid, Uuid, String, String)>,
    method: &str,
) -> Result<(Secret, Vec<WorkspaceChoice>)> {
    let token = Secret::generate();
    let (refs, mut choices): (Vec<AccountRef>, Vec<WorkspaceChoice>) = accounts
        .map(|(org_id, user_id, slug, name)| (AccountRef { org_id, user_id }, WorkspaceChoice { slug, name }))
        .unzip();
    sqlx::query("insert into pending_logins (token_hash, user_refs, expires_at, method) values ($1, $2, $3, $4)")
        .bind(token.digest())
        .bind(serde_json::to_value(&refs).map_err(|e| Error::Internal(e.to_string()))?)
        .bind(Utc::now() + Duration::minutes(5))
        .bind(method)
        .execute(db)
        .await?;
    choices.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((token, choices))
}

/// Lists the workspaces a pending sign-in may continue into (for re-rendering the chooser).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn pending_choices(db: &Db, pending_token: &str) -> Result<Vec<WorkspaceChoice>> {
    let refs: Option<serde_json::Value> =
        sqlx::query_scalar("select user_refs from pending_logins where token_hash = $1 and expires_at > now()")
            .bind(token::digest(pending_token))
            .fetch_optional(db)
            .await?;
    let Some(refs) = refs else { return Ok(vec![]) };
    let refs: Vec<AccountRef> = serde_json::from_value(refs).unwrap_or_default();
    let org_ids: Vec<Uuid> = refs.iter().map(|r| r.org_id).collect();
    let rows: Vec<(String, String)> = sqlx::query_as("select slug, name from orgs where id = any($1) order by name")
        .bind(&org_ids)
        .fetch_all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(slug, name)| WorkspaceChoice { slug, name })
        .collect())
}

/// Completes a sign-in that matched several workspaces. Single use: the pending record is
/// consumed whatever the choice.
#[tracing::instrument(skip_all)]
pub async fn choose_workspace(db: &Db, pending_token: &str, slug: &str) -> Result<(AccountRef, String)> {
    let pending: Option<(serde_json::Value, String)> = sqlx::query_as(
        "delete from pending_logins where token_hash = $1 and expires_at > now() returning user_refs, method",
    )
    .bind(token::digest(pending_token))
    .fetch_optional(db)
    .await?;
    let method = pending.as_ref().map(|(_, m)| m.clone()).unwrap_or_default();
    let refs: Vec<AccountRef> = pending
        .and_then(|(r, _)| serde_json::from_value(r).ok())
        .ok_or_else(|| Error::Forbidden("That sign-in has expired. Enter your email and password again.".into()))?;
    let org_ids: Vec<Uuid> = refs.iter().map(|r| r.org_id).collect();
    let chosen: Option<Uuid> = sqlx::query_scalar("select id from orgs where id = any($1) and lower(slug) = lower($2)")
        .bind(&org_ids)
        .bind(slug)
        .fetch_optional(db)
        .await?;
    let org_id = chosen.ok_or(Error::NotFound)?;
    let account = refs.into_iter().find(|r| r.org_id == org_id).ok_or(Error::NotFound)?;
    // Still active, and, after a provider sign-in, that provider still on in the chosen
    // workspace (it may have been disabled while the person was choosing).
    let still_active: bool = sqlx::query_scalar(
        "select exists (select 1 from users where org_id = $1 and id = $2 and status = 'active')
            and ($3 = 'password' or exists (select 1 from integrations
                                            where org_id = $1 and provider = $3 and mode <> 'off'))",
    )
    .bind(account.org_id)
    .bind(account.user_id)
    .bind(&method)
    .fetch_one(db)
    .await?;
    if !still_active {
        return Err(Error::InvalidCredentials);
    }
    Ok((account, method))
}

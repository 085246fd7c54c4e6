//! Linked provider accounts: signing in with one, linking one from the profile, accepting an
//! invitation or an access link with one, and unlinking. Accounts are found by the provider's
//! stable ids (provider, tenant, subject), never by email; every path applies the workspace's
//! mode and its organisation rule to the verified claims (`integrations::admits`).
//!
//! A first sign-in with an unlinked account links it to an existing person only by PRODUCT.md's
//! rule: the provider is organisation connected, the signed org claim matches, and the email is
//! verified by the provider and equal to the person's.

use crate::access_links;
use crate::audit::{self, Actor, Target};
use crate::auth::oidc::VerifiedAccount;
use crate::auth::{AccountRef, WorkspaceChoice};
use crate::error::{Error, Result};
use crate::integrations::{self, admits};
use crate::providers::{Mode, Provider};
use crate::secrets::token::Secret;
use crate::Db;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

/// A person's linked account, for their profile.
#[derive(Debug, Clone, FromRow)]
pub struct LinkedAccount {
    #[sqlx(try_from = "String")]
    pub provider: ProviderColumn,
    pub email: Option<String>,
    pub org_claim: Option<String>,
    pub linked_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

/// A provider read from a text column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderColumn(pub Provider);

impl TryFrom<String> for ProviderColumn {
    type Error = String;
    fn try_from(text: String) -> std::result::Result<Self, String> {
        Provider::parse(&text).map(ProviderColumn).ok_or(text)
    }
}

#[tracing::instrument(level = "debug", skip_all, fields(org = %org_id))]
pub async fn list_for_user(db: &Db, org_id: Uuid, user_id: Uuid) -> Result<Vec<LinkedAccount>> {
    Ok(sqlx::query_as(
        "select provider, email, org_claim, linked_at, last_login_at from identities
         where org_id = $1 and user_id = $2 order by provider",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_all(db)
    .await?)
}

/// What a provider sign-in lands on.
pub enum ProviderSignIn {
    Account(AccountRef),
    /// Linked in several workspaces: the person picks (as with a password).
    ChooseWorkspace {
        token: Secret,
        choices: Vec<WorkspaceChoice>,
    },
}

#[derive(FromRow)]
struct Candidate {
    org_id: Uuid,
    user_id: Uuid,
    status: String,
    mode: Option<String>,
    org_key: Option<String>,
    slug: String,
    name: String,
}

/// Signs in with a verified provider account, through a workspace's page (`workspace`) or the
/// generic one.
#[tracing::instrument(skip_all, fields(provider = %account.provider))]
pub async fn sign_in(db: &Db, account: &VerifiedAccount, workspace: Option<&str>) -> Result<ProviderSignIn> {
    let workspace = workspace.map(str::trim).filter(|w| !w.is_empty() && w.len() <= 100);
    let candidates: Vec<Candidate> = sqlx::query_as(
        "select d.org_id, d.user_id, u.status, i.mode, i.org_key, o.slug, o.name
         from identities d join users u on u.org_id = d.org_id and u.id = d.user_id
           join orgs o on o.id = d.org_id
           left join integrations i on i.org_id = d.org_id and i.provider = d.provider
         where d.provider = $1 and d.tenant = $2 and d.subject = $3
           and ($4::text is null or lower(o.slug) = lower($4))
         order by u.created_at
         limit 50",
    )
    .bind(account.provider.as_str())
    .bind(&account.tenant)
    .bind(&account.subject)
    .bind(workspace)
    .fetch_all(db)
    .await?;

    let mut refused: Option<Error> = None;
    let mut deactivated: Vec<String> = Vec::new();
    let mut usable: Vec<Candidate> = Vec::new();
    for c in candidates {
        let mode = c.mode.as_deref().and_then(Mode::parse).unwrap_or(Mode::Off);
        if let Err(err) = admits(mode, c.org_key.as_deref(), &c.name, account) {
            refused.get_or_insert(err);
            continue;
        }
        match c.status.as_str() {
            "active" => usable.push(c),
            "deactivated" | "deleted" => deactivated.push(c.name.clone()),
            _ => {}
        }
    }
    if usable.is_empty() && deactivated.is_empty() {
        if let Some(account_ref) = link_by_upstream_id(db, account, workspace).await? {
            return Ok(ProviderSignIn::Account(account_ref));
        }
    }
    if usable.is_empty() {
        if let Some(account_ref) = link_by_verified_email(db, account, workspace).await? {
            return Ok(ProviderSignIn::Account(account_ref));
        }
    }
    match usable.len() {
        0 if !deactivated.is_empty() => Err(Error::Forbidden(format!(
            "Your account in {} has been deactivated. Ask an admin of that workspace to reactivate it.",
            deactivated.join(", ")
        ))),
        0 => Err(refused.unwrap_or_else(|| not_linked(account))),
        1 => {
            let c = &usable[0];
            Ok(ProviderSignIn::Account(AccountRef {
                org_id: c.org_id,
                user_id: c.user_id,
            }))
        }
        _ => {
            let (token, choices) = crate::auth::pending_choice(
                db,
                usable.into_iter().map(|c| (c.org_id, c.user_id, c.slug, c.name)),
                account.provider.as_str(),
            )
            .await?;
            Ok(ProviderSignIn::ChooseWorkspace { token, choices })
        }
    }
}

fn not_linked(account: &VerifiedAccount) -> Error {
    let provider = account.provider.label();
    let who = account.email.as_deref().unwrap_or("this account");
    Error::Forbidden(format!(
        "No Rollcall account is linked to your {provider} account ({who}). If you already have an account, \
         sign in another way and link {provider} from your profile; otherwise ask your workspace's admin for an invitation."
    ))
}

/// A first sign-in of someone imported from the organisation's directory: the workspace whose
/// integration is connected to the account's signed organisation, and the person imported with
/// this account's upstream id (Google `sub`, Entra `oid`, Slack user id), linked with no
/// password prompt. An invited person's sign-in accepts the invitation; someone imported but
/// not invited yet is told to wait for it (the invitation is the admin's say).
async fn link_by_upstream_id(
    db: &Db,
    account: &VerifiedAccount,
    workspace: Option<&str>,
) -> Result<Option<AccountRef>> {
    let Some(org_claim) = &account.org_claim else {
        return Ok(None);
    };
    let key = account.provider.as_str();
    let mut tx = db.begin().await?;
    // The provider's key is a literal (from the enum), so the upstream-id index serves this.
    let found: Option<(Uuid, Uuid, String, String, String)> = sqlx::query_as(&format!(
        "select u.org_id, u.id, u.email, u.status, o.name
         from integrations i join orgs o on o.id = i.org_id
           join users u on u.org_id = i.org_id
                       and ((u.source = $1 and u.external_ids ->> '{key}' = $3)
                            -- SCIM-provisioned people whose externalId is their Entra object id.
                            or ($1 = 'microsoft' and u.source = 'scim' and u.scim_created and u.external_ids ->> 'scim' = $3))
         where i.provider = $1 and i.mode <> 'off' and i.org_key = $2
           and ($4::text is null or lower(o.slug) = lower($4))
           -- Only people the directory itself created (by import or SCIM), never an admin: an
           -- administrator of the directory can give any account any address, so a person
           -- matched by email (or an admin) links from their profile as before.
           and u.role = 'member'
           and not exists (select 1 from identities d where d.org_id = u.org_id and d.user_id = u.id and d.provider = $1)
         for update of u for share of i"
    ))
    .bind(key)
    .bind(org_claim)
    .bind(&account.subject)
    .bind(workspace)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((org_id, user_id, user_email, status, org_name)) = found else {
        return Ok(None);
    };
    match status.as_str() {
        "active" => {}
        "invited" => {
            // The invitation must still be open: an expired one waits for a resend, as its link does.
            let accepted = sqlx::query(
                "update invites set accepted_at = now()
                 where org_id = $1 and user_id = $2 and accepted_at is null and revoked_at is null and superseded_at is null
                   and expires_at > now()",
            )
            .bind(org_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if accepted == 0 {
                return Err(Error::Forbidden(format!(
                    "Your invitation to {org_name} has expired. Ask its admin to send it again."
                )));
            }
            sqlx::query("update users set status = 'active', version = version + 1 where org_id = $1 and id = $2")
                .bind(org_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        "imported" => {
            return Err(Error::Forbidden(format!(
                "You are in {org_name}'s directory, but its admin has not invited you to Rollcall yet. Ask them to send your invitation."
            )))
        }
        _ => return Ok(None),
    }
    insert_identity(&mut tx, org_id, user_id, account).await?;
    let actor = Actor {
        org_id,
        user_id: Some(user_id),
        label: user_email.clone(),
        ip: None,
        request_id: None,
    };
    audit::record(
        &mut tx,
        &actor,
        "identity.linked",
        Some(Target {
            id: user_id,
            label: &user_email,
        }),
        json!({ "provider": key, "how": "upstream id from the organisation's directory", "previous_status": status }),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(AccountRef { org_id, user_id }))
}

/// PRODUCT.md's linking rule for a first sign-in: the one workspace connected to the account's
/// organisation (an org key belongs to one workspace), a provider-verified email equal to an
/// active person's there, who has no account of this provider linked yet. Never an admin: an
/// administrator of the provider's directory can give any account any address, and an admin's
/// Rollcall account is worth more than that; admins link from their profile.
async fn link_by_verified_email(
    db: &Db,
    account: &VerifiedAccount,
    workspace: Option<&str>,
) -> Result<Option<AccountRef>> {
    let (Some(org_claim), Some(email), true) = (&account.org_claim, &account.email, account.email_verified) else {
        return Ok(None);
    };
    let mut tx = db.begin().await?;
    let found: Option<(Uuid, Uuid, String)> = sqlx::query_as(
        "select u.org_id, u.id, u.email
         from integrations i join orgs o on o.id = i.org_id
           join users u on u.org_id = i.org_id and lower(u.email) = lower($3)
         where i.provider = $1 and i.mode = 'org_connected' and i.org_key = $2 and u.status = 'active'
           and u.role = 'member'
           and ($4::text is null or lower(o.slug) = lower($4))
           and not exists (select 1 from identities d where d.org_id = u.org_id and d.user_id = u.id and d.provider = $1)
         for update of u for share of i",
    )
    .bind(account.provider.as_str())
    .bind(org_claim)
    .bind(email)
    .bind(workspace)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((org_id, user_id, user_email)) = found else {
        return Ok(None);
    };
    insert_identity(&mut tx, org_id, user_id, account).await?;
    let actor = Actor {
        org_id,
        user_id: Some(user_id),
        label: user_email.clone(),
        ip: None,
        request_id: None,
    };
    audit::record(
        &mut tx,
        &actor,
        "identity.linked",
        Some(Target {
            id: user_id,
            label: &user_email,
        }),
        json!({ "provider": account.provider.as_str(), "how": "verified email in the connected organisation" }),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(AccountRef { org_id, user_id }))
}

async fn insert_identity(
    conn: &mut PgConnection,
    org_id: Uuid,
    user_id: Uuid,
    account: &VerifiedAccount,
) -> Result<()> {
    let result = sqlx::query(
        "insert into identities (org_id, user_id, provider, tenant, subject, org_claim, email, last_login_at)
         values ($1, $2, $3, $4, $5, $6, $7, now())",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(account.provider.as_str())
    .bind(&account.tenant)
    .bind(&account.subject)
    .bind(&account.org_claim)
    .bind(&account.email)
    .execute(conn)
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(db)) if db.constraint() == Some("identities_pkey") => Err(Error::conflict(
            "provider",
            format!(
                "That {} account is already linked to someone else in this workspace.",
                account.provider.label()
            ),
        )),
        Err(sqlx::Error::Database(db)) if db.constraint() == Some("identities_org_id_user_id_provider_key") => {
            Err(Error::conflict(
                "provider",
                format!(
                    "A {} account is already linked. Unlink it first to link another.",
                    account.provider.label()
                ),
            ))
        }
        Err(err) => Err(err.into()),
    }
}

/// Checks the workspace's mode for the account and links it to `user_id`, audit-logged as
/// `action`, in the caller's transaction.
async fn link_in(
    conn: &mut PgConnection,
    org_id: Uuid,
    user_id: Uuid,
    account: &VerifiedAccount,
    actor: &Actor,
    how: &str,
) -> Result<()> {
    let (mode, org_key) = integrations::mode_of(conn, org_id, account.provider).await?;
    let org_name: String = sqlx::query_scalar("select name from orgs where id = $1")
        .bind(org_id)
        .fetch_one(&mut *conn)
        .await?;
    admits(mode, org_key.as_deref(), &org_name, account)?;
    insert_identity(conn, org_id, user_id, account).await?;
    let email: String = sqlx::query_scalar("select email from users where org_id = $1 and id = $2")
        .bind(org_id)
        .bind(user_id)
        .fetch_one(&mut *conn)
        .await?;
    audit::record(
        conn,
        actor,
        "identity.linked",
        Some(Target {
            id: user_id,
            label: &email,
        }),
        json!({ "provider": account.provider.as_str(), "how": how, "account": account.email }),
    )
    .await?;
    Ok(())
}

/// A signed-in person links a provider account from their profile.
#[tracing::instrument(skip_all, fields(org = %actor.org_id))]
pub async fn link(db: &Db, actor: &Actor, user_id: Uuid, account: &VerifiedAccount) -> Result<()> {
    let mut tx = db.begin().await?;
    let active: bool =
        sqlx::query_scalar("select status = 'active' from users where org_id = $1 and id = $2 for update")
            .bind(actor.org_id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?
            .unwrap_or(false);
    if !active {
        return Err(Error::Forbidden("Your account is not active.".into()));
    }
    link_in(&mut tx, actor.org_id, user_id, account, actor, "profile").await?;
    tx.commit().await?;
    Ok(())
}

/// Unlinks a provider account, unless it is the person's last way in.
#[tracing::instrument(skip_all, fields(org = %actor.org_id))]
pub async fn unlink(db: &Db, actor: &Actor, user_id: Uuid, provider: Provider) -> Result<()> {
    let mut tx = db.begin().await?;
    // Locks the person: two unlinks at once cannot each leave the other as the last way in.
    let row: Option<(String, bool, bool, String)> = sqlx::query_as(
        "select u.email, u.password_hash is not null, o.require_sso and u.role = 'member', u.status
         from users u join orgs o on o.id = u.org_id where u.org_id = $1 and u.id = $2 for update of u",
    )
    .bind(actor.org_id)
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (email, has_password, sso_required, _status) = row.ok_or(Error::NotFound)?;
    let others: i64 = sqlx::query_scalar(
        "select count(*) from identities d join integrations i on i.org_id = d.org_id and i.provider = d.provider
         where d.org_id = $1 and d.user_id = $2 and d.provider <> $3 and i.mode <> 'off'",
    )
    .bind(actor.org_id)
    .bind(user_id)
    .bind(provider.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let password_counts = has_password && !sso_required;
    if others == 0 && !password_counts {
        let own = actor.user_id == Some(user_id);
        return Err(Error::conflict(
            "provider",
            if own {
                format!(
                    "{} is your only way to sign in. Link another account{} first.",
                    provider.label(),
                    if sso_required { "" } else { " or set a password" }
                )
            } else {
                format!(
                    "{} is this person's only way to sign in, so it stays linked. To shut them out, deactivate them instead.",
                    provider.label()
                )
            },
        ));
    }
    let removed = sqlx::query("delete from identities where org_id = $1 and user_id = $2 and provider = $3")
        .bind(actor.org_id)
        .bind(user_id)
        .bind(provider.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if removed == 0 {
        return Err(Error::NotFound);
    }
    // Sessions that account started end with it (someone unlinking an account they do not
    // recognise wants it out now).
    sqlx::query("delete from sessions where org_id = $1 and user_id = $2 and method = $3")
        .bind(actor.org_id)
        .bind(user_id)
        .bind(provider.as_str())
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        actor,
        "identity.unlinked",
        Some(Target {
            id: user_id,
            label: &email,
        }),
        json!({ "provider": provider.as_str() }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Accepts an invitation by linking the provider account (the mode's org rule applies); the
/// invited person becomes active, without a password.
#[tracing::instrument(skip_all)]
pub async fn accept_invite(db: &Db, org_id: Uuid, invite_id: Uuid, account: &VerifiedAccount) -> Result<AccountRef> {
    let mut tx = db.begin().await?;
    #[derive(FromRow)]
    struct Invite {
        user_id: Uuid,
        email: String,
        status: String,
        accepted_at: Option<DateTime<Utc>>,
        revoked_at: Option<DateTime<Utc>>,
        superseded_at: Option<DateTime<Utc>>,
        expires_at: DateTime<Utc>,
    }
    let row: Option<Invite> = sqlx::query_as(
        "select i.user_id, u.email, u.status, i.accepted_at, i.revoked_at, i.superseded_at, i.expires_at
         from invites i join users u on u.org_id = i.org_id and u.id = i.user_id
         where i.org_id = $1 and i.id = $2 for update of i, u",
    )
    .bind(org_id)
    .bind(invite_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(invite) = row else {
        return Err(Error::Forbidden(
            "This invitation is no longer valid. Ask an admin for a new one.".into(),
        ));
    };
    if invite.accepted_at.is_some() {
        return Err(Error::Forbidden(
            "This invitation has already been used. Sign in instead.".into(),
        ));
    }
    if invite.revoked_at.is_some()
        || invite.superseded_at.is_some()
        || invite.status == "deactivated"
        || invite.status == "deleted"
    {
        return Err(Error::Forbidden(
            "This invitation is no longer valid. Ask an admin for a new one.".into(),
        ));
    }
    if invite.expires_at <= Utc::now() {
        return Err(Error::Forbidden(
            "This invitation has expired. Ask an admin to send a new one.".into(),
        ));
    }
    let (user_id, email) = (invite.user_id, invite.email);
    let actor = Actor {
        org_id,
        user_id: Some(user_id),
        label: email.clone(),
        ip: None,
        request_id: None,
    };
    link_in(&mut tx, org_id, user_id, account, &actor, "invitation").await?;
    sqlx::query("update invites set accepted_at = now() where org_id = $1 and id = $2")
        .bind(org_id)
        .bind(invite_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("update users set status = 'active', version = version + 1 where org_id = $1 and id = $2")
        .bind(org_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        &actor,
        "invite.accepted",
        Some(Target {
            id: user_id,
            label: &email,
        }),
        json!({ "provider": account.provider.as_str() }),
    )
    .await?;
    tx.commit().await?;
    Ok(AccountRef { org_id, user_id })
}

/// Uses a one-time access link by linking the provider account it was followed with.
#[tracing::instrument(skip_all)]
pub async fn link_through_access_link(
    db: &Db,
    org_id: Uuid,
    link_id: Uuid,
    account: &VerifiedAccount,
) -> Result<AccountRef> {
    let mut tx = db.begin().await?;
    let (user_id, email) = access_links::take_by_id(&mut tx, org_id, link_id).await?;
    let actor = Actor {
        org_id,
        user_id: Some(user_id),
        label: email,
        ip: None,
        request_id: None,
    };
    link_in(&mut tx, org_id, user_id, account, &actor, "access link").await?;
    tx.commit().await?;
    Ok(AccountRef { org_id, user_id })
}

/// Providers a person may use in their workspace right now (mode not off), for pages.
pub async fn enabled_providers(db: &Db, org_id: Uuid) -> Result<Vec<(Provider, Mode)>> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("select provider, mode from integrations where org_id = $1 and mode <> 'off' order by provider")
            .bind(org_id)
            .fetch_all(db)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(p, m)| Some((Provider::parse(&p)?, Mode::parse(&m)?)))
        .collect())
}

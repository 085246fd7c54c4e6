//! A workspace's integrations with Google, Microsoft and Slack: the mode of each (off, SSO only,
//! organisation connected), the organisation it is connected to, Require SSO, and disabling one
//! with its impact shown first. Every change is audit-logged in its own transaction.

use crate::access_links;
use crate::audit::{self, Actor};
use crate::auth::oidc::VerifiedAccount;
use crate::error::{Error, Result};
use crate::providers::{Mode, Provider, MICROSOFT_CONSUMER_TENANT};
use crate::secrets::SecretKey;
use crate::Db;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Integration {
    pub provider: Provider,
    pub mode: Mode,
    /// The connected organisation (domain, tenant id, team id), when connected.
    pub org_key: Option<String>,
    pub connected_by: Option<String>,
    pub connected_at: Option<DateTime<Utc>>,
    /// People in the workspace with an account of this provider linked.
    pub linked: i64,
}

#[derive(FromRow)]
struct Row {
    provider: String,
    mode: String,
    org_key: Option<String>,
    connected_by_label: Option<String>,
    connected_at: Option<DateTime<Utc>>,
    linked: i64,
}

/// Every provider's integration in the workspace (Off where none was set up), in display order.
#[tracing::instrument(level = "debug", skip_all, fields(org = %org_id))]
pub async fn list(db: &Db, org_id: Uuid) -> Result<Vec<Integration>> {
    let rows: Vec<Row> = sqlx::query_as(
        "select p.provider, coalesce(i.mode, 'off') as mode, i.org_key, i.connected_by_label, i.connected_at,
                (select count(*) from identities d where d.org_id = $1 and d.provider = p.provider) as linked
         from unnest(array['google', 'microsoft', 'slack']) as p(provider)
         left join integrations i on i.org_id = $1 and i.provider = p.provider",
    )
    .bind(org_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(Integration {
                provider: Provider::parse(&r.provider)?,
                mode: Mode::parse(&r.mode)?,
                org_key: r.org_key,
                connected_by: r.connected_by_label,
                connected_at: r.connected_at,
                linked: r.linked,
            })
        })
        .collect())
}

/// The mode of one provider in a workspace and its connected org key.
pub(crate) async fn mode_of(
    conn: &mut PgConnection,
    org_id: Uuid,
    provider: Provider,
) -> Result<(Mode, Option<String>)> {
    let row: Option<(String, Option<String>)> =
        // Shared lock: a link checked against this mode cannot commit across a disable.
        sqlx::query_as("select mode, org_key from integrations where org_id = $1 and provider = $2 for share")
            .bind(org_id)
            .bind(provider.as_str())
            .fetch_optional(conn)
            .await?;
    Ok(match row {
        Some((mode, key)) => (Mode::parse(&mode).unwrap_or(Mode::Off), key),
        None => (Mode::Off, None),
    })
}

/// Whether the workspace's mode for this provider admits `account`: never when off; in
/// organisation-connected mode only with the signed org claim of the connected organisation.
pub(crate) fn admits(mode: Mode, org_key: Option<&str>, org_name: &str, account: &VerifiedAccount) -> Result<()> {
    let provider = account.provider;
    match mode {
        Mode::Off => Err(Error::Forbidden(format!(
            "{org_name} does not use {} sign-in. Sign in another way, or ask an admin to turn it on.",
            provider.label()
        ))),
        Mode::SsoOnly => Ok(()),
        Mode::OrgConnected => {
            if account.org_claim.is_some() && account.org_claim.as_deref() == org_key {
                return Ok(());
            }
            let used = match (&account.org_claim, provider) {
                (None, Provider::Google) => "a personal Google account".to_owned(),
                (None, _) => format!("a {} account outside any organisation", provider.label()),
                (Some(t), Provider::Microsoft) if t == MICROSOFT_CONSUMER_TENANT => {
                    "a personal Microsoft account".to_owned()
                }
                (Some(other), _) => format!("an account of {} {other}", provider.org_key_name()),
            };
            Err(Error::Forbidden(format!(
                "{org_name} accepts only {} accounts of its own organisation ({} {}), and you signed in with {used}. \
                 Sign out of {} and choose your work account, or ask an admin.",
                provider.label(),
                provider.org_key_name(),
                org_key.unwrap_or("?"),
                provider.label(),
            )))
        }
    }
}

/// Who is changing an integration: a signed-in admin, or the operator's CLI.
async fn org_name(conn: &mut PgConnection, org_id: Uuid) -> Result<String> {
    Ok(sqlx::query_scalar("select name from orgs where id = $1")
        .bind(org_id)
        .fetch_one(conn)
        .await?)
}

/// Sets a provider's mode. `org_key`, when given, is the organisation the operator vouches for
/// (CLI); otherwise organisation-connected mode needs an organisation connected before. Turning
/// a provider off is [`disable`] (it unlinks everyone).
#[tracing::instrument(skip_all, fields(org = %actor.org_id, provider = %provider))]
pub async fn set_mode(
    db: &Db,
    key: &SecretKey,
    actor: &Actor,
    provider: Provider,
    mode: Mode,
    org_key: Option<&str>,
) -> Result<Integration> {
    if mode == Mode::Off {
        if org_key.is_some() {
            return Err(Error::invalid(
                "org_key",
                "An organisation can only be set with a mode that is on.",
            ));
        }
        disable(db, key, actor, provider).await?;
        return find(db, actor.org_id, provider).await;
    }
    let org_key = match org_key {
        Some(typed) => Some(normalised_key(provider, typed)?),
        None => None,
    };
    let mut tx = db.begin().await?;
    let (before, recorded) = mode_of(&mut tx, actor.org_id, provider).await?;
    let key_after = org_key.clone().or(recorded.clone());
    if mode == Mode::OrgConnected && key_after.is_none() {
        return Err(Error::invalid(
            "mode",
            format!(
                "Connect your organisation first: sign in with an administrator's {} account of your {} (or give the operator's --org-key).",
                provider.label(),
                provider.organisation_product()
            ),
        ));
    }
    upsert(&mut tx, actor, provider, mode, key_after.as_deref(), org_key.is_some()).await?;
    audit::record(
        &mut tx,
        actor,
        "integration.mode_changed",
        None,
        json!({ "provider": provider.as_str(), "from": before.as_str(), "to": mode.as_str(), "org_key": key_after }),
    )
    .await?;
    tx.commit().await?;
    find(db, actor.org_id, provider).await
}

fn normalised_key(provider: Provider, typed: &str) -> Result<String> {
    let key = provider
        .normalise_org_key(typed)
        .ok_or_else(|| Error::invalid("org_key", format!("That is not a valid {}.", provider.org_key_name())))?;
    if provider == Provider::Microsoft && key == MICROSOFT_CONSUMER_TENANT {
        return Err(Error::invalid(
            "org_key",
            "That is Microsoft's tenant for personal accounts, not an organisation.",
        ));
    }
    Ok(key)
}

async fn upsert(
    conn: &mut PgConnection,
    actor: &Actor,
    provider: Provider,
    mode: Mode,
    org_key: Option<&str>,
    newly_connected: bool,
) -> Result<()> {
    let result = sqlx::query(
        "insert into integrations (org_id, provider, mode, org_key, connected_by, connected_by_label, connected_at)
         values ($1, $2, $3, $4, $5, $6, case when $4::text is null then null else now() end)
         on conflict (org_id, provider) do update set
             mode = excluded.mode,
             org_key = excluded.org_key,
             connected_by = case when $7 or integrations.org_key is distinct from excluded.org_key
                                 then excluded.connected_by else integrations.connected_by end,
             connected_by_label = case when $7 or integrations.org_key is distinct from excluded.org_key
                                 then excluded.connected_by_label else integrations.connected_by_label end,
             connected_at = case when $7 or integrations.org_key is distinct from excluded.org_key
                                 then excluded.connected_at else integrations.connected_at end,
             updated_at = now()",
    )
    .bind(actor.org_id)
    .bind(provider.as_str())
    .bind(mode.as_str())
    .bind(org_key)
    .bind(actor.user_id)
    .bind(&actor.label)
    .bind(newly_connected)
    .execute(&mut *conn)
    .await;
    match result {
        Ok(_) => {
            // A directory read for another organisation than the one now connected is
            // forgotten, tokens and all: the workspace must not keep reading an organisation
            // that may now belong to another workspace.
            let stale: bool = sqlx::query_scalar(
                "select exists (select 1 from directory_connections c
                                where c.org_id = $1 and c.provider = $2 and c.directory_key is distinct from $3)",
            )
            .bind(actor.org_id)
            .bind(provider.as_str())
            .bind(org_key)
            .fetch_one(&mut *conn)
            .await?;
            if stale {
                crate::directory::connections::forget(conn, actor.org_id, provider).await?;
            }
            Ok(())
        }
        Err(sqlx::Error::Database(db)) if db.constraint() == Some("integrations_org_key_once") => {
            Err(Error::conflict(
                "org_key",
                format!(
                    "That {} is already connected to another Rollcall workspace. One organisation belongs to one workspace: disable it there first.",
                    provider.org_key_name()
                ),
            ))
        }
        Err(err) => Err(err.into()),
    }
}

async fn find(db: &Db, org_id: Uuid, provider: Provider) -> Result<Integration> {
    list(db, org_id)
        .await?
        .into_iter()
        .find(|i| i.provider == provider)
        .ok_or(Error::NotFound)
}

/// Connects the organisation an admin just signed in with: its org key comes from the signed
/// ID token (`hd`, `tid`, team id), never from an email. Personal accounts are refused. The
/// provider is then in organisation-connected mode.
#[tracing::instrument(skip_all, fields(org = %actor.org_id))]
pub async fn connect(db: &Db, actor: &Actor, account: &VerifiedAccount) -> Result<Integration> {
    let provider = account.provider;
    let key = match (&account.org_claim, provider) {
        (Some(t), Provider::Microsoft) if t == MICROSOFT_CONSUMER_TENANT => None,
        (claim, _) => claim.clone(),
    };
    let Some(key) = key else {
        let why = match provider {
            Provider::Google => "That is a personal Google account: it belongs to no Google Workspace (its sign-in carries no hd claim).",
            Provider::Microsoft => "That is a personal Microsoft account: it belongs to no Entra tenant.",
            Provider::Slack => "That Slack sign-in named no workspace.",
        };
        return Err(Error::Forbidden(format!(
            "{why} Sign in with an administrator's account of your {} to connect it.",
            provider.organisation_product()
        )));
    };
    let mut tx = db.begin().await?;
    upsert(&mut tx, actor, provider, Mode::OrgConnected, Some(&key), true).await?;
    audit::record(
        &mut tx,
        actor,
        "integration.connected",
        None,
        json!({ "provider": provider.as_str(), "org_key": key, "by_account": account.email }),
    )
    .await?;
    tx.commit().await?;
    find(db, actor.org_id, provider).await
}

/// What disabling a provider would do, in numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DisableImpact {
    /// People with an account of this provider linked.
    pub linked: i64,
    /// Of those, people left with no way in (no password, no other enabled provider linked).
    pub no_other_way: i64,
    /// Of those, people with a password.
    pub with_password: i64,
    /// Links back in mailed (the active among those with no other way in); 0 in a preview.
    pub links_sent: i64,
}

const IMPACT_SQL: &str = "
    select d.user_id, u.email, u.status = 'active' as active,
           u.password_hash is not null and not (o.require_sso and u.role = 'member') as has_password,
           exists (select 1 from identities o join integrations oi on oi.org_id = o.org_id and oi.provider = o.provider
                   where o.org_id = d.org_id and o.user_id = d.user_id and o.provider <> d.provider and oi.mode <> 'off')
             as other_provider
    from identities d join users u on u.org_id = d.org_id and u.id = d.user_id join orgs o on o.id = d.org_id
    where d.org_id = $1 and d.provider = $2";

#[derive(FromRow)]
struct Affected {
    user_id: Uuid,
    email: String,
    active: bool,
    has_password: bool,
    other_provider: bool,
}

fn impact_of(rows: &[Affected]) -> DisableImpact {
    DisableImpact {
        linked: rows.len() as i64,
        no_other_way: rows.iter().filter(|r| !r.has_password && !r.other_provider).count() as i64,
        with_password: rows.iter().filter(|r| r.has_password).count() as i64,
        links_sent: 0,
    }
}

#[tracing::instrument(level = "debug", skip_all, fields(org = %org_id))]
pub async fn disable_impact(db: &Db, org_id: Uuid, provider: Provider) -> Result<DisableImpact> {
    let rows: Vec<Affected> = sqlx::query_as(IMPACT_SQL)
        .bind(org_id)
        .bind(provider.as_str())
        .fetch_all(db)
        .await?;
    Ok(impact_of(&rows))
}

/// Turns a provider off, in one transaction: unlinks every account of it in the workspace,
/// ends the sessions it started, forgets the connected organisation, and sends each active
/// person left with no way in a one-time link to set a password or link another provider.
#[tracing::instrument(skip_all, fields(org = %actor.org_id, provider = %provider))]
pub async fn disable(db: &Db, key: &SecretKey, actor: &Actor, provider: Provider) -> Result<DisableImpact> {
    let mut tx = db.begin().await?;
    // The integration row is locked first, so two disables (or a disable and a link, which
    // holds a share lock on it) queue.
    sqlx::query("select 1 from integrations where org_id = $1 and provider = $2 for update")
        .bind(actor.org_id)
        .bind(provider.as_str())
        .execute(&mut *tx)
        .await?;
    let affected: Vec<Affected> = sqlx::query_as(IMPACT_SQL)
        .bind(actor.org_id)
        .bind(provider.as_str())
        .fetch_all(&mut *tx)
        .await?;
    let impact = impact_of(&affected);
    sqlx::query("delete from identities where org_id = $1 and provider = $2")
        .bind(actor.org_id)
        .bind(provider.as_str())
        .execute(&mut *tx)
        .await?;
    let sessions_ended = sqlx::query("delete from sessions where org_id = $1 and method = $2")
        .bind(actor.org_id)
        .bind(provider.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query(
        "update integrations set mode = 'off', org_key = null, connected_by = null, connected_by_label = null,
                connected_at = null, updated_at = now()
         where org_id = $1 and provider = $2",
    )
    .bind(actor.org_id)
    .bind(provider.as_str())
    .execute(&mut *tx)
    .await?;
    // The directory's tokens go with the integration, and what was read of it.
    crate::directory::connections::forget(&mut tx, actor.org_id, provider).await?;
    let stranded: Vec<(Uuid, String)> = affected
        .iter()
        .filter(|r| r.active && !r.has_password && !r.other_provider)
        .map(|r| (r.user_id, r.email.clone()))
        .collect();
    // With no provider left on, Require SSO would leave members no way in: it goes off too.
    let require_sso_ended = sqlx::query(
        "update orgs set require_sso = false where id = $1 and require_sso
           and not exists (select 1 from integrations where org_id = $1 and mode <> 'off')",
    )
    .bind(actor.org_id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0;
    let name = org_name(&mut tx, actor.org_id).await?;
    access_links::issue(
        &mut tx,
        key,
        actor.org_id,
        &name,
        &stranded,
        &format!("{} sign-in was turned off", provider.label()),
    )
    .await?;
    audit::record(
        &mut tx,
        actor,
        "integration.disabled",
        None,
        json!({
            "provider": provider.as_str(),
            "unlinked": impact.linked,
            "no_other_way": impact.no_other_way,
            "with_password": impact.with_password,
            "sessions_ended": sessions_ended,
            "links_sent": stranded.len(),
            "require_sso_turned_off": require_sso_ended,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(DisableImpact {
        links_sent: stranded.len() as i64,
        ..impact
    })
}

/// Whether members must sign in through a provider (admins keep their password).
pub async fn require_sso(db: &Db, org_id: Uuid) -> Result<bool> {
    Ok(sqlx::query_scalar("select require_sso from orgs where id = $1")
        .bind(org_id)
        .fetch_one(db)
        .await?)
}

/// Active members with no account of an enabled provider linked: who Require SSO would lock
/// out of password sign-in with nothing else to use.
pub async fn members_without_provider(db: &Db, org_id: Uuid) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "select count(*) from users u
         where u.org_id = $1 and u.role = 'member' and u.status = 'active'
           and not exists (select 1 from identities d join integrations i on i.org_id = d.org_id and i.provider = d.provider
                           where d.org_id = u.org_id and d.user_id = u.id and i.mode <> 'off')",
    )
    .bind(org_id)
    .fetch_one(db)
    .await?)
}

#[tracing::instrument(skip_all, fields(org = %actor.org_id))]
pub async fn set_require_sso(db: &Db, actor: &Actor, on: bool) -> Result<()> {
    let mut tx = db.begin().await?;
    if on {
        let enabled: i64 = sqlx::query_scalar("select count(*) from integrations where org_id = $1 and mode <> 'off'")
            .bind(actor.org_id)
            .fetch_one(&mut *tx)
            .await?;
        if enabled == 0 {
            return Err(Error::invalid(
                "require_sso",
                "Turn on at least one provider first: with none, members would have no way to sign in.",
            ));
        }
    }
    sqlx::query("update orgs set require_sso = $2 where id = $1")
        .bind(actor.org_id)
        .bind(on)
        .execute(&mut *tx)
        .await?;
    // Members signed in with a password are signed out: from now on they use a provider.
    let ended = if on {
        sqlx::query(
            "delete from sessions s using users u
             where s.org_id = $1 and u.org_id = s.org_id and u.id = s.user_id and u.role = 'member'
               and s.method not in ('google', 'microsoft', 'slack')",
        )
        .bind(actor.org_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
    } else {
        0
    };
    audit::record(
        &mut tx,
        actor,
        "integration.require_sso",
        None,
        json!({ "on": on, "password_sessions_ended": ended }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

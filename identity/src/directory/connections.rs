//! A workspace's connected directories: the read access an administrator of the organisation's
//! directory granted (Google's offline consent, Entra's admin consent, Slack's install), kept
//! with its tokens sealed (`secrets::sealed`, bound to the workspace, provider and token kind),
//! refreshed before they expire, and deleted with the connection. The card's health ("Rollcall
//! lost access to the directory: reconnect") and the sync schedule live here too.

use super::fetch::{graph_app_token, DirectorySource, FetchError};
use super::fetches;
use crate::audit::{self, Actor};
use crate::auth::oidc::Providers;
use crate::error::{Error, Result};
use crate::providers::Provider;
use crate::secrets::sealed::Sealer;
use crate::secrets::{ExposeSecret, SecretString};
use crate::Db;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

/// How often an automatic sync may run, in hours.
pub const SCHEDULES: [i32; 3] = [6, 12, 24];

/// A token is renewed when it has less than this left, so a page never starts with one that
/// expires before it is answered.
const RENEW_BEFORE: Duration = Duration::minutes(5);

/// A connected directory, as its card shows it.
#[derive(Debug, Clone, FromRow)]
pub struct Connection {
    #[sqlx(try_from = "String")]
    pub provider: crate::identities::ProviderColumn,
    /// The directory's organisation (the integration's org key when connected).
    pub directory_key: String,
    /// `ok`, `lost_access` or `missing_scope`.
    pub status: String,
    pub status_detail: Option<String>,
    pub connected_by_label: String,
    pub connected_at: DateTime<Utc>,
    pub sync_every_hours: Option<i32>,
    pub next_sync_at: Option<DateTime<Utc>>,
}

impl Connection {
    /// What the card says about the connection's health, when something needs an admin.
    pub fn problem(&self) -> Option<String> {
        match self.status.as_str() {
            "lost_access" => Some("Rollcall lost access to the directory: reconnect.".into()),
            "missing_scope" => Some(format!(
                "The directory access lacks {}: reconnect and grant it.",
                self.status_detail.as_deref().unwrap_or("a permission")
            )),
            _ => None,
        }
    }
}

const COLUMNS: &str = "provider, directory_key, status, status_detail, connected_by_label, connected_at, \
                       sync_every_hours, next_sync_at";

pub async fn list(db: &Db, org_id: Uuid) -> Result<Vec<Connection>> {
    Ok(sqlx::query_as(&format!(
        "select {COLUMNS} from directory_connections where org_id = $1"
    ))
    .bind(org_id)
    .fetch_all(db)
    .await?)
}

pub async fn get(db: &Db, org_id: Uuid, provider: Provider) -> Result<Option<Connection>> {
    Ok(sqlx::query_as(&format!(
        "select {COLUMNS} from directory_connections where org_id = $1 and provider = $2"
    ))
    .bind(org_id)
    .bind(provider.as_str())
    .fetch_optional(db)
    .await?)
}

/// What a consent handed out.
pub struct Granted {
    /// Google's and Slack's access token (with its expiry, when it has one).
    pub access_token: Option<(SecretString, Option<DateTime<Utc>>)>,
    /// Google's refresh token.
    pub refresh_token: Option<SecretString>,
    pub scope: Option<String>,
}

fn context(org_id: Uuid, provider: Provider, kind: &str) -> Vec<u8> {
    format!("directory/{org_id}/{}/{kind}", provider.as_str()).into_bytes()
}

/// Records a directory connection (replacing an earlier one: reconnecting repairs lost access)
/// and starts its first read. `directory_key` was checked against the integration's org key by
/// the caller. Returns the fetch's id.
pub async fn save(
    db: &Db,
    sealer: &Sealer,
    actor: &Actor,
    provider: Provider,
    directory_key: &str,
    granted: Granted,
) -> Result<i64> {
    let org_id = actor.org_id;
    let access = granted
        .access_token
        .as_ref()
        .map(|(token, _)| sealer.seal(token.expose_secret(), &context(org_id, provider, "access")));
    let expires = granted.access_token.as_ref().and_then(|(_, expires)| *expires);
    let refresh = granted
        .refresh_token
        .as_ref()
        .map(|token| sealer.seal(token.expose_secret(), &context(org_id, provider, "refresh")));
    let mut tx = db.begin().await?;
    sqlx::query(
        "insert into directory_connections
             (org_id, provider, directory_key, access_token, access_expires_at, refresh_token, scope,
              connected_by, connected_by_label)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         on conflict (org_id, provider) do update set
             directory_key = excluded.directory_key, access_token = excluded.access_token,
             access_expires_at = excluded.access_expires_at, refresh_token = excluded.refresh_token,
             scope = excluded.scope, connected_by = excluded.connected_by,
             connected_by_label = excluded.connected_by_label, connected_at = now(),
             status = 'ok', status_detail = null",
    )
    .bind(org_id)
    .bind(provider.as_str())
    .bind(directory_key)
    .bind(access)
    .bind(expires)
    .bind(refresh)
    .bind(&granted.scope)
    .bind(actor.user_id)
    .bind(&actor.label)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        "directory.connected",
        None,
        json!({ "provider": provider.as_str(), "directory": directory_key }),
    )
    .await?;
    tx.commit().await?;
    fetches::enqueue_by(db, org_id, provider, provider == Provider::Microsoft, &actor.label).await
}

/// Forgets a directory in the caller's transaction: its tokens, what was read of it, and any
/// read under way (a worker holding one stops at its next page: its lease is gone).
pub(crate) async fn forget(conn: &mut PgConnection, org_id: Uuid, provider: Provider) -> Result<bool> {
    let removed = sqlx::query("delete from directory_connections where org_id = $1 and provider = $2")
        .bind(org_id)
        .bind(provider.as_str())
        .execute(&mut *conn)
        .await?
        .rows_affected()
        > 0;
    sqlx::query("delete from directory_entries where org_id = $1 and provider = $2")
        .bind(org_id)
        .bind(provider.as_str())
        .execute(&mut *conn)
        .await?;
    sqlx::query("delete from directory_fetches where org_id = $1 and provider = $2")
        .bind(org_id)
        .bind(provider.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(removed)
}

/// Disconnects a directory: its tokens and entries are deleted; people already imported stay.
pub async fn disconnect(db: &Db, actor: &Actor, provider: Provider) -> Result<()> {
    let mut tx = db.begin().await?;
    if !forget(&mut tx, actor.org_id, provider).await? {
        return Err(Error::NotFound);
    }
    audit::record(
        &mut tx,
        actor,
        "directory.disconnected",
        None,
        json!({ "provider": provider.as_str() }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sync automatically every `every_hours` (6, 12 or 24), or only on demand (`None`).
pub async fn set_schedule(db: &Db, actor: &Actor, provider: Provider, every_hours: Option<i32>) -> Result<()> {
    if every_hours.is_some_and(|h| !SCHEDULES.contains(&h)) {
        return Err(Error::Invalid {
            field: "every",
            message: "Choose off, or every 6, 12 or 24 hours.".into(),
        });
    }
    let mut tx = db.begin().await?;
    let updated = sqlx::query(
        "update directory_connections
            set sync_every_hours = $3,
                next_sync_at = case when $3::int is null then null else now() + make_interval(hours => $3) end
          where org_id = $1 and provider = $2",
    )
    .bind(actor.org_id)
    .bind(provider.as_str())
    .bind(every_hours)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 0 {
        return Err(Error::NotFound);
    }
    audit::record(
        &mut tx,
        actor,
        "directory.schedule_changed",
        None,
        json!({ "provider": provider.as_str(), "every_hours": every_hours }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Starts the automatic syncs that are due, each once however many servers ask at the same
/// moment (the row's schedule moves on in the same statement that picks it). Returns how many.
pub async fn start_due_syncs(db: &Db) -> Result<usize> {
    let due: Vec<(Uuid, String)> = sqlx::query_as(
        "update directory_connections c
            set next_sync_at = now() + make_interval(hours => c.sync_every_hours)
           from (select c.org_id, c.provider from directory_connections c
                 join integrations i on i.org_id = c.org_id and i.provider = c.provider
                                     and i.mode <> 'off' and i.org_key = c.directory_key
                 where c.sync_every_hours is not null and c.next_sync_at <= now() and c.status = 'ok'
                 order by c.next_sync_at limit 100 for update of c skip locked) due
          where c.org_id = due.org_id and c.provider = due.provider
          returning c.org_id, c.provider",
    )
    .fetch_all(db)
    .await?;
    for (org_id, provider) in &due {
        if let Some(provider) = Provider::parse(provider) {
            fetches::enqueue_by(db, *org_id, provider, provider == Provider::Microsoft, "automatic sync").await?;
        }
    }
    Ok(due.len())
}

/// Where and with what a connected directory is read, for a worker about to fetch.
pub struct Reader {
    pub source: DirectorySource,
    pub token: SecretString,
}

#[derive(FromRow)]
struct Sealed {
    directory_key: String,
    access_token: Option<Vec<u8>>,
    fresh: bool,
    refresh_token: Option<Vec<u8>>,
}

/// The directory's source and a current token: the kept one while it has time left, else a
/// new one (Google: from the refresh token; Microsoft: client credentials for the tenant),
/// kept sealed for the next page and the next worker.
pub async fn reader(
    db: &Db,
    sealer: &Sealer,
    providers: &Providers,
    org_id: Uuid,
    provider: Provider,
    delta: bool,
) -> std::result::Result<Reader, ReadError> {
    let settings = providers
        .settings(provider)
        .ok_or_else(|| ReadError::NotConfigured(provider))?;
    let sealed: Sealed = sqlx::query_as(
        "select c.directory_key, c.access_token,
                coalesce(c.access_expires_at > now() + make_interval(secs => $3), true) as fresh, c.refresh_token
         from directory_connections c
         join integrations i on i.org_id = c.org_id and i.provider = c.provider
         where c.org_id = $1 and c.provider = $2 and i.mode <> 'off' and i.org_key = c.directory_key",
    )
    .bind(org_id)
    .bind(provider.as_str())
    .bind(RENEW_BEFORE.num_seconds() as f64)
    .fetch_optional(db)
    .await?
    .ok_or(ReadError::NotConnected)?;
    let base = settings.directory_url.clone();
    let source = match provider {
        Provider::Google => DirectorySource::Google {
            base,
            customer: "my_customer".into(),
        },
        Provider::Microsoft => DirectorySource::Graph { base, delta },
        Provider::Slack => DirectorySource::Slack { base },
    };
    if let (Some(access), true) = (&sealed.access_token, sealed.fresh) {
        let token = sealer.open(access, &context(org_id, provider, "access"))?;
        return Ok(Reader { source, token });
    }
    let http = providers.http();
    let (token, lifetime) = match provider {
        Provider::Google => {
            let refresh = sealed
                .refresh_token
                .as_ref()
                .ok_or(ReadError::Fetch(FetchError::Revoked))?;
            let refresh = sealer.open(refresh, &context(org_id, provider, "refresh"))?;
            let endpoint = providers.token_endpoint(provider).await?;
            refresh_google(http, &endpoint, settings, refresh.expose_secret()).await?
        }
        Provider::Microsoft => {
            let token = graph_app_token(
                http,
                &settings.issuer,
                &sealed.directory_key,
                &settings.client_id,
                settings.client_secret.expose_secret(),
            )
            .await?;
            // Entra's app-only tokens last an hour or more; kept for 50 minutes.
            (SecretString::from(token), Duration::minutes(50))
        }
        // Slack's bot token does not expire; without one the install is gone.
        Provider::Slack => return Err(ReadError::Fetch(FetchError::Revoked)),
    };
    sqlx::query(
        "update directory_connections set access_token = $3, access_expires_at = now() + make_interval(secs => $4)
         where org_id = $1 and provider = $2",
    )
    .bind(org_id)
    .bind(provider.as_str())
    .bind(sealer.seal(token.expose_secret(), &context(org_id, provider, "access")))
    .bind(lifetime.num_seconds() as f64)
    .execute(db)
    .await?;
    Ok(Reader { source, token })
}

/// Google's refresh grant: a new access token and how long it lasts. `invalid_grant` is
/// consent revoked (or the refresh token expired): an admin must reconnect.
async fn refresh_google(
    http: &reqwest::Client,
    endpoint: &str,
    settings: &crate::auth::oidc::ProviderSettings,
    refresh_token: &str,
) -> std::result::Result<(SecretString, Duration), FetchError> {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", settings.client_id.as_str()),
        ("client_secret", settings.client_secret.expose_secret()),
    ];
    let response = http
        .post(endpoint)
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&form)
        .send()
        .await
        .map_err(|e| FetchError::Transient(format!("the token endpoint: {e}")))?;
    let status = response.status();
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Err(FetchError::Transient(format!(
            "the token endpoint answered HTTP {status}"
        )));
    }
    let body: serde_json::Value = response
        .json()
        .await
        .map_err(|_| FetchError::Transient(format!("the token endpoint answered HTTP {status} without JSON")))?;
    if !status.is_success() {
        return Err(match body.get("error").and_then(|e| e.as_str()) {
            Some("invalid_grant") | Some("unauthorized_client") | Some("invalid_client") => FetchError::Revoked,
            other => FetchError::Refused(other.unwrap_or("unknown_error").chars().take(60).collect()),
        });
    }
    let token = body
        .get("access_token")
        .and_then(|t| t.as_str())
        .ok_or_else(|| FetchError::Refused("the token answer has no access_token".into()))?;
    let lifetime = body.get("expires_in").and_then(|v| v.as_i64()).unwrap_or(3600);
    Ok((
        SecretString::from(token.to_owned()),
        Duration::seconds(lifetime.clamp(60, 86_400)),
    ))
}

/// Why a directory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{} is not configured on this server", .0.label())]
    NotConfigured(Provider),
    #[error("the directory is no longer connected")]
    NotConnected,
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Store(#[from] Error),
}

impl From<sqlx::Error> for ReadError {
    fn from(err: sqlx::Error) -> Self {
        ReadError::Store(err.into())
    }
}

/// Records that the directory can no longer be read until an admin reconnects (consent revoked,
/// a permission missing), for the card.
pub async fn mark_needs_admin(db: &Db, org_id: Uuid, provider: Provider, error: &FetchError) -> Result<()> {
    let (status, detail) = match error {
        FetchError::MissingScope(scope) => ("missing_scope", Some(scope.clone())),
        _ => ("lost_access", None),
    };
    sqlx::query(
        "update directory_connections set status = $3, status_detail = $4, access_token = null
         where org_id = $1 and provider = $2",
    )
    .bind(org_id)
    .bind(provider.as_str())
    .bind(status)
    .bind(detail)
    .execute(db)
    .await?;
    Ok(())
}

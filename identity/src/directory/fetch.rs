//! One page of a directory, by provider (PROTOCOLS.md §4–6): Google `users.list` (500 a page,
//! `nextPageToken`), Graph `users` or `users/delta` (`$top=999`, `@odata.nextLink` followed
//! verbatim, `@odata.deltaLink` kept, `@removed` entries), Slack `users.list` (cursor pages of
//! 200, HTTP 200 `ok:false` errors). Failures are sorted into what a retry may cure and what
//! needs a person (revoked consent, a missing scope).

use super::retry::parse_retry_after;
use super::{DirectoryUser, SkipReason};
use serde_json::Value;
use std::time::Duration;

/// Where a directory is read, and how.
#[derive(Debug, Clone)]
pub enum DirectorySource {
    /// `base`: `https://admin.googleapis.com`; `customer`: `my_customer` or the customer id.
    Google { base: String, customer: String },
    /// `base`: `https://graph.microsoft.com`; `delta`: read `users/delta` (first sync and then
    /// changes) rather than `users`.
    Graph { base: String, delta: bool },
    /// `base`: `https://slack.com/api`.
    Slack { base: String },
}

/// One page: its people, those removed upstream (Graph delta), and where to go next.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub users: Vec<DirectoryUser>,
    /// Graph delta `@removed`: (id, gone for good rather than soft-deleted).
    pub removed: Vec<(String, bool)>,
    /// The cursor of the next page (Google page token, Graph next link, Slack cursor); `None`
    /// on the last page.
    pub next: Option<String>,
    /// Graph delta's last page: the link that later reads only changes.
    pub delta_link: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// 429, Google's rate-limit 403s, Slack's `ratelimited`: wait and try again.
    #[error("rate limited by the directory")]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx or a connection that failed: worth another try.
    #[error("the directory could not be reached: {0}")]
    Transient(String),
    /// The token no longer works: consent revoked or expired upstream.
    #[error("Rollcall lost access to the directory")]
    Revoked,
    /// The grant lacks a scope or permission, named.
    #[error("the directory access lacks {0}")]
    MissingScope(String),
    /// Graph's delta link expired (410, `syncStateNotFound`): start a full read again.
    #[error("the directory asks for a full read again")]
    DeltaExpired,
    #[error("the directory refused the request: {0}")]
    Refused(String),
}

impl FetchError {
    /// Whether waiting and trying again may help.
    pub fn is_passing(&self) -> bool {
        matches!(self, FetchError::RateLimited { .. } | FetchError::Transient(_))
    }
}

const GOOGLE_PAGE: u32 = 500;
const GRAPH_PAGE: u32 = 999;
const SLACK_PAGE: u32 = 200;
const GRAPH_SELECT: &str = "id,displayName,givenName,surname,mail,userPrincipalName,accountEnabled,userType";

/// Reads one page with `token`. `cursor` is `Page::next` of the page before (or a stored delta
/// link for Graph), `None` for the first page.
pub async fn fetch_page(
    http: &reqwest::Client,
    source: &DirectorySource,
    token: &str,
    cursor: Option<&str>,
) -> Result<Page, FetchError> {
    match source {
        DirectorySource::Google { base, customer } => google(http, base, customer, token, cursor).await,
        DirectorySource::Graph { base, delta } => graph(http, base, *delta, token, cursor).await,
        DirectorySource::Slack { base } => slack(http, base, token, cursor).await,
    }
}

async fn send(request: reqwest::RequestBuilder) -> Result<(reqwest::StatusCode, Option<Duration>, Value), FetchError> {
    let response = request
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| FetchError::Transient(e.to_string()))?;
    let status = response.status();
    let retry_after = parse_retry_after(
        response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
    );
    // A gateway's HTML error page is not JSON: its status alone decides.
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Err(FetchError::RateLimited { retry_after });
    }
    if status.is_server_error() {
        return Err(FetchError::Transient(format!("HTTP {status}")));
    }
    Ok((status, retry_after, body))
}

fn text(value: &Value, path: &[&str]) -> Option<String> {
    let mut at = value;
    for key in path {
        at = at.get(*key)?;
    }
    at.as_str().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn flag(value: &Value, key: &str) -> bool {
    value.get(key).and_then(Value::as_bool).unwrap_or(false)
}

async fn google(
    http: &reqwest::Client,
    base: &str,
    customer: &str,
    token: &str,
    cursor: Option<&str>,
) -> Result<Page, FetchError> {
    let url = format!("{}/admin/directory/v1/users", base.trim_end_matches('/'));
    let mut query = vec![
        ("customer", customer.to_owned()),
        ("maxResults", GOOGLE_PAGE.to_string()),
        ("orderBy", "email".to_owned()),
    ];
    if let Some(page_token) = cursor {
        query.push(("pageToken", page_token.to_owned()));
    }
    let (status, retry_after, body) = send(http.get(url).bearer_auth(token).query(&query)).await?;
    if !status.is_success() {
        let reason = body
            .pointer("/error/errors/0/reason")
            .and_then(Value::as_str)
            .unwrap_or("");
        let message = text(&body, &["error", "message"]).unwrap_or_else(|| format!("HTTP {status}"));
        return Err(match (status.as_u16(), reason) {
            (401, _) => FetchError::Revoked,
            (403, "userRateLimitExceeded" | "rateLimitExceeded" | "quotaExceeded") => {
                FetchError::RateLimited { retry_after }
            }
            (403, "insufficientPermissions") => {
                FetchError::MissingScope("https://www.googleapis.com/auth/admin.directory.user.readonly".into())
            }
            _ => FetchError::Refused(message),
        });
    }
    // `users` is left out of an empty page.
    let users = body.get("users").and_then(Value::as_array).cloned().unwrap_or_default();
    Ok(Page {
        users: users
            .iter()
            .filter_map(|u| {
                let email = text(u, &["primaryEmail"]);
                let skip = if flag(u, "suspended") {
                    Some(SkipReason::Suspended)
                } else if flag(u, "archived") {
                    Some(SkipReason::Archived)
                } else if email.is_none() {
                    Some(SkipReason::NoEmail)
                } else {
                    None
                };
                Some(DirectoryUser {
                    upstream_id: text(u, &["id"])?,
                    email,
                    given_name: text(u, &["name", "givenName"]).unwrap_or_default(),
                    family_name: text(u, &["name", "familyName"]).unwrap_or_default(),
                    skip,
                    org_unit: text(u, &["orgUnitPath"]),
                    user_type: None,
                })
            })
            .collect(),
        removed: vec![],
        next: text(&body, &["nextPageToken"]),
        delta_link: None,
    })
}

async fn graph(
    http: &reqwest::Client,
    base: &str,
    delta: bool,
    token: &str,
    cursor: Option<&str>,
) -> Result<Page, FetchError> {
    let base = base.trim_end_matches('/');
    let url = match cursor {
        // Next and delta links are followed verbatim, and only on the directory's own host.
        Some(link) if same_origin(link, base) => link.to_owned(),
        Some(link) => {
            return Err(FetchError::Refused(format!(
                "a next link off the directory's host: {link}"
            )))
        }
        None if delta => format!("{base}/v1.0/users/delta?$select={GRAPH_SELECT}"),
        None => format!("{base}/v1.0/users?$select={GRAPH_SELECT}&$top={GRAPH_PAGE}"),
    };
    let (status, _, body) = send(http.get(url).bearer_auth(token)).await?;
    if !status.is_success() {
        let code = text(&body, &["error", "code"]).unwrap_or_default();
        let message = text(&body, &["error", "message"]).unwrap_or_else(|| format!("HTTP {status}"));
        return Err(match (status.as_u16(), code.as_str()) {
            (401, _) => FetchError::Revoked,
            (410, _) | (_, "syncStateNotFound") => FetchError::DeltaExpired,
            (403, "Authorization_RequestDenied") => FetchError::MissingScope("User.Read.All".into()),
            _ => FetchError::Refused(message),
        });
    }
    let mut page = Page {
        next: text(&body, &["@odata.nextLink"]),
        delta_link: text(&body, &["@odata.deltaLink"]),
        ..Page::default()
    };
    for u in body.get("value").and_then(Value::as_array).into_iter().flatten() {
        let Some(id) = text(u, &["id"]) else { continue };
        if let Some(removed) = u.get("@removed") {
            page.removed
                .push((id, removed.get("reason").and_then(Value::as_str) == Some("deleted")));
            continue;
        }
        let email = text(u, &["mail"]).or_else(|| text(u, &["userPrincipalName"]));
        let user_type = text(u, &["userType"]);
        let skip = if u.get("accountEnabled").and_then(Value::as_bool) == Some(false) {
            Some(SkipReason::Suspended)
        } else if user_type.as_deref() == Some("Guest") {
            Some(SkipReason::Guest)
        } else if email.is_none() {
            Some(SkipReason::NoEmail)
        } else {
            None
        };
        page.users.push(DirectoryUser {
            upstream_id: id,
            email,
            given_name: text(u, &["givenName"]).unwrap_or_default(),
            family_name: text(u, &["surname"]).unwrap_or_default(),
            skip,
            org_unit: None,
            user_type,
        });
    }
    Ok(page)
}

fn same_origin(link: &str, base: &str) -> bool {
    let origin = |url: &str| -> Option<String> {
        let (scheme, rest) = url.split_once("://")?;
        Some(format!("{scheme}://{}", rest.split(['/', '?', '#']).next()?))
    };
    origin(link).is_some() && origin(link) == origin(base)
}

async fn slack(http: &reqwest::Client, base: &str, token: &str, cursor: Option<&str>) -> Result<Page, FetchError> {
    let url = format!("{}/users.list", base.trim_end_matches('/'));
    let mut query = vec![("limit", SLACK_PAGE.to_string())];
    if let Some(cursor) = cursor {
        query.push(("cursor", cursor.to_owned()));
    }
    let (status, retry_after, body) = send(http.get(url).bearer_auth(token).query(&query)).await?;
    // Slack's errors arrive as HTTP 200 {"ok": false, "error": "..."}.
    if !status.is_success() || body.get("ok") != Some(&Value::Bool(true)) {
        let error = text(&body, &["error"]).unwrap_or_else(|| format!("HTTP {status}"));
        return Err(match error.as_str() {
            "ratelimited" => FetchError::RateLimited { retry_after },
            "token_revoked" | "invalid_auth" | "account_inactive" | "not_authed" | "token_expired" => {
                FetchError::Revoked
            }
            "missing_scope" => {
                FetchError::MissingScope(text(&body, &["needed"]).unwrap_or_else(|| "users:read".into()))
            }
            "fatal_error" | "internal_error" | "service_unavailable" => FetchError::Transient(error),
            _ => FetchError::Refused(error),
        });
    }
    let users = body
        .get("members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let id = text(m, &["id"])?;
            let email = text(m, &["profile", "email"]);
            let guest = flag(m, "is_restricted") || flag(m, "is_ultra_restricted");
            let skip = if id == "USLACKBOT" {
                Some(SkipReason::Slackbot)
            } else if flag(m, "deleted") {
                Some(SkipReason::Deleted)
            } else if flag(m, "is_bot") {
                Some(SkipReason::Bot)
            } else if flag(m, "is_app_user") {
                Some(SkipReason::AppUser)
            } else if guest {
                Some(SkipReason::Guest)
            } else if email.is_none() {
                Some(SkipReason::NoEmail)
            } else {
                None
            };
            let real_name = text(m, &["profile", "real_name"]).or_else(|| text(m, &["real_name"]));
            let (given, family) = match (text(m, &["profile", "first_name"]), text(m, &["profile", "last_name"])) {
                (None, None) => {
                    let name = real_name.unwrap_or_default();
                    let (given, family) = name.split_once(' ').unwrap_or((name.as_str(), ""));
                    (given.to_owned(), family.to_owned())
                }
                (given, family) => (given.unwrap_or_default(), family.unwrap_or_default()),
            };
            Some(DirectoryUser {
                upstream_id: id,
                email,
                given_name: given,
                family_name: family,
                skip,
                org_unit: None,
                user_type: Some(if guest { "Guest" } else { "Member" }.to_owned()),
            })
        })
        .collect();
    Ok(Page {
        users,
        removed: vec![],
        next: text(&body, &["response_metadata", "next_cursor"]),
        delta_link: None,
    })
}

/// An app-only Graph token for a customer tenant (client credentials; the tenant's admin must
/// have consented to User.Read.All).
pub async fn graph_app_token(
    http: &reqwest::Client,
    authority: &str,
    tenant: &str,
    client_id: &str,
    client_secret: &str,
) -> Result<String, FetchError> {
    let url = format!("{}/{tenant}/oauth2/v2.0/token", authority.trim_end_matches('/'));
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", client_secret),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let (status, _, body) = send(http.post(url).form(&form)).await?;
    if !status.is_success() {
        let error = text(&body, &["error"]).unwrap_or_default();
        return Err(match error.as_str() {
            "invalid_client" | "unauthorized_client" => FetchError::Revoked,
            _ => FetchError::Refused(text(&body, &["error_description"]).unwrap_or(error)),
        });
    }
    text(&body, &["access_token"]).ok_or_else(|| FetchError::Refused("the token answer has no access_token".into()))
}

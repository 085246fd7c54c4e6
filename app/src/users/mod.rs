//! The Users tab: listing at scale, adding people by hand, editing profiles, deactivating.
//! This file holds the server functions; the pages are in the submodules, the data they show in
//! `model`, and the hook that reads the list with the session in `preload`.

pub mod create;
pub mod detail;
pub mod list;
mod model;
#[cfg(feature = "ssr")]
pub mod preload;
mod rows;

pub use model::{InviteStatus, UserListRow, UserRow, UsersPage, UsersPageSummary, UsersQuery, USERS_PER_PAGE};

use crate::error::AppError;
use leptos::prelude::*;
#[cfg(feature = "ssr")]
use people::Role;
use people::{Status, UserSort};
use uuid::Uuid;

#[cfg(feature = "ssr")]
pub(crate) mod convert {
    use super::*;
    use chrono::{DateTime, Utc};
    use identity::users as id;

    pub fn row(user: id::User) -> UserRow {
        UserRow {
            id: user.id,
            display_name: user.display_name(),
            given_name: user.given_name,
            family_name: user.family_name,
            email: user.email,
            role: user.role,
            status: user.status,
            source: user.source,
            has_password: user.has_password,
            last_login_at: user.last_login_at,
            created_at: user.created_at,
            invite: None,
        }
    }

    /// An invitation as the UI shows it; expiry is judged now, not when the row was read.
    fn invite_status(sent_at: DateTime<Utc>, expires_at: DateTime<Utc>) -> InviteStatus {
        InviteStatus {
            sent_at,
            expires_at,
            expired: expires_at <= Utc::now(),
        }
    }

    pub fn list_row(listed: id::ListedUser) -> UserListRow {
        let invite = listed
            .invite_sent_at
            .zip(listed.invite_expires_at)
            .map(|(sent_at, expires_at)| invite_status(sent_at, expires_at));
        UserListRow {
            id: listed.id,
            display_name: listed.display_name(),
            email: listed.email,
            role: listed.role,
            status: listed.status,
            source: listed.source,
            last_login_at: listed.last_login_at,
            invite,
        }
    }

    /// One user's open invitation (possibly expired), if they are invited.
    pub async fn open_invite(
        db: &identity::Db,
        org_id: uuid::Uuid,
        row: &UserRow,
    ) -> Result<Option<InviteStatus>, identity::Error> {
        if row.status != Status::Invited {
            return Ok(None);
        }
        let open = identity::invites::open_for_users(db, org_id, &[row.id]).await?;
        Ok(open
            .get(&row.id)
            .map(|invite| invite_status(invite.created_at, invite.expires_at)))
    }

    pub fn query(query: &UsersQuery, page: u32) -> id::UserQuery {
        id::UserQuery {
            search: Some(query.q.clone()),
            status: query.status,
            sort: query.sort,
            descending: query.descending,
            page,
            per_page: USERS_PER_PAGE,
        }
    }
}

/// Longest search text, in bytes.
#[cfg(feature = "ssr")]
pub(crate) const MAX_SEARCH_LEN: usize = 200;

#[server(endpoint = "list_users")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "list_users", skip_all))]
pub async fn list_users(#[server(default)] query: UsersQuery) -> Result<UsersPage, AppError> {
    let caller = crate::ssr::admin().await?;
    if query.q.len() > MAX_SEARCH_LEN {
        return Err(AppError::invalid("q", "Search for at most 200 characters."));
    }
    let page = query.page.max(1);
    let result = match preload::take(&caller.ctx, &query) {
        Some(preloaded) => preloaded,
        None => identity::users::list(&caller.state.db, caller.user.org_id, &convert::query(&query, page))
            .await
            .map_err(|e| caller.fail(e))?,
    };
    let users = result.users.into_iter().map(convert::list_row).collect();
    Ok(UsersPage {
        users,
        total: result.total,
        total_is_lower_bound: result.total_is_lower_bound,
        page,
        per_page: USERS_PER_PAGE,
    })
}

#[server(endpoint = "get_user")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "get_user", skip_all))]
pub async fn get_user(id: Uuid) -> Result<UserRow, AppError> {
    let caller = crate::ssr::admin().await?;
    let user = identity::users::get(&caller.state.db, caller.user.org_id, id)
        .await
        .map_err(|e| caller.fail(e))?;
    let mut row = convert::row(user);
    row.invite = convert::open_invite(&caller.state.db, caller.user.org_id, &row)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(row)
}

#[server(endpoint = "create_user")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "create_user", skip_all))]
pub async fn create_user(
    email: String,
    given_name: String,
    family_name: String,
    role: String,
    #[server(default)] password: String,
) -> Result<Uuid, AppError> {
    let caller = crate::ssr::admin().await?;
    let email = identity::EmailAddress::parse(&email).map_err(|e| caller.fail(e))?;
    let role = Role::parse(&role).ok_or_else(|| AppError::invalid("role", "Choose Admin or Member."))?;
    let password = Some(password).filter(|p| !p.is_empty());
    let new = identity::users::NewUser {
        email,
        given_name,
        family_name,
        role,
        // With a password the person can sign in at once; without one they wait for an invite.
        status: if password.is_some() {
            Status::Active
        } else {
            Status::Imported
        },
        source: people::Source::Manual,
        password: password.map(Into::into),
    };
    let user = identity::users::create(&caller.state.db, &caller.actor(), new)
        .await
        .map_err(|e| caller.fail(e))?;
    leptos_axum::redirect(&format!("/users/{}", user.id));
    Ok(user.id)
}

#[server(endpoint = "update_user")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "update_user", skip_all))]
pub async fn update_user(
    id: Uuid,
    email: String,
    given_name: String,
    family_name: String,
    role: String,
) -> Result<UserRow, AppError> {
    let caller = crate::ssr::admin().await?;
    let email = identity::EmailAddress::parse(&email).map_err(|e| caller.fail(e))?;
    let role = Role::parse(&role).ok_or_else(|| AppError::invalid("role", "Choose Admin or Member."))?;
    let change = identity::users::ProfileChange {
        email,
        given_name,
        family_name,
        role: Some(role),
    };
    let user = identity::users::update_profile(&caller.state.db, &caller.actor(), id, change)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(convert::row(user))
}

#[server(endpoint = "set_user_active")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "set_user_active", skip_all))]
pub async fn set_user_active(id: Uuid, active: bool) -> Result<UserRow, AppError> {
    let caller = crate::ssr::admin().await?;
    let result = if active {
        identity::users::reactivate(&caller.state.db, &caller.actor(), id).await
    } else {
        identity::users::deactivate(&caller.state.db, &caller.actor(), id).await
    };
    let user = result.map_err(|e| caller.fail(e))?;
    leptos_axum::redirect(&format!("/users/{id}"));
    Ok(convert::row(user))
}

/// Reads the Users tab state from its URL query.
pub fn query_from_params(params: &leptos_router::params::ParamsMap) -> UsersQuery {
    query_from(|key| params.get(key))
}

/// Reads the Users tab state from URL query parameters, however they were parsed.
pub fn query_from(get: impl Fn(&str) -> Option<String>) -> UsersQuery {
    UsersQuery {
        q: get("q").unwrap_or_default(),
        status: get("status").and_then(|s| Status::parse(&s)),
        sort: UserSort::parse(&get("sort").unwrap_or_default()),
        descending: get("dir").as_deref() == Some("desc"),
        page: get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1),
    }
}

/// Writes the Users tab state back to a URL, omitting defaults.
pub fn url_for(query: &UsersQuery) -> String {
    let mut parts = Vec::new();
    if !query.q.is_empty() {
        parts.push(format!("q={}", crate::format::query_value(&query.q)));
    }
    if let Some(status) = query.status {
        parts.push(format!("status={}", status.as_str()));
    }
    if query.sort != UserSort::Name {
        parts.push(format!("sort={}", query.sort.as_str()));
    }
    if query.descending {
        parts.push("dir=desc".to_owned());
    }
    if query.page > 1 {
        parts.push(format!("page={}", query.page));
    }
    if parts.is_empty() {
        "/users".to_owned()
    } else {
        format!("/users?{}", parts.join("&"))
    }
}

//! Who is calling and whether they may (`signed_in`, `admin`), and the one mapping of engine
//! errors to UI errors: a 500 is logged with its request id and never leaks its cause.

use super::state::{RequestContext, SharedState};
use crate::error::AppError;
use crate::session::Me;
use identity::audit::Actor;
use identity::sessions::SessionUser;
use leptos::prelude::*;

pub fn state() -> Result<SharedState, AppError> {
    use_context::<SharedState>().ok_or_else(|| AppError::Internal {
        request_id: "no-state".into(),
    })
}

/// The request's context, as the server's middleware resolved it before any handler ran.
pub fn request() -> Result<RequestContext, AppError> {
    let parts = use_context::<http::request::Parts>().ok_or_else(|| AppError::Internal {
        request_id: "no-request".into(),
    })?;
    parts
        .extensions
        .get::<RequestContext>()
        .cloned()
        .ok_or_else(|| AppError::Internal {
            request_id: "no-context".into(),
        })
}

/// The caller, who must be signed in.
pub struct Caller {
    pub state: SharedState,
    pub ctx: RequestContext,
    pub user: SessionUser,
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor {
            org_id: self.user.org_id,
            user_id: Some(self.user.user_id),
            label: self.user.email.clone(),
            ip: self.ctx.ip.clone(),
            request_id: Some(self.ctx.request_id.clone()),
        }
    }

    /// Maps an identity error for this request (500s are logged with the request id).
    pub fn fail(&self, err: identity::Error) -> AppError {
        map_identity_error(err, &self.ctx.request_id)
    }
}

pub async fn signed_in() -> Result<Caller, AppError> {
    let state = state()?;
    let ctx = request()?;
    let user = ctx.session.clone().ok_or(AppError::Unauthenticated)?;
    Ok(Caller { state, ctx, user })
}

pub async fn admin() -> Result<Caller, AppError> {
    let caller = signed_in().await?;
    if !caller.user.is_admin() {
        return Err(AppError::Forbidden("Only workspace admins can do this.".into()));
    }
    Ok(caller)
}

pub fn me_of(user: &SessionUser) -> Me {
    Me {
        user_id: user.user_id,
        display_name: user.display_name(),
        email: user.email.clone(),
        role: user.role,
        org_name: user.org_name.clone(),
        org_slug: user.org_slug.clone(),
    }
}

pub fn map_identity_error(err: identity::Error, request_id: &str) -> AppError {
    use identity::Error as E;
    match err {
        E::Invalid { field, message } => AppError::Invalid {
            field: field.into(),
            message,
        },
        E::Conflict { field, message } => AppError::Conflict {
            field: field.into(),
            message,
        },
        E::NotFound => AppError::NotFound,
        E::Forbidden(message) => AppError::Forbidden(message),
        E::Upstream(message) => AppError::Upstream(message),
        E::InvalidCredentials => AppError::Forbidden(E::InvalidCredentials.to_string()),
        err @ E::RateLimited { retry_after_secs } => AppError::RateLimited {
            message: err.to_string(),
            retry_after_secs,
        },
        E::QuotaReached {
            message,
            retry_after_secs,
        } => AppError::RateLimited {
            message,
            retry_after_secs,
        },
        err @ E::Busy => AppError::RateLimited {
            message: err.to_string(),
            retry_after_secs: 5,
        },
        err @ (E::Database(_) | E::Internal(_)) => {
            tracing::error!(request_id, error = ?err, "request failed");
            AppError::Internal {
                request_id: request_id.to_owned(),
            }
        }
    }
}

//! The one error type of the UI layer: what a server function can fail with, shown inline by
//! components and mapped to an HTTP status at the server boundary.

use leptos::server_fn::codec::JsonEncoding;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Your session has ended. Sign in again to continue.")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("That no longer exists, or was never here. Go back to the list and try again.")]
    NotFound,
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("{message}")]
    Conflict { field: String, message: String },
    #[error("{message}")]
    RateLimited { message: String, retry_after_secs: i64 },
    #[error("The request could not be read: {0}")]
    BadRequest(String),
    #[error("Something went wrong on our side. Try again; if it keeps happening, give support this request id: {request_id}.")]
    Internal { request_id: String },
    #[error("Could not reach Rollcall ({0}). Check your connection and try again.")]
    Network(String),
    /// An identity provider could not be reached or answered wrongly.
    #[error("{0}")]
    Upstream(String),
}

impl AppError {
    /// The HTTP status this error is sent with.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Unauthenticated => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound => 404,
            AppError::Invalid { .. } => 422,
            AppError::Conflict { .. } => 409,
            AppError::RateLimited { .. } => 429,
            AppError::BadRequest(_) => 400,
            AppError::Internal { .. } => 500,
            AppError::Network(_) => 503,
            AppError::Upstream(_) => 502,
        }
    }

    /// The form field this error belongs to, for inline display.
    pub fn field(&self) -> Option<&str> {
        match self {
            AppError::Invalid { field, .. } | AppError::Conflict { field, .. } => Some(field),
            _ => None,
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AppError::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl leptos::server_fn::error::FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        use leptos::server_fn::error::ServerFnErrorErr as E;
        match value {
            E::Args(msg) | E::MissingArg(msg) => AppError::BadRequest(msg),
            // On the server, only a request's body or query is ever deserialized: what could not
            // be read is the client's mistake, not ours.
            #[cfg(feature = "ssr")]
            E::Deserialization(msg) => AppError::BadRequest(msg),
            E::Request(msg) => AppError::Network(msg),
            E::UnsupportedRequestMethod(msg) => AppError::BadRequest(msg),
            other => AppError::Internal {
                request_id: format!("none ({other})"),
            },
        }
    }
}

//! SCIM 2.0 provisioning (RFC 7643/7644) for Microsoft Entra ID and Okta: filters parsed to an
//! AST (`filter`) and compiled to SQL with bound values (`sql`), PATCH with Entra's dialects
//! (`patch`), users (`users`; creates of someone new combined, `creates` and `combine`), groups (`groups`), the bearer tokens that authenticate a directory
//! (`tokens`), and the blast-radius guard on deprovisioning (`guard`).

mod combine;
pub mod creates;
pub mod document;
pub mod filter;
pub mod groups;
pub mod guard;
pub mod sql;
pub mod tokens;
pub mod users;

/// A page of a list or search: the matches in all, the 1-based index of the first row, the
/// rows.
pub struct Page<R> {
    pub total: i64,
    pub start_index: i64,
    pub rows: Vec<R>,
}

/// A SCIM error: its HTTP status, `scimType` and a detail that says how to fix the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {detail}")]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    pub fn new(status: u16, scim_type: Option<&'static str>, detail: impl Into<String>) -> ScimError {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
        }
    }
    pub fn invalid_filter(detail: impl Into<String>) -> ScimError {
        ScimError::new(400, Some("invalidFilter"), detail)
    }
    pub fn invalid_value(detail: impl Into<String>) -> ScimError {
        ScimError::new(400, Some("invalidValue"), detail)
    }
    pub fn invalid_syntax(detail: impl Into<String>) -> ScimError {
        ScimError::new(400, Some("invalidSyntax"), detail)
    }
    pub fn invalid_path(detail: impl Into<String>) -> ScimError {
        ScimError::new(400, Some("invalidPath"), detail)
    }
    pub fn no_target(detail: impl Into<String>) -> ScimError {
        ScimError::new(400, Some("noTarget"), detail)
    }
    pub fn mutability(detail: impl Into<String>) -> ScimError {
        ScimError::new(400, Some("mutability"), detail)
    }
    pub fn uniqueness(detail: impl Into<String>) -> ScimError {
        ScimError::new(409, Some("uniqueness"), detail)
    }
    pub fn not_found() -> ScimError {
        ScimError::new(404, None, "No such resource in this workspace.")
    }
    pub fn internal() -> ScimError {
        ScimError::new(500, None, "Rollcall could not complete the request; try again.")
    }

    /// The RFC 7644 §3.12 body.
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = t.into();
        }
        body
    }
}

impl From<sqlx::Error> for ScimError {
    fn from(err: sqlx::Error) -> ScimError {
        tracing::error!(error = %err, "a SCIM request failed in the database");
        ScimError::internal()
    }
}

impl From<crate::error::Error> for ScimError {
    fn from(err: crate::error::Error) -> ScimError {
        use crate::error::Error as E;
        match err {
            E::NotFound => ScimError::not_found(),
            E::Invalid { message, .. } => ScimError::invalid_value(message),
            E::Conflict { message, .. } => ScimError::uniqueness(message),
            E::Forbidden(message) => ScimError::new(403, None, message),
            other => {
                tracing::error!(error = %other, "a SCIM request failed");
                ScimError::internal()
            }
        }
    }
}

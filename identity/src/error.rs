//! The one error type of the identity layer. The server maps each variant to an HTTP status
//! and the app to an inline message; nothing here knows about either.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that can never succeed as given; `field` names the form field to highlight.
    #[error("{message}")]
    Invalid { field: &'static str, message: String },
    /// Input that clashes with existing data (a duplicate email, the last admin...).
    #[error("{message}")]
    Conflict { field: &'static str, message: String },
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    /// Deliberately vague: never says whether the account exists.
    #[error("Email or password is incorrect.")]
    InvalidCredentials,
    #[error("Too many attempts. Try again in {} minutes.", (retry_after_secs + 59) / 60)]
    RateLimited { retry_after_secs: i64 },
    /// A limit on how much of something may be done in a window was reached; `message` says
    /// which and when more is possible.
    #[error("{message}")]
    QuotaReached { message: String, retry_after_secs: i64 },
    /// Too much expensive work (password hashing) is already waiting: try again shortly.
    #[error("Rollcall is busy. Try again in a few seconds.")]
    Busy,
    /// An identity provider could not be reached or answered wrongly; the message says what
    /// to do (the detail is logged where it happened).
    #[error("{0}")]
    Upstream(String),
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            field,
            message: message.into(),
        }
    }

    pub fn conflict(field: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict {
            field,
            message: message.into(),
        }
    }
}

impl From<sqlx::Error> for Error {
    /// Unique violations become precise client errors by constraint name; the rest stay
    /// database errors, logged by the boundary and never shown.
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err {
            match db.constraint() {
                Some("users_email_per_org") => {
                    return Error::conflict("email", "Someone in this workspace already uses this email.")
                }
                Some("orgs_slug_key") => return Error::conflict("slug", "That workspace address is taken."),
                _ => {}
            }
        }
        if matches!(err, sqlx::Error::RowNotFound) {
            return Error::NotFound;
        }
        Error::Database(err)
    }
}

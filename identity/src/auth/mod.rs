//! Signing in: with a password across workspaces (`password_sign_in`), throttled per account
//! and per client address (`throttle`); and what every way in shares: the account it lands on
//! and the record of the sign-in. Provider sign-in (`oidc`) joins here.

pub mod oidc;
mod password_sign_in;
pub mod throttle;

pub(crate) use password_sign_in::pending_choice;
pub use password_sign_in::{choose_workspace, pending_choices, sign_in, Attempt, SignIn, WorkspaceChoice};
pub use throttle::ThrottlePolicy;

use crate::audit::{self, Actor, Target};
use crate::error::Result;
use crate::Db;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The one account a sign-in lands on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRef {
    pub org_id: Uuid,
    pub user_id: Uuid,
}

/// Stamps the sign-in on the user and in the audit log, together.
#[tracing::instrument(skip_all)]
pub async fn record_login(
    db: &Db,
    account: &AccountRef,
    method: &str,
    ip: Option<String>,
    request_id: Option<String>,
) -> Result<()> {
    let mut tx = db.begin().await?;
    let email: String =
        sqlx::query_scalar("update users set last_login_at = now() where org_id = $1 and id = $2 returning email")
            .bind(account.org_id)
            .bind(account.user_id)
            .fetch_one(&mut *tx)
            .await?;
    let actor = Actor {
        org_id: account.org_id,
        user_id: Some(account.user_id),
        label: email.clone(),
        ip,
        request_id,
    };
    audit::record(
        &mut tx,
        &actor,
        "user.signed_in",
        Some(Target {
            id: account.user_id,
            label: &email,
        }),
        serde_json::json!({ "method": method }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

//! Signing in: with a password across workspaces (`password_sign_in`), throttled per account
//! and per client address (`throttle`); and what every way in shares: the account it lands on
//! and the record of the sign-in. Provider sign-in (`oidc`) joins here.

pub mod oidc;
mod password_sign_in;
pub mod throttle;

pub(crate) use password_sign_in::pending_choice;
pub use password_sign_in::{choose_workspace, pending_choices, sign_in, Attempt, SignIn, WorkspaceChoice};
pub use throttle::ThrottlePolicy;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The one account a sign-in lands on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRef {
    pub org_id: Uuid,
    pub user_id: Uuid,
}

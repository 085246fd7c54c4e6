//! The Provisioning tab's plain forms: revoke a SCIM token, approve or discard held
//! deprovisionings, restore someone SCIM deleted. Rules live in `identity::scim`.

use super::providers::{admin_actor, back_with};
use app::ssr::{RequestContext, SharedState};
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Extension;
use uuid::Uuid;

const BACK: &str = "/provisioning";

/// `POST /provisioning/tokens/{id}/revoke`.
#[tracing::instrument(name = "scim_token_revoke", skip_all)]
pub async fn revoke_token(
    State(state): State<SharedState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<Uuid>,
) -> Response {
    let result = async {
        let actor = admin_actor(&ctx)?;
        identity::scim::tokens::revoke(&state.db, &actor, id).await?;
        // Here at once; other servers when the revocation's notification reaches them.
        state.scim_tokens.forget_all();
        Ok("Token revoked: requests with it are refused from now on.".to_owned())
    }
    .await;
    back_with(&state, BACK, result, &ctx)
}

async fn decide(state: &SharedState, ctx: &RequestContext, approve: bool) -> Response {
    let result = async {
        let actor = admin_actor(ctx)?;
        let n = identity::scim::guard::decide_all(&state.db, &actor, approve).await?;
        Ok(if approve {
            format!("{n} held changes applied.")
        } else {
            format!("{n} held changes discarded. The directory will ask again until its assignments change.")
        })
    }
    .await;
    back_with(state, BACK, result, ctx)
}

/// `POST /provisioning/holds/approve`.
pub async fn approve_holds(State(state): State<SharedState>, Extension(ctx): Extension<RequestContext>) -> Response {
    decide(&state, &ctx, true).await
}

/// `POST /provisioning/holds/discard`.
pub async fn discard_holds(State(state): State<SharedState>, Extension(ctx): Extension<RequestContext>) -> Response {
    decide(&state, &ctx, false).await
}

/// `POST /provisioning/users/{id}/restore`.
pub async fn restore_user(
    State(state): State<SharedState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<Uuid>,
) -> Response {
    let result = async {
        let actor = admin_actor(&ctx)?;
        identity::scim::users::restore(&state.db, &actor, id).await?;
        Ok("Restored, deactivated: reactivate them from the Users tab if they should sign in.".to_owned())
    }
    .await;
    back_with(&state, BACK, result, &ctx)
}

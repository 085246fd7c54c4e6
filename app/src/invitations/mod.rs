//! Invitations, in one place: the "Invite people" page (paste or CSV, preview, confirm,
//! `invite_people`), the invitation panel of a user's page (resend, revoke, copy link,
//! `panel`), and what an invited person sees when they open their link (`landing`). This file
//! holds the server functions; the data they send in `model`.

pub mod invite_people;
pub mod landing;
mod model;
pub mod panel;

pub use model::{InvitationView, InviteOutcome, InvitePreviewRow, InviteSummary};

use crate::error::AppError;
use crate::users::UsersQuery;
use leptos::prelude::*;
#[cfg(feature = "ssr")]
use people::Role;
use uuid::Uuid;

#[cfg(feature = "ssr")]
fn requests(list: &str, csv: &str) -> Result<Vec<identity::invites::InviteRequest>, identity::Error> {
    let mut rows = identity::invites::parse_list(list);
    if !csv.trim().is_empty() {
        let offset = rows.len();
        rows.extend(identity::invites::parse_csv(csv)?.into_iter().map(|mut r| {
            r.line += offset;
            r
        }));
    }
    Ok(rows)
}

#[cfg(feature = "ssr")]
fn parse_role(role: &str) -> Result<Role, AppError> {
    Role::parse(role).ok_or_else(|| AppError::invalid("role", "Choose Admin or Member."))
}

#[server(endpoint = "preview_invites")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "preview_invites", skip_all))]
pub async fn preview_invites(
    #[server(default)] list: String,
    #[server(default)] csv: String,
    #[server(default)] role: String,
) -> Result<Vec<InvitePreviewRow>, AppError> {
    use identity::invites::Outcome;
    let caller = crate::ssr::admin().await?;
    let default_role = parse_role(if role.is_empty() { "member" } else { &role })?;
    let requests = requests(&list, &csv).map_err(|e| caller.fail(e))?;
    if requests.is_empty() {
        return Err(AppError::invalid(
            "list",
            "Enter at least one email address, or choose a CSV file.",
        ));
    }
    let rows = identity::invites::preview(&caller.state.db, caller.user.org_id, requests)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let (outcome, problem) = match row.outcome {
                Outcome::NewInvite => (InviteOutcome::NewInvite, None),
                Outcome::InviteExisting => (InviteOutcome::InviteExisting, None),
                Outcome::AlreadyMember => (InviteOutcome::AlreadyMember, None),
                Outcome::AlreadyInvited => (InviteOutcome::AlreadyInvited, None),
                Outcome::Deactivated => (InviteOutcome::Deactivated, None),
                Outcome::Duplicate => (InviteOutcome::Duplicate, None),
                Outcome::Invalid(why) => (InviteOutcome::Invalid, Some(why)),
            };
            let role = row.request.role.unwrap_or(default_role);
            InvitePreviewRow {
                line: row.request.line,
                name: people::display_name(&row.request.given_name, &row.request.family_name, ""),
                email: row.request.email,
                role,
                outcome,
                problem,
            }
        })
        .collect())
}

#[server(endpoint = "send_invites")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "send_invites", skip_all))]
pub async fn send_invites(
    #[server(default)] list: String,
    #[server(default)] csv: String,
    #[server(default)] role: String,
) -> Result<InviteSummary, AppError> {
    let caller = crate::ssr::admin().await?;
    let default_role = parse_role(if role.is_empty() { "member" } else { &role })?;
    let requests = requests(&list, &csv).map_err(|e| caller.fail(e))?;
    let summary = identity::invites::send(
        &caller.state.db,
        &caller.actor(),
        &caller.state.secret_key,
        requests,
        default_role,
    )
    .await
    .map_err(|e| caller.fail(e))?;
    Ok(InviteSummary {
        invited: summary.invited,
        skipped: summary.skipped,
        invalid: summary.invalid,
    })
}

/// Invites the selected users; with `all_matching`, every invitable user the filter matches.
#[server(endpoint = "invite_users")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "invite_users", skip_all))]
pub async fn invite_users(
    #[server(default)] ids: Vec<Uuid>,
    #[server(default)] all_matching: Option<UsersQuery>,
) -> Result<InviteSummary, AppError> {
    let caller = crate::ssr::admin().await?;
    let (db, key) = (&caller.state.db, &caller.state.secret_key);
    let ids = match all_matching {
        Some(query) => {
            let q = crate::users::convert::query(&query, 1);
            identity::users::invitable_ids_matching(db, caller.user.org_id, &q, identity::invites::MAX_PER_BATCH as i64)
                .await
                .map_err(|e| caller.fail(e))?
        }
        None => ids,
    };
    let summary = identity::invites::invite_existing(db, &caller.actor(), key, &ids)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(InviteSummary {
        invited: summary.invited,
        skipped: summary.skipped,
        invalid: 0,
    })
}

#[server(endpoint = "resend_invite")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "resend_invite", skip_all))]
pub async fn resend_invite(user_id: Uuid) -> Result<(), AppError> {
    let caller = crate::ssr::admin().await?;
    identity::invites::resend(&caller.state.db, &caller.actor(), &caller.state.secret_key, user_id)
        .await
        .map_err(|e| caller.fail(e))
}

#[server(endpoint = "revoke_invite")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "revoke_invite", skip_all))]
pub async fn revoke_invite(user_id: Uuid) -> Result<(), AppError> {
    let caller = crate::ssr::admin().await?;
    identity::invites::revoke(&caller.state.db, &caller.actor(), user_id)
        .await
        .map_err(|e| caller.fail(e))
}

#[server(endpoint = "invite_link")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "invite_link", skip_all))]
pub async fn invite_link(user_id: Uuid) -> Result<String, AppError> {
    let caller = crate::ssr::admin().await?;
    let token =
        identity::invites::current_token(&caller.state.db, &caller.state.secret_key, caller.user.org_id, user_id)
            .await
            .map_err(|e| caller.fail(e))?;
    Ok(format!("{}/invite/{token}", caller.state.public_url))
}

#[server(endpoint = "invite_landing")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "invite_landing", skip_all))]
pub async fn invite_landing(token: String) -> Result<InvitationView, AppError> {
    use identity::invites::InviteState;
    let state = crate::ssr::state()?;
    let ctx = crate::ssr::request()?;
    let found = identity::invites::lookup(&state.db, &state.secret_key, &token)
        .await
        .map_err(|e| crate::ssr::map_identity_error(e, &ctx.request_id))?;
    let fail = |e| crate::ssr::map_identity_error(e, &ctx.request_id);
    Ok(match found {
        InviteState::Open(d) => {
            let enabled = identity::identities::enabled_providers(&state.db, d.org_id)
                .await
                .map_err(fail)?;
            let providers = crate::integrations::usable_links(&state, enabled.into_iter().map(|(p, _)| p));
            let password_allowed = !identity::invites::requires_sso(&state.db, d.org_id, d.user_id)
                .await
                .map_err(fail)?;
            InvitationView::Open {
                org_name: d.org_name,
                email: d.email,
                given_name: d.given_name,
                family_name: d.family_name,
                inviter: d.inviter,
                expires_at: d.expires_at,
                providers,
                password_allowed,
            }
        }
        InviteState::Expired { org_name, inviter } => InvitationView::Expired { org_name, inviter },
        InviteState::Used { org_name } => InvitationView::Used { org_name },
        InviteState::Revoked { org_name } | InviteState::Replaced { org_name } => {
            InvitationView::NoLongerValid { org_name }
        }
        InviteState::Unknown => InvitationView::Unknown,
    })
}

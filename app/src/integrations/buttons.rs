//! "Continue with Google / Microsoft / Slack" on the sign-in, invitation and access pages:
//! plain links, so they work before (and without) any script.

use super::ProviderLink;
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// How a sign-in page may offer provider sign-in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SignInChoices {
    pub providers: Vec<ProviderLink>,
    /// The workspace requires SSO: members do not use the password form.
    pub require_sso: bool,
}

/// The generic page offers every provider configured on this server (it cannot know the
/// workspace, and must not reveal which workspaces an email belongs to); a workspace's own page
/// offers the providers that workspace enabled.
#[server(endpoint = "sign_in_options")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "sign_in_options", skip_all))]
pub async fn sign_in_options(slug: Option<String>) -> Result<SignInChoices, AppError> {
    let state = crate::ssr::state()?;
    let ctx = crate::ssr::request()?;
    let fail = |e| crate::ssr::map_identity_error(e, &ctx.request_id);
    let Some(slug) = slug else {
        return Ok(SignInChoices {
            providers: super::usable_links(&state, state.providers.configured()),
            require_sso: false,
        });
    };
    let Some(org) = identity::orgs::find_by_slug(&state.db, &slug).await.map_err(fail)? else {
        return Ok(SignInChoices::default());
    };
    let enabled = identity::identities::enabled_providers(&state.db, org.id)
        .await
        .map_err(fail)?;
    Ok(SignInChoices {
        providers: super::usable_links(&state, enabled.into_iter().map(|(p, _)| p)),
        require_sso: identity::integrations::require_sso(&state.db, org.id)
            .await
            .map_err(fail)?,
    })
}

/// A column of "Continue with …" links; `purpose` and `query` say what they start.
#[component]
pub fn ProviderButtons(providers: Vec<ProviderLink>, purpose: &'static str, query: String) -> impl IntoView {
    (!providers.is_empty()).then(|| {
        view! {
            <ul class="provider-buttons" role="list">
                {providers.into_iter().map(|p| {
                    let href = p.href(purpose, &query);
                    view! {
                        <li>
                            <a class={format!("button provider provider-{}", p.id)} href=href>
                                <span class="provider-mark" aria-hidden="true">{p.label.chars().next().unwrap_or('?').to_string()}</span>
                                {format!("Continue with {}", p.label)}
                            </a>
                        </li>
                    }
                }).collect_view()}
            </ul>
        }
    })
}

//! Workspace settings: for now, how long invitation links stay valid.

use crate::components::{field_error, focus_first_invalid, form_error, toast, Field, FormError};
use crate::error::AppError;
use crate::frame::AdminOnly;
use crate::loading::load;
/// The engine's name for the field (`identity::invites::INVITE_TTL_FIELD`), which the form's
/// input must carry so the engine's message lands under it. The browser build has no engine.
const INVITE_TTL_FIELD: &str = "invite_ttl_days";
use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgSettings {
    pub name: String,
    pub invite_ttl_days: i32,
}

#[server(endpoint = "get_settings")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "get_settings", skip_all))]
pub async fn get_settings() -> Result<OrgSettings, AppError> {
    let caller = crate::ssr::admin().await?;
    let org = identity::orgs::get(&caller.state.db, caller.user.org_id)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(OrgSettings {
        name: org.name,
        invite_ttl_days: (org.invite_ttl_hours + 23) / 24,
    })
}

#[server(endpoint = "save_invite_expiry")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "save_invite_expiry", skip_all))]
pub async fn save_invite_expiry(invite_ttl_days: String) -> Result<(), AppError> {
    let caller = crate::ssr::admin().await?;
    // Not a number at all: the engine's own rule and message, for the same field.
    let days: i32 = invite_ttl_days.trim().parse().unwrap_or(0);
    identity::invites::set_ttl(&caller.state.db, &caller.actor(), days)
        .await
        .map_err(|e| caller.fail(e))
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    view! {
        <Title text="Settings"/>
        <AdminOnly>
            <header class="page-header"><h1>"Settings"</h1></header>
            {load(get_settings(), |s| view! {
                <InviteExpiryForm days=s.invite_ttl_days/>
                <section class="panel narrow">
                    <h2>"Coming soon"</h2>
                    <p class="muted">"Workspace name and sign-in policies (password, Google, Microsoft, Slack) will live here."</p>
                </section>
            })}
        </AdminOnly>
    }
}

#[island]
fn InviteExpiryForm(days: i32) -> impl IntoView {
    let save = ServerAction::<SaveInviteExpiry>::new();
    let result: Signal<Option<Result<(), AppError>>> = save.value().into();
    focus_first_invalid(result);
    Effect::new(move |_| {
        if let Some(Ok(())) = save.value().get() {
            toast("Settings saved. New invitations use the new expiry.");
        }
    });
    view! {
        <section class="panel narrow" aria-labelledby="invites-heading">
            <h2 id="invites-heading">"Invitations"</h2>
            <FormError error=form_error(result)/>
            <ActionForm action=save attr:class="stack">
                <Field label="Invitation links expire after (days)" name=INVITE_TTL_FIELD kind="number"
                    value=days.to_string() required=true hint="From 1 to 90 days. Links already sent keep their expiry."
                    error=field_error(result, INVITE_TTL_FIELD)/>
                <button type="submit" class="button primary" disabled=move || save.pending().get()>"Save"</button>
            </ActionForm>
        </section>
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    #[test]
    fn the_expiry_form_names_its_field_as_the_engine_does() {
        // The server function's parameter is the form's field too (`invite_ttl_days`).
        assert_eq!(super::INVITE_TTL_FIELD, identity::invites::INVITE_TTL_FIELD);
    }
}

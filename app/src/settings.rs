//! Workspace settings: for now, how long invitation links stay valid.

use crate::components::{field_error, focus_first_invalid, form_error, toast, ErrorPanel, Field, FormError};
use crate::error::AppError;
use crate::frame::AdminOnly;
use crate::model::OrgSettings;
use leptos::prelude::*;
use leptos_meta::Title;

#[server(endpoint = "get_settings")]
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
pub async fn save_invite_expiry(invite_ttl_days: String) -> Result<(), AppError> {
    let caller = crate::ssr::admin().await?;
    let days: i32 = invite_ttl_days
        .trim()
        .parse()
        .map_err(|_| AppError::invalid("invite_ttl_days", "Enter a whole number of days, from 1 to 90."))?;
    if !(1..=90).contains(&days) {
        return Err(AppError::invalid(
            "invite_ttl_days",
            "Enter a whole number of days, from 1 to 90.",
        ));
    }
    identity::invites::set_ttl(&caller.state.db, &caller.actor(), days * 24)
        .await
        .map_err(|e| caller.fail(e))
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    let settings = Resource::new(|| (), |_| get_settings());
    view! {
        <Title text="Settings"/>
        <AdminOnly>
            <header class="page-header"><h1>"Settings"</h1></header>
            <Suspense>
                {Suspend::new(async move {
                    match settings.await {
                        Ok(s) => view! {
                            <InviteExpiryForm days=s.invite_ttl_days/>
                            <section class="panel narrow">
                                <h2>"Coming soon"</h2>
                                <p class="muted">"Workspace name and sign-in policies (password, Google, Microsoft, Slack) will live here."</p>
                            </section>
                        }.into_any(),
                        Err(err) => view! { <ErrorPanel error=err/> }.into_any(),
                    }
                })}
            </Suspense>
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
                <Field label="Invitation links expire after (days)" name="invite_ttl_days" kind="number"
                    value=days.to_string() required=true hint="From 1 to 90 days. Links already sent keep their expiry."
                    error=field_error(result, "invite_ttl_days")/>
                <button type="submit" class="button primary" disabled=move || save.pending().get()>"Save"</button>
            </ActionForm>
        </section>
    }
}

//! The signed-in person's own profile: names, and their password.

use crate::components::{field_error, focus_first_invalid, form_error, toast, Field, FormError};
use crate::error::AppError;
use crate::loading::load;
use crate::session::Me;
use leptos::prelude::*;
use leptos_meta::Title;
use people::Role;
use serde::{Deserialize, Serialize};

/// The signed-in person's profile as stored: their names as they were saved, never rebuilt from
/// the display name ("Mary Ann" / "Smith" stays so).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredProfile {
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub role: Role,
    pub org_name: String,
}

#[server(endpoint = "my_profile")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "my_profile", skip_all))]
pub async fn my_profile() -> Result<StoredProfile, AppError> {
    let caller = crate::ssr::signed_in().await?;
    let user = &caller.user;
    Ok(StoredProfile {
        email: user.email.clone(),
        given_name: user.given_name.clone(),
        family_name: user.family_name.clone(),
        role: user.role,
        org_name: user.org_name.clone(),
    })
}

#[server(endpoint = "update_my_names")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "update_my_names", skip_all))]
pub async fn update_my_names(given_name: String, family_name: String) -> Result<Me, AppError> {
    let caller = crate::ssr::signed_in().await?;
    let email = identity::EmailAddress::parse(&caller.user.email).map_err(|e| caller.fail(e))?;
    // Members may not change their own email or role: both decide what they can access.
    let change = identity::users::ProfileChange {
        email,
        given_name,
        family_name,
        role: None,
    };
    let user = identity::users::update_profile(&caller.state.db, &caller.actor(), caller.user.user_id, change)
        .await
        .map_err(|e| caller.fail(e))?;
    let mut me = crate::ssr::me_of(&caller.user);
    me.display_name = user.display_name();
    Ok(me)
}

#[component]
pub fn ProfilePage() -> impl IntoView {
    let linked_now = leptos_router::hooks::use_query_map().with_untracked(|q| q.get("linked"));
    view! {
        <Title text="Profile"/>
        <header class="page-header"><h1>"Your profile"</h1></header>
        {load(my_profile(), |me| view! {
            <section class="panel narrow">
                <dl class="facts">
                    <dt>"Email"</dt><dd>{me.email}</dd>
                    <dt>"Workspace"</dt><dd>{me.org_name}</dd>
                    <dt>"Role"</dt><dd>{me.role.label()}</dd>
                </dl>
                <NamesForm given=me.given_name family=me.family_name/>
                <p class="muted">"To change your email, ask an admin of your workspace."</p>
            </section>
        })}
        <crate::integrations::accounts::ConnectedAccountsPanel linked_now/>
    }
}

#[island]
fn NamesForm(given: String, family: String) -> impl IntoView {
    let save = ServerAction::<UpdateMyNames>::new();
    let result: Signal<Option<Result<Me, AppError>>> = save.value().into();
    focus_first_invalid(result);
    Effect::new(move |_| {
        if let Some(Ok(_)) = save.value().get() {
            toast("Your profile is saved.");
        }
    });
    view! {
        <FormError error=form_error(result)/>
        <ActionForm action=save attr:class="stack">
            <div class="field-row">
                <Field label="First name" name="given_name" value=given error=field_error(result, "given_name")/>
                <Field label="Last name" name="family_name" value=family error=field_error(result, "family_name")/>
            </div>
            <button type="submit" class="button primary" disabled=move || save.pending().get()>"Save"</button>
        </ActionForm>
    }
}

//! "Add user": create a person by hand, optionally with a first password.

use super::CreateUser;
use crate::components::{field_error, focus_first_invalid, form_error, Field, FormError};
use crate::frame::AdminOnly;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NewUserPage() -> impl IntoView {
    view! {
        <Title text="Add user"/>
        <AdminOnly>
            <p class="breadcrumb"><a href="/users">"← Users"</a></p>
            <header class="page-header"><h1>"Add user"</h1></header>
            <NewUserForm/>
        </AdminOnly>
    }
}

/// Errors appear under their fields without a reload; success opens the new user's page.
#[island]
fn NewUserForm() -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    let result: Signal<Option<Result<uuid::Uuid, crate::error::AppError>>> = create.value().into();
    focus_first_invalid(result);
    view! {
        <section class="panel narrow">
            <FormError error=form_error(result)/>
            <ActionForm action=create attr:class="stack">
                <div class="field-row">
                    <Field label="First name" name="given_name" autofocus=true error=field_error(result, "given_name")/>
                    <Field label="Last name" name="family_name" error=field_error(result, "family_name")/>
                </div>
                <Field label="Email" name="email" kind="email" required=true error=field_error(result, "email")/>
                <div class="field">
                    <label for="role">"Role"</label>
                    <select id="role" name="role">
                        <option value="member" selected=true>"Member"</option>
                        <option value="admin">"Admin"</option>
                    </select>
                </div>
                <Field label="First password" name="password" kind="password" autocomplete="new-password"
                    hint="Leave empty to invite them by email instead; they will set their own."
                    error=field_error(result, "password")/>
                <button type="submit" class="button primary" disabled=move || create.pending().get()>
                    {move || if create.pending().get() { "Adding…" } else { "Add user" }}
                </button>
            </ActionForm>
        </section>
    }
}

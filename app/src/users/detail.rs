//! One user's profile editor, with deactivate / reactivate.

use super::UserRow;
use super::{get_user, SetUserActive, UpdateUser};
use crate::components::{field_error, focus_first_invalid, form_error, toast, Field, FormError, StatusChip};
use crate::format;
use crate::frame::AdminOnly;
use crate::loading::load;
use crate::session::Me;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use people::{Role, Status};
use uuid::Uuid;

#[component]
pub fn UserPage() -> impl IntoView {
    view! {
        <Title text="User"/>
        <AdminOnly>
            <UserView/>
        </AdminOnly>
    }
}

/// Server only: loads the user named in the URL and hands it to the editor.
#[component]
fn UserView() -> impl IntoView {
    let id = use_params_map().with_untracked(|p| p.get("id").and_then(|id| Uuid::parse_str(&id).ok()));
    let confirming = use_query_map().with_untracked(|q| q.get("confirm").as_deref() == Some("deactivate"));
    let me = use_context::<Me>().map(|me| me.user_id);
    let user = async move {
        match id {
            Some(id) => get_user(id).await,
            None => Err(crate::error::AppError::NotFound),
        }
    };
    view! {
        <p class="breadcrumb"><a href="/users">"← Users"</a></p>
        {load(user, move |user| {
            let is_me = me == Some(user.id);
            let user_id = user.id;
            view! {
                <UserEditor user confirming is_me/>
                <crate::integrations::accounts::LinkedAccountsForAdmin user_id/>
            }
        })}
    }
}

/// The user's header, profile form, access panel and invitation panel. After any change it
/// asks the server for the user again, so every part shows the saved state.
#[island]
fn UserEditor(user: UserRow, confirming: bool, is_me: bool) -> impl IntoView {
    let id = user.id;
    let current = RwSignal::new(user);
    let update = ServerAction::<UpdateUser>::new();
    let activation = ServerAction::<SetUserActive>::new();
    let changed = RwSignal::new(0u32);
    // Here, not in the details below: those are rebuilt after each change, and a new effect
    // would announce the last result again.
    let result: Signal<Option<Result<UserRow, crate::error::AppError>>> = update.value().into();
    focus_first_invalid(result);
    Effect::new(move |_| {
        if let Some(Ok(changed)) = activation.value().get() {
            toast(format!(
                "{} is now {}.",
                changed.display_name,
                changed.status.label().to_lowercase()
            ));
        }
    });
    // Reload after a successful change only: after a refused one the form keeps what was typed.
    let refresh = move || {
        leptos::task::spawn_local(async move {
            if let Ok(user) = get_user(id).await {
                current.set(user);
            }
        });
    };
    Effect::new(move |_| {
        if let Some(Ok(saved)) = update.value().get() {
            toast(format!("Saved {}.", saved.display_name));
            refresh();
        }
    });
    Effect::new(move |previous: Option<u32>| {
        let now = changed.get();
        if previous.is_some() {
            refresh();
        }
        now
    });
    move || {
        let user = current.get();
        view! { <UserDetails user update activation changed confirming is_me/> }
    }
}

#[component]
fn UserDetails(
    user: UserRow,
    update: ServerAction<UpdateUser>,
    activation: ServerAction<SetUserActive>,
    changed: RwSignal<u32>,
    confirming: bool,
    is_me: bool,
) -> impl IntoView {
    let result: Signal<Option<Result<UserRow, crate::error::AppError>>> = update.value().into();
    let activation_result: Signal<Option<Result<UserRow, crate::error::AppError>>> = activation.value().into();
    let id = user.id.to_string();
    let form_id = id.clone();
    let invitation = user.clone();
    let deactivated = user.status == Status::Deactivated;
    // Provisioned over SCIM: the directory owns the name and email.
    let managed = user.source == people::Source::Scim;
    view! {
        <header class="page-header">
            <div>
                <h1>{user.display_name.clone()}</h1>
                <p class="muted">{user.email.clone()} " · " <StatusChip status=user.status/></p>
            </div>
        </header>
        <div class="columns">
            <section class="panel" aria-labelledby="profile-heading">
                <h2 id="profile-heading">"Profile"</h2>
                <FormError error=form_error(result)/>
                {managed.then(|| view! {
                    <p class="notice" id="managed-note">"Provisioned by your directory over SCIM: the name and email are changed there (Entra ID or Okta), and show here at its next sync. The role is Rollcall's."</p>
                })}
                <ActionForm action=update attr:class="stack">
                    <input type="hidden" name="id" value=form_id/>
                    <div class="field-row">
                        <Field label="First name" name="given_name" value=user.given_name.clone() readonly=managed error=field_error(result, "given_name")/>
                        <Field label="Last name" name="family_name" value=user.family_name.clone() readonly=managed error=field_error(result, "family_name")/>
                    </div>
                    <Field label="Email" name="email" kind="email" value=user.email.clone() required=true readonly=managed error=field_error(result, "email")/>
                    <div class="field" class:invalid=move || field_error(result, "role").get().is_some()>
                        <label for="role">"Role"</label>
                        <select id="role" name="role" aria-describedby="role-error">
                            <option value="member" selected=user.role == Role::Member>"Member: can see and edit their own profile"</option>
                            <option value="admin" selected=user.role == Role::Admin>"Admin: can manage users and settings"</option>
                        </select>
                        <p class="field-error" id="role-error" hidden=move || field_error(result, "role").get().is_none()>
                            {move || field_error(result, "role").get().unwrap_or_default()}
                        </p>
                    </div>
                    <button type="submit" class="button primary" disabled=move || update.pending().get()>
                        {move || if update.pending().get() { "Saving…" } else { "Save changes" }}
                    </button>
                </ActionForm>
            </section>
            <aside class="panel" aria-labelledby="access-heading">
                <h2 id="access-heading">"Access"</h2>
                <dl class="facts">
                    <dt>"Status"</dt><dd><StatusChip status=user.status/></dd>
                    <dt>"Source"</dt><dd>{user.source.label()}</dd>
                    <dt>"Password"</dt><dd>{if user.has_password { "Set" } else { "Not set" }}</dd>
                    <dt>"Last sign-in"</dt><dd>{format::optional_timestamp(&user.last_login_at, "Never")}</dd>
                    <dt>"Added"</dt><dd>{format::timestamp(&user.created_at)}</dd>
                </dl>
                <FormError error=form_error(activation_result)/>
                {move || {
                    let id = id.clone();
                    if deactivated {
                        view! {
                            <ActionForm action=activation>
                                <input type="hidden" name="id" value=id/>
                                <input type="hidden" name="active" value="true"/>
                                <button type="submit" class="button" disabled=move || activation.pending().get()>"Reactivate"</button>
                            </ActionForm>
                        }.into_any()
                    } else if is_me {
                        view! { <p class="muted">"You cannot deactivate yourself."</p> }.into_any()
                    } else if confirming {
                        view! {
                            <div class="confirm" role="alertdialog" aria-labelledby="confirm-title" aria-describedby="confirm-body">
                                <p id="confirm-title"><strong>"Deactivate this user?"</strong></p>
                                <p id="confirm-body">"They are signed out everywhere at once and cannot sign in until reactivated. Nothing is deleted."</p>
                                <ActionForm action=activation attr:class="actions">
                                    <input type="hidden" name="id" value=id.clone()/>
                                    <input type="hidden" name="active" value="false"/>
                                    <button type="submit" class="button danger" autofocus=true disabled=move || activation.pending().get()>"Deactivate"</button>
                                    <a href=format!("/users/{id}") class="button">"Cancel"</a>
                                </ActionForm>
                            </div>
                        }.into_any()
                    } else {
                        view! { <a href="?confirm=deactivate" class="button danger-outline">"Deactivate…"</a> }.into_any()
                    }
                }}
            </aside>
        </div>
        <div class="columns">
            <crate::invitations::panel::InvitationPanel user=invitation changed/>
        </div>
    }
}

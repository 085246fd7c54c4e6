//! Getting in and out: first-run setup, sign-in (with the workspace chooser), and the home
//! redirect. The forms post to the server's plain `/auth/*` routes, so they work before the
//! page is hydrated; errors come back as a one-shot flash.

use crate::error::AppError;
use crate::loading::load_outside_frame;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::{use_params_map, use_query_map};
use people::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
/// The signed-in person, as the UI needs them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Me {
    pub user_id: Uuid,
    pub display_name: String,
    pub email: String,
    pub role: Role,
    pub org_name: String,
    pub org_slug: String,
}

impl Me {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetupInfo {
    pub first_run: bool,
    pub open_signup: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workspace {
    pub slug: String,
    pub name: String,
}

/// A one-shot message carried across a plain-form redirect (sign-in and setup errors), so
/// forms show their errors and keep what was typed even before the page is hydrated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Flash {
    pub error: String,
    pub field: Option<String>,
    pub values: std::collections::BTreeMap<String, String>,
}

impl Flash {
    pub fn value(&self, name: &str) -> String {
        self.values.get(name).cloned().unwrap_or_default()
    }
}

#[server(endpoint = "whoami")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "whoami", skip_all))]
pub async fn whoami() -> Result<Option<Me>, AppError> {
    let ctx = crate::ssr::request()?;
    Ok(ctx.session.as_ref().map(crate::ssr::me_of))
}

#[server(endpoint = "setup_state")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "setup_state", skip_all))]
pub async fn setup_state() -> Result<SetupInfo, AppError> {
    let state = crate::ssr::state()?;
    let ctx = crate::ssr::request()?;
    let exists = identity::orgs::any_exists(&state.db)
        .await
        .map_err(|e| crate::ssr::map_identity_error(e, &ctx.request_id))?;
    Ok(SetupInfo {
        first_run: !exists,
        open_signup: state.open_signup,
    })
}

/// Reads and clears the one-shot message left by a failed form post.
#[server(endpoint = "take_flash")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "take_flash", skip_all))]
pub async fn take_flash() -> Result<Option<Flash>, AppError> {
    use crate::ssr::{cookie, cookie_value, decode_flash, FLASH_COOKIE};
    let state = crate::ssr::state()?;
    let ctx = crate::ssr::request()?;
    let Some(raw) = cookie_value(ctx.cookie_header.as_deref(), FLASH_COOKIE, state.secure_cookies) else {
        return Ok(None);
    };
    if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
        if let Ok(value) = http::HeaderValue::from_str(&cookie(FLASH_COOKIE, "", Some(0), state.secure_cookies)) {
            options.append_header(http::header::SET_COOKIE, value);
        }
    }
    Ok(decode_flash(raw))
}

#[server(endpoint = "pending_workspaces")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "pending_workspaces", skip_all))]
pub async fn pending_workspaces() -> Result<Vec<Workspace>, AppError> {
    use crate::ssr::{cookie_value, PENDING_COOKIE};
    let state = crate::ssr::state()?;
    let ctx = crate::ssr::request()?;
    let Some(token) = cookie_value(ctx.cookie_header.as_deref(), PENDING_COOKIE, state.secure_cookies) else {
        return Ok(vec![]);
    };
    let choices = identity::auth::pending_choices(&state.db, token)
        .await
        .map_err(|e| crate::ssr::map_identity_error(e, &ctx.request_id))?;
    Ok(choices
        .into_iter()
        .map(|c| Workspace {
            slug: c.slug,
            name: c.name,
        })
        .collect())
}

#[server(endpoint = "workspace_name")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "workspace_name", skip_all))]
pub async fn workspace_name(slug: String) -> Result<Option<String>, AppError> {
    let state = crate::ssr::state()?;
    let ctx = crate::ssr::request()?;
    let org = identity::orgs::find_by_slug(&state.db, &slug)
        .await
        .map_err(|e| crate::ssr::map_identity_error(e, &ctx.request_id))?;
    Ok(org.map(|o| o.name))
}

/// `/`: wherever this visitor belongs.
#[component]
pub fn Home() -> impl IntoView {
    let target = async {
        match whoami().await? {
            Some(me) if me.is_admin() => Ok::<_, AppError>("/users".to_owned()),
            Some(_) => Ok("/profile".to_owned()),
            None if setup_state().await?.first_run => Ok("/setup".to_owned()),
            None => Ok("/login".to_owned()),
        }
    };
    load_outside_frame(target, |path| view! { <Redirect path=path/> })
}

#[component]
pub(crate) fn AuthCard(title: String, children: Children) -> impl IntoView {
    view! {
        <main class="auth">
            <div class="auth-card">
                <p class="brand" aria-hidden="true">"Rollcall"</p>
                <h1>{title}</h1>
                {children()}
            </div>
        </main>
    }
}

pub(crate) fn flash_field(flash: &Option<Flash>, field: &'static str) -> Signal<Option<String>> {
    let message = flash
        .as_ref()
        .filter(|f| f.field.as_deref() == Some(field))
        .map(|f| f.error.clone());
    Signal::derive(move || message.clone())
}

pub(crate) fn flash_general(flash: &Option<Flash>) -> Signal<Option<String>> {
    let message = flash.as_ref().filter(|f| f.field.is_none()).map(|f| f.error.clone());
    Signal::derive(move || message.clone())
}

/// First run ("Create your workspace") and, when the operator allows it, open sign-up.
#[component]
pub fn SetupPage() -> impl IntoView {
    use crate::components::{Field, FormError};
    let data = async { Ok::<_, AppError>((setup_state().await?, take_flash().await?)) };
    view! {
        <Title text="Create your workspace"/>
        {load_outside_frame(data, |data| {
                match data {
                    (state, _) if !state.first_run && !state.open_signup => view! {
                        <AuthCard title="This server already has a workspace".into()>
                            <p>"New workspaces are created by the server's operator. If you already have an account, sign in."</p>
                            <a class="button primary" href="/login">"Sign in"</a>
                        </AuthCard>
                    }.into_any(),
                    (state, flash) => {
                        let values = flash.clone().unwrap_or_default();
                        let value = move |name: &str| values.value(name);
                        let intro = if state.first_run {
                            "Set up Rollcall for your organisation. You will be its first admin."
                        } else {
                            "Create a new workspace for your organisation. You will be its first admin."
                        };
                        view! {
                            <AuthCard title="Create your workspace".into()>
                                <p class="lead">{intro}</p>
                                <FormError error=flash_general(&flash)/>
                                <form method="post" action="/auth/setup" class="stack">
                                    <Field label="Organisation name" name="org_name" value=value("org_name") required=true autofocus=true
                                        autocomplete="organization" error=flash_field(&flash, "org_name")/>
                                    <div class="field-row">
                                        <Field label="Your first name" name="given_name" value=value("given_name") autocomplete="given-name" error=flash_field(&flash, "given_name")/>
                                        <Field label="Your last name" name="family_name" value=value("family_name") autocomplete="family-name" error=flash_field(&flash, "family_name")/>
                                    </div>
                                    <Field label="Work email" name="email" kind="email" value=value("email") required=true autocomplete="email" error=flash_field(&flash, "email")/>
                                    <Field label="Password" name="password" kind="password" required=true autocomplete="new-password"
                                        hint="At least 10 characters. A few unrelated words make a strong one." error=flash_field(&flash, "password")/>
                                    <button type="submit" class="button primary wide">"Create workspace"</button>
                                </form>
                                {(!state.first_run).then(|| view! { <p class="muted">"Already have an account? " <a href="/login">"Sign in"</a></p> })}
                            </AuthCard>
                        }.into_any()
                    }
                }
        })}
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    use crate::components::{Field, FormError};
    let slug = use_params_map().with_untracked(|p| p.get("slug"));
    let next = use_query_map().with_untracked(|q| q.get("next")).unwrap_or_default();
    let data = async move {
        let setup = setup_state().await?;
        let flash = take_flash().await?;
        let org_name = match &slug {
            Some(slug) => workspace_name(slug.clone()).await?,
            None => None,
        };
        let options = crate::integrations::buttons::sign_in_options(slug.clone()).await?;
        Ok::<_, AppError>((setup, flash, org_name, slug, options))
    };
    view! {
        <Title text="Sign in"/>
        {load_outside_frame(data, move |data| {
                match data {
                    (setup, _, _, _, _) if setup.first_run => view! { <Redirect path="/setup"/> }.into_any(),
                    (_, _, None, Some(_), _) => view! {
                        <AuthCard title="Workspace not found".into()>
                            <p>"There is no workspace at this address. Check the link you were given, or sign in with your email."</p>
                            <a class="button primary" href="/login">"Sign in"</a>
                        </AuthCard>
                    }.into_any(),
                    (setup, flash, org_name, slug, options) => {
                        use crate::integrations::buttons::ProviderButtons;
                        let title = match &org_name {
                            Some(name) => format!("Sign in to {name}"),
                            None => "Sign in".to_owned(),
                        };
                        let email = flash.as_ref().map(|f| f.value("email")).unwrap_or_default();
                        let query = crate::integrations::start_query(slug.as_deref(), &next);
                        let has_providers = !options.providers.is_empty();
                        // With Require SSO, members use the providers; the password form stays for
                        // admins (their way back in), folded away.
                        let fold_password = options.require_sso && has_providers;
                        let password_form = view! {
                                <form method="post" action="/auth/login" class="stack">
                                    <input type="hidden" name="workspace" value=slug.unwrap_or_default()/>
                                    <input type="hidden" name="next" value=next/>
                                    <Field label="Email" name="email" kind="email" value=email required=true autocomplete="username" autofocus=!has_providers error=flash_field(&flash, "email")/>
                                    <Field label="Password" name="password" kind="password" required=true autocomplete="current-password" error=flash_field(&flash, "password")/>
                                    <button type="submit" class="button primary wide">"Sign in"</button>
                                </form>
                        };
                        view! {
                            <AuthCard title>
                                <FormError error=flash_general(&flash)/>
                                <ProviderButtons providers=options.providers purpose="start" query/>
                                {if fold_password {
                                    view! {
                                        <p class="muted">"This workspace signs in with the accounts above."</p>
                                        <details class="admin-password">
                                            <summary>"Administrators: sign in with a password"</summary>
                                            {password_form}
                                        </details>
                                    }.into_any()
                                } else {
                                    view! {
                                        {has_providers.then(|| view! { <p class="divider"><span>"or"</span></p> })}
                                        {password_form}
                                    }.into_any()
                                }}
                                <p class="muted">"Forgot your password? Ask an admin of your workspace to help you back in."</p>
                                {setup.open_signup.then(|| view! { <p class="muted">"New here? " <a href="/setup">"Create a workspace"</a></p> })}
                            </AuthCard>
                        }.into_any()
                    }
                }
        })}
    }
}

/// Shown when one email and password open accounts in several workspaces.
#[component]
pub fn WorkspacePage() -> impl IntoView {
    view! {
        <Title text="Choose a workspace"/>
        {load_outside_frame(pending_workspaces(), |choices| {
                match choices {
                    choices if choices.is_empty() => view! { <Redirect path="/login"/> }.into_any(),
                    choices => view! {
                        <AuthCard title="Choose a workspace".into()>
                            <p class="lead">"Your email has accounts in more than one workspace. Which one do you want?"</p>
                            <form method="post" action="/auth/login/workspace" class="choices">
                                {choices.into_iter().map(|w| view! {
                                    <button type="submit" name="workspace" value=w.slug.clone() class="choice">
                                        <strong>{w.name}</strong>
                                        <span class="muted">{format!("/o/{}", w.slug)}</span>
                                    </button>
                                }).collect_view()}
                            </form>
                        </AuthCard>
                    }.into_any(),
                }
        })}
    }
}

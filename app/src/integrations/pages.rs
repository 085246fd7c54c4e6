//! Pages outside the console: where a failed provider step lands (`/auth/problem`), and the
//! one-time access page (`/access/:token`) that gets someone back in after their provider was
//! turned off.

use super::buttons::ProviderButtons;
use super::ProviderLink;
use crate::components::{Field, FormError};
use crate::error::AppError;
use crate::format;
use crate::loading::load_outside_frame;
use crate::session::{flash_field, flash_general, take_flash, AuthCard};
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

/// `/auth/problem`: what happened, what to do, and the request id for support.
#[component]
pub fn ProblemPage() -> impl IntoView {
    view! {
        <Title text="Sign-in did not complete"/>
        {load_outside_frame(take_flash(), |flash| {
            let flash = flash.unwrap_or_default();
            let message = if flash.error.is_empty() {
                "There is nothing to show here any more. Start again from the sign-in page.".to_owned()
            } else {
                flash.error.clone()
            };
            let back_href = Some(flash.value("back_href"))
                .filter(|h| h.starts_with('/') && !h.starts_with("//") && !h.contains('\\') && !h.chars().any(char::is_control))
                .unwrap_or_else(|| "/login".into());
            let back_label = Some(flash.value("back_label")).filter(|l| !l.is_empty()).unwrap_or_else(|| "Back to sign in".into());
            let request_id = flash.value("request_id");
            view! {
                <AuthCard title="That did not work".into()>
                    <p role="alert">{message}</p>
                    {(!request_id.is_empty()).then(|| view! { <p class="muted">{format!("If you ask for help, give this request id: {request_id}.")}</p> })}
                    <a class="button primary" href=back_href>{back_label}</a>
                </AuthCard>
            }
        })}
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AccessView {
    Open {
        org_name: String,
        email: String,
        reason: String,
        expires_at: DateTime<Utc>,
        providers: Vec<ProviderLink>,
        /// False when the workspace requires SSO of members: connect a provider only.
        password_allowed: bool,
    },
    Used,
    Expired,
    Unknown,
}

#[server(endpoint = "access_landing")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "access_landing", skip_all))]
pub async fn access_landing(token: String) -> Result<AccessView, AppError> {
    use identity::access_links::AccessState;
    let state = crate::ssr::state()?;
    let ctx = crate::ssr::request()?;
    let fail = |e| crate::ssr::map_identity_error(e, &ctx.request_id);
    Ok(
        match identity::access_links::lookup(&state.db, &state.secret_key, &token)
            .await
            .map_err(fail)?
        {
            AccessState::Open(link) => {
                let enabled = identity::identities::enabled_providers(&state.db, link.org_id)
                    .await
                    .map_err(fail)?;
                let password_allowed = !identity::invites::requires_sso(&state.db, link.org_id, link.user_id)
                    .await
                    .map_err(fail)?;
                AccessView::Open {
                    password_allowed,
                    org_name: link.org_name,
                    email: link.email,
                    reason: link.reason,
                    expires_at: link.expires_at,
                    providers: super::usable_links(&state, enabled.into_iter().map(|(p, _)| p)),
                }
            }
            AccessState::Used => AccessView::Used,
            AccessState::Expired => AccessView::Expired,
            AccessState::Unknown => AccessView::Unknown,
        },
    )
}

#[component]
pub fn AccessPage() -> impl IntoView {
    let token = use_params_map().with_untracked(|p| p.get("token").unwrap_or_default());
    let data = async move { Ok::<_, AppError>((access_landing(token.clone()).await?, take_flash().await?, token)) };
    view! {
        <Title text="Set up a new way to sign in"/>
        {load_outside_frame(data, |(view, flash, token)| match view {
            AccessView::Open { org_name, email, reason, expires_at, providers, password_allowed } => {
                let query = form_urlencoded::Serializer::new(String::new()).append_pair("token", &token).finish();
                view! {
                    <AuthCard title=format!("Get back into {org_name}")>
                        <p class="lead">{format!("{reason}, and it was how {email} signed in. Choose a password, or connect another account.")}</p>
                        <FormError error=flash_general(&flash)/>
                        <form method="post" action="/auth/access" class="stack" hidden=!password_allowed>
                            <input type="hidden" name="token" value=token.clone()/>
                            <input type="email" name="email" value=email.clone() autocomplete="username" hidden=true readonly=true aria-hidden="true" tabindex="-1"/>
                            <Field label="New password" name="password" kind="password" required=true autofocus=true autocomplete="new-password"
                                hint="At least 10 characters." error=flash_field(&flash, "password")/>
                            <button type="submit" class="button primary wide">"Set password and sign in"</button>
                        </form>
                        {(!providers.is_empty() && password_allowed).then(|| view! { <p class="divider"><span>"or"</span></p> })}
                        <ProviderButtons providers purpose="access" query/>
                        <p class="muted">{format!("This link works once and expires {}.", format::timestamp(&expires_at))}</p>
                    </AuthCard>
                }.into_any()
            }
            AccessView::Used => view! {
                <AuthCard title="This link has been used".into()>
                    <p>"It works once. If you set a password or connected an account with it, sign in with that."</p>
                    <a class="button primary" href="/login">"Sign in"</a>
                </AuthCard>
            }.into_any(),
            AccessView::Expired => view! {
                <AuthCard title="This link has expired".into()>
                    <p>"Ask an admin of your workspace to help you back in."</p>
                </AuthCard>
            }.into_any(),
            AccessView::Unknown => view! {
                <AuthCard title="This link is not valid".into()>
                    <p>"Check that you opened the whole link from the email."</p>
                </AuthCard>
            }.into_any(),
        })}
    }
}

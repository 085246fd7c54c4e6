//! What an invited person sees: "Join <org>" with a password form, or a clear page saying
//! why the link no longer works and what to do.

use super::{invite_landing, InvitationView};
use crate::components::{Field, FormError};
use crate::error::AppError;
use crate::format;
use crate::loading::load_outside_frame;
use crate::session::AuthCard;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[component]
pub fn InvitationPage() -> impl IntoView {
    let token = use_params_map().with_untracked(|p| p.get("token").unwrap_or_default());
    let data = async move {
        Ok::<_, AppError>((
            invite_landing(token.clone()).await?,
            crate::session::take_flash().await?,
            token,
        ))
    };
    load_outside_frame(data, |data| {
        match data {
                    (InvitationView::Open { org_name, email, given_name, family_name, inviter, expires_at, providers, password_allowed }, flash, token) => {
                        let provider_query = form_urlencoded::Serializer::new(String::new()).append_pair("token", &token).finish();
                        let has_providers = !providers.is_empty();
                        let kept = flash.clone().unwrap_or_default();
                        let value = move |name: &str, fallback: &str| {
                            Some(kept.value(name)).filter(|v| !v.is_empty()).unwrap_or_else(|| fallback.to_owned())
                        };
                        let given_error = crate::session::flash_field(&flash, "given_name");
                        let family_error = crate::session::flash_field(&flash, "family_name");
                        let password_error = crate::session::flash_field(&flash, "password");
                        let general = crate::session::flash_general(&flash);
                        view! {
                            <Title text=format!("Join {org_name}")/>
                            <AuthCard title=format!("Join {org_name}")>
                                <p class="lead">{if password_allowed {
                                    format!("{inviter} invited you as {email}. Choose a password to finish.")
                                } else {
                                    format!("{inviter} invited you as {email}. Join with your work account.")
                                }}</p>
                                <FormError error=general/>
                                <crate::integrations::buttons::ProviderButtons providers purpose="invite" query=provider_query/>
                                {(has_providers && password_allowed).then(|| view! { <p class="divider"><span>"or choose a password"</span></p> })}
                                <form method="post" action="/auth/invite/accept" class="stack" hidden=!password_allowed>
                                    <input type="hidden" name="token" value=token/>
                                    <div class="field-row">
                                        <Field label="First name" name="given_name" value=value("given_name", &given_name) autocomplete="given-name" error=given_error/>
                                        <Field label="Last name" name="family_name" value=value("family_name", &family_name) autocomplete="family-name" error=family_error/>
                                    </div>
                                    <input type="email" name="email" value=email.clone() autocomplete="username" hidden=true readonly=true aria-hidden="true" tabindex="-1"/>
                                    <Field label="Password" name="password" kind="password" required=true autofocus=true autocomplete="new-password"
                                        hint="At least 10 characters." error=password_error/>
                                    <button type="submit" class="button primary wide">{format!("Join {org_name}")}</button>
                                </form>
                                <p class="muted">{format!("This link works once and expires {}.", format::timestamp(&expires_at))}</p>
                            </AuthCard>
                        }.into_any()
                    }
                    (InvitationView::Expired { org_name, inviter }, _, _) => view! {
                        <Title text="Invitation expired"/>
                        <AuthCard title="This invitation has expired".into()>
                            <p>{format!("Invitations to {org_name} are valid for a limited time. Ask {inviter} to send you a new one; it will arrive by email.")}</p>
                        </AuthCard>
                    }.into_any(),
                    (InvitationView::Used { org_name }, _, _) => view! {
                        <Title text="Invitation already used"/>
                        <AuthCard title="This invitation has already been used".into()>
                            <p>{format!("You (or someone with this link) already joined {org_name}. Sign in with your email and password.")}</p>
                            <a class="button primary" href="/login">"Sign in"</a>
                        </AuthCard>
                    }.into_any(),
                    (InvitationView::NoLongerValid { org_name }, _, _) => view! {
                        <Title text="Invitation no longer valid"/>
                        <AuthCard title="This invitation is no longer valid".into()>
                            <p>{format!("An admin of {org_name} revoked it or sent a newer one. Use the most recent invitation email, or ask an admin to resend it.")}</p>
                        </AuthCard>
                    }.into_any(),
                    (InvitationView::Unknown, _, _) => view! {
                        <Title text="Invitation not found"/>
                        <AuthCard title="This invitation link is not valid".into()>
                            <p>"Check that you opened the whole link from your invitation email. If it still does not work, ask your admin to resend the invitation."</p>
                        </AuthCard>
                    }.into_any(),
                }
    })
}

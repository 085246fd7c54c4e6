//! The invitation panel of a user's page: send, resend, revoke, copy the link.

use super::{InviteLink, InviteUsers, ResendInvite, RevokeInvite};
use crate::components::{toast, FormError};
use crate::error::AppError;
use crate::format;
use crate::users::UserRow;
use leptos::prelude::*;
use people::Status;

/// The invitation part of a user's page.
#[component]
pub fn InvitationPanel(user: UserRow, changed: RwSignal<u32>) -> impl IntoView {
    let resend = ServerAction::<ResendInvite>::new();
    let revoke = ServerAction::<RevokeInvite>::new();
    let send = ServerAction::<InviteUsers>::new();
    let link = ServerAction::<InviteLink>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = resend.value().get() {
            toast("A new invitation is on its way. The previous link no longer works.");
            changed.update(|n| *n += 1);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = revoke.value().get() {
            toast("Invitation revoked. The link no longer works.");
            changed.update(|n| *n += 1);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(summary)) = send.value().get() {
            toast(if summary.invited == 1 {
                "Invitation sent."
            } else {
                "They could not be invited."
            });
            changed.update(|n| *n += 1);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(url)) = link.value().get() {
            copy_to_clipboard(&url);
            toast("Invitation link copied.");
        }
    });
    let error = Signal::derive(move || {
        [
            resend.value().get().map(|r| r.err()),
            revoke.value().get().map(|r| r.err()),
            send.value().get().and_then(|r| r.err()).map(Some),
            link.value().get().and_then(|r| r.err()).map(Some),
        ]
        .into_iter()
        .flatten()
        .flatten()
        .next()
        .map(|e: AppError| e.to_string())
    });
    let id = user.id;
    let body = match (user.status, &user.invite) {
        (Status::Invited, Some(invite)) => {
            let when = if invite.expired {
                format!("The invitation sent {} expired {}.", format::timestamp(&invite.sent_at), format::timestamp(&invite.expires_at))
            } else {
                format!("Invited {}; the link expires {}.", format::timestamp(&invite.sent_at), format::timestamp(&invite.expires_at))
            };
            let expired = invite.expired;
            view! {
                <p>{when}</p>
                <div class="actions">
                    <button type="button" class="button" on:click=move |_| { resend.dispatch(ResendInvite { user_id: id }); }
                        disabled=move || resend.pending().get()>"Resend"</button>
                    {(!expired).then(|| view! {
                        <button type="button" class="button" on:click=move |_| { link.dispatch(InviteLink { user_id: id }); }>"Copy invite link"</button>
                    })}
                    <button type="button" class="button danger-outline" on:click=move |_| { revoke.dispatch(RevokeInvite { user_id: id }); }
                        disabled=move || revoke.pending().get()>"Revoke"</button>
                </div>
                {move || link.value().get().and_then(Result::ok).map(|url| view! {
                    <div class="field">
                        <label for="invite-url">"Invitation link"</label>
                        <input id="invite-url" type="text" readonly=true value=url/>
                        <p class="hint">"Works once, for this person only."</p>
                    </div>
                })}
            }
            .into_any()
        }
        (Status::Imported | Status::Invited, _) => view! {
            <p>"Not invited yet. They get an email with a link to set their password."</p>
            <button type="button" class="button primary" on:click=move |_| { send.dispatch(InviteUsers { ids: vec![id], all_matching: None }); }
                disabled=move || send.pending().get()>"Send invitation"</button>
        }
        .into_any(),
        (Status::Active, _) => view! { <p class="muted">"They have joined; no invitation is needed."</p> }.into_any(),
        _ => view! { <p class="muted">"Reactivate them to invite them again."</p> }.into_any(),
    };
    view! {
        <section class="panel" aria-labelledby="invite-heading">
            <h2 id="invite-heading">"Invitation"</h2>
            <FormError error/>
            {body}
        </section>
    }
}

fn copy_to_clipboard(text: &str) {
    #[cfg(feature = "hydrate")]
    {
        let _ = window().navigator().clipboard().write_text(text);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = text;
}

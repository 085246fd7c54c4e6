//! Inviting people: the "Invite people" page (paste or CSV, preview, confirm), bulk invites
//! from the table, and the invitation panel of a user's page (resend, revoke, copy link).

use crate::components::{toast, FormError};
use crate::error::AppError;
use crate::format;
use crate::frame::AdminOnly;
#[cfg(feature = "ssr")]
use crate::model::Role;
use crate::model::{InviteOutcome, InvitePreviewRow, InviteSummary, UserRow, UserStatus, UsersQuery};
use leptos::prelude::*;
use leptos_meta::Title;
use uuid::Uuid;

#[cfg(feature = "ssr")]
fn requests(list: &str, csv: &str) -> Result<Vec<identity::invites::InviteRequest>, identity::Error> {
    let mut rows = identity::invites::parse_list(list);
    if !csv.trim().is_empty() {
        let offset = rows.len();
        rows.extend(identity::invites::parse_csv(csv)?.into_iter().map(|mut r| {
            r.line += offset;
            r
        }));
    }
    Ok(rows)
}

#[cfg(feature = "ssr")]
fn parse_role(role: &str) -> Result<Role, AppError> {
    Role::parse(role).ok_or_else(|| AppError::invalid("role", "Choose Admin or Member."))
}

#[cfg(feature = "ssr")]
fn identity_role(role: Role) -> identity::users::Role {
    match role {
        Role::Admin => identity::users::Role::Admin,
        Role::Member => identity::users::Role::Member,
    }
}

#[server(endpoint = "preview_invites")]
pub async fn preview_invites(
    #[server(default)] list: String,
    #[server(default)] csv: String,
    #[server(default)] role: String,
) -> Result<Vec<InvitePreviewRow>, AppError> {
    use identity::invites::Outcome;
    let caller = crate::ssr::admin().await?;
    let default_role = parse_role(if role.is_empty() { "member" } else { &role })?;
    let requests = requests(&list, &csv).map_err(|e| caller.fail(e))?;
    if requests.is_empty() {
        return Err(AppError::invalid(
            "list",
            "Enter at least one email address, or choose a CSV file.",
        ));
    }
    let rows = identity::invites::preview(&caller.state.db, caller.user.org_id, requests)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let (outcome, problem) = match row.outcome {
                Outcome::NewInvite => (InviteOutcome::NewInvite, None),
                Outcome::InviteExisting => (InviteOutcome::InviteExisting, None),
                Outcome::AlreadyMember => (InviteOutcome::AlreadyMember, None),
                Outcome::AlreadyInvited => (InviteOutcome::AlreadyInvited, None),
                Outcome::Deactivated => (InviteOutcome::Deactivated, None),
                Outcome::Duplicate => (InviteOutcome::Duplicate, None),
                Outcome::Invalid(why) => (InviteOutcome::Invalid, Some(why)),
            };
            let role = match row.request.role {
                Some(identity::users::Role::Admin) => Role::Admin,
                Some(identity::users::Role::Member) => Role::Member,
                None => default_role,
            };
            InvitePreviewRow {
                line: row.request.line,
                name: format!("{} {}", row.request.given_name, row.request.family_name)
                    .trim()
                    .to_owned(),
                email: row.request.email,
                role,
                outcome,
                problem,
            }
        })
        .collect())
}

#[server(endpoint = "send_invites")]
pub async fn send_invites(
    #[server(default)] list: String,
    #[server(default)] csv: String,
    #[server(default)] role: String,
) -> Result<InviteSummary, AppError> {
    let caller = crate::ssr::admin().await?;
    let default_role = parse_role(if role.is_empty() { "member" } else { &role })?;
    let requests = requests(&list, &csv).map_err(|e| caller.fail(e))?;
    let summary = identity::invites::send(
        &caller.state.db,
        &caller.actor(),
        &caller.state.secret_key,
        requests,
        identity_role(default_role),
    )
    .await
    .map_err(|e| caller.fail(e))?;
    Ok(InviteSummary {
        invited: summary.invited,
        skipped: summary.skipped,
        invalid: summary.invalid,
    })
}

/// Invites the selected users; with `all_matching`, every invitable user the filter matches.
#[server(endpoint = "invite_users")]
pub async fn invite_users(
    #[server(default)] ids: Vec<Uuid>,
    #[server(default)] all_matching: Option<UsersQuery>,
) -> Result<InviteSummary, AppError> {
    let caller = crate::ssr::admin().await?;
    let (db, key) = (&caller.state.db, &caller.state.secret_key);
    let ids = match all_matching {
        Some(query) => {
            let q = super::convert::query(&query, 1);
            identity::users::invitable_ids_matching(db, caller.user.org_id, &q, identity::invites::MAX_PER_BATCH as i64)
                .await
                .map_err(|e| caller.fail(e))?
        }
        None => ids,
    };
    let summary = identity::invites::invite_existing(db, &caller.actor(), key, &ids)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(InviteSummary {
        invited: summary.invited,
        skipped: summary.skipped,
        invalid: 0,
    })
}

#[server(endpoint = "resend_invite")]
pub async fn resend_invite(user_id: Uuid) -> Result<(), AppError> {
    let caller = crate::ssr::admin().await?;
    identity::invites::resend(&caller.state.db, &caller.actor(), &caller.state.secret_key, user_id)
        .await
        .map_err(|e| caller.fail(e))
}

#[server(endpoint = "revoke_invite")]
pub async fn revoke_invite(user_id: Uuid) -> Result<(), AppError> {
    let caller = crate::ssr::admin().await?;
    identity::invites::revoke(&caller.state.db, &caller.actor(), user_id)
        .await
        .map_err(|e| caller.fail(e))
}

#[server(endpoint = "invite_link")]
pub async fn invite_link(user_id: Uuid) -> Result<String, AppError> {
    let caller = crate::ssr::admin().await?;
    let token =
        identity::invites::current_token(&caller.state.db, &caller.state.secret_key, caller.user.org_id, user_id)
            .await
            .map_err(|e| caller.fail(e))?;
    Ok(format!("{}/invite/{token}", caller.state.public_url))
}

#[component]
pub fn InvitePeoplePage() -> impl IntoView {
    view! {
        <Title text="Invite people"/>
        <AdminOnly>
            <p class="breadcrumb"><a href="/users">"← Users"</a></p>
            <header class="page-header"><h1>"Invite people"</h1></header>
            <InvitePeople/>
        </AdminOnly>
    }
}

/// Paste addresses or choose a CSV, see what would happen to each row, then confirm.
#[island]
fn InvitePeople() -> impl IntoView {
    let preview = ServerAction::<PreviewInvites>::new();
    let send = ServerAction::<SendInvites>::new();
    let list = RwSignal::new(String::new());
    let csv = RwSignal::new(String::new());
    let csv_name = RwSignal::new(None::<String>);
    let role = RwSignal::new("member".to_owned());
    let preview_result: Signal<Option<Result<Vec<InvitePreviewRow>, AppError>>> = preview.value().into();
    let send_result: Signal<Option<Result<InviteSummary, AppError>>> = send.value().into();
    // Editing the input invalidates an earlier preview.
    Effect::new(move |previous: Option<(String, String, String)>| {
        let current = (list.get(), csv.get(), role.get());
        if previous.is_some_and(|p| p != current) {
            preview.value().set(None);
        }
        current
    });
    let on_file = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let input: web_sys::HtmlInputElement = ev.target().expect("input").unchecked_into();
            if let Some(file) = input.files().and_then(|files| files.get(0)) {
                csv_name.set(Some(file.name()));
                let promise = file.text();
                leptos::task::spawn_local(async move {
                    if let Ok(text) = wasm_bindgen_futures::JsFuture::from(promise).await {
                        csv.set(text.as_string().unwrap_or_default());
                    }
                });
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    let do_preview = move |_| {
        preview.dispatch(PreviewInvites {
            list: list.get_untracked(),
            csv: csv.get_untracked(),
            role: role.get_untracked(),
        });
    };
    let do_send = move |_| {
        send.dispatch(SendInvites {
            list: list.get_untracked(),
            csv: csv.get_untracked(),
            role: role.get_untracked(),
        });
    };
    Effect::new(move |_| {
        if let Some(Ok(summary)) = send.value().get() {
            toast(format!(
                "Sent {} invitation{}.",
                summary.invited,
                if summary.invited == 1 { "" } else { "s" }
            ));
        }
    });
    let list_error = Signal::derive(move || match preview_result.get() {
        Some(Err(err)) => Some(err.to_string()),
        _ => None,
    });

    view! {
            {move || match send_result.get() {
                Some(Ok(summary)) => view! { <InviteDone summary/> }.into_any(),
                _ => view! {
                    <section class="panel">
                        <div class="stack">
                            <div class="field" class:invalid=move || list_error.get().is_some()>
                                <label for="list">"Email addresses"</label>
                                <textarea id="list" name="list" rows="5" placeholder="ada@example.com, grace@example.com"
                                    aria-describedby="list-hint list-error"
                                    prop:value=move || list.get() on:input=move |ev| list.set(event_target_value(&ev))></textarea>
                                <p class="hint" id="list-hint">"Separate addresses with commas, spaces or new lines."</p>
                                <p class="field-error" id="list-error" role="alert" hidden=move || list_error.get().is_none()>
                                    {move || list_error.get().unwrap_or_default()}
                                </p>
                            </div>
                            <div class="field-row">
                                <div class="field">
                                    <label for="csv">"Or upload a CSV file"<span class="optional">" (optional)"</span></label>
                                    <input id="csv" type="file" accept=".csv,text/csv" on:change=on_file aria-describedby="csv-hint"/>
                                    <p class="hint" id="csv-hint">
                                        {move || csv_name.get().map(|n| format!("Loaded {n}. ")).unwrap_or_default()}
                                        "Columns: email, given name, family name, role (admin or member)."
                                    </p>
                                </div>
                                <div class="field">
                                    <label for="role">"Role"</label>
                                    <select id="role" on:change=move |ev| role.set(event_target_value(&ev))>
                                        <option value="member" selected=true>"Member"</option>
                                        <option value="admin">"Admin"</option>
                                    </select>
                                    <p class="hint">"For rows that do not name a role."</p>
                                </div>
                            </div>
                            <div class="actions">
                                <button type="button" class="button" on:click=do_preview disabled=move || preview.pending().get()>
                                    {move || if preview.pending().get() { "Checking…" } else { "Preview" }}
                                </button>
                            </div>
                        </div>
                    </section>
                    {move || match preview_result.get() {
                        Some(Ok(rows)) => {
                            let sendable = rows.iter().filter(|r| r.outcome.sends()).count();
                            view! {
                                <section class="panel" aria-labelledby="preview-heading">
                                    <h2 id="preview-heading">"Preview"</h2>
                                    <p class="muted">{preview_summary(&rows)}</p>
                                    <div class="table-wrap">
                                        <table class="data">
                                            <thead><tr>
                                                <th scope="col">"#"</th><th scope="col">"Email"</th><th scope="col">"Name"</th>
                                                <th scope="col">"Role"</th><th scope="col">"Result"</th>
                                            </tr></thead>
                                            <tbody>
                                                {rows.into_iter().map(|r| view! {
                                                    <tr>
                                                        <td class="muted">{r.line}</td>
                                                        <td>{r.email}</td>
                                                        <td>{r.name}</td>
                                                        <td>{r.role.label()}</td>
                                                        <td>
                                                            <span class=r.outcome.chip_class()>{r.outcome.label()}</span>
                                                            {r.problem.map(|p| view! { <span class="problem">{p}</span> })}
                                                        </td>
                                                    </tr>
                                                }).collect_view()}
                                            </tbody>
                                        </table>
                                    </div>
                                    <FormError error=Signal::derive(move || match send_result.get() {
                                        Some(Err(err)) => Some(err.to_string()),
                                        _ => None,
                                    })/>
                                    <div class="actions">
                                        <button type="button" class="button primary" on:click=do_send
                                            disabled=move || sendable == 0 || send.pending().get()>
                                            {move || if send.pending().get() {
                                                "Sending…".to_owned()
                                            } else {
                                                format!("Send {} invitation{}", format::count(sendable as i64), if sendable == 1 { "" } else { "s" })
                                            }}
                                        </button>
                                    </div>
                                </section>
                            }.into_any()
                        }
                        _ => ().into_any(),
                    }}
                }.into_any(),
            }}
    }
}

fn preview_summary(rows: &[InvitePreviewRow]) -> String {
    let count = |o: InviteOutcome| rows.iter().filter(|r| r.outcome == o).count();
    let send = rows.iter().filter(|r| r.outcome.sends()).count();
    let mut parts = vec![format!("{send} will be invited")];
    for (o, one, many) in [
        (InviteOutcome::AlreadyMember, "already a member", "already members"),
        (InviteOutcome::AlreadyInvited, "already invited", "already invited"),
        (InviteOutcome::Deactivated, "deactivated", "deactivated"),
        (InviteOutcome::Duplicate, "listed twice", "listed twice"),
        (InviteOutcome::Invalid, "invalid", "invalid"),
    ] {
        let n = count(o);
        if n > 0 {
            parts.push(format!("{n} {}", if n == 1 { one } else { many }));
        }
    }
    format!("{}. Nothing is sent until you confirm.", parts.join(", "))
}

#[component]
fn InviteDone(summary: InviteSummary) -> impl IntoView {
    view! {
        <section class="panel" role="status">
            <h2>{format!("Sent {} invitation{}", format::count(summary.invited as i64), if summary.invited == 1 { "" } else { "s" })}</h2>
            <p>
                {format!("{} skipped (already members, already invited or listed twice), {} invalid.", summary.skipped, summary.invalid)}
                " Invitations expire after the time set in Settings; you can resend or revoke them from each person's page."
            </p>
            <div class="actions">
                <a class="button primary" href="/users?status=invited">"See invited people"</a>
                <a class="button" href="/outbox">"Email outbox"</a>
                <a class="button" href="/users/invite">"Invite more"</a>
            </div>
        </section>
    }
}

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
        (UserStatus::Invited, Some(invite)) => {
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
        (UserStatus::Imported | UserStatus::Invited, _) => view! {
            <p>"Not invited yet. They get an email with a link to set their password."</p>
            <button type="button" class="button primary" on:click=move |_| { send.dispatch(InviteUsers { ids: vec![id], all_matching: None }); }
                disabled=move || send.pending().get()>"Send invitation"</button>
        }
        .into_any(),
        (UserStatus::Active, _) => view! { <p class="muted">"They have joined; no invitation is needed."</p> }.into_any(),
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

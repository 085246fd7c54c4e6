//! The "Invite people" page: paste addresses or choose a CSV file, preview every row, confirm.

use super::{InviteOutcome, InvitePreviewRow, InviteSummary, PreviewInvites, SendInvites};
use crate::components::{toast, FormError};
use crate::error::AppError;
use crate::format;
use crate::frame::AdminOnly;
use leptos::prelude::*;
use leptos_meta::Title;

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

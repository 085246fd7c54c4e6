//! The email outbox: every mail Rollcall sent or will send, failed deliveries with a retry
//! button, and (without SMTP) the rendered mail and its link, so invitations work with nothing
//! else installed.

use crate::components::toast;
use crate::error::AppError;
use crate::format;
use crate::frame::AdminOnly;
use crate::loading::load;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub id: i64,
    pub recipient: String,
    pub subject: String,
    pub created_at: DateTime<Utc>,
    pub state: MailState,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailState {
    Sent,
    Queued,
    Retrying,
    Failed,
    Cancelled,
    /// No SMTP server is configured: the mail waits here for an admin.
    Held,
}

impl MailState {
    pub fn label(self) -> &'static str {
        match self {
            MailState::Sent => "Sent",
            MailState::Queued => "Queued",
            MailState::Retrying => "Retrying",
            MailState::Failed => "Failed",
            MailState::Cancelled => "Not sent",
            MailState::Held => "Waiting",
        }
    }
    pub fn chip_class(self) -> &'static str {
        match self {
            MailState::Sent => "chip chip-active",
            MailState::Queued | MailState::Held => "chip chip-invited",
            MailState::Retrying => "chip chip-imported",
            MailState::Failed => "chip chip-deactivated",
            MailState::Cancelled => "chip",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxListing {
    pub entries: Vec<OutboxEntry>,
    pub older_than: Option<i64>,
    pub smtp_configured: bool,
    pub waiting: i64,
    pub failed: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderedMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    /// The invitation link inside, for copying.
    pub link: Option<String>,
}

#[server(endpoint = "list_outbox")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "list_outbox", skip_all))]
pub async fn list_outbox(
    #[server(default)] older_than: Option<i64>,
    #[server(default)] problems: bool,
) -> Result<OutboxListing, AppError> {
    let caller = crate::ssr::admin().await?;
    let db = &caller.state.db;
    let org = caller.user.org_id;
    let page = identity::mail::outbox::list(db, org, older_than, problems, 50)
        .await
        .map_err(|e| caller.fail(e))?;
    let (waiting, failed) = identity::mail::outbox::counts(db, org)
        .await
        .map_err(|e| caller.fail(e))?;
    let smtp = caller.state.smtp_configured;
    Ok(OutboxListing {
        entries: page
            .entries
            .into_iter()
            .map(|e| OutboxEntry {
                state: match (e.sent_at, e.failed_at, &e.last_error) {
                    (Some(_), _, _) => MailState::Sent,
                    (None, Some(_), Some(err)) if err.starts_with("Not sent") => MailState::Cancelled,
                    (None, Some(_), _) => MailState::Failed,
                    (None, None, Some(_)) => MailState::Retrying,
                    (None, None, None) if !smtp => MailState::Held,
                    (None, None, None) => MailState::Queued,
                },
                id: e.id,
                recipient: e.recipient,
                subject: e.subject,
                created_at: e.created_at,
                attempts: e.attempts,
                last_error: e.last_error,
                next_attempt_at: e.next_attempt_at,
            })
            .collect(),
        older_than: page.older_than,
        smtp_configured: smtp,
        waiting,
        failed,
    })
}

#[server(endpoint = "outbox_mail")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "outbox_mail", skip_all))]
pub async fn outbox_mail(id: i64) -> Result<Option<RenderedMail>, AppError> {
    let caller = crate::ssr::admin().await?;
    let mail = identity::mail::outbox::rendered(
        &caller.state.db,
        &caller.state.secret_key,
        &caller.state.public_url,
        caller.user.org_id,
        id,
    )
    .await
    .map_err(|e| caller.fail(e))?;
    let prefix = format!("{}/invite/", caller.state.public_url);
    Ok(mail.map(|m| RenderedMail {
        link: m.text.lines().find(|l| l.starts_with(&prefix)).map(str::to_owned),
        to: m.to,
        subject: m.subject,
        text: m.text,
    }))
}

#[server(endpoint = "retry_mail")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "retry_mail", skip_all))]
pub async fn retry_mail(id: i64) -> Result<(), AppError> {
    let caller = crate::ssr::admin().await?;
    identity::mail::outbox::retry(&caller.state.db, &caller.actor(), id)
        .await
        .map_err(|e| caller.fail(e))
}

#[component]
pub fn OutboxPage() -> impl IntoView {
    let (older_than, problems, viewing) = use_query_map().with_untracked(|q| {
        (
            q.get("before").and_then(|b| b.parse::<i64>().ok()),
            q.get("show").as_deref() == Some("problems"),
            q.get("view").and_then(|v| v.parse::<i64>().ok()),
        )
    });
    view! {
        <Title text="Email outbox"/>
        <AdminOnly>
            <p class="breadcrumb"><A href="/users">"← Users"</A></p>
            <header class="page-header"><h1>"Email outbox"</h1></header>
            {load(list_outbox(older_than, problems), move |page| view! { <OutboxTable page problems/> })}
            {viewing.map(|id| load(outbox_mail(id), move |mail| match mail {
                Some(mail) => view! { <MailView id mail/> }.into_any(),
                None => view! {
                    <section class="panel"><p>"This mail is no longer available to view: its invitation was accepted, revoked or replaced."</p></section>
                }.into_any(),
            }))}
        </AdminOnly>
    }
}

#[component]
fn OutboxTable(page: OutboxListing, problems: bool) -> impl IntoView {
    let notice = if page.smtp_configured {
        format!(
            "{} waiting to be sent, {} failed.",
            format::count(page.waiting),
            format::count(page.failed)
        )
    } else {
        "No SMTP server is configured, so mail is kept here instead of sent. Open a mail to copy its link and share it \
         yourself, or set ROLLCALL_SMTP_URL and restart to send mail automatically."
            .to_owned()
    };
    let filter = if problems {
        view! { <a href="/outbox">"Show all mail"</a> }.into_any()
    } else {
        view! { <a href="/outbox?show=problems">"Show only problems"</a> }.into_any()
    };
    if page.entries.is_empty() {
        return view! {
            <p class="muted">{notice}</p>
            <div class="empty-state">
                <p class="empty-title">{if problems { "No delivery problems" } else { "No mail yet" }}</p>
                <p>"Invitations you send appear here with their delivery status."</p>
                <a class="button primary" href="/users/invite">"Invite people"</a>
            </div>
        }
        .into_any();
    }
    view! {
        <p class="muted">{notice} " " {filter}</p>
        <div class="table-wrap">
            <table class="data">
                <caption class="visually-hidden">"Outgoing mail"</caption>
                <thead><tr>
                    <th scope="col">"To"</th><th scope="col">"Subject"</th><th scope="col">"Status"</th>
                    <th scope="col">"Queued"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th>
                </tr></thead>
                <tbody>
                    {page.entries.into_iter().map(|e| {
                        let id = e.id;
                        let detail = match e.state {
                            MailState::Retrying => Some(format!("Attempt {} failed: {}. Next try {}.", e.attempts, e.last_error.clone().unwrap_or_default(), format::timestamp(&e.next_attempt_at))),
                            MailState::Failed | MailState::Cancelled => e.last_error.clone(),
                            _ => None,
                        };
                        view! {
                            <tr>
                                <td>{e.recipient}</td>
                                <td>{e.subject}</td>
                                <td>
                                    <span class=e.state.chip_class()>{e.state.label()}</span>
                                    {detail.map(|d| view! { <span class="problem">{d}</span> })}
                                </td>
                                <td class="nowrap">{format::timestamp(&e.created_at)}</td>
                                <td class="nowrap">
                                    <a href=format!("/outbox?view={id}")>"View"<span class="visually-hidden">{format!(" mail {id}")}</span></a>
                                    {(e.state == MailState::Failed).then(|| view! {
                                        " "
                                        <RetryButton id/>
                                    })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        <nav class="pagination" aria-label="Pages">
            {page.older_than.map(|id| view! { <A href=format!("/outbox?before={id}") attr:class="button" attr:rel="next">"Older"</A> })}
        </nav>
    }
    .into_any()
}

/// Queues a failed mail again; the row says so until the next visit shows its new status.
#[island]
fn RetryButton(id: i64) -> impl IntoView {
    let retry = ServerAction::<RetryMail>::new();
    Effect::new(move |_| match retry.value().get() {
        Some(Ok(())) => toast("Queued again; it will be sent in a moment."),
        Some(Err(err)) => toast(err.to_string()),
        None => {}
    });
    move || {
        if matches!(retry.value().get(), Some(Ok(()))) {
            view! { <span class="muted">"Queued again"</span> }.into_any()
        } else {
            view! {
                <button type="button" class="button" on:click=move |_| { retry.dispatch(RetryMail { id }); }
                    disabled=move || retry.pending().get()>"Retry"</button>
            }
            .into_any()
        }
    }
}

#[component]
fn MailView(id: i64, mail: RenderedMail) -> impl IntoView {
    view! {
        <section class="panel mail-view" aria-labelledby="mail-heading">
            <h2 id="mail-heading">{format!("Mail {id}: {}", mail.subject)}</h2>
            <p class="muted">{format!("To {}", mail.to)}</p>
            {mail.link.map(|link| view! {
                <div class="field">
                    <label for="mail-link">"Invitation link"</label>
                    <input id="mail-link" type="text" readonly=true value=link/>
                </div>
            })}
            <pre class="mail-text">{mail.text}</pre>
        </section>
    }
}

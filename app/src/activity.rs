//! The Activity tab: the audit log, newest first.

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
use uuid::Uuid;
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityEvent {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub target_id: Option<Uuid>,
    pub summary: String,
    pub ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityPage {
    pub events: Vec<ActivityEvent>,
    pub older_than: Option<i64>,
}

pub const EVENTS_PER_PAGE: i64 = 50;

#[server(endpoint = "list_activity")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "list_activity", skip_all))]
pub async fn list_activity(#[server(default)] older_than: Option<i64>) -> Result<ActivityPage, AppError> {
    let caller = crate::ssr::admin().await?;
    let page = identity::audit::list(&caller.state.db, caller.user.org_id, older_than, EVENTS_PER_PAGE)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(ActivityPage {
        events: page
            .events
            .into_iter()
            .map(|e| ActivityEvent {
                id: e.id,
                occurred_at: e.occurred_at,
                summary: summarise(&e.action, &e.details),
                actor: e.actor_label,
                action: e.action,
                target: e.target_label,
                target_id: e.target_id,
                ip: e.ip,
            })
            .collect(),
        older_than: page.older_than,
    })
}

/// Plain-language description of an audit action.
pub fn summarise(action: &str, details: &serde_json::Value) -> String {
    let text = |key: &str| details.get(key).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    match action {
        "org.created" => format!("created the workspace {}", text("name")),
        "user.created" => format!("added a user as {}", text("role")),
        "user.updated" => {
            let fields: Vec<&str> = details
                .as_object()
                .map(|o| o.keys().map(|k| k.as_str()).collect())
                .unwrap_or_default();
            format!("changed {}", fields.join(", ").replace('_', " "))
        }
        "user.deactivated" => "deactivated a user".to_owned(),
        "user.reactivated" => "reactivated a user".to_owned(),
        "user.signed_in" => format!("signed in ({})", text("method")),
        "invite.sent" => "sent an invitation".to_owned(),
        "invite.resent" => "resent an invitation".to_owned(),
        "invite.revoked" => "revoked an invitation".to_owned(),
        "invite.accepted" => "accepted an invitation".to_owned(),
        "mail.retried" => format!("retried a mail to {}", text("recipient")),
        "settings.invite_expiry" => "changed how long invitations last".to_owned(),
        "integration.mode_changed" => format!(
            "set {} sign-in to {}",
            provider_label(&text("provider")),
            match text("to").as_str() {
                "sso_only" => "SSO only",
                "org_connected" => "Organisation connected",
                _ => "Off",
            }
        ),
        "integration.connected" => format!(
            "connected {} organisation {}",
            provider_label(&text("provider")),
            text("org_key")
        ),
        "integration.disabled" => {
            let n = |key: &str| details.get(key).and_then(|v| v.as_i64()).unwrap_or(0);
            format!(
                "disabled {} sign-in: {} unlinked, {} with no other way in sent a link, {} sessions ended",
                provider_label(&text("provider")),
                n("unlinked"),
                n("links_sent"),
                n("sessions_ended")
            )
        }
        "integration.require_sso" => {
            if details.get("on").and_then(|v| v.as_bool()) == Some(true) {
                "required SSO for members".to_owned()
            } else {
                "stopped requiring SSO for members".to_owned()
            }
        }
        "identity.linked" => format!("linked a {} account", provider_label(&text("provider"))),
        "identity.unlinked" => format!("unlinked a {} account", provider_label(&text("provider"))),
        "access_link.password_set" => "set a password with a one-time link".to_owned(),
        other => other.replace(['.', '_'], " "),
    }
}

fn provider_label(id: &str) -> &str {
    match id {
        "google" => "Google",
        "microsoft" => "Microsoft",
        "slack" => "Slack",
        other => other,
    }
}

#[component]
pub fn ActivityPage() -> impl IntoView {
    let older_than = use_query_map().with_untracked(|q| q.get("before").and_then(|b| b.parse::<i64>().ok()));
    view! {
        <Title text="Activity"/>
        <AdminOnly>
            <header class="page-header"><h1>"Activity"</h1></header>
            <p class="muted">"Everything admins and people did in this workspace, newest first."</p>
            {load(list_activity(older_than), move |page| view! { <EventTable page newest_link=older_than.is_some()/> })}
        </AdminOnly>
    }
}

#[component]
fn EventTable(page: ActivityPage, newest_link: bool) -> impl IntoView {
    if page.events.is_empty() {
        return view! {
            <div class="empty-state">
                <p class="empty-title">"Nothing yet"</p>
                <p>"Changes to users and sign-ins will appear here as they happen."</p>
            </div>
        }
        .into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="data">
                <caption class="visually-hidden">"Audit log"</caption>
                <thead><tr>
                    <th scope="col">"When"</th><th scope="col">"Who"</th><th scope="col">"What"</th>
                    <th scope="col">"Whom"</th><th scope="col">"From"</th>
                </tr></thead>
                <tbody>
                    {page.events.into_iter().map(|e| view! { <EventRow event=e/> }).collect_view()}
                </tbody>
            </table>
        </div>
        <nav class="pagination" aria-label="Pages">
            {newest_link.then(|| view! { <A href="/activity" attr:class="button">"Newest"</A> })}
            {page.older_than.map(|id| view! { <A href=format!("/activity?before={id}") attr:class="button" attr:rel="next">"Older"</A> })}
        </nav>
    }
    .into_any()
}

#[component]
fn EventRow(event: ActivityEvent) -> impl IntoView {
    let target = match (event.target, event.target_id) {
        (Some(label), Some(id)) => view! { <a href=format!("/users/{id}")>{label}</a> }.into_any(),
        (Some(label), None) => label.into_any(),
        _ => "—".into_any(),
    };
    view! {
        <tr>
            <td class="nowrap">{format::timestamp(&event.occurred_at)}</td>
            <td>{event.actor}</td>
            <td>{event.summary}</td>
            <td>{target}</td>
            <td class="muted">{event.ip.unwrap_or_else(|| "—".into())}</td>
        </tr>
    }
}

#[cfg(test)]
mod summaries {
    use super::summarise;
    use serde_json::json;

    #[test]
    fn disabling_a_provider_reads_with_its_counts() {
        let details = json!({"provider": "slack", "unlinked": 3, "links_sent": 2, "sessions_ended": 4});
        assert_eq!(
            summarise("integration.disabled", &details),
            "disabled Slack sign-in: 3 unlinked, 2 with no other way in sent a link, 4 sessions ended"
        );
        assert_eq!(
            summarise(
                "integration.mode_changed",
                &json!({"provider": "google", "to": "org_connected"})
            ),
            "set Google sign-in to Organisation connected"
        );
        assert_eq!(
            summarise("identity.linked", &json!({"provider": "microsoft"})),
            "linked a Microsoft account"
        );
    }
}

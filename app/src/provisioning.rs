//! The Provisioning tab: the SCIM base URL to paste into Entra ID or Okta, its tokens (create,
//! shown once with a copy button; revoke; two may be active for rotation), deprovisionings held
//! by the blast-radius guard (approve or discard), people SCIM deleted (restore within 30 days),
//! and the latest SCIM requests with a hint for each one refused.
//!
//! Server-rendered with plain forms; only token creation is an island (the token is shown once,
//! in the page that asked for it, never carried in a cookie or a URL).

use crate::error::AppError;
use crate::format;
use crate::frame::AdminOnly;
use crate::integrations::cards::FlashMessage;
use crate::loading::load;
use crate::session::Flash;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRow {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRow {
    pub at: DateTime<Utc>,
    pub method: String,
    pub path: String,
    pub status: i32,
    pub summary: String,
    pub hint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonRow {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub at: DateTime<Utc>,
    pub action: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvisioningView {
    pub base_url: String,
    pub tokens: Vec<TokenRow>,
    pub requests: Vec<RequestRow>,
    pub holds: Vec<PersonRow>,
    pub deleted: Vec<PersonRow>,
    pub flash: Option<Flash>,
}

#[server(endpoint = "provisioning_overview")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "provisioning_overview", skip_all))]
pub async fn provisioning_overview() -> Result<ProvisioningView, AppError> {
    use identity::scim::{guard, tokens, users};
    let caller = crate::ssr::admin().await?;
    let (db, org_id) = (&caller.state.db, caller.user.org_id);
    let tokens = tokens::list(db, org_id).await.map_err(|e| caller.fail(e))?;
    let requests = users::recent_requests(db, org_id, 100)
        .await
        .map_err(|e| caller.fail(e))?;
    let holds = guard::open_holds(db, org_id).await.map_err(|e| caller.fail(e))?;
    let deleted = users::deleted(db, org_id).await.map_err(|e| caller.fail(e))?;
    Ok(ProvisioningView {
        base_url: format!("{}/scim/v2", caller.state.public_url.trim_end_matches('/')),
        tokens: tokens
            .into_iter()
            .map(|t| TokenRow {
                id: t.id,
                name: t.name,
                prefix: t.prefix,
                created_at: t.created_at,
                created_by: t.created_by_label,
                last_used_at: t.last_used_at,
                revoked_at: t.revoked_at,
            })
            .collect(),
        requests: requests
            .into_iter()
            .map(|r| RequestRow {
                at: r.at,
                method: r.method,
                path: r.path,
                status: r.status,
                summary: r.summary,
                hint: r.hint,
            })
            .collect(),
        holds: holds
            .into_iter()
            .map(|h| PersonRow {
                id: h.user_id,
                email: h.email,
                name: h.name,
                at: h.held_at,
                action: h.action,
            })
            .collect(),
        deleted: deleted
            .into_iter()
            .map(|d| PersonRow {
                id: d.id,
                email: d.email,
                name: d.name,
                at: d.deleted_at,
                action: "delete".into(),
            })
            .collect(),
        flash: crate::session::take_flash().await?,
    })
}

/// A token just created: shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub token: String,
    pub name: String,
}

#[server(endpoint = "create_scim_token")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "create_scim_token", skip_all))]
pub async fn create_scim_token(name: String) -> Result<CreatedToken, AppError> {
    let caller = crate::ssr::admin().await?;
    let actor = caller.actor();
    let (token, info) = identity::scim::tokens::create(&caller.state.db, &actor, &name)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(CreatedToken { token, name: info.name })
}

#[component]
pub fn ProvisioningPage() -> impl IntoView {
    view! {
        <Title text="Provisioning"/>
        <AdminOnly>
            <header class="page-header"><h1>"Provisioning"</h1></header>
            {load(provisioning_overview(), |v| view! { <ProvisioningView v/> })}
        </AdminOnly>
    }
}

#[component]
fn ProvisioningView(v: ProvisioningView) -> impl IntoView {
    let active = v.tokens.iter().filter(|t| t.revoked_at.is_none()).count();
    view! {
        <FlashMessage flash=v.flash.clone()/>
        <p class="lead">"Let Microsoft Entra ID or Okta create, update and deactivate people here automatically, over SCIM 2.0. "
            "Paste the base URL and a token into the directory's provisioning settings (Entra: Tenant URL and Secret Token)."</p>
        <section class="panel" aria-labelledby="scim-endpoint-heading">
            <h2 id="scim-endpoint-heading">"SCIM base URL"</h2>
            <p><code id="scim-base-url">{v.base_url.clone()}</code></p>
        </section>
        <section class="panel" aria-labelledby="scim-tokens-heading">
            <h2 id="scim-tokens-heading">"Tokens"</h2>
            {if v.tokens.is_empty() {
                view! { <p class="empty">"No token yet. Create one, then paste it into Entra ID or Okta with the base URL above."</p> }.into_any()
            } else {
                view! {
                    <table class="table">
                        <caption class="visually-hidden">"SCIM tokens"</caption>
                        <thead><tr><th scope="col">"Name"</th><th scope="col">"Token"</th><th scope="col">"Created"</th>
                            <th scope="col">"Last used"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
                        <tbody>
                            {v.tokens.iter().map(|t| {
                                let revoked = t.revoked_at.is_some();
                                view! {
                                    <tr>
                                        <td>{t.name.clone()}</td>
                                        <td><code>{format!("{}…", t.prefix)}</code></td>
                                        <td>{format!("{} by {}", format::timestamp(&t.created_at), t.created_by)}</td>
                                        <td>{format::optional_timestamp(&t.last_used_at, "Never")}</td>
                                        <td>{if revoked {
                                            view! { <span class="chip chip-deactivated">"Revoked"</span> }.into_any()
                                        } else {
                                            view! {
                                                <form method="post" action=format!("/provisioning/tokens/{}/revoke", t.id)>
                                                    <button type="submit" class="button danger-outline" aria-label=format!("Revoke {}", t.name)>"Revoke"</button>
                                                </form>
                                            }.into_any()
                                        }}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            {if active >= 2 {
                view! { <p class="muted">"Two tokens are active, the most at once: revoke the one you are replacing to create another."</p> }.into_any()
            } else {
                view! { <CreateToken/> }.into_any()
            }}
        </section>
        {(!v.holds.is_empty()).then(|| view! {
            <section class="panel" aria-labelledby="scim-holds-heading">
                <h2 id="scim-holds-heading">{format!("Held deprovisionings ({})", v.holds.len())}</h2>
                <p class="warning">"The directory asked to deactivate or delete more than a tenth of the workspace (or 500 people) within an hour, so Rollcall held these. "
                    "Approve to apply them now, or discard them; the directory keeps retrying until its assignments change."</p>
                <ul class="people">
                    {v.holds.iter().map(|h| view! {
                        <li>{format!("{} ({}): {} held {}", if h.name.is_empty() { h.email.clone() } else { h.name.clone() }, h.email, h.action, format::timestamp(&h.at))}</li>
                    }).collect_view()}
                </ul>
                <div class="actions">
                    <form method="post" action="/provisioning/holds/approve">
                        <button type="submit" class="button danger">{format!("Approve all {}", v.holds.len())}</button>
                    </form>
                    <form method="post" action="/provisioning/holds/discard">
                        <button type="submit" class="button">"Discard all"</button>
                    </form>
                </div>
            </section>
        })}
        {(!v.deleted.is_empty()).then(|| view! {
            <section class="panel" aria-labelledby="scim-deleted-heading">
                <h2 id="scim-deleted-heading">"Deleted by provisioning"</h2>
                <p class="muted">"Hidden from the Users tab and signed out. Restorable for 30 days, then purged."</p>
                <ul class="people">
                    {v.deleted.iter().map(|d| view! {
                        <li>
                            {format!("{} · deleted {} ", d.email, format::timestamp(&d.at))}
                            <form method="post" action=format!("/provisioning/users/{}/restore", d.id) class="inline-form">
                                <button type="submit" class="button" aria-label=format!("Restore {}", d.email)>"Restore"</button>
                            </form>
                        </li>
                    }).collect_view()}
                </ul>
            </section>
        })}
        <section class="panel" aria-labelledby="scim-log-heading">
            <h2 id="scim-log-heading">"Recent requests"</h2>
            {if v.requests.is_empty() {
                view! { <p class="empty">"No SCIM request yet. After you save the base URL and token in Entra ID, choose Test Connection: it shows here."</p> }.into_any()
            } else {
                view! {
                    <table class="table">
                        <caption class="visually-hidden">"Latest SCIM requests, newest first"</caption>
                        <thead><tr><th scope="col">"Time"</th><th scope="col">"Request"</th><th scope="col">"Status"</th><th scope="col">"What happened"</th></tr></thead>
                        <tbody>
                            {v.requests.iter().map(|r| view! {
                                <tr>
                                    <td>{format::timestamp(&r.at)}</td>
                                    <td><code>{format!("{} {}", r.method, r.path)}</code></td>
                                    <td><span class=if r.status < 400 { "chip chip-active" } else { "chip chip-deactivated" }>{r.status}</span></td>
                                    <td>{r.hint.clone().unwrap_or_else(|| r.summary.clone())}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}

/// Creates a token and shows it once, with a copy button.
#[island]
fn CreateToken() -> impl IntoView {
    let create = ServerAction::<CreateScimToken>::new();
    let result: Signal<Option<Result<CreatedToken, AppError>>> = create.value().into();
    view! {
        {move || match result.get() {
            Some(Ok(created)) => {
                let token = created.token.clone();
                view! {
                    <div class="created-token" role="status">
                        <p><strong>{format!("Token \u{201c}{}\u{201d} created.", created.name)}</strong>" Copy it now: you will not see it again."</p>
                        <label for="new-token">"Secret token"</label>
                        <input id="new-token" type="text" readonly=true value=token.clone()/>
                        <div class="actions">
                            <button type="button" class="button primary" on:click=move |_| copy(&token)>"Copy token"</button>
                            <a class="button" href="/provisioning">"Done"</a>
                        </div>
                    </div>
                }.into_any()
            }
            other => {
                let error = other.and_then(|r| r.err()).map(|e| e.to_string());
                view! {
                    <ActionForm action=create attr:class="inline-form">
                        <label for="token-name">"Token name"</label>
                        <input id="token-name" name="name" required=true maxlength="100" placeholder="Entra ID"
                            aria-describedby="token-name-error"/>
                        <button type="submit" class="button primary" disabled=move || create.pending().get()>"Create token"</button>
                        <p class="field-error" id="token-name-error" role="alert" hidden=error.is_none()>{error.clone().unwrap_or_default()}</p>
                    </ActionForm>
                }.into_any()
            }
        }}
    }
}

fn copy(text: &str) {
    #[cfg(feature = "hydrate")]
    {
        let _ = window().navigator().clipboard().write_text(text);
        crate::components::toast("Copied. Paste it as the directory's Secret Token.");
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = text;
}

//! The Integrations tab: a card per provider (availability on this server, mode, connected
//! organisation, the redirect URI to register), Require SSO, and the impact page shown before
//! an integration is disabled.

use crate::error::AppError;
use crate::format;
use crate::frame::AdminOnly;
use crate::loading::load;
use crate::session::Flash;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Availability {
    /// No client configured: the settings the operator must add.
    NotConfigured {
        settings: String,
    },
    Ready,
    /// Configured but unusable (discovery failed): why.
    Misconfigured {
        why: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Card {
    pub id: String,
    pub label: String,
    pub product: String,
    pub availability: Availability,
    /// `off`, `sso_only`, `org_connected`.
    pub mode: String,
    pub mode_label: String,
    pub org_key: Option<String>,
    pub org_key_name: String,
    pub connected_by: Option<String>,
    pub connected_at: Option<DateTime<Utc>>,
    pub linked: i64,
    pub redirect_uri: String,
    /// The organisation's directory, once connected for import.
    pub directory: Option<DirectoryCard>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectoryCard {
    /// What needs an admin (lost access, a missing permission), in words.
    pub problem: Option<String>,
    /// The last read, in words ("1,204 people fetched, 3 pages in 2.1 s"), or the one under way.
    pub last_run: Option<String>,
    pub running: bool,
    pub every_hours: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegrationsView {
    pub cards: Vec<Card>,
    pub require_sso: bool,
    pub members_without_provider: i64,
    pub flash: Option<Flash>,
}

#[server(endpoint = "integrations_overview")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "integrations_overview", skip_all))]
pub async fn integrations_overview() -> Result<IntegrationsView, AppError> {
    use identity::auth::oidc::Availability as A;
    let caller = crate::ssr::admin().await?;
    let db = &caller.state.db;
    let org_id = caller.user.org_id;
    let integrations = identity::integrations::list(db, org_id)
        .await
        .map_err(|e| caller.fail(e))?;
    let connections = identity::directory::connections::list(db, org_id)
        .await
        .map_err(|e| caller.fail(e))?;
    let mut cards = Vec::new();
    for i in integrations {
        let p = i.provider;
        let availability = match caller.state.providers.availability(p).await {
            A::NotConfigured => Availability::NotConfigured {
                settings: format!("{0}_CLIENT_ID and {0}_CLIENT_SECRET", p.env_prefix()),
            },
            A::Ready => Availability::Ready,
            A::Misconfigured(why) => Availability::Misconfigured { why },
        };
        cards.push(Card {
            id: p.as_str().into(),
            label: p.label().into(),
            product: p.organisation_product().into(),
            availability,
            mode: i.mode.as_str().into(),
            mode_label: i.mode.label().into(),
            org_key: i.org_key,
            org_key_name: p.org_key_name().into(),
            connected_by: i.connected_by,
            connected_at: i.connected_at,
            linked: i.linked,
            redirect_uri: format!("{}/auth/{}/callback", caller.state.public_url, p.as_str()),
            directory: match connections.iter().find(|c| c.provider.0 == p) {
                None => None,
                Some(c) => {
                    let last = identity::directory::view::latest_fetch(db, org_id, p)
                        .await
                        .map_err(|e| caller.fail(e))?;
                    Some(DirectoryCard {
                        problem: c.problem(),
                        running: last.as_ref().is_some_and(|f| f.running()),
                        last_run: last.map(super::import::fetch_view_for_card),
                        every_hours: c.sync_every_hours,
                    })
                }
            },
        });
    }
    Ok(IntegrationsView {
        cards,
        require_sso: identity::integrations::require_sso(db, org_id)
            .await
            .map_err(|e| caller.fail(e))?,
        members_without_provider: identity::integrations::members_without_provider(db, org_id)
            .await
            .map_err(|e| caller.fail(e))?,
        flash: crate::session::take_flash().await?,
    })
}

/// Shows a plain form's outcome: a notice in a live region, or the error.
#[component]
pub(crate) fn FlashMessage(flash: Option<Flash>) -> impl IntoView {
    let notice = flash.as_ref().map(|f| f.value("notice")).filter(|n| !n.is_empty());
    let error = flash.map(|f| f.error).filter(|e| !e.is_empty());
    // Rendered only with something to say: an empty live region on every page would stand
    // beside the page's toasts for nothing.
    view! {
        {notice.map(|n| view! { <p class="notice" role="status">{n}</p> })}
        {error.map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
    }
}

#[component]
pub fn IntegrationsPage() -> impl IntoView {
    view! {
        <Title text="Integrations"/>
        <AdminOnly>
            <header class="page-header"><h1>"Integrations"</h1></header>
            {load(integrations_overview(), |view| {
                let any_on = view.cards.iter().any(|c| c.mode != "off");
                view! {
                    <FlashMessage flash=view.flash/>
                    <p class="lead">"Let people sign in with their Google, Microsoft or Slack account. "
                        "Choose SSO only to accept any account of that provider, or connect your organisation to accept only your own people's accounts."</p>
                    <div class="cards">
                        {view.cards.into_iter().map(|card| view! { <ProviderCard card/> }).collect_view()}
                    </div>
                    <RequireSso on=view.require_sso without=view.members_without_provider any_on/>
                }
            })}
        </AdminOnly>
    }
}

#[component]
fn ProviderCard(card: Card) -> impl IntoView {
    let heading = format!("card-{}", card.id);
    let labelled_by = heading.clone();
    let state_chip = match (&card.availability, card.mode.as_str()) {
        (Availability::NotConfigured { .. }, _) => ("chip", "Not available on this server"),
        (Availability::Misconfigured { .. }, _) => ("chip chip-deactivated", "Set up wrong"),
        (_, "off") => ("chip", "Off"),
        (_, "sso_only") => ("chip chip-active", "SSO only"),
        _ => ("chip chip-active", "Organisation connected"),
    };
    let usable = card.availability == Availability::Ready;
    let connected = card.org_key.clone().map(|key| {
        let by = card.connected_by.clone().unwrap_or_else(|| "the operator".into());
        let when = card
            .connected_at
            .map(|at| format!(", {}", format::timestamp(&at)))
            .unwrap_or_default();
        format!("Connected to {key} by {by}{when}")
    });
    let availability = match card.availability.clone() {
        Availability::NotConfigured { settings } => Some(view! {
            <p class="muted">{format!("Not available on this server. The operator must set {settings}, and register the redirect URI below with {}.", card.label)}</p>
        }.into_any()),
        Availability::Misconfigured { why } => Some(view! {
            <p class="form-error" role="alert">{format!("{} sign-in is configured but cannot be used: {why}. Password sign-in is not affected.", card.label)}</p>
        }.into_any()),
        Availability::Ready => None,
    };
    let id = card.id.clone();
    let mode = card.mode.clone();
    view! {
        <section class="panel card" aria-labelledby=labelled_by>
            <header class="card-header">
                <h2 id=heading>{card.product.clone()}</h2>
                <span class=state_chip.0>{state_chip.1}</span>
            </header>
            {availability}
            <dl class="facts">
                <dt>"Mode"</dt><dd>{card.mode_label.clone()}</dd>
                <dt>"Organisation"</dt><dd>{connected.clone().unwrap_or_else(|| "Not connected".into())}</dd>
                <dt>"Linked accounts"</dt><dd>{format::count(card.linked)}</dd>
                <dt>"Redirect URI"</dt><dd><code>{card.redirect_uri.clone()}</code></dd>
            </dl>
            {usable.then(|| {
                let connect_label = if connected.is_some() { "Reconnect organisation" } else { "Connect organisation" };
                view! {
                    <div class="actions">
                        {(mode != "sso_only").then(|| view! {
                            <form method="post" action=format!("/integrations/{id}/mode")>
                                <input type="hidden" name="mode" value="sso_only"/>
                                <button type="submit" class="button">"Use SSO only"</button>
                            </form>
                        })}
                        {(mode != "org_connected" && connected.is_some()).then(|| view! {
                            <form method="post" action=format!("/integrations/{id}/mode")>
                                <input type="hidden" name="mode" value="org_connected"/>
                                <button type="submit" class="button">"Accept only the connected organisation"</button>
                            </form>
                        })}
                        <a class="button primary" href=format!("/auth/{id}/connect")>{connect_label}</a>
                        {(mode != "off").then(|| view! {
                            <a class="button danger-outline" href=format!("/integrations/{id}/disable")>"Disable…"</a>
                        })}
                    </div>
                    <p class="muted">{format!(
                        "Connect organisation asks you to sign in with your organisation's {} account; Rollcall records its {} from the signed sign-in, never from an email address, and then accepts only that organisation's accounts.",
                        card.label, card.org_key_name
                    )}</p>
                }
            })}
            {(usable && connected.is_some()).then(|| view! { <DirectorySection id=card.id.clone() label=card.label.clone() directory=card.directory.clone()/> })}
        </section>
    }
}

/// The card's directory part: "Import people" until connected, then its health, last read,
/// Sync now, Sync automatically and Disconnect.
#[component]
fn DirectorySection(id: String, label: String, directory: Option<DirectoryCard>) -> impl IntoView {
    let heading = format!("directory-{id}");
    let Some(d) = directory else {
        return view! {
            <div class="card-section" role="group" aria-labelledby=format!("directory-{id}")>
                <h3 id=heading>"Directory"</h3>
                <p class="muted">{format!("Import people from your organisation's {label} directory: an administrator of it grants Rollcall read access, then you choose whom to import.")}</p>
                <a class="button primary" href=format!("/integrations/{id}/directory/connect")>"Import people"</a>
            </div>
        }
        .into_any();
    };
    let every = d.every_hours.map(|h| h.to_string()).unwrap_or_else(|| "off".into());
    let schedule_id = format!("schedule-{id}");
    view! {
        <div class="card-section" role="group" aria-labelledby=format!("directory-{id}")>
            <h3 id=heading>"Directory"</h3>
            {d.problem.clone().map(|p| view! {
                <p class="form-error" role="alert">{p}" "<a href=format!("/integrations/{id}/directory/connect")>"Reconnect"</a></p>
            })}
            <p>{d.last_run.clone().unwrap_or_else(|| "Not read yet.".into())}</p>
            <div class="actions">
                <a class="button primary" href=format!("/integrations/{id}/import")>"Open import view"</a>
                <form method="post" action=format!("/integrations/{id}/directory/sync")>
                    <button type="submit" class="button" disabled=d.running>{if d.running { "Syncing…" } else { "Sync now" }}</button>
                </form>
            </div>
            <form method="post" action=format!("/integrations/{id}/directory/schedule") class="inline-form">
                <label for=schedule_id.clone()>"Sync automatically"</label>
                <select id=schedule_id name="every">
                    {[("off", "Off"), ("6", "Every 6 hours"), ("12", "Every 12 hours"), ("24", "Every 24 hours")].into_iter().map(|(value, text)| view! {
                        <option value=value selected=every == value>{text}</option>
                    }).collect_view()}
                </select>
                <button type="submit" class="button">"Save"</button>
            </form>
            <form method="post" action=format!("/integrations/{id}/directory/disconnect")>
                <button type="submit" class="button danger-outline">"Disconnect directory"</button>
            </form>
        </div>
    }
    .into_any()
}

#[component]
fn RequireSso(on: bool, without: i64, any_on: bool) -> impl IntoView {
    view! {
        <section class="panel narrow" aria-labelledby="require-sso-heading">
            <h2 id="require-sso-heading">"Require SSO"</h2>
            {if on {
                view! {
                    <p>"On: members sign in only through an enabled provider. Admins keep their password as a way back in."</p>
                    <form method="post" action="/integrations/require-sso">
                        <input type="hidden" name="on" value="false"/>
                        <button type="submit" class="button">"Turn off"</button>
                    </form>
                }.into_any()
            } else {
                view! {
                    <p>"Off: members may also sign in with a password."</p>
                    {(without > 0).then(|| view! {
                        <p class="warning">{format!(
                            "{} no provider linked yet: with Require SSO on, they cannot sign in until they link one from their profile.",
                            if without == 1 { "1 member has".to_owned() } else { format!("{} members have", format::count(without)) }
                        )}</p>
                    })}
                    <form method="post" action="/integrations/require-sso">
                        <input type="hidden" name="on" value="true"/>
                        <button type="submit" class="button" disabled=!any_on>"Require SSO for members"</button>
                    </form>
                    {(!any_on).then(|| view! { <p class="muted">"Turn on a provider first."</p> })}
                }.into_any()
            }}
        </section>
    }
}

/// What disabling would do, for the confirmation page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DisableImpactView {
    pub id: String,
    pub label: String,
    pub linked: i64,
    pub no_other_way: i64,
    pub with_password: i64,
}

#[server(endpoint = "disable_preview")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "disable_preview", skip_all))]
pub async fn disable_preview(provider: String) -> Result<DisableImpactView, AppError> {
    let caller = crate::ssr::admin().await?;
    let p = identity::providers::Provider::parse(&provider).ok_or(AppError::NotFound)?;
    let impact = identity::integrations::disable_impact(&caller.state.db, caller.user.org_id, p)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(DisableImpactView {
        id: p.as_str().into(),
        label: p.label().into(),
        linked: impact.linked,
        no_other_way: impact.no_other_way,
        with_password: impact.with_password,
    })
}

/// `/integrations/:provider/disable`: the impact in numbers, then one confirming form.
#[component]
pub fn DisablePage() -> impl IntoView {
    let provider = use_params_map().with_untracked(|p| p.get("provider").unwrap_or_default());
    view! {
        <Title text="Disable integration"/>
        <AdminOnly>
            {load(disable_preview(provider), |p| {
                let people = |n: i64| if n == 1 { "1 person".to_owned() } else { format!("{} people", format::count(n)) };
                let have = |n: i64| if n == 1 { "has" } else { "have" };
                view! {
                    <header class="page-header">
                        <p class="breadcrumb"><a href="/integrations">"Integrations"</a></p>
                        <h1>{format!("Disable {} sign-in", p.label)}</h1>
                    </header>
                    <section class="panel narrow confirm" aria-labelledby="impact-heading">
                        <h2 id="impact-heading">"What happens"</h2>
                        <ul class="impact">
                            <li><strong>{people(p.linked)}</strong>{format!(" linked with {}: every one of those links is removed, and the sessions started with {} end now.", p.label, p.label)}</li>
                            <li><strong>{people(p.no_other_way)}</strong>{format!(" {} no other way in (no password, no other provider): each active one is emailed a one-time link to set a password or connect another account.", have(p.no_other_way))}</li>
                            <li><strong>{people(p.with_password)}</strong>{format!(" {} a password and can keep signing in with it.", have(p.with_password))}</li>
                        </ul>
                        <p class="muted">"The connected organisation is forgotten too, and Require SSO turns off if no provider is left on. This is recorded in the Activity tab."</p>
                        <form method="post" action=format!("/integrations/{}/disable", p.id) class="actions">
                            <input type="hidden" name="confirm" value="disable"/>
                            <a class="button" href="/integrations">"Cancel"</a>
                            <button type="submit" class="button danger">{format!("Disable {} and unlink {}", p.label, people(p.linked))}</button>
                        </form>
                    </section>
                }
            })}
        </AdminOnly>
    }
}

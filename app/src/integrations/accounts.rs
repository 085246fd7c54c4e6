//! The profile's "Connected accounts": link or unlink Google, Microsoft or Slack.

use super::cards::FlashMessage;
use crate::error::AppError;
use crate::format;
use crate::session::Flash;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountRow {
    pub id: String,
    pub label: String,
    /// The workspace has this provider on and this server can use it.
    pub available: bool,
    pub org_connected: bool,
    pub linked_email: Option<String>,
    pub linked_at: Option<DateTime<Utc>>,
    /// Unlinking would leave no way in.
    pub last_way_in: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectedAccounts {
    pub rows: Vec<AccountRow>,
    pub flash: Option<Flash>,
}

#[server(endpoint = "my_connected_accounts")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "my_connected_accounts", skip_all))]
pub async fn my_connected_accounts() -> Result<ConnectedAccounts, AppError> {
    use identity::providers::{Mode, Provider};
    let caller = crate::ssr::signed_in().await?;
    let db = &caller.state.db;
    let (org_id, user_id) = (caller.user.org_id, caller.user.user_id);
    let enabled = identity::identities::enabled_providers(db, org_id)
        .await
        .map_err(|e| caller.fail(e))?;
    let linked = identity::identities::list_for_user(db, org_id, user_id)
        .await
        .map_err(|e| caller.fail(e))?;
    let has_password = identity::users::has_password(db, org_id, user_id)
        .await
        .map_err(|e| caller.fail(e))?;
    let sso_required = !caller.user.is_admin()
        && identity::integrations::require_sso(db, org_id)
            .await
            .map_err(|e| caller.fail(e))?;
    let ways_in = linked
        .iter()
        .filter(|l| enabled.iter().any(|(p, _)| *p == l.provider.0))
        .count()
        + usize::from(has_password && !sso_required);
    let rows = Provider::ALL
        .into_iter()
        .filter_map(|p| {
            let mode = enabled.iter().find(|(q, _)| *q == p).map(|(_, m)| *m);
            let account = linked.iter().find(|l| l.provider.0 == p);
            if mode.is_none() && account.is_none() {
                return None;
            }
            Some(AccountRow {
                id: p.as_str().into(),
                label: p.label().into(),
                available: mode.is_some() && caller.state.providers.is_configured(p),
                org_connected: mode == Some(Mode::OrgConnected),
                linked_email: account.map(|a| a.email.clone().unwrap_or_else(|| "linked".into())),
                linked_at: account.map(|a| a.linked_at),
                last_way_in: account.is_some() && ways_in <= 1,
            })
        })
        .collect();
    Ok(ConnectedAccounts {
        rows,
        flash: crate::session::take_flash().await?,
    })
}

#[component]
pub fn ConnectedAccountsPanel(linked_now: Option<String>) -> impl IntoView {
    view! {
        <section class="panel narrow" aria-labelledby="accounts-heading">
            <h2 id="accounts-heading">"Connected accounts"</h2>
            {crate::loading::load(my_connected_accounts(), move |accounts| {
                let linked_notice = linked_now
                    .filter(|id| accounts.rows.iter().any(|r| &r.id == id && r.linked_email.is_some()))
                    .map(|id| {
                        let label = accounts.rows.iter().find(|r| r.id == id).map(|r| r.label.clone()).unwrap_or_default();
                        format!("Your {label} account is linked. You can now sign in with it.")
                    });
                let flash = accounts.flash.clone().or_else(|| linked_notice.map(|n| {
                    let mut f = Flash::default();
                    f.values.insert("notice".into(), n);
                    f
                }));
                view! {
                    <FlashMessage flash/>
                    {if accounts.rows.is_empty() {
                        view! { <p class="muted">"Your workspace has not turned on sign-in with Google, Microsoft or Slack yet."</p> }.into_any()
                    } else {
                        view! {
                            <ul class="account-list" role="list">
                                {accounts.rows.into_iter().map(|row| view! { <AccountItem row/> }).collect_view()}
                            </ul>
                        }.into_any()
                    }}
                }
            })}
        </section>
    }
}

#[component]
fn AccountItem(row: AccountRow) -> impl IntoView {
    let id = row.id.clone();
    let status = match (&row.linked_email, &row.linked_at) {
        (Some(email), Some(at)) => format!("{email}, linked {}", format::timestamp(at)),
        _ if !row.available => "Not available".to_owned(),
        _ if row.org_connected => "Not linked. Only your organisation's accounts are accepted.".to_owned(),
        _ => "Not linked".to_owned(),
    };
    view! {
        <li class="account-item">
            <div>
                <strong>{row.label.clone()}</strong>
                <p class="muted">{status}</p>
            </div>
            {match (row.linked_email.is_some(), row.available) {
                (true, _) if row.last_way_in => view! {
                    <p class="muted">"Your only way to sign in: link another account first."</p>
                }.into_any(),
                (true, _) => view! {
                    <form method="post" action=format!("/profile/accounts/{id}/unlink")>
                        <button type="submit" class="button danger-outline" aria-label=format!("Unlink {}", row.label)>"Unlink"</button>
                    </form>
                }.into_any(),
                (false, true) => view! {
                    <a class="button" href=format!("/auth/{id}/link")>{format!("Link {}", row.label)}</a>
                }.into_any(),
                (false, false) => ().into_any(),
            }}
        </li>
    }
}

/// A person's linked accounts as an admin sees them on the person's page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkedForAdmin {
    pub rows: Vec<AccountRow>,
    pub flash: Option<Flash>,
}

#[server(endpoint = "user_linked_accounts")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "user_linked_accounts", skip_all))]
pub async fn user_linked_accounts(user_id: uuid::Uuid) -> Result<LinkedForAdmin, AppError> {
    let caller = crate::ssr::admin().await?;
    let linked = identity::identities::list_for_user(&caller.state.db, caller.user.org_id, user_id)
        .await
        .map_err(|e| caller.fail(e))?;
    let rows = linked
        .into_iter()
        .map(|a| AccountRow {
            id: a.provider.0.as_str().into(),
            label: a.provider.0.label().into(),
            available: true,
            org_connected: false,
            linked_email: Some(a.email.unwrap_or_else(|| "linked".into())),
            linked_at: Some(a.linked_at),
            last_way_in: false,
        })
        .collect();
    Ok(LinkedForAdmin {
        rows,
        flash: crate::session::take_flash().await?,
    })
}

/// "Connected accounts" on a person's page: what they linked, and an admin's unlink (for an
/// account that is not theirs any more).
#[component]
pub fn LinkedAccountsForAdmin(user_id: uuid::Uuid) -> impl IntoView {
    view! {
        <section class="panel narrow" aria-labelledby="linked-heading">
            <h2 id="linked-heading">"Connected accounts"</h2>
            {crate::loading::load(user_linked_accounts(user_id), move |linked| view! {
                <FlashMessage flash=linked.flash/>
                {if linked.rows.is_empty() {
                    view! { <p class="muted">"No Google, Microsoft or Slack account linked."</p> }.into_any()
                } else {
                    view! {
                        <ul class="account-list" role="list">
                            {linked.rows.into_iter().map(|row| {
                                let status = match (&row.linked_email, &row.linked_at) {
                                    (Some(email), Some(at)) => format!("{email}, linked {}", format::timestamp(at)),
                                    _ => String::new(),
                                };
                                view! {
                                    <li class="account-item">
                                        <div><strong>{row.label.clone()}</strong><p class="muted">{status}</p></div>
                                        <form method="post" action=format!("/users/{user_id}/accounts/{}/unlink", row.id)>
                                            <button type="submit" class="button danger-outline" aria-label=format!("Unlink {}", row.label)>"Unlink"</button>
                                        </form>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }}
            })}
        </section>
    }
}

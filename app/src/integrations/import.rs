//! The import view, `/integrations/:provider/import`: the directory's people beside Rollcall's
//! (already imported, ready, changed with the difference, removed or suspended upstream,
//! skipped with the reason), searched, filtered and paged on the server; importing a selection
//! or everyone matching; deactivating people removed upstream behind a typed confirmation when
//! many; and, while a read runs, a progress bar (pages, people, rate, time left) that the admin
//! can leave and come back to.
//!
//! Server-rendered with plain forms (state in the URL, so back, reload and shared links work);
//! only the progress bar is an island, polling the read's progress.

use super::cards::FlashMessage;
use crate::error::AppError;
use crate::format;
use crate::frame::AdminOnly;
use crate::loading::load;
use crate::session::Flash;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

/// Rows per page of the view.
pub const PAGE_SIZE: i64 = 50;

/// A read of the directory, for the progress bar and the last run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FetchView {
    pub running: bool,
    pub pages: i32,
    pub people: i32,
    /// The directory's size from the last read, when known (for the bar's end and time left).
    pub expected: Option<i32>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub seconds: Option<f64>,
    /// Plain words: rate limited and retrying, lost access, ...
    pub note: Option<String>,
    pub failed: bool,
    pub requested_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryView {
    pub upstream_id: String,
    pub name: String,
    pub email: Option<String>,
    pub group: Option<String>,
    pub state: String,
    /// Why skipped, what changed, or that an import links an existing person.
    pub detail: Option<String>,
    pub selectable: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectoryPeople {
    pub provider: String,
    pub label: String,
    pub connected: bool,
    pub problem: Option<String>,
    pub fetch: Option<FetchView>,
    pub entries: Vec<EntryView>,
    pub matching: i64,
    /// Of those matching, how many an import would act on (ready or changed).
    pub importable: i64,
    pub counts: Vec<(String, String, i64)>,
    pub groups: Vec<(String, i64)>,
    pub group_label: String,
    pub state: String,
    pub q: String,
    pub group: String,
    pub page: i64,
    pub flash: Option<Flash>,
}

#[cfg(feature = "ssr")]
fn fetch_view(f: identity::directory::view::FetchStatus) -> FetchView {
    let seconds = match (f.started_at, f.finished_at) {
        (Some(start), Some(end)) => Some((end - start).num_milliseconds() as f64 / 1000.0),
        (Some(start), None) => Some((Utc::now() - start).num_milliseconds() as f64 / 1000.0),
        _ => None,
    };
    FetchView {
        running: f.running(),
        pages: f.pages,
        people: f.people,
        expected: f.expected.filter(|n| *n > 0),
        started_at: f.started_at,
        finished_at: f.finished_at,
        seconds,
        note: f.last_error,
        failed: f.failed_at.is_some(),
        requested_by: f.requested_by,
    }
}

/// The card's line about the latest read.
#[cfg(feature = "ssr")]
pub(crate) fn fetch_view_for_card(f: identity::directory::view::FetchStatus) -> String {
    let f = fetch_view(f);
    let mut text = if f.running {
        format!("Reading now: {}.", describe(&f))
    } else if f.failed {
        "The last read did not finish.".to_owned()
    } else {
        format!(
            "Last read{}: {}.",
            f.finished_at
                .map(|at| format!(" {}", format::timestamp(&at)))
                .unwrap_or_default(),
            describe(&f)
        )
    };
    if let Some(note) = f.note {
        text.push(' ');
        text.push_str(&note);
    }
    text
}

#[server(endpoint = "directory_view")]
#[cfg_attr(feature = "ssr", tracing::instrument(name = "directory_view", skip_all))]
pub async fn directory_view(
    provider: String,
    state: String,
    q: String,
    group: String,
    page: i64,
) -> Result<DirectoryPeople, AppError> {
    use identity::directory::view::{self, EntryState, Filter};
    let caller = crate::ssr::admin().await?;
    let db = &caller.state.db;
    let org_id = caller.user.org_id;
    let p = identity::providers::Provider::parse(&provider).ok_or(AppError::NotFound)?;
    let connection = identity::directory::connections::get(db, org_id, p)
        .await
        .map_err(|e| caller.fail(e))?;
    let fetch = view::latest_fetch(db, org_id, p)
        .await
        .map_err(|e| caller.fail(e))?
        .map(fetch_view);
    let filter = Filter {
        state: EntryState::parse(&state),
        search: Some(q.chars().take(200).collect::<String>()).filter(|s| !s.trim().is_empty()),
        group: Some(group.clone()).filter(|g| !g.is_empty()),
    };
    // A page number from the URL: bounded, so no offset overflows.
    let page = page.clamp(1, 1_000_000);
    let shown = view::page(db, org_id, p, &filter, (page - 1) * PAGE_SIZE, PAGE_SIZE)
        .await
        .map_err(|e| caller.fail(e))?;
    let entries = shown
        .entries
        .iter()
        .map(|e| {
            let detail = match e.state.as_str() {
                "skipped" => e.skip_label(),
                "changed" => Some(e.differences().join("; ")),
                "ready" if e.match_id.is_some() => Some("links to the person with this email".into()),
                "removed" => Some(match e.removed_at {
                    Some(_) => "no longer in the directory".into(),
                    None => e
                        .skip_reason
                        .clone()
                        .map(|r| format!("{r} upstream"))
                        .unwrap_or_default(),
                }),
                _ => None,
            };
            EntryView {
                upstream_id: e.upstream_id.clone(),
                name: format!("{} {}", e.given_name, e.family_name).trim().to_owned(),
                email: e.email.clone(),
                group: e.org_unit.clone().or_else(|| e.user_type.clone()),
                selectable: matches!(e.state.as_str(), "ready" | "changed" | "removed"),
                state: e.state.clone(),
                detail,
            }
        })
        .collect();
    Ok(DirectoryPeople {
        provider: p.as_str().into(),
        label: p.organisation_product().into(),
        connected: connection.is_some(),
        problem: connection.as_ref().and_then(|c| c.problem()),
        fetch,
        entries,
        matching: shown.matching,
        importable: match filter.state {
            None => shown
                .counts
                .iter()
                .filter(|(s, _)| matches!(s, EntryState::Ready | EntryState::Changed))
                .map(|(_, n)| n)
                .sum(),
            Some(EntryState::Ready | EntryState::Changed) => shown.matching,
            Some(_) => 0,
        },
        counts: shown
            .counts
            .iter()
            .map(|(s, n)| (s.as_str().to_owned(), s.label().to_owned(), *n))
            .collect(),
        groups: shown.groups,
        group_label: match p {
            identity::providers::Provider::Google => "Org unit",
            _ => "User type",
        }
        .into(),
        state: filter.state.map(|s| s.as_str().to_owned()).unwrap_or_default(),
        q: filter.search.unwrap_or_default(),
        group,
        page,
        flash: crate::session::take_flash().await?,
    })
}

#[server(name = ReadDirectoryProgress, endpoint = "directory_progress")]
pub async fn directory_progress(provider: String) -> Result<Option<FetchView>, AppError> {
    let caller = crate::ssr::admin().await?;
    let p = identity::providers::Provider::parse(&provider).ok_or(AppError::NotFound)?;
    Ok(
        identity::directory::view::latest_fetch(&caller.state.db, caller.user.org_id, p)
            .await
            .map_err(|e| caller.fail(e))?
            .map(fetch_view),
    )
}

/// `/integrations/:provider/import`.
#[component]
pub fn ImportPage() -> impl IntoView {
    let provider = use_params_map().with_untracked(|p| p.get("provider").unwrap_or_default());
    let (state, q, group, page) = use_query_map().with_untracked(|m| {
        (
            m.get("state").unwrap_or_default(),
            m.get("q").unwrap_or_default(),
            m.get("group").unwrap_or_default(),
            m.get("page").and_then(|p| p.parse().ok()).unwrap_or(1),
        )
    });
    view! {
        <Title text="Import people"/>
        <AdminOnly>
            {load(directory_view(provider, state, q, group, page), |v| view! { <ImportView v/> })}
        </AdminOnly>
    }
}

fn people(n: i64) -> String {
    if n == 1 {
        "1 person".into()
    } else {
        format!("{} people", format::count(n))
    }
}

/// The view's URL with its filter, on page `page`.
fn href(v: &DirectoryPeople, state: &str, page: i64) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if !state.is_empty() {
        query.append_pair("state", state);
    }
    if !v.q.is_empty() {
        query.append_pair("q", &v.q);
    }
    if !v.group.is_empty() {
        query.append_pair("group", &v.group);
    }
    if page > 1 {
        query.append_pair("page", &page.to_string());
    }
    let query = query.finish();
    let base = format!("/integrations/{}/import", v.provider);
    if query.is_empty() {
        base
    } else {
        format!("{base}?{query}")
    }
}

#[component]
fn ImportView(v: DirectoryPeople) -> impl IntoView {
    let running = v.fetch.as_ref().is_some_and(|f| f.running);
    let removed_view = v.state == "removed";
    let heading = format!("Import people from {}", v.label);
    let action = if removed_view {
        format!("/integrations/{}/deactivate-removed", v.provider)
    } else {
        format!("/integrations/{}/import", v.provider)
    };
    let pages = (v.matching + PAGE_SIZE - 1) / PAGE_SIZE;
    let tabs = {
        let all: i64 = v.counts.iter().map(|(_, _, n)| n).sum();
        let mut tabs = vec![(String::new(), "All".to_owned(), all)];
        tabs.extend(v.counts.iter().cloned());
        tabs
    };
    let filter_fields = view! {
        <input type="hidden" name="state" value=v.state.clone()/>
        <input type="hidden" name="q" value=v.q.clone()/>
        <input type="hidden" name="group" value=v.group.clone()/>
    };
    let empty = v.entries.is_empty();
    let has_entries = v.counts.iter().any(|(_, _, n)| *n > 0);
    view! {
        <header class="page-header">
            <p class="breadcrumb"><a href="/integrations">"Integrations"</a></p>
            <h1>{heading}</h1>
            <div class="actions">
                {v.connected.then(|| view! {
                    <form method="post" action=format!("/integrations/{}/directory/sync", v.provider)>
                        <button type="submit" class="button" disabled=running>"Sync now"</button>
                    </form>
                })}
            </div>
        </header>
        <FlashMessage flash=v.flash.clone()/>
        {v.problem.clone().map(|p| view! {
            <p class="form-error" role="alert">{p}" "
                <a href=format!("/integrations/{}/directory/connect", v.provider)>"Reconnect"</a></p>
        })}
        {(!v.connected).then(|| view! {
            <section class="panel narrow">
                <h2>"Not connected"</h2>
                <p>"Connect the directory first: on the Integrations tab, choose Import people on this provider's card. An administrator of the directory grants Rollcall read access."</p>
                <a class="button primary" href="/integrations">"Go to Integrations"</a>
            </section>
        })}
        {v.fetch.clone().map(|f| view! { <FetchProgress provider=v.provider.clone() initial=f/> })}
        {(v.connected && has_entries).then(|| view! {
            <nav class="tabs" aria-label="Filter by state">
                {tabs.into_iter().map(|(id, label, n)| {
                    let current = id == v.state;
                    view! {
                        <a href=href(&v, &id, 1) class=if current { "tab current" } else { "tab" }
                           aria-current=if current { Some("page") } else { None }>
                            {format!("{label} ({})", format::count(n))}
                        </a>
                    }
                }).collect_view()}
            </nav>
            <form method="get" class="toolbar" role="search">
                <input type="hidden" name="state" value=v.state.clone()/>
                <label for="directory-search" class="visually-hidden">"Search by name or email"</label>
                <input id="directory-search" type="search" name="q" value=v.q.clone() placeholder="Search by name or email"/>
                {(!v.groups.is_empty()).then(|| view! {
                    <label for="directory-group">{v.group_label.clone()}</label>
                    <select id="directory-group" name="group">
                        <option value="" selected=v.group.is_empty()>"All"</option>
                        {v.groups.iter().map(|(g, n)| view! {
                            <option value=g.clone() selected=*g == v.group>{format!("{g} ({})", format::count(*n))}</option>
                        }).collect_view()}
                    </select>
                })}
                <button type="submit" class="button">"Filter"</button>
            </form>
        })}
        {(v.connected && !has_entries && !running).then(|| view! {
            <p class="empty">"No one from the directory yet. Choose Sync now to read it."</p>
        })}
        {(v.connected && has_entries).then(|| view! {
            <form method="post" action=action.clone() class="directory">
                {filter_fields}
                {if empty {
                    view! { <p class="empty">"No one matches. Clear the search or choose another state."</p> }.into_any()
                } else {
                    view! {
                        <table class="table">
                            <caption class="visually-hidden">"Directory people"</caption>
                            <thead><tr>
                                <th scope="col"><span class="visually-hidden">"Select"</span></th>
                                <th scope="col">"Name"</th><th scope="col">"Email"</th>
                                <th scope="col">{v.group_label.clone()}</th><th scope="col">"State"</th>
                            </tr></thead>
                            <tbody>
                                {v.entries.iter().map(|e| {
                                    let box_id = format!("pick-{}", e.upstream_id);
                                    let label = format!("Select {}", if e.name.is_empty() { e.email.clone().unwrap_or_default() } else { e.name.clone() });
                                    view! {
                                        <tr data-state=e.state.clone()>
                                            <td>{e.selectable.then(|| view! {
                                                <input type="checkbox" id=box_id.clone() name="id" value=e.upstream_id.clone() aria-label=label/>
                                            })}</td>
                                            <td>{e.name.clone()}</td>
                                            <td>{e.email.clone().unwrap_or_else(|| "—".into())}</td>
                                            <td>{e.group.clone().unwrap_or_default()}</td>
                                            <td>
                                                <span class=format!("chip chip-{}", e.state)>{state_label(&e.state)}</span>
                                                {e.detail.clone().map(|d| view! { <span class="muted detail">" "{d}</span> })}
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                }}
                {(!empty && (removed_view || v.importable > 0)).then(|| if removed_view {
                    view! {
                        <div class="actions">
                            <p class="muted">"Deactivating ends their sessions now; they can be reactivated from the Users tab. A choice of more than a tenth of the workspace, or more than 500 people, must be confirmed by typing the count."</p>
                            <label for="confirm-count">"To deactivate many, type the count"</label>
                            <input id="confirm-count" name="confirm" inputmode="numeric" autocomplete="off"/>
                            <button type="submit" class="button danger-outline">"Deactivate selected"</button>
                            <button type="submit" name="all" value="1" class="button danger">{format!("Deactivate all {}", people(v.matching))}</button>
                        </div>
                    }.into_any()
                } else {
                    view! {
                        <div class="actions">
                            <button type="submit" class="button">"Import selected"</button>
                            <button type="submit" name="all" value="1" class="button primary">{format!("Import all {} ready or changed", people(v.importable))}</button>
                            <p class="muted">"Only people ready to import or changed are imported; the rest are left as they are. Imported people appear in the Users tab, ready to invite."</p>
                        </div>
                    }.into_any()
                })}
            </form>
            {(pages > 1).then(|| view! {
                <nav class="pager" aria-label="Pages">
                    {(v.page > 1).then(|| view! { <a class="button" rel="prev" href=href(&v, &v.state, v.page - 1)>"Previous"</a> })}
                    <span class="muted">{format!("Page {} of {}", v.page, pages)}</span>
                    {(v.page < pages).then(|| view! { <a class="button" rel="next" href=href(&v, &v.state, v.page + 1)>"Next"</a> })}
                </nav>
            })}
        })}
    }
}

fn state_label(state: &str) -> &'static str {
    match state {
        "imported" => "Already imported",
        "ready" => "Ready to import",
        "changed" => "Changed since import",
        "removed" => "Removed or suspended upstream",
        _ => "Skipped",
    }
}

/// What a read has done and has left, in words.
fn describe(f: &FetchView) -> String {
    let rate = f.seconds.filter(|s| *s > 0.2).map(|s| f.people as f64 / s);
    let mut text = format!(
        "{} fetched, {} {}",
        people(f.people as i64),
        format::count(f.pages as i64),
        if f.pages == 1 { "page" } else { "pages" }
    );
    if f.running {
        if let Some(rate) = rate {
            text.push_str(&format!(", {} a second", format::count(rate.round() as i64)));
            if let Some(left) = f.expected.map(|e| (e - f.people).max(0)) {
                if left > 0 && rate > 0.0 {
                    text.push_str(&format!(", about {:.0} s left", (left as f64 / rate).ceil()));
                }
            }
        }
    } else if let Some(s) = f.seconds {
        text.push_str(&format!(" in {s:.1} s"));
    }
    text
}

/// The read's progress: polled every second while it runs; when it ends, the page reloads to
/// show what it found.
#[island]
fn FetchProgress(provider: String, initial: FetchView) -> impl IntoView {
    let progress = RwSignal::new(initial);
    #[cfg(feature = "hydrate")]
    {
        fn poll(provider: String, progress: RwSignal<FetchView>) {
            leptos::task::spawn_local(async move {
                if let Ok(Some(now)) = directory_progress(provider.clone()).await {
                    let done = !now.running;
                    progress.set(now);
                    if done {
                        let _ = window().location().reload();
                        return;
                    }
                }
                set_timeout(move || poll(provider, progress), std::time::Duration::from_secs(1));
            });
        }
        if progress.get_untracked().running {
            let provider = provider.clone();
            Effect::new(move |started: Option<()>| {
                if started.is_none() {
                    set_timeout(
                        {
                            let provider = provider.clone();
                            move || poll(provider, progress)
                        },
                        std::time::Duration::from_secs(1),
                    );
                }
            });
        }
    }
    let _ = &provider;
    view! {
        <section class="panel progress-panel" aria-labelledby="fetch-heading">
            {move || {
                let f = progress.get();
                let heading = if f.running {
                    "Reading the directory…".to_owned()
                } else if f.failed {
                    "The last read did not finish".to_owned()
                } else {
                    format!(
                        "Last read{}{}",
                        f.finished_at.map(|at| format!(" {}", format::timestamp(&at))).unwrap_or_default(),
                        f.requested_by.as_ref().map(|by| format!(", by {by}")).unwrap_or_default()
                    )
                };
                let max = f.expected.unwrap_or(0).max(f.people).max(1);
                view! {
                    <h2 id="fetch-heading">{heading}</h2>
                    {f.running.then(|| view! {
                        <progress max=max value=f.people aria-label="People fetched"></progress>
                    })}
                    <p role="status" aria-live="polite">{describe(&f)}</p>
                    {f.note.clone().map(|n| view! { <p class=if f.failed { "form-error" } else { "muted" }>{n}</p> })}
                }
            }}
        </section>
    }
}

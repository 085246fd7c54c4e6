//! The users table: server-side search as you type, status filter, sortable columns and
//! pagination, all kept in the URL so back/forward and shared links work.

use super::{list_users, query_from_params, url_for};
use super::{UsersPage, UsersPageSummary, UsersQuery};
use crate::components::{rendered_once_on_server, toast, ErrorPanel};
use crate::error::AppError;
use crate::format;
use crate::frame::AdminOnly;
use crate::invitations::InviteUsers;
use crate::loading::load;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use people::Status;
use people::UserSort;
use std::sync::Arc;

#[component]
pub fn UsersPage() -> impl IntoView {
    view! {
        <Title text="Users"/>
        <AdminOnly>
            <UsersView/>
        </AdminOnly>
    }
}

/// Server only: reads the state from the URL, loads that page of users (see `loading`) and
/// hands both to the interactive table.
#[component]
fn UsersView() -> impl IntoView {
    let query = use_query_map().with_untracked(query_from_params);
    view! {
        <header class="page-header">
            <h1>"Users"</h1>
            <div class="actions">
                <a href="/outbox" class="button">"Email outbox"</a>
                <a href="/users/new" class="button">"Add user"</a>
                <a href="/users/invite" class="button primary">"Invite people"</a>
            </div>
        </header>
        {load(list_users(query.clone()), move |initial| {
            // The first rows reach the island's server rendering as context, not as a prop:
            // props are copied into the page for the browser, which needs only the summary once
            // the rows are on screen.
            provide_context(FirstRows(super::rows::rows_html(&initial.users, |_| false).into()));
            view! { <UsersBrowser initial=initial.summary() query/> }
        })}
    }
}

/// The server-rendered rows of the first page, for the island's server rendering.
#[derive(Clone)]
struct FirstRows(Arc<str>);

/// The page the table shows: its summary and its rows' HTML (see `rows`), shared rather than
/// copied as the page passes through context and signals.
#[derive(Clone)]
struct ShownPage {
    summary: UsersPageSummary,
    rows_html: Arc<str>,
}

/// How a change of the table's state is recorded in the browser's history.
#[derive(Clone, Copy, PartialEq)]
enum Record {
    /// A new entry, so Back returns to the previous page, sort or filter.
    Push,
    /// Typing a search replaces the entry: Back should not replay every keystroke.
    Replace,
    /// Back or Forward already moved the URL.
    None,
}

/// The search box, filter, table, selection and paging. The state lives in the URL; changing
/// it asks the server for that page and swaps the table in place, so the selection survives
/// paging (not a new search or filter), and Back/Forward work.
#[island]
fn UsersBrowser(initial: UsersPageSummary, query: UsersQuery) -> impl IntoView {
    let query = RwSignal::new(query);
    // The first page's ids are not in the props; its rows, already on screen, carry them.
    #[cfg(feature = "hydrate")]
    let initial = UsersPageSummary {
        ids: super::rows::ids_on_screen(),
        ..initial
    };
    // In the browser there is no context: the rows are already in the page it hydrates.
    let first_rows = use_context::<FirstRows>().map(|rows| rows.0).unwrap_or_default();
    let current = RwSignal::new(Ok::<ShownPage, AppError>(ShownPage {
        summary: initial,
        rows_html: first_rows,
    }));
    let loading = RwSignal::new(false);
    let latest_request = StoredValue::new(0u64);
    let invite = ServerAction::<InviteUsers>::new();
    let selected = RwSignal::new(std::collections::BTreeSet::<uuid::Uuid>::new());
    let all_matching = RwSignal::new(false);
    // New rows show the selection from their first paint (paging keeps it).
    let shown = move |page: UsersPage| {
        let all = all_matching.get_untracked();
        let rows_html = selected
            .with_untracked(|chosen| super::rows::rows_html(&page.users, |id| all || chosen.contains(&id)).into());
        ShownPage {
            summary: page.summary(),
            rows_html,
        }
    };
    let search_input = NodeRef::<leptos::html::Input>::new();
    let rows = NodeRef::<leptos::html::Tbody>::new();

    // The selection, painted onto the rows whenever it changes.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        let all = all_matching.get();
        if let Some(body) = rows.get() {
            selected.with(|chosen| super::rows::mark_selected(&body, |id| all || chosen.contains(&id)));
        }
    });

    // Only the answer to the latest request is shown, however the requests overtake each other.
    let fetch = move |next: UsersQuery| {
        let request = latest_request.get_value() + 1;
        latest_request.set_value(request);
        loading.set(true);
        leptos::task::spawn_local(async move {
            let result = list_users(next).await.map(shown);
            if latest_request.get_value() == request {
                current.set(result);
                loading.set(false);
            }
        });
    };
    let show = Callback::new(move |(next, record): (UsersQuery, Record)| {
        let before = query.get_untracked();
        if (before.q.as_str(), before.status) != (next.q.as_str(), next.status) {
            selected.set(Default::default());
            all_matching.set(false);
        }
        if record != Record::None {
            record_in_history(&url_for(&next), record == Record::Push);
        }
        query.set(next.clone());
        fetch(next);
    });
    let go = Callback::new(move |next: UsersQuery| show.run((next, Record::Push)));
    window_event_listener(leptos::ev::popstate, move |_| {
        if let Some(next) = query_from_location() {
            show.run((next, Record::None));
        }
    });

    Effect::new(move |_| {
        if let Some(result) = invite.value().get() {
            match result {
                Ok(summary) => {
                    selected.set(Default::default());
                    all_matching.set(false);
                    let skipped = if summary.skipped > 0 {
                        format!(" ({} skipped: already joined or invited)", summary.skipped)
                    } else {
                        String::new()
                    };
                    toast(format!(
                        "Sent {} invitation{}{skipped}.",
                        summary.invited,
                        if summary.invited == 1 { "" } else { "s" }
                    ));
                    fetch(query.get_untracked());
                }
                Err(err) => toast(err.to_string()),
            }
        }
    });

    // Search as you type: wait for a pause, then show the first page of matches.
    let pending = StoredValue::new(None::<leptos::leptos_dom::helpers::TimeoutHandle>);
    let cancel_pending = move || {
        if let Some(handle) = pending.get_value() {
            handle.clear();
        }
    };
    let on_search = move |ev: leptos::ev::Event| {
        let text = event_target_value(&ev);
        cancel_pending();
        let handle = set_timeout_with_handle(
            move || {
                let next = UsersQuery {
                    q: text,
                    page: 1,
                    ..query.get_untracked()
                };
                show.run((next, Record::Replace));
            },
            std::time::Duration::from_millis(250),
        )
        .ok();
        pending.set_value(handle);
    };
    let on_status = move |ev: leptos::ev::Event| {
        let status = Status::parse(&event_target_value(&ev));
        go.run(UsersQuery {
            status,
            page: 1,
            ..query.get_untracked()
        });
    };
    // Enter in the search box: search now rather than after the pause.
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        cancel_pending();
        let q = search_input
            .get_untracked()
            .map(|input| input.value())
            .unwrap_or_default();
        go.run(UsersQuery {
            q,
            page: 1,
            ..query.get_untracked()
        });
    };

    view! {
        <form method="get" action="/users" class="toolbar" role="search" on:submit=on_submit>
            <div class="field inline grow">
                <label for="user-search">"Search"</label>
                <input id="user-search" type="search" name="q" placeholder="Name or email" autocomplete="off"
                    node_ref=search_input prop:value=move || query.get().q on:input=on_search/>
            </div>
            <div class="field inline">
                <label for="status-filter">"Status"</label>
                <select id="status-filter" name="status" on:change=on_status>
                    <option value="" selected=move || query.get().status.is_none()>"All"</option>
                    {Status::LISTED.into_iter().map(|s| view! {
                        <option value=s.as_str() selected=move || query.get().status == Some(s)>{s.label()}</option>
                    }).collect_view()}
                </select>
            </div>
            <input type="hidden" name="sort" value=move || query.get().sort.as_str()/>
            <input type="hidden" name="dir" value=move || if query.get().descending { "desc" } else { "asc" }/>
            <button type="submit" class="button">"Search"</button>
        </form>
        <div class="results" aria-busy=move || loading.get().then_some("true")>
            {rendered_once_on_server(move || match current.get() {
                Ok(shown) => view! { <UsersTable shown query=query.get_untracked() selected all_matching invite go rows/> }.into_any(),
                Err(err) => view! { <ErrorPanel error=err/> }.into_any(),
            })}
        </div>
    }
}

/// Records a new state of the table in the address bar.
fn record_in_history(url: &str, push: bool) {
    #[cfg(feature = "hydrate")]
    if let Ok(history) = window().history() {
        let state = wasm_bindgen::JsValue::NULL;
        let _ = if push {
            history.push_state_with_url(&state, "", Some(url))
        } else {
            history.replace_state_with_url(&state, "", Some(url))
        };
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (url, push);
}

/// The table's state from the address bar, after Back or Forward moved it.
fn query_from_location() -> Option<UsersQuery> {
    #[cfg(feature = "hydrate")]
    {
        let search = window().location().search().ok()?;
        let params = web_sys::UrlSearchParams::new_with_str(&search).ok()?;
        Some(super::query_from(|key| params.get(key)))
    }
    #[cfg(not(feature = "hydrate"))]
    None
}

/// A link inside the table that shows another page or order in place. Clicks with a modifier
/// (new tab, new window) are left to the browser.
#[component]
fn StateLink(
    next: UsersQuery,
    go: Callback<UsersQuery>,
    #[prop(optional)] class: Option<&'static str>,
    #[prop(optional)] rel: Option<&'static str>,
    children: Children,
) -> impl IntoView {
    let href = url_for(&next);
    let on_click = move |ev: leptos::ev::MouseEvent| {
        if ev.button() == 0 && !(ev.ctrl_key() || ev.meta_key() || ev.shift_key() || ev.alt_key()) {
            ev.prevent_default();
            go.run(next.clone());
        }
    };
    view! { <a href=href class=class rel=rel on:click=on_click>{children()}</a> }
}

#[component]
fn UsersTable(
    shown: ShownPage,
    query: UsersQuery,
    selected: RwSignal<std::collections::BTreeSet<uuid::Uuid>>,
    all_matching: RwSignal<bool>,
    invite: ServerAction<InviteUsers>,
    go: Callback<UsersQuery>,
    rows: NodeRef<leptos::html::Tbody>,
) -> impl IntoView {
    let ShownPage {
        summary: result,
        rows_html,
    } = shown;
    if result.ids.is_empty() && result.page > 1 {
        // A link or bookmark to a page the list no longer reaches (people were removed, or the
        // number was typed): say so, rather than that there is nobody.
        let first_page = UsersQuery { page: 1, ..query };
        return view! {
            <div class="empty-state">
                <p class="empty-title">{format!("There is no page {}", result.page)}</p>
                <p>"The list ends before this page."</p>
                <StateLink next=first_page go class="button">"Go to the first page"</StateLink>
            </div>
        }
        .into_any();
    }
    if result.ids.is_empty() {
        let filtered = !query.q.is_empty() || query.status.is_some();
        return if filtered {
            // Back to everyone in place, keeping the chosen order.
            let everyone = UsersQuery {
                q: String::new(),
                status: None,
                page: 1,
                ..query
            };
            view! {
                <div class="empty-state">
                    <p class="empty-title">"No one matches"</p>
                    <p>"Try a shorter search or another status."</p>
                    <StateLink next=everyone go class="button">"Clear filters"</StateLink>
                </div>
            }
            .into_any()
        } else {
            view! {
                <div class="empty-state">
                    <p class="empty-title">"No users yet"</p>
                    <p>"Invite the people who should have access to your app, or add them by hand."</p>
                    <div class="actions center">
                        <a href="/users/invite" class="button primary">"Invite people"</a>
                        <a href="/users/new" class="button">"Add user"</a>
                    </div>
                </div>
            }
            .into_any()
        };
    }
    let first = (result.page as i64 - 1) * result.per_page as i64 + 1;
    let last = first + result.ids.len() as i64 - 1;
    let total = format!(
        "{}{}",
        format::count(result.total),
        if result.total_is_lower_bound { "+" } else { "" }
    );
    let has_next = last < result.total || result.total_is_lower_bound && result.ids.len() as u32 == result.per_page;
    let prev_page = (result.page > 1).then(|| UsersQuery {
        page: result.page - 1,
        ..query.clone()
    });
    let next_page = has_next.then(|| UsersQuery {
        page: result.page + 1,
        ..query.clone()
    });
    let page_ids = result.ids;
    let total_count = result.total;
    let page_len = page_ids.len() as i64;
    let all_on_page = {
        let ids = page_ids.clone();
        move || !ids.is_empty() && selected.with(|s| ids.iter().all(|id| s.contains(id)))
    };
    let toggle_page = {
        let ids = page_ids.clone();
        let all_on_page = all_on_page.clone();
        move |_| {
            let select = !all_on_page();
            all_matching.set(false);
            selected.update(|s| {
                for id in &ids {
                    if select {
                        s.insert(*id);
                    } else {
                        s.remove(id);
                    }
                }
            });
        }
    };
    // The rows are one string (see `rows`); checkbox changes reach the selection through one
    // listener on the body.
    let on_row_change = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        if let Some((id, checked)) = super::rows::changed_row(&ev) {
            all_matching.set(false);
            selected.update(|s| {
                if checked {
                    s.insert(id);
                } else {
                    s.remove(&id);
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    let bulk_query = query.clone();
    let send_invites = move |_| {
        let ids: Vec<uuid::Uuid> = selected.get_untracked().into_iter().collect();
        let all = all_matching.get_untracked().then(|| UsersQuery {
            page: 1,
            ..bulk_query.clone()
        });
        invite.dispatch(InviteUsers { ids, all_matching: all });
    };
    let count_label = total.clone();
    let bulk_bar = {
        let all_on_page = all_on_page.clone();
        move || {
            let n = selected.with(|s| s.len());
            (n > 0 || all_matching.get()).then(|| {
                let label = if all_matching.get() {
                    format!("All {count_label} matching selected")
                } else {
                    format!("{} selected", format::count(n as i64))
                };
                let offer_all = all_on_page() && !all_matching.get() && total_count > page_len;
                view! {
                    <div class="bulk-bar" role="region" aria-label="Bulk actions">
                        <span aria-live="polite">{label}</span>
                        {offer_all.then(|| view! {
                            <button type="button" class="link-button" on:click=move |_| all_matching.set(true)>
                                {format!("Select all {} matching", format::count(total_count))}
                            </button>
                        })}
                        <span class="spacer"></span>
                        <button type="button" class="button primary" on:click=send_invites.clone() disabled=move || invite.pending().get()>
                            {move || if invite.pending().get() { "Sending…" } else { "Send invites" }}
                        </button>
                        <button type="button" class="button" on:click=move |_| { selected.set(Default::default()); all_matching.set(false); }>
                            "Clear selection"
                        </button>
                    </div>
                }
            })
        }
    };
    let header = |label: &'static str, key: UserSort| {
        let active = query.sort == key;
        let descending = active && !query.descending;
        let next = UsersQuery {
            sort: key,
            descending,
            page: 1,
            ..query.clone()
        };
        let aria = if active {
            if query.descending {
                "descending"
            } else {
                "ascending"
            }
        } else {
            "none"
        };
        let arrow = if active {
            if query.descending {
                " ↓"
            } else {
                " ↑"
            }
        } else {
            ""
        };
        view! { <th scope="col" aria-sort=aria><StateLink next go>{label}<span aria-hidden="true">{arrow}</span></StateLink></th> }
    };
    view! {
        <p class="count" aria-live="polite">{format!("{}–{} of {total}", format::count(first), format::count(last))}</p>
        {bulk_bar}
        <div class="table-wrap">
            <table class="data">
                <caption class="visually-hidden">"Users in this workspace"</caption>
                <thead>
                    <tr>
                        <th scope="col" class="select">
                            <input type="checkbox" aria-label="Select every user on this page"
                                prop:checked=all_on_page on:change=toggle_page/>
                        </th>
                        {header("Name", UserSort::Name)}
                        {header("Email", UserSort::Email)}
                        {header("Role", UserSort::Role)}
                        {header("Status", UserSort::Status)}
                        <th scope="col">"Source"</th>
                        {header("Last sign-in", UserSort::LastLogin)}
                    </tr>
                </thead>
                <tbody node_ref=rows inner_html=rows_html on:change=on_row_change></tbody>
            </table>
        </div>
        <nav class="pagination" aria-label="Pages">
            {match prev_page {
                Some(next) => view! { <StateLink next go class="button" rel="prev">"Previous"</StateLink> }.into_any(),
                None => view! { <span class="button disabled" aria-disabled="true">"Previous"</span> }.into_any(),
            }}
            <span class="muted">{format!("Page {}", result.page)}</span>
            {match next_page {
                Some(next) => view! { <StateLink next go class="button" rel="next">"Next"</StateLink> }.into_any(),
                None => view! { <span class="button disabled" aria-disabled="true">"Next"</span> }.into_any(),
            }}
        </nav>
    }
    .into_any()
}

//! The users table: server-side search as you type, status filter, sortable columns and
//! pagination, all kept in the URL so back/forward and shared links work.

use super::{list_users, query_from_params, url_for};
use crate::components::{ErrorPanel, StatusChip};
use crate::format;
use crate::frame::AdminOnly;
use crate::model::{UserSortKey, UserStatus, UsersPage, UsersQuery};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Form, A};
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::NavigateOptions;

#[component]
pub fn UsersPage() -> impl IntoView {
    view! {
        <Title text="Users"/>
        <AdminOnly>
            <UsersView/>
        </AdminOnly>
    }
}

#[component]
fn UsersView() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| params.with(query_from_params));
    let page = Resource::new(move || query.get(), list_users);
    let navigate = use_navigate();

    // Search as you type: wait for a pause, then replace the URL (which refetches).
    let pending = StoredValue::new(None::<leptos::leptos_dom::helpers::TimeoutHandle>);
    let on_search = {
        let navigate = navigate.clone();
        move |ev: leptos::ev::Event| {
            let text = event_target_value(&ev);
            if let Some(handle) = pending.get_value() {
                handle.clear();
            }
            let navigate = navigate.clone();
            let handle = set_timeout_with_handle(
                move || {
                    let next = UsersQuery {
                        q: text,
                        page: 1,
                        ..query.get_untracked()
                    };
                    navigate(
                        &url_for(&next),
                        NavigateOptions {
                            replace: true,
                            scroll: false,
                            ..Default::default()
                        },
                    );
                },
                std::time::Duration::from_millis(250),
            )
            .ok();
            pending.set_value(handle);
        }
    };
    let on_status = move |ev: leptos::ev::Event| {
        let status = UserStatus::parse(&event_target_value(&ev));
        let next = UsersQuery {
            status,
            page: 1,
            ..query.get_untracked()
        };
        navigate(
            &url_for(&next),
            NavigateOptions {
                scroll: false,
                ..Default::default()
            },
        );
    };

    view! {
        <header class="page-header">
            <h1>"Users"</h1>
            <A href="/users/new" attr:class="button primary">"Add user"</A>
        </header>
        <Form method="GET" action="/users" attr:class="toolbar" attr:role="search">
            <div class="field inline grow">
                <label for="user-search">"Search"</label>
                <input id="user-search" type="search" name="q" placeholder="Name or email" autocomplete="off"
                    prop:value=move || query.get().q on:input=on_search/>
            </div>
            <div class="field inline">
                <label for="status-filter">"Status"</label>
                <select id="status-filter" name="status" on:change=on_status>
                    <option value="" selected=move || query.get().status.is_none()>"All"</option>
                    {UserStatus::LISTED.into_iter().map(|s| view! {
                        <option value=s.as_str() selected=move || query.get().status == Some(s)>{s.label()}</option>
                    }).collect_view()}
                </select>
            </div>
            <input type="hidden" name="sort" value=move || query.get().sort.as_str()/>
            <input type="hidden" name="dir" value=move || if query.get().descending { "desc" } else { "asc" }/>
            <button type="submit" class="button">"Search"</button>
        </Form>
        <Transition fallback=|| view! { <p class="muted">"Loading users…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(result) => view! { <UsersTable result query=query.get_untracked()/> }.into_any(),
                    Err(err) => view! { <ErrorPanel error=err/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn UsersTable(result: UsersPage, query: UsersQuery) -> impl IntoView {
    if result.users.is_empty() {
        let filtered = !query.q.is_empty() || query.status.is_some();
        return if filtered {
            view! {
                <div class="empty-state">
                    <p class="empty-title">"No one matches"</p>
                    <p>"Try a shorter search or another status."</p>
                    <a href="/users" class="button">"Clear filters"</a>
                </div>
            }
            .into_any()
        } else {
            view! {
                <div class="empty-state">
                    <p class="empty-title">"No users yet"</p>
                    <p>"Add the people who should have access to your app."</p>
                    <a href="/users/new" class="button primary">"Add user"</a>
                </div>
            }
            .into_any()
        };
    }
    let first = (result.page as i64 - 1) * result.per_page as i64 + 1;
    let last = first + result.users.len() as i64 - 1;
    let total = format!(
        "{}{}",
        format::count(result.total),
        if result.total_is_lower_bound { "+" } else { "" }
    );
    let has_next = last < result.total || result.total_is_lower_bound && result.users.len() as u32 == result.per_page;
    let prev_url = (result.page > 1).then(|| {
        url_for(&UsersQuery {
            page: result.page - 1,
            ..query.clone()
        })
    });
    let next_url = has_next.then(|| {
        url_for(&UsersQuery {
            page: result.page + 1,
            ..query.clone()
        })
    });
    let header = |label: &'static str, key: UserSortKey| {
        let active = query.sort == key;
        let descending = active && !query.descending;
        let href = url_for(&UsersQuery {
            sort: key,
            descending,
            page: 1,
            ..query.clone()
        });
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
        view! { <th scope="col" aria-sort=aria><a href=href>{label}<span aria-hidden="true">{arrow}</span></a></th> }
    };
    view! {
        <p class="count" aria-live="polite">{format!("{}–{} of {total}", format::count(first), format::count(last))}</p>
        <div class="table-wrap">
            <table class="data">
                <caption class="visually-hidden">"Users in this workspace"</caption>
                <thead>
                    <tr>
                        {header("Name", UserSortKey::Name)}
                        {header("Email", UserSortKey::Email)}
                        {header("Role", UserSortKey::Role)}
                        {header("Status", UserSortKey::Status)}
                        <th scope="col">"Source"</th>
                        {header("Last sign-in", UserSortKey::LastLogin)}
                    </tr>
                </thead>
                <tbody>
                    {result.users.into_iter().map(|u| view! {
                        <tr>
                            <td><A href=format!("/users/{}", u.id)>{u.display_name}</A></td>
                            <td>{u.email}</td>
                            <td>{u.role.label()}</td>
                            <td><StatusChip status=u.status/></td>
                            <td>{u.source}</td>
                            <td>{format::optional_timestamp(&u.last_login_at, "Never")}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        <nav class="pagination" aria-label="Pages">
            {match prev_url {
                Some(href) => view! { <A href=href attr:class="button" attr:rel="prev">"Previous"</A> }.into_any(),
                None => view! { <span class="button disabled" aria-disabled="true">"Previous"</span> }.into_any(),
            }}
            <span class="muted">{format!("Page {}", result.page)}</span>
            {match next_url {
                Some(href) => view! { <A href=href attr:class="button" attr:rel="next">"Next"</A> }.into_any(),
                None => view! { <span class="button disabled" aria-disabled="true">"Next"</span> }.into_any(),
            }}
        </nav>
    }
    .into_any()
}

//! The signed-in frame: left navigation, top bar with the organisation and the user's menu.
//! Members see only their profile; admins see every section.

use crate::model::Me;
use leptos::prelude::*;
use leptos_router::components::{Outlet, Redirect, A};
use leptos_router::hooks::use_location;

#[component]
pub fn Frame() -> impl IntoView {
    let me = Resource::new(|| (), |_| crate::session::whoami());
    let location = use_location();
    view! {
        <Suspense>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(Some(me)) => {
                        provide_context(me.clone());
                        view! { <SignedIn me/> }.into_any()
                    }
                    Ok(None) => {
                        let search = location.search.get_untracked();
                        let here = if search.is_empty() { location.pathname.get_untracked() } else { format!("{}?{search}", location.pathname.get_untracked()) };
                        let path = format!("/login?next={}", crate::format::query_value(&here));
                        view! { <Redirect path/> }.into_any()
                    }
                    Err(err) => view! { <main class="auth"><crate::components::ErrorPanel error=err/></main> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn SignedIn(me: Me) -> impl IntoView {
    let admin = me.is_admin();
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <div class="app">
            <header class="topbar">
                <span class="org-name">{me.org_name.clone()}</span>
                <details class="user-menu">
                    <summary>
                        <span class="avatar" aria-hidden="true">{initials(&me.display_name)}</span>
                        <span>{me.display_name.clone()}</span>
                        <span class="visually-hidden">" (account menu)"</span>
                    </summary>
                    <div class="menu">
                        <A href="/profile">"Profile"</A>
                        <form method="post" action="/auth/logout">
                            <button type="submit" class="link-button">"Sign out"</button>
                        </form>
                    </div>
                </details>
            </header>
            <nav class="sidenav" aria-label="Main">
                <p class="brand">"Rollcall"</p>
                <ul>
                    {admin.then(|| view! {
                        <li><A href="/users">"Users"</A></li>
                        <li><A href="/integrations">"Integrations"</A></li>
                        <li><A href="/provisioning">"Provisioning"</A></li>
                        <li><A href="/activity">"Activity"</A></li>
                        <li><A href="/settings">"Settings"</A></li>
                    })}
                    <li><A href="/profile">"Profile"</A></li>
                </ul>
            </nav>
            <main id="main" class="content" tabindex="-1">
                <Outlet/>
            </main>
            <crate::components::Toasts/>
        </div>
    }
}

fn initials(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|w| w.chars().next())
        .take(2)
        .flat_map(char::to_uppercase)
        .collect()
}

/// Wraps admin-only pages: members get a clear explanation instead of the page.
#[component]
pub fn AdminOnly(children: ChildrenFn) -> impl IntoView {
    let me = use_context::<Me>();
    move || match &me {
        Some(me) if me.is_admin() => children().into_any(),
        _ => view! {
            <div class="panel">
                <h1>"Admins only"</h1>
                <p>"This page is for workspace admins. You can manage your own details on your profile."</p>
                <A href="/profile" attr:class="button">"Go to your profile"</A>
            </div>
        }
        .into_any(),
    }
}

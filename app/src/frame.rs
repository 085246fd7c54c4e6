//! The signed-in frame: left navigation, top bar with the organisation and the user's menu.
//! Members see only their profile; admins see every section.

use crate::session::Me;
use leptos::prelude::*;
use leptos_router::components::{Redirect, A};
use leptos_router::hooks::use_location;

/// Who is signed in, as the session middleware found them for this request.
///
/// Read synchronously: the frame is server-rendered only (islands hydrate, the frame does not),
/// and the middleware has already resolved the session. Awaiting it through a resource and a
/// `<Suspense>` made every signed-in page walk its view tree three times.
#[cfg(feature = "ssr")]
fn signed_in() -> Result<Option<Me>, crate::error::AppError> {
    Ok(crate::ssr::request()?.session.as_ref().map(crate::ssr::me_of))
}

/// The browser never renders the frame (see the server version).
#[cfg(not(feature = "ssr"))]
fn signed_in() -> Result<Option<Me>, crate::error::AppError> {
    Ok(None)
}

/// The frame around every signed-in page: top bar, navigation, and the page as `children`.
///
/// Each route wraps its page in its own `Frame` rather than sharing one through a parent route's
/// `<Outlet/>`: server rendering calls the outlet's closure several times per request (to find
/// resources, then to render), and each call built the page again, loading its data again.
#[component]
pub fn Frame(children: Children) -> impl IntoView {
    match signed_in() {
        Ok(Some(me)) => {
            provide_context(me.clone());
            view! { <SignedIn me>{children()}</SignedIn> }.into_any()
        }
        Ok(None) => {
            let location = use_location();
            let search = location.search.get_untracked();
            let here = if search.is_empty() {
                location.pathname.get_untracked()
            } else {
                format!("{}?{search}", location.pathname.get_untracked())
            };
            let path = format!("/login?next={}", crate::format::query_value(&here));
            view! { <Redirect path/> }.into_any()
        }
        Err(err) => view! { <main class="auth"><crate::components::ErrorPanel error=err/></main> }.into_any(),
    }
}

#[component]
fn SignedIn(me: Me, children: Children) -> impl IntoView {
    let admin = me.is_admin();
    let here = use_location().pathname.get_untracked();
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
                        <a href="/profile">"Profile"</a>
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
                        <li>{nav_link("/users", "Users", &here)}</li>
                        <li>{nav_link("/integrations", "Integrations", &here)}</li>
                        <li>{nav_link("/provisioning", "Provisioning", &here)}</li>
                        <li>{nav_link("/activity", "Activity", &here)}</li>
                        <li>{nav_link("/settings", "Settings", &here)}</li>
                    })}
                    <li>{nav_link("/profile", "Profile", &here)}</li>
                </ul>
            </nav>
            <main id="main" class="content" tabindex="-1">
                {children()}
            </main>
            <crate::components::Toasts/>
        </div>
    }
}

/// A navigation link, marked as the current page for this section and everything under it.
///
/// A plain link rather than the router's `<A>`: the frame is rendered once on the server and
/// never hydrated, so `<A>`'s reactive tracking of the location would be built and dropped
/// unused on every request.
fn nav_link(href: &'static str, label: &'static str, here: &str) -> impl IntoView {
    let current = is_within(here, href).then_some("page");
    view! { <a href=href aria-current=current>{label}</a> }
}

/// Whether `path` is `section` itself or a page under it.
fn is_within(path: &str, section: &str) -> bool {
    path.strip_prefix(section)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn initials(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|w| w.chars().next())
        .take(2)
        .flat_map(char::to_uppercase)
        .collect()
}

/// Wraps admin-only pages: members get a clear explanation instead of the page.
///
/// Not a reactive closure on purpose: who is signed in cannot change while a page is shown, and
/// server rendering may call a view's closures more than once (to find its resources, then to
/// render), which would run the page's data loading as many times.
#[component]
pub fn AdminOnly(children: Children) -> impl IntoView {
    match use_context::<Me>() {
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

#[cfg(test)]
mod tests {
    use super::is_within;

    #[test]
    fn a_section_link_is_current_on_the_section_and_the_pages_under_it_only() {
        assert!(is_within("/users", "/users"));
        assert!(is_within("/users/0190-abc", "/users"));
        assert!(!is_within("/users-export", "/users"));
        assert!(!is_within("/profile", "/users"));
        assert!(!is_within("/", "/users"));
    }
}

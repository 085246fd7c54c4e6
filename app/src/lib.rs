//! Rollcall's user interface: pages, components and the server functions behind them, shared by
//! server rendering and the hydrated browser app. Business rules live in the `identity` crate;
//! server functions here only check who is calling, call it, and map its errors.

pub mod activity;
pub mod components;
pub mod error;
pub mod format;
pub mod frame;
pub mod integrations;
pub mod invitations;
pub mod loading;
pub mod outbox;
pub mod placeholder;
pub mod profile;
pub mod provisioning;
pub mod session;
pub mod settings;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod timestamps;
pub mod users;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};

/// The HTML document around the app, rendered on the server only. The head's fixed tags are
/// plain markup: as `leptos_meta` components each would be registered and rendered again on
/// every request. Only the title varies by page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    // Beside the script and WASM, under the bundle's version (see the server's `bundle`).
    let stylesheet = format!("/{}/rollcall.css", options.site_pkg_dir);
    #[cfg(feature = "ssr")]
    ssr::content_security::declare();
    let scripts = loads_wasm(&request_path()).then(|| view! { <HydrationScripts options islands=true/> });
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <meta name="description" content="Rollcall: your organisation's people, how they sign in, and who did what."/>
                <link id="leptos" rel="stylesheet" href=stylesheet/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                {scripts}
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The console's pages (inside the admin frame) are the ones with islands to hydrate. Every
/// other page (sign-in, first set-up, an invitation, not found) is a plain form that works
/// without script: it is sent as HTML and a stylesheet, with no script or WASM to download.
/// A test renders each plain page and fails if one grows an island.
pub fn loads_wasm(path: &str) -> bool {
    const CONSOLE: [&str; 7] = [
        "/users",
        "/outbox",
        "/activity",
        "/integrations",
        "/provisioning",
        "/settings",
        "/profile",
    ];
    CONSOLE.iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// The path of the page being rendered (on the server; the browser never renders the shell).
fn request_path() -> String {
    #[cfg(feature = "ssr")]
    if let Some(parts) = use_context::<http::request::Parts>() {
        return parts.uri.path().to_owned();
    }
    String::new()
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Async SSR: the first paint is the finished page, no spinners, and it works without JS.
    let ssr = SsrMode::Async;
    view! {
        <Title formatter=|text: String| if text.is_empty() { "Rollcall".to_owned() } else { format!("{text} · Rollcall") }/>
        <Router>
            <Routes fallback=placeholder::NotFound>
                <Route path=path!("/") view=session::Home ssr=ssr.clone()/>
                <Route path=path!("/setup") view=session::SetupPage ssr=ssr.clone()/>
                <Route path=path!("/login") view=session::LoginPage ssr=ssr.clone()/>
                <Route path=path!("/o/:slug/login") view=session::LoginPage ssr=ssr.clone()/>
                <Route path=path!("/login/workspace") view=session::WorkspacePage ssr=ssr.clone()/>
                <Route path=path!("/invite/:token") view=invitations::landing::InvitationPage ssr=ssr.clone()/>
                <Route path=path!("/access/:token") view=integrations::pages::AccessPage ssr=ssr.clone()/>
                <Route path=path!("/auth/problem") view=integrations::pages::ProblemPage ssr=ssr.clone()/>
                <Route path=path!("/users") view=|| view! { <frame::Frame><users::list::UsersPage/></frame::Frame> } ssr=ssr.clone()/>
                <Route path=path!("/users/new") view=|| view! { <frame::Frame><users::create::NewUserPage/></frame::Frame> } ssr=ssr.clone()/>
                <Route path=path!("/users/invite") view=|| view! { <frame::Frame><invitations::invite_people::InvitePeoplePage/></frame::Frame> } ssr=ssr.clone()/>
                <Route path=path!("/outbox") view=|| view! { <frame::Frame><outbox::OutboxPage/></frame::Frame> } ssr=ssr.clone()/>
                <Route path=path!("/users/:id") view=|| view! { <frame::Frame><users::detail::UserPage/></frame::Frame> } ssr=ssr.clone()/>
                <Route path=path!("/activity") view=|| view! { <frame::Frame><activity::ActivityPage/></frame::Frame> } ssr=ssr.clone()/>
                <Route path=path!("/integrations") view=|| view! { <frame::Frame><integrations::cards::IntegrationsPage/></frame::Frame> } ssr=ssr.clone()/>
                <Route path=path!("/integrations/:provider/disable") view=|| view! { <frame::Frame><integrations::cards::DisablePage/></frame::Frame> } ssr=ssr.clone()/>
                <Route path=path!("/integrations/:provider/import") view=|| view! { <frame::Frame><integrations::import::ImportPage/></frame::Frame> } ssr=ssr.clone()/>
                <Route path=path!("/provisioning") view=|| view! { <frame::Frame><provisioning::ProvisioningPage/></frame::Frame> } ssr=ssr.clone()/>
                <Route path=path!("/settings") view=|| view! { <frame::Frame><settings::SettingsPage/></frame::Frame> } ssr=ssr.clone()/>
                <Route path=path!("/profile") view=|| view! { <frame::Frame><profile::ProfilePage/></frame::Frame> } ssr=ssr.clone()/>
            </Routes>
        </Router>
    }
}

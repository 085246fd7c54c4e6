//! Sections whose features arrive in later issues, and the not-found page.

use crate::frame::AdminOnly;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
fn ComingSoon(title: &'static str, body: &'static str) -> impl IntoView {
    view! {
        <Title text=title/>
        <AdminOnly>
            <header class="page-header"><h1>{title}</h1></header>
            <div class="empty-state">
                <p class="empty-title">"Coming soon"</p>
                <p>{body}</p>
            </div>
        </AdminOnly>
    }
}

#[component]
pub fn Provisioning() -> impl IntoView {
    view! { <ComingSoon title="Provisioning" body="Let Microsoft Entra ID or Okta create, update and deactivate users here automatically over SCIM 2.0."/> }
}

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
        options.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Page not found"/>
        <main class="auth">
            <div class="auth-card">
                <h1>"Page not found"</h1>
                <p>"Nothing lives at this address. It may have moved, or the link may be mistyped."</p>
                <a class="button primary" href="/">"Go to Rollcall"</a>
            </div>
        </main>
    }
}

//! The not-found page.

use leptos::prelude::*;
use leptos_meta::Title;

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

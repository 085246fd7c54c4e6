//! The browser entry point: hydrates the islands (the interactive parts) of the server-rendered
//! page. Everything else on the page is plain HTML from the server.

// Each `#[island]` in `app` exports its own hydration function, which the loader calls by
// name; nothing here calls into `app`, so say it must be linked all the same.
use app as _;

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
    // Leptos's loader hydrates each island right after this returns, in one chain of promise
    // callbacks; a timer runs only once that chain is done. The mark lets tests (and curious
    // people) know the page is interactive.
    leptos::prelude::set_timeout(
        || {
            if let Some(body) = leptos::prelude::document().body() {
                let _ = body.set_attribute("data-hydrated", "true");
            }
        },
        std::time::Duration::ZERO,
    );
}

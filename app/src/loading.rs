//! The one recipe for loading a page's data.
//!
//! Pages are rendered on the server only (just their islands hydrate), so a page never renders
//! again in the browser: it reads its data once, by awaiting its server function in [`load`],
//! and renders what came back. No `Resource`, no `<Suspense>` or `<Transition>`: nothing would
//! ever re-run them, and each boundary cost server rendering extra walks of the page's view
//! tree. An error is shown by the one error component, with its request id. The page's islands
//! get the data they need as props, and reload it themselves through server functions after a
//! change (as the user editor does).
//!
//! ```text
//! view! { {load(get_settings(), |settings| view! { <InviteExpiryForm days=settings.invite_ttl_days/> })} }
//! ```

use crate::components::ErrorPanel;
use crate::error::AppError;
use leptos::prelude::*;
use std::future::Future;

/// Awaits `data` while the page renders on the server, then shows `render(data)`, or the error.
pub fn load<T, V>(
    data: impl Future<Output = Result<T, AppError>> + Send + 'static,
    render: impl FnOnce(T) -> V + Send + 'static,
) -> impl IntoView
where
    T: Send + 'static,
    V: IntoView + 'static,
{
    load_with(data, render, |error| view! { <ErrorPanel error/> }.into_any())
}

/// [`load`] for pages outside the signed-in frame (sign-in, setup, invitation links): an error is
/// shown where such a page's card would be.
pub fn load_outside_frame<T, V>(
    data: impl Future<Output = Result<T, AppError>> + Send + 'static,
    render: impl FnOnce(T) -> V + Send + 'static,
) -> impl IntoView
where
    T: Send + 'static,
    V: IntoView + 'static,
{
    load_with(data, render, |error| {
        view! { <main class="auth"><ErrorPanel error/></main> }.into_any()
    })
}

fn load_with<T, V>(
    data: impl Future<Output = Result<T, AppError>> + Send + 'static,
    render: impl FnOnce(T) -> V + Send + 'static,
    failed: fn(AppError) -> AnyView,
) -> impl IntoView
where
    T: Send + 'static,
    V: IntoView + 'static,
{
    Suspend::new(async move {
        match data.await {
            Ok(data) => render(data).into_any(),
            Err(error) => failed(error),
        }
    })
}

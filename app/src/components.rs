//! Building blocks every page uses: labelled fields with inline errors, status chips, the
//! toast / live region, and the error panel.

use crate::error::AppError;
use leptos::prelude::*;
use people::Status;

/// A labelled input with its hint and inline error, linked by `aria-describedby`.
#[component]
pub fn Field(
    label: &'static str,
    name: &'static str,
    #[prop(optional)] kind: Option<&'static str>,
    #[prop(optional, into)] value: String,
    #[prop(into)] error: Signal<Option<String>>,
    #[prop(optional)] autocomplete: Option<&'static str>,
    #[prop(optional)] required: bool,
    #[prop(optional)] hint: Option<&'static str>,
    #[prop(optional)] autofocus: bool,
    /// Shown but not editable (the value is owned elsewhere, say by a SCIM directory).
    #[prop(optional)]
    readonly: bool,
) -> impl IntoView {
    let error_id = format!("{name}-error");
    let hint_id = format!("{name}-hint");
    let described_by = {
        let (error_id, hint_id) = (error_id.clone(), hint_id.clone());
        move || {
            let mut ids = Vec::new();
            if hint.is_some() {
                ids.push(hint_id.clone());
            }
            if error.get().is_some() {
                ids.push(error_id.clone());
            }
            (!ids.is_empty()).then(|| ids.join(" "))
        }
    };
    view! {
        <div class="field" class:invalid=move || error.get().is_some()>
            <label for=name>{label}{(!required).then(|| view! { <span class="optional">" (optional)"</span> })}</label>
            <input
                id=name
                name=name
                type=kind.unwrap_or("text")
                value=value
                autocomplete=autocomplete
                required=required
                autofocus=autofocus
                readonly=readonly
                aria-invalid=move || error.get().is_some().then_some("true")
                aria-describedby=described_by
            />
            {hint.map(|h| view! { <p class="hint" id=hint_id.clone()>{h}</p> })}
            <p class="field-error" id=error_id hidden=move || error.get().is_none()>
                {move || error.get().unwrap_or_default()}
            </p>
        </div>
    }
}

/// The message for `field` if the last result failed on it.
pub fn field_error<T: Clone + Send + Sync + 'static>(
    result: Signal<Option<Result<T, AppError>>>,
    field: &'static str,
) -> Signal<Option<String>> {
    Signal::derive(move || match result.get() {
        Some(Err(err)) if err.field() == Some(field) => Some(err.to_string()),
        _ => None,
    })
}

/// The message for a failure not tied to one field.
pub fn form_error<T: Clone + Send + Sync + 'static>(
    result: Signal<Option<Result<T, AppError>>>,
) -> Signal<Option<String>> {
    Signal::derive(move || match result.get() {
        Some(Err(err)) if err.field().is_none() => Some(err.to_string()),
        _ => None,
    })
}

#[component]
pub fn FormError(#[prop(into)] error: Signal<Option<String>>) -> impl IntoView {
    view! {
        <div class="form-error" role="alert" hidden=move || error.get().is_none()>
            {move || error.get().unwrap_or_default()}
        </div>
    }
}

/// Moves keyboard focus to the first field a failed submit complained about.
pub fn focus_first_invalid<T: Clone + Send + Sync + 'static>(result: Signal<Option<Result<T, AppError>>>) {
    Effect::new(move |_| {
        if let Some(Err(err)) = result.get() {
            if let Some(field) = err.field() {
                focus_element(field);
            }
        }
    });
}

pub fn focus_element(id: &str) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        if let Some(el) = document()
            .get_element_by_id(id)
            .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = el.focus();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = id;
}

#[component]
pub fn StatusChip(status: Status) -> impl IntoView {
    view! { <span class=status.chip_class()>{status.label()}</span> }
}

/// Shows what went wrong and how to recover, never a raw error alone.
#[component]
pub fn ErrorPanel(error: AppError) -> impl IntoView {
    let action = match &error {
        AppError::Unauthenticated => Some(view! { <a href="/login" class="button">"Sign in"</a> }.into_any()),
        AppError::NotFound => Some(view! { <a href="/users" class="button">"Back to users"</a> }.into_any()),
        _ => None,
    };
    view! {
        <div class="panel error-panel" role="alert">
            <p>{error.to_string()}</p>
            {action}
        </div>
    }
}

/// Announces a result to everyone: a visible toast in the page's one polite live region.
///
/// The region is plain server-rendered HTML (`Toasts`) shared by every island on the page, so
/// the toast is written into it directly rather than through a signal that only one island
/// could see. A newer toast replaces an older one; each disappears after five seconds.
pub fn toast(message: impl Into<String>) {
    #[cfg(feature = "hydrate")]
    {
        use std::sync::atomic::{AtomicU64, Ordering};
        static LATEST: AtomicU64 = AtomicU64::new(0);
        let Some(region) = document().get_element_by_id(TOAST_REGION_ID) else {
            return;
        };
        let Ok(toast) = document().create_element("div") else {
            return;
        };
        toast.set_class_name("toast");
        toast.set_text_content(Some(&message.into()));
        region.set_text_content(None);
        let _ = region.append_child(&toast);
        let id = LATEST.fetch_add(1, Ordering::Relaxed) + 1;
        set_timeout(
            move || {
                if LATEST.load(Ordering::Relaxed) == id {
                    region.set_text_content(None);
                }
            },
            std::time::Duration::from_secs(5),
        );
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = message;
}

const TOAST_REGION_ID: &str = "toasts";

#[component]
pub fn Toasts() -> impl IntoView {
    view! { <div id=TOAST_REGION_ID class="toast-region" role="status" aria-live="polite"></div> }
}

/// A view that follows reactive state in the browser but that the server renders only once.
///
/// Server rendering calls a view's closures more than once (to find its resources, then to
/// render), so a closure that builds a whole table builds it several times per request. The
/// server's answer is for one request's state, so there it is called once; in the browser the
/// closure stays, to re-render when the state changes. Both render the same HTML.
#[cfg(feature = "ssr")]
pub fn rendered_once_on_server<V>(view: impl Fn() -> V) -> V {
    view()
}

/// See the server version: in the browser the closure is kept as it is.
#[cfg(not(feature = "ssr"))]
pub fn rendered_once_on_server<V, F: Fn() -> V>(view: F) -> F {
    view
}

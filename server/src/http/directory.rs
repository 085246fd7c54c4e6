//! The organisation's directory, as plain forms and links of the Integrations tab and the
//! import view: connecting it (the provider's consent, out and back through
//! `/auth/{provider}/callback`), syncing now or on a schedule, disconnecting, importing a
//! selection, and deactivating people removed upstream. Rules live in `identity::directory`.

use super::auth::ReadForm;
use super::providers::{
    actor_of, admin_actor, back_with, not_started_here, problem, provider_of, session_changed, started_here,
    to_provider, BROWSER_COOKIE,
};
use app::ssr::{cookie_value, RequestContext, SharedState};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use identity::auth::oidc::TakenAttempt;
use identity::directory::import::{self, Deactivation, Selection};
use identity::directory::view::{EntryState, Filter};
use identity::directory::{connections, consent, fetches};
use identity::providers::Provider;
use identity::secrets::sealed::Sealer;
use serde::Deserialize;
use uuid::Uuid;

fn import_page(provider: Provider) -> String {
    format!("/integrations/{}/import", provider.as_str())
}

/// `GET /integrations/{provider}/directory/connect`: "Import people" on a connected card.
#[tracing::instrument(name = "directory_connect", skip_all)]
pub async fn connect(
    State(state): State<SharedState>,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
    Path(provider): Path<String>,
) -> Response {
    let back = ("/integrations", "Back to Integrations");
    let Some(session) = ctx.session.clone() else {
        return Redirect::to("/login?next=/integrations").into_response();
    };
    if !session.is_admin() {
        return problem(
            &state,
            &ctx,
            identity::Error::Forbidden("Only workspace admins can connect the directory.".into()),
            back,
        );
    }
    if !started_here(&headers) {
        return problem(&state, &ctx, not_started_here(), back);
    }
    let provider = match provider_of(&provider) {
        Ok(p) => p,
        Err(err) => return problem(&state, &ctx, err, back),
    };
    let existing = cookie_value(ctx.cookie_header.as_deref(), BROWSER_COOKIE, state.secure_cookies);
    match consent::start(
        &state.db,
        &state.providers,
        provider,
        session.org_id,
        session.user_id,
        existing,
    )
    .await
    {
        Ok(started) => to_provider(&state, started),
        Err(err) => problem(&state, &ctx, err, back),
    }
}

/// The callback of a directory consent (from `providers::callback`): still the admin who
/// started it, then the consent's checks, then on to the import view to watch the first read.
pub async fn consent_granted(
    state: &SharedState,
    ctx: &RequestContext,
    provider: Provider,
    (org_id, user_id): (Uuid, Uuid),
    attempt: &TakenAttempt,
    answer: consent::Answer<'_>,
) -> Response {
    let back = ("/integrations", "Back to Integrations");
    let Some(session) = ctx
        .session
        .as_ref()
        .filter(|s| s.org_id == org_id && s.user_id == user_id && s.is_admin())
    else {
        return problem(state, ctx, session_changed(), back);
    };
    let actor = actor_of(ctx, session);
    let sealer = Sealer::new(&state.secret_key);
    match consent::complete(&state.db, &sealer, &state.providers, &actor, provider, attempt, answer).await {
        Ok(_) => Redirect::to(&format!("{}?connected=1", import_page(provider))).into_response(),
        Err(err) => problem(state, ctx, err, back),
    }
}

/// `POST /integrations/{provider}/directory/sync`: "Sync now".
#[tracing::instrument(name = "directory_sync", skip_all)]
pub async fn sync(
    State(state): State<SharedState>,
    Extension(ctx): Extension<RequestContext>,
    Path(provider): Path<String>,
) -> Response {
    let result = async {
        let actor = admin_actor(&ctx)?;
        let provider = provider_of(&provider)?;
        let connection = connections::get(&state.db, actor.org_id, provider)
            .await?
            .ok_or_else(not_connected)?;
        if let Some(problem) = connection.problem() {
            return Err(identity::Error::Forbidden(problem));
        }
        fetches::enqueue_by(
            &state.db,
            actor.org_id,
            provider,
            provider == Provider::Microsoft,
            &actor.label,
        )
        .await?;
        Ok(provider)
    }
    .await;
    match result {
        Ok(provider) => Redirect::to(&import_page(provider)).into_response(),
        Err(err) => back_with(&state, "/integrations", Err(err), &ctx),
    }
}

fn not_connected() -> identity::Error {
    identity::Error::Forbidden(
        "This directory is not connected. Choose \"Import people\" on its card to connect it.".into(),
    )
}

#[derive(Deserialize)]
pub struct ScheduleForm {
    #[serde(default)]
    every: String,
}

/// `POST /integrations/{provider}/directory/schedule`: Sync automatically off, or every 6, 12
/// or 24 hours.
#[tracing::instrument(name = "directory_schedule", skip_all)]
pub async fn schedule(
    State(state): State<SharedState>,
    Extension(ctx): Extension<RequestContext>,
    Path(provider): Path<String>,
    ReadForm(form): ReadForm<ScheduleForm>,
) -> Response {
    let result = async {
        let actor = admin_actor(&ctx)?;
        let provider = provider_of(&provider)?;
        let every = match form.every.as_str() {
            "off" | "" => None,
            hours => Some(
                hours
                    .parse::<i32>()
                    .map_err(|_| identity::Error::invalid("every", "Choose off, or every 6, 12 or 24 hours."))?,
            ),
        };
        connections::set_schedule(&state.db, &actor, provider, every)
            .await
            .map_err(|e| match e {
                identity::Error::NotFound => not_connected(),
                other => other,
            })?;
        Ok(match every {
            None => format!("{} syncs only when you choose Sync now.", provider.label()),
            Some(h) => format!(
                "{} syncs automatically every {h} hours. Automatic syncs never deactivate anyone.",
                provider.label()
            ),
        })
    }
    .await;
    back_with(&state, "/integrations", result, &ctx)
}

/// `POST /integrations/{provider}/directory/disconnect`.
#[tracing::instrument(name = "directory_disconnect", skip_all)]
pub async fn disconnect(
    State(state): State<SharedState>,
    Extension(ctx): Extension<RequestContext>,
    Path(provider): Path<String>,
) -> Response {
    let result = async {
        let actor = admin_actor(&ctx)?;
        let provider = provider_of(&provider)?;
        connections::disconnect(&state.db, &actor, provider)
            .await
            .map_err(|e| match e {
                identity::Error::NotFound => not_connected(),
                other => other,
            })?;
        Ok(format!(
            "The {} directory is disconnected and its tokens deleted. People already imported stay.",
            provider.label()
        ))
    }
    .await;
    back_with(&state, "/integrations", result, &ctx)
}

/// A selection form: checked `id`s, or `all=1` with the view's filter (`state`, `q`, `group`);
/// `confirm`, the count typed to confirm a large deactivation. Read by hand: a form repeats
/// `id` once per checked box.
struct SelectionForm {
    selection: Selection,
    confirm: Option<i64>,
    /// Where to go back to: the view with its filter.
    back: String,
}

fn read_selection(provider: Provider, body: &[u8]) -> Result<SelectionForm, identity::Error> {
    let mut ids = Vec::new();
    let (mut all, mut state, mut search, mut group, mut confirm) = (false, None, None, None, None);
    for (name, value) in form_urlencoded::parse(body) {
        match name.as_ref() {
            "id" => {
                if value.is_empty() || value.len() > 255 {
                    return Err(identity::Error::invalid(
                        "selection",
                        "A selected person's id is not valid.",
                    ));
                }
                ids.push(value.into_owned());
            }
            "all" => all = value == "1",
            "state" => state = Some(value.into_owned()).filter(|v| !v.is_empty()),
            "q" => search = Some(value.into_owned()).filter(|v| !v.is_empty()),
            "group" => group = Some(value.into_owned()).filter(|v| !v.is_empty()),
            "confirm" => {
                let typed = value.trim().replace([',', ' ', '\u{a0}'], "");
                confirm = if typed.is_empty() {
                    None
                } else {
                    Some(typed.parse().map_err(|_| {
                        identity::Error::invalid("confirm", "Type the number of people, in digits, to confirm.")
                    })?)
                };
            }
            _ => {}
        }
    }
    let state_filter = match state.as_deref() {
        None | Some("all") => None,
        Some(s) => Some(EntryState::parse(s).ok_or_else(|| identity::Error::invalid("state", "Unknown state."))?),
    };
    if search.as_ref().is_some_and(|s| s.len() > 200) {
        return Err(identity::Error::invalid("q", "Search for at most 200 characters."));
    }
    let mut back = form_urlencoded::Serializer::new(String::new());
    if let Some(s) = &state {
        back.append_pair("state", s);
    }
    if let Some(q) = &search {
        back.append_pair("q", q);
    }
    if let Some(g) = &group {
        back.append_pair("group", g);
    }
    let query = back.finish();
    let back = if query.is_empty() {
        import_page(provider)
    } else {
        format!("{}?{query}", import_page(provider))
    };
    let selection = if all {
        Selection::Matching(Filter {
            state: state_filter,
            search,
            group,
        })
    } else {
        Selection::Ids(ids)
    };
    Ok(SelectionForm {
        selection,
        confirm,
        back,
    })
}

/// `POST /integrations/{provider}/import`: "Import N people".
#[tracing::instrument(name = "directory_import", skip_all)]
pub async fn import(
    State(state): State<SharedState>,
    Extension(ctx): Extension<RequestContext>,
    Path(provider): Path<String>,
    body: Bytes,
) -> Response {
    let provider = match provider_of(&provider) {
        Ok(p) => p,
        Err(err) => return back_with(&state, "/integrations", Err(err), &ctx),
    };
    let form = match read_selection(provider, &body) {
        Ok(form) => form,
        Err(err) => return back_with(&state, &import_page(provider), Err(err), &ctx),
    };
    let result = async {
        let actor = admin_actor(&ctx)?;
        let done = import::import(&state.db, &actor, provider, &form.selection).await?;
        Ok(format!(
            "{}. Invite them from the Users tab when you are ready.",
            done.summary()
        ))
    }
    .await;
    back_with(&state, &form.back, result, &ctx)
}

/// `POST /integrations/{provider}/deactivate-removed`: deactivate the selected people removed or
/// suspended upstream, confirmed by the count typed in when there are many.
#[tracing::instrument(name = "directory_deactivate_removed", skip_all)]
pub async fn deactivate_removed(
    State(state): State<SharedState>,
    Extension(ctx): Extension<RequestContext>,
    Path(provider): Path<String>,
    body: Bytes,
) -> Response {
    let provider = match provider_of(&provider) {
        Ok(p) => p,
        Err(err) => return back_with(&state, "/integrations", Err(err), &ctx),
    };
    let form = match read_selection(provider, &body) {
        Ok(form) => form,
        Err(err) => return back_with(&state, &import_page(provider), Err(err), &ctx),
    };
    let result = async {
        let actor = admin_actor(&ctx)?;
        match import::deactivate_removed(&state.db, &actor, provider, &form.selection, form.confirm).await? {
            Deactivation::Done {
                deactivated,
                sessions_ended,
            } => Ok(format!(
                "{deactivated} deactivated ({sessions_ended} sessions ended). They can be reactivated from the Users tab."
            )),
            Deactivation::NeedsConfirmation { count, workspace } => Err(identity::Error::invalid(
                "confirm",
                format!(
                    "This would deactivate {count} of the workspace's {workspace} people. Type {count} in the box to confirm."
                ),
            )),
        }
    }
    .await;
    back_with(&state, &form.back, result, &ctx)
}

//! Sign in with Google, Microsoft or Slack: the routes that start a provider sign-in (to sign
//! in, link an account, connect the organisation, accept an invitation or an access link), the
//! callback that completes it, and the plain forms of the Integrations tab and the profile's
//! connected accounts. Protocol and rules live in `identity`; this adapts HTTP to them.
//!
//! Starts are GET links, not forms: the page policy's `form-action 'self'` would block a form
//! whose answer redirects to the provider. Starts that act for a signed-in person (link,
//! connect) or for a link's holder (invitation, access link) are refused unless the browser
//! says the click came from Rollcall itself (`Sec-Fetch-Site`), so another site cannot start
//! one in someone's browser.
//!
//! Every failure lands on `/auth/problem`, which says what happened, what to do, and the
//! request id.

use super::auth::{append_cookie, flash_for, redirect_with_flash, safe_next, start_session, ReadForm};
use app::session::Flash;
use app::ssr::{cookie, cookie_value, RequestContext, SharedState, PENDING_COOKIE};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use identity::audit::Actor;
use identity::auth::oidc::{self, Purpose};
use identity::auth::throttle;
use identity::identities::ProviderSignIn;
use identity::providers::{Mode, Provider};
use identity::secrets::SecretString;
use serde::Deserialize;

/// The cookie that binds a provider sign-in to the browser that started it.
pub const BROWSER_COOKIE: &str = "rollcall_oidc";

/// Where a failed provider step sends the person, and the way back offered there.
pub(super) fn problem(state: &SharedState, ctx: &RequestContext, err: identity::Error, back: (&str, &str)) -> Response {
    let mut flash = flash_for(err, &ctx.request_id);
    flash.values.insert("request_id".into(), ctx.request_id.clone());
    flash.values.insert("back_href".into(), back.0.into());
    flash.values.insert("back_label".into(), back.1.into());
    redirect_with_flash("/auth/problem", &flash, state.secure_cookies)
}

pub(super) fn provider_of(name: &str) -> Result<Provider, identity::Error> {
    Provider::parse(name).ok_or(identity::Error::NotFound)
}

/// Whether the browser says this navigation came from a Rollcall page (or was typed): browsers
/// that send no `Sec-Fetch-Site` (old ones, scripts) are let through, as for form posts.
pub(super) fn started_here(headers: &HeaderMap) -> bool {
    matches!(
        headers.get("sec-fetch-site").map(|v| v.as_bytes()),
        None | Some(b"same-origin") | Some(b"none")
    )
}

pub(super) async fn redirect_to_provider(
    state: &SharedState,
    ctx: &RequestContext,
    provider: Provider,
    purpose: Purpose,
    back: (&str, &str),
    login_hint: Option<&str>,
) -> Response {
    let existing = cookie_value(ctx.cookie_header.as_deref(), BROWSER_COOKIE, state.secure_cookies);
    match oidc::start(&state.db, &state.providers, provider, &purpose, existing, login_hint).await {
        Ok(started) => to_provider(state, started),
        Err(err) => problem(state, ctx, err, back),
    }
}

/// Sends the browser to the provider with its binding cookie (set again at every start, so it
/// outlives the newest attempt).
pub(super) fn to_provider(state: &SharedState, started: oidc::Started) -> Response {
    let mut response = Redirect::to(&started.authorization_url).into_response();
    append_cookie(
        &mut response,
        &cookie(
            BROWSER_COOKIE,
            started.browser_secret.expose(),
            Some(oidc::ATTEMPT_LIFETIME.num_seconds()),
            state.secure_cookies,
        ),
    );
    response
}

#[derive(Deserialize)]
pub struct StartQuery {
    #[serde(default)]
    workspace: String,
    #[serde(default)]
    next: String,
    /// Passed on to the provider to preselect the account (a hint only, never trusted).
    #[serde(default)]
    login_hint: String,
}

/// `GET /auth/{provider}/start`: "Continue with …" on a sign-in page.
#[tracing::instrument(name = "auth_provider_start", skip_all)]
pub async fn start_sign_in(
    State(state): State<SharedState>,
    Extension(ctx): Extension<RequestContext>,
    Path(provider): Path<String>,
    Query(query): Query<StartQuery>,
) -> Response {
    let workspace = Some(query.workspace.trim().to_owned()).filter(|w| !w.is_empty() && w.len() <= 100);
    let login_page = match &workspace {
        Some(slug) => format!("/o/{slug}/login"),
        None => "/login".to_owned(),
    };
    let back = (login_page.as_str(), "Back to sign in");
    let provider = match provider_of(&provider) {
        Ok(p) => p,
        Err(err) => return problem(&state, &ctx, err, back),
    };
    let purpose = Purpose::SignIn {
        workspace,
        next: safe_next(&query.next),
    };
    let hint = Some(query.login_hint.trim()).filter(|h| !h.is_empty());
    redirect_to_provider(&state, &ctx, provider, purpose, back, hint).await
}

/// `GET /auth/{provider}/link`: link an account from the profile.
#[tracing::instrument(name = "auth_provider_link", skip_all)]
pub async fn start_link(
    State(state): State<SharedState>,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
    Path(provider): Path<String>,
) -> Response {
    let back = ("/profile", "Back to your profile");
    let Some(session) = ctx.session.clone() else {
        return Redirect::to("/login?next=/profile").into_response();
    };
    if !started_here(&headers) {
        return problem(&state, &ctx, not_started_here(), back);
    }
    let provider = match provider_of(&provider) {
        Ok(p) => p,
        Err(err) => return problem(&state, &ctx, err, back),
    };
    let purpose = Purpose::Link {
        org_id: session.org_id,
        user_id: session.user_id,
    };
    redirect_to_provider(&state, &ctx, provider, purpose, back, None).await
}

/// `GET /auth/{provider}/connect`: an admin connects the organisation.
#[tracing::instrument(name = "auth_provider_connect", skip_all)]
pub async fn start_connect(
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
        return problem(&state, &ctx, only_admins(), back);
    }
    if !started_here(&headers) {
        return problem(&state, &ctx, not_started_here(), back);
    }
    let provider = match provider_of(&provider) {
        Ok(p) => p,
        Err(err) => return problem(&state, &ctx, err, back),
    };
    let purpose = Purpose::Connect {
        org_id: session.org_id,
        user_id: session.user_id,
    };
    redirect_to_provider(&state, &ctx, provider, purpose, back, None).await
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// `GET /auth/{provider}/invite?token=…`: accept an invitation with the provider.
#[tracing::instrument(name = "auth_provider_invite", skip_all)]
pub async fn start_invite(
    State(state): State<SharedState>,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
    Path(provider): Path<String>,
    Query(query): Query<TokenQuery>,
) -> Response {
    start_from_link(
        &state,
        &ctx,
        &headers,
        &provider,
        &query.token,
        "invite",
        "Back to the invitation",
    )
    .await
}

/// `GET /auth/{provider}/access?token=…`: get back in through an access link by linking the
/// provider.
#[tracing::instrument(name = "auth_provider_access", skip_all)]
pub async fn start_access(
    State(state): State<SharedState>,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
    Path(provider): Path<String>,
    Query(query): Query<TokenQuery>,
) -> Response {
    start_from_link(&state, &ctx, &headers, &provider, &query.token, "access", "Back").await
}

/// Starts a provider sign-in from the page of an emailed link (`/invite/<token>` or
/// `/access/<token>`): the link must still be open; the attempt keeps its id, never the token.
async fn start_from_link(
    state: &SharedState,
    ctx: &RequestContext,
    headers: &HeaderMap,
    provider: &str,
    token: &str,
    kind: &str,
    back_label: &str,
) -> Response {
    let token: String = token.chars().filter(char::is_ascii_hexdigit).take(64).collect();
    let page = format!("/{kind}/{token}");
    let back = (page.as_str(), back_label);
    if !started_here(headers) {
        return problem(state, ctx, not_started_here(), back);
    }
    let provider = match provider_of(provider) {
        Ok(p) => p,
        Err(err) => return problem(state, ctx, err, back),
    };
    let purpose = if kind == "invite" {
        match identity::invites::lookup(&state.db, &state.secret_key, &token).await {
            Ok(identity::invites::InviteState::Open(details)) => Purpose::Invite {
                org_id: details.org_id,
                invite_id: details.invite_id,
            },
            // The invitation's page says why it cannot be used.
            Ok(_) => return Redirect::to(&page).into_response(),
            Err(err) => return problem(state, ctx, err, back),
        }
    } else {
        match identity::access_links::lookup(&state.db, &state.secret_key, &token).await {
            Ok(identity::access_links::AccessState::Open(link)) => Purpose::Access {
                org_id: link.org_id,
                link_id: link.id,
            },
            Ok(other) => return problem(state, ctx, identity::access_links::refusal(&other), back),
            Err(err) => return problem(state, ctx, err, back),
        }
    };
    redirect_to_provider(state, ctx, provider, purpose, back, None).await
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    #[serde(default)]
    state: String,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    /// Entra's admin consent answers with these instead of a code.
    admin_consent: Option<String>,
    tenant: Option<String>,
}

/// `GET /auth/{provider}/callback`: where the provider sends the browser back.
#[tracing::instrument(name = "auth_provider_callback", skip_all)]
pub async fn callback(
    State(state): State<SharedState>,
    Extension(ctx): Extension<RequestContext>,
    Path(provider): Path<String>,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let started = std::time::Instant::now();
    let generic_back = ("/login", "Back to sign in");
    let provider = match provider_of(&provider) {
        Ok(p) => p,
        Err(err) => return problem(&state, &ctx, err, generic_back),
    };
    // Throttled per client address with password sign-in's counter: an address over the limit
    // is refused, and each failed callback counts against it.
    let ip_key = ctx
        .ip
        .as_deref()
        .map(|ip| (throttle::ip_key(ip), state.throttle.max_failures_per_ip));
    if let Some(key) = &ip_key {
        if let Err(err) = throttle::check(&state.db, &state.throttle, std::slice::from_ref(key)).await {
            return problem(&state, &ctx, err, generic_back);
        }
    }
    let browser = cookie_value(ctx.cookie_header.as_deref(), BROWSER_COOKIE, state.secure_cookies);
    let callback = oidc::Callback {
        state: &query.state,
        code: query.code.as_deref(),
        error: query.error.as_deref(),
        error_description: query.error_description.as_deref(),
        browser,
    };
    let count_failure = || async {
        if let Some(key) = &ip_key {
            if let Err(err) = throttle::count_failure(&state.db, &state.throttle, std::slice::from_ref(key)).await {
                tracing::warn!(error = %err, "could not count a failed provider sign-in");
            }
        }
    };
    let attempt = match oidc::take_attempt(&state.db, provider, &callback).await {
        Ok(attempt) => attempt,
        Err(err) => {
            count_failure().await;
            return problem(&state, &ctx, err, generic_back);
        }
    };
    if let Purpose::Directory { org_id, user_id } = attempt.purpose {
        let answer = identity::directory::consent::Answer {
            code: query.code.as_deref(),
            admin_consent: query.admin_consent.as_deref(),
            tenant: query.tenant.as_deref(),
        };
        return super::directory::consent_granted(&state, &ctx, provider, (org_id, user_id), &attempt, answer).await;
    }
    let finished = oidc::complete(&state.providers, provider, &attempt, query.code.as_deref())
        .await
        .map(|(account, waited, _)| (attempt.purpose.clone(), account, waited));
    let (purpose, account, upstream) = match finished {
        Ok(done) => done,
        Err(err) => {
            count_failure().await;
            return problem(&state, &ctx, err, generic_back);
        }
    };
    let mut response = complete(&state, &ctx, provider, purpose, &account).await;
    let failed = response
        .headers()
        .get(http::header::LOCATION)
        .is_some_and(|l| l.as_bytes().starts_with(b"/auth/problem"));
    if failed {
        count_failure().await;
    }
    // The callback's own time and the part spent waiting on the provider (code exchange and
    // key fetches), for bench/sso and for operators reading browser timings.
    let total = started.elapsed();
    if let Ok(value) = http::HeaderValue::from_str(&format!(
        "app;dur={:.3}, provider;dur={:.3}",
        total.saturating_sub(upstream).as_secs_f64() * 1000.0,
        upstream.as_secs_f64() * 1000.0
    )) {
        response.headers_mut().insert("server-timing", value);
    }
    response
}

/// Applies what the sign-in was for.
async fn complete(
    state: &SharedState,
    ctx: &RequestContext,
    provider: Provider,
    purpose: Purpose,
    account: &oidc::VerifiedAccount,
) -> Response {
    let method = provider.as_str();
    match purpose {
        Purpose::SignIn { workspace, next } => {
            let back = match &workspace {
                Some(slug) => (format!("/o/{slug}/login"), "Back to sign in"),
                None => ("/login".to_owned(), "Back to sign in"),
            };
            match identity::identities::sign_in(&state.db, account, workspace.as_deref()).await {
                Ok(ProviderSignIn::Account(found)) => start_session(state, ctx, found, &next, method).await,
                Ok(ProviderSignIn::ChooseWorkspace { token, .. }) => {
                    let mut response = Redirect::to("/login/workspace").into_response();
                    append_cookie(
                        &mut response,
                        &cookie(PENDING_COOKIE, token.expose(), Some(300), state.secure_cookies),
                    );
                    response
                }
                Err(err) => problem(state, ctx, err, (&back.0, back.1)),
            }
        }
        Purpose::Link { org_id, user_id } => {
            let back = ("/profile", "Back to your profile");
            let Some(session) = ctx
                .session
                .as_ref()
                .filter(|s| s.org_id == org_id && s.user_id == user_id)
            else {
                return problem(state, ctx, session_changed(), back);
            };
            let actor = actor_of(ctx, session);
            match identity::identities::link(&state.db, &actor, user_id, account).await {
                Ok(()) => Redirect::to(&format!("/profile?linked={method}")).into_response(),
                Err(err) => problem(state, ctx, err, back),
            }
        }
        Purpose::Connect { org_id, user_id } => {
            let back = ("/integrations", "Back to Integrations");
            let Some(session) = ctx
                .session
                .as_ref()
                .filter(|s| s.org_id == org_id && s.user_id == user_id && s.is_admin())
            else {
                return problem(state, ctx, session_changed(), back);
            };
            let actor = actor_of(ctx, session);
            match identity::integrations::connect(&state.db, &actor, account).await {
                Ok(_) => Redirect::to(&format!("/integrations?connected={method}")).into_response(),
                Err(err) => problem(state, ctx, err, back),
            }
        }
        Purpose::Invite { org_id, invite_id } => {
            match identity::identities::accept_invite(&state.db, org_id, invite_id, account).await {
                Ok(found) => start_session(state, ctx, found, "/", method).await,
                Err(err) => problem(state, ctx, err, ("/login", "Go to sign in")),
            }
        }
        Purpose::Access { org_id, link_id } => {
            match identity::identities::link_through_access_link(&state.db, org_id, link_id, account).await {
                Ok(found) => start_session(state, ctx, found, "/", method).await,
                Err(err) => problem(state, ctx, err, ("/login", "Go to sign in")),
            }
        }
        // Handled before the code is exchanged (see `callback`).
        Purpose::Directory { .. } => problem(state, ctx, session_changed(), ("/integrations", "Back to Integrations")),
    }
}

pub(super) fn actor_of(ctx: &RequestContext, session: &identity::sessions::SessionUser) -> Actor {
    Actor {
        org_id: session.org_id,
        user_id: Some(session.user_id),
        label: session.email.clone(),
        ip: ctx.ip.clone(),
        request_id: Some(ctx.request_id.clone()),
    }
}

pub(super) fn not_started_here() -> identity::Error {
    identity::Error::Forbidden(
        "That link was opened from another site, so Rollcall did not follow it. Start again from Rollcall itself."
            .into(),
    )
}

fn only_admins() -> identity::Error {
    identity::Error::Forbidden("Only workspace admins can connect an organisation.".into())
}

pub(super) fn session_changed() -> identity::Error {
    identity::Error::Forbidden(
        "You are no longer signed in as the person who started this. Sign in again and start over.".into(),
    )
}

// --- The Integrations tab's and the profile's plain forms -------------------------------------

pub(super) fn admin_actor(ctx: &RequestContext) -> Result<Actor, identity::Error> {
    let session = ctx
        .session
        .as_ref()
        .ok_or_else(|| identity::Error::Forbidden("Your session has ended. Sign in again to continue.".into()))?;
    if !session.is_admin() {
        return Err(identity::Error::Forbidden("Only workspace admins can do this.".into()));
    }
    Ok(actor_of(ctx, session))
}

pub(super) fn back_with(
    state: &SharedState,
    to: &str,
    result: Result<String, identity::Error>,
    ctx: &RequestContext,
) -> Response {
    let flash = match result {
        Ok(notice) => {
            let mut flash = Flash::default();
            flash.values.insert("notice".into(), notice);
            flash
        }
        Err(err) => flash_for(err, &ctx.request_id),
    };
    redirect_with_flash(to, &flash, state.secure_cookies)
}

#[derive(Deserialize)]
pub struct ModeForm {
    #[serde(default)]
    mode: String,
}

/// `POST /integrations/{provider}/mode`: SSO only or organisation connected (turning off is
/// `disable`, which shows its impact first).
#[tracing::instrument(name = "integration_mode", skip_all)]
pub async fn set_mode(
    State(state): State<SharedState>,
    Extension(ctx): Extension<RequestContext>,
    Path(provider): Path<String>,
    ReadForm(form): ReadForm<ModeForm>,
) -> Response {
    let result = async {
        let actor = admin_actor(&ctx)?;
        let provider = provider_of(&provider)?;
        let mode = Mode::parse(&form.mode)
            .filter(|m| *m != Mode::Off)
            .ok_or_else(|| identity::Error::invalid("mode", "Choose SSO only or Organisation connected."))?;
        identity::integrations::set_mode(&state.db, &state.secret_key, &actor, provider, mode, None).await?;
        Ok(format!("{} sign-in is set to {}.", provider.label(), mode.label()))
    }
    .await;
    back_with(&state, "/integrations", result, &ctx)
}

#[derive(Deserialize)]
pub struct DisableForm {
    #[serde(default)]
    confirm: String,
}

/// `POST /integrations/{provider}/disable`, from the impact page's confirmation.
#[tracing::instrument(name = "integration_disable", skip_all)]
pub async fn disable(
    State(state): State<SharedState>,
    Extension(ctx): Extension<RequestContext>,
    Path(provider): Path<String>,
    ReadForm(form): ReadForm<DisableForm>,
) -> Response {
    let result = async {
        let actor = admin_actor(&ctx)?;
        let provider = provider_of(&provider)?;
        if form.confirm != "disable" {
            return Err(identity::Error::invalid(
                "confirm",
                "Confirm on the impact page to disable.",
            ));
        }
        let impact = identity::integrations::disable(&state.db, &state.secret_key, &actor, provider).await?;
        Ok(format!(
            "{} sign-in is off. {} unlinked; {} sent a link to set a password or connect another account.",
            provider.label(),
            people(impact.linked),
            people(impact.links_sent),
        ))
    }
    .await;
    back_with(&state, "/integrations", result, &ctx)
}

fn people(n: i64) -> String {
    if n == 1 {
        "1 person".into()
    } else {
        format!("{n} people")
    }
}

#[derive(Deserialize)]
pub struct RequireSsoForm {
    #[serde(default)]
    on: String,
}

/// `POST /integrations/require-sso`.
#[tracing::instrument(name = "integration_require_sso", skip_all)]
pub async fn require_sso(
    State(state): State<SharedState>,
    Extension(ctx): Extension<RequestContext>,
    ReadForm(form): ReadForm<RequireSsoForm>,
) -> Response {
    let result = async {
        let actor = admin_actor(&ctx)?;
        let on = form.on == "true";
        identity::integrations::set_require_sso(&state.db, &actor, on).await?;
        Ok(if on {
            "Members now sign in only through an enabled provider. Admins keep their password.".to_owned()
        } else {
            "Members may sign in with a password again.".to_owned()
        })
    }
    .await;
    back_with(&state, "/integrations", result, &ctx)
}

/// `POST /profile/accounts/{provider}/unlink`.
#[tracing::instrument(name = "identity_unlink", skip_all)]
pub async fn unlink(
    State(state): State<SharedState>,
    Extension(ctx): Extension<RequestContext>,
    Path(provider): Path<String>,
) -> Response {
    let result = async {
        let session = ctx
            .session
            .as_ref()
            .ok_or_else(|| identity::Error::Forbidden("Your session has ended. Sign in again to continue.".into()))?;
        let provider = provider_of(&provider)?;
        identity::identities::unlink(&state.db, &actor_of(&ctx, session), session.user_id, provider).await?;
        Ok(format!("Your {} account is unlinked.", provider.label()))
    }
    .await;
    back_with(&state, "/profile", result, &ctx)
}

/// `POST /users/{id}/accounts/{provider}/unlink`: an admin removes an account a person linked
/// (one that is not theirs any more); the sessions it started end with it.
#[tracing::instrument(name = "identity_unlink_by_admin", skip_all)]
pub async fn unlink_for_user(
    State(state): State<SharedState>,
    Extension(ctx): Extension<RequestContext>,
    Path((user_id, provider)): Path<(String, String)>,
) -> Response {
    let user_id = uuid::Uuid::parse_str(&user_id).ok();
    let back = match user_id {
        Some(id) => format!("/users/{id}"),
        None => "/users".to_owned(),
    };
    let result = async {
        let actor = admin_actor(&ctx)?;
        let user_id = user_id.ok_or(identity::Error::NotFound)?;
        let provider = provider_of(&provider)?;
        identity::identities::unlink(&state.db, &actor, user_id, provider).await?;
        Ok(format!("The {} account is unlinked.", provider.label()))
    }
    .await;
    back_with(&state, &back, result, &ctx)
}

#[derive(Deserialize)]
pub struct AccessForm {
    #[serde(default)]
    token: String,
    #[serde(default = "no_password")]
    password: SecretString,
}

fn no_password() -> SecretString {
    SecretString::from("")
}

/// `POST /auth/access`: set a password through a one-time access link, and sign in.
#[tracing::instrument(name = "auth_access", skip_all)]
pub async fn access_set_password(
    State(state): State<SharedState>,
    Extension(ctx): Extension<RequestContext>,
    ReadForm(form): ReadForm<AccessForm>,
) -> Response {
    let token: String = form.token.chars().filter(char::is_ascii_hexdigit).take(64).collect();
    match identity::access_links::set_password(&state.db, &state.secret_key, &form.token, form.password, ctx.ip.clone())
        .await
    {
        Ok(account) => start_session(&state, &ctx, account, "/", "password").await,
        Err(err) => redirect_with_flash(
            &format!("/access/{token}"),
            &flash_for(err, &ctx.request_id),
            state.secure_cookies,
        ),
    }
}

//! Plain HTML form endpoints for first-run setup, sign-in and sign-out. They work with or
//! without JavaScript: success redirects onward with a fresh session cookie; failure
//! redirects back with a one-shot flash that the page shows inline.

use app::session::Flash;
use app::ssr::{
    cookie, cookie_value, encode_flash, RequestContext, SharedState, FLASH_COOKIE, PENDING_COOKIE, SESSION_COOKIE,
};
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use identity::auth::{AccountRef, Attempt, SignIn};
use identity::orgs::{Creation, NewOrg};
use identity::secrets::SecretString;
use identity::sessions::NewSession;
use identity::EmailAddress;
use serde::Deserialize;

/// A form body. One the server cannot read (not a form, not UTF-8, a field of the wrong type) is
/// the client's mistake: 400 (413 or 415 where those say it better) with what was wrong and the
/// request's id, logged below error level.
pub struct ReadForm<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ReadForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let request_id = super::request_id(req.headers()).to_owned();
        match Form::<T>::from_request(req, state).await {
            Ok(Form(value)) => Ok(ReadForm(value)),
            Err(rejection) => {
                let status = match rejection.status() {
                    status @ (StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE) => status,
                    _ => StatusCode::BAD_REQUEST,
                };
                // Bounded: the decoder's message may quote what the client sent.
                let reason: String = rejection.body_text().chars().take(200).collect();
                tracing::info!(request_id, %status, reason, "a form the server could not read");
                Err((
                    status,
                    format!("This form could not be read: {reason}. Reload the page and try again (request id {request_id})."),
                )
                    .into_response())
            }
        }
    }
}

/// What a form without a password field carries: fails every check a password must pass.
fn no_password() -> SecretString {
    SecretString::from("")
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    org_name: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    family_name: String,
    #[serde(default)]
    email: String,
    #[serde(default = "no_password")]
    password: SecretString,
}

#[tracing::instrument(name = "auth_setup", skip_all)]
pub async fn setup(
    State(state): State<SharedState>,
    Extension(ctx): Extension<RequestContext>,
    ReadForm(form): ReadForm<SetupForm>,
) -> Response {
    let back = |err: identity::Error| {
        let mut flash = flash_for(err, &ctx.request_id);
        for (k, v) in [
            ("org_name", &form.org_name),
            ("given_name", &form.given_name),
            ("family_name", &form.family_name),
            ("email", &form.email),
        ] {
            flash.values.insert(k.into(), v.clone());
        }
        redirect_with_flash("/setup", &flash, state.secure_cookies)
    };
    let first_run = match identity::orgs::any_exists(&state.db).await {
        Ok(exists) => !exists,
        Err(err) => return back(err),
    };
    if !first_run && !state.open_signup {
        return back(identity::Error::Forbidden(
            "This server already has a workspace and does not allow new ones. Ask its operator, or sign in.".into(),
        ));
    }
    let email = match EmailAddress::parse(&form.email) {
        Ok(email) => email,
        Err(err) => return back(err),
    };
    let new = NewOrg {
        name: form.org_name.clone(),
        admin_email: email,
        admin_given_name: form.given_name.clone(),
        admin_family_name: form.family_name.clone(),
        admin_password: form.password,
    };
    let creation = if first_run {
        Creation::FirstRun
    } else {
        Creation::Additional
    };
    match identity::orgs::create_with_admin(&state.db, new, creation, ctx.ip.clone()).await {
        Ok((org, user)) => {
            tracing::info!(org = %org.slug, "workspace created");
            start_session(
                &state,
                &ctx,
                AccountRef {
                    org_id: org.id,
                    user_id: user.id,
                },
                "/users",
                "setup",
            )
            .await
        }
        Err(err) => back(err),
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default = "no_password")]
    password: SecretString,
    /// Set by a workspace's own sign-in page.
    #[serde(default)]
    workspace: String,
    /// Where to go after signing in (a path on this site).
    #[serde(default)]
    next: String,
}

#[tracing::instrument(name = "auth_login", skip_all)]
pub async fn login(
    State(state): State<SharedState>,
    Extension(ctx): Extension<RequestContext>,
    ReadForm(form): ReadForm<LoginForm>,
) -> Response {
    let workspace = Some(form.workspace.trim()).filter(|w| !w.is_empty());
    let login_page = match workspace {
        Some(slug) => format!("/o/{slug}/login"),
        None => "/login".to_owned(),
    };
    let attempt = Attempt {
        email: &form.email,
        password: form.password,
        workspace,
        ip: ctx.ip.as_deref(),
    };
    match identity::auth::sign_in(&state.db, &state.throttle, attempt).await {
        Ok(SignIn::Account(account)) => start_session(&state, &ctx, account, &safe_next(&form.next), "password").await,
        Ok(SignIn::ChooseWorkspace { token, .. }) => {
            let mut response = Redirect::to("/login/workspace").into_response();
            append_cookie(
                &mut response,
                &cookie(PENDING_COOKIE, token.expose(), Some(300), state.secure_cookies),
            );
            response
        }
        Err(err) => {
            let mut flash = flash_for(err, &ctx.request_id);
            flash.values.insert("email".into(), form.email.trim().to_owned());
            redirect_with_flash(&login_page, &flash, state.secure_cookies)
        }
    }
}

#[derive(Deserialize)]
pub struct WorkspaceForm {
    #[serde(default)]
    workspace: String,
}

#[tracing::instrument(name = "auth_choose_workspace", skip_all)]
pub async fn choose_workspace(
    State(state): State<SharedState>,
    Extension(ctx): Extension<RequestContext>,
    ReadForm(form): ReadForm<WorkspaceForm>,
) -> Response {
    let Some(pending) =
        cookie_value(ctx.cookie_header.as_deref(), PENDING_COOKIE, state.secure_cookies).map(str::to_owned)
    else {
        let flash = Flash {
            error: "That sign-in has expired. Enter your email and password again.".into(),
            ..Default::default()
        };
        return redirect_with_flash("/login", &flash, state.secure_cookies);
    };
    match identity::auth::choose_workspace(&state.db, &pending, &form.workspace).await {
        Ok((account, method)) => {
            let mut response = start_session(&state, &ctx, account, "/", &method).await;
            append_cookie(
                &mut response,
                &cookie(PENDING_COOKIE, "", Some(0), state.secure_cookies),
            );
            response
        }
        Err(err) => redirect_with_flash("/login", &flash_for(err, &ctx.request_id), state.secure_cookies),
    }
}

#[derive(Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    family_name: String,
    #[serde(default = "no_password")]
    password: SecretString,
}

/// Accepting an invitation: set a password (and names), become active, and get signed in.
#[tracing::instrument(name = "auth_accept_invite", skip_all)]
pub async fn accept_invite(
    State(state): State<SharedState>,
    Extension(ctx): Extension<RequestContext>,
    ReadForm(form): ReadForm<AcceptForm>,
) -> Response {
    let token: String = form.token.chars().filter(char::is_ascii_hexdigit).take(64).collect();
    let result = identity::invites::accept(
        &state.db,
        &state.secret_key,
        &form.token,
        &form.given_name,
        &form.family_name,
        form.password,
        ctx.ip.clone(),
    )
    .await;
    match result {
        Ok(account) => start_session(&state, &ctx, account, "/", "invite").await,
        Err(err) => {
            let mut flash = flash_for(err, &ctx.request_id);
            flash.values.insert("given_name".into(), form.given_name.clone());
            flash.values.insert("family_name".into(), form.family_name.clone());
            redirect_with_flash(&format!("/invite/{token}"), &flash, state.secure_cookies)
        }
    }
}

#[tracing::instrument(name = "auth_logout", skip_all)]
pub async fn logout(State(state): State<SharedState>, Extension(ctx): Extension<RequestContext>) -> Response {
    if let Some(token) = cookie_value(ctx.cookie_header.as_deref(), SESSION_COOKIE, state.secure_cookies) {
        if let Err(err) = identity::sessions::revoke(&state.db, token).await {
            tracing::error!(error = ?err, "could not revoke session on sign-out");
        }
    }
    let mut response = Redirect::to("/login").into_response();
    append_cookie(
        &mut response,
        &cookie(SESSION_COOKIE, "", Some(0), state.secure_cookies),
    );
    response
}

/// Replaces whatever session the browser had with a brand-new one (rotation on sign-in).
pub(super) async fn start_session(
    state: &SharedState,
    ctx: &RequestContext,
    account: AccountRef,
    next: &str,
    method: &str,
) -> Response {
    if let Some(old) = cookie_value(ctx.cookie_header.as_deref(), SESSION_COOKIE, state.secure_cookies) {
        let _ = identity::sessions::revoke(&state.db, old).await;
    }
    let new = NewSession {
        org_id: account.org_id,
        user_id: account.user_id,
        ip: ctx.ip.as_deref(),
        user_agent: ctx.user_agent.as_deref(),
        method,
        request_id: Some(&ctx.request_id),
    };
    match identity::sessions::create(&state.db, state.sessions.policy(), new).await {
        Ok(token) => {
            let mut response = Redirect::to(next).into_response();
            let max_age = state.sessions.policy().absolute_lifetime.num_seconds();
            append_cookie(
                &mut response,
                &cookie(SESSION_COOKIE, token.expose(), Some(max_age), state.secure_cookies),
            );
            append_cookie(&mut response, &cookie(FLASH_COOKIE, "", Some(0), state.secure_cookies));
            response
        }
        Err(err) => redirect_with_flash("/login", &flash_for(err, &ctx.request_id), state.secure_cookies),
    }
}

pub(super) fn flash_for(err: identity::Error, request_id: &str) -> Flash {
    let mapped = app::ssr::map_identity_error(err, request_id);
    Flash {
        error: mapped.to_string(),
        field: mapped.field().map(str::to_owned),
        ..Default::default()
    }
}

pub(super) fn redirect_with_flash(to: &str, flash: &Flash, secure: bool) -> Response {
    let mut response = Redirect::to(to).into_response();
    append_cookie(
        &mut response,
        &cookie(FLASH_COOKIE, &encode_flash(flash), Some(120), secure),
    );
    response
}

pub(super) fn append_cookie(response: &mut Response, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// Where to go after signing in: `next` only when it is a plain path on this site. Anything a
/// browser could read as another origin is refused: scheme-relative (`//host`), backslashes
/// (which browsers treat as slashes), control characters and whitespace (browsers strip tabs and
/// new lines from `Location`, so `/\t/evil.example` becomes `//evil.example`), schemes, and
/// anything over 2 KB.
pub(super) fn safe_next(next: &str) -> String {
    let lower = next.to_ascii_lowercase();
    let plain_path = next.len() <= 2048
        && next.starts_with('/')
        && !next.starts_with("//")
        && !next.chars().any(|c| c == '\\' || c.is_control() || c.is_whitespace())
        && !next.contains("://")
        // Encoded slashes or backslashes right after the first: some proxies and frameworks
        // decode them before the browser sees the redirect.
        && !lower[1..].starts_with("%2f")
        && !lower[1..].starts_with("%5c")
        // Never into another sign-in flow: a link or invitation start reached through `next`
        // would pass as a click on Rollcall's own page (Sec-Fetch-Site: same-origin).
        && !lower.starts_with("/auth/");
    if plain_path {
        next.to_owned()
    } else {
        "/".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn the_next_parameter_never_leaves_the_site() {
        assert_eq!(safe_next("/users?q=a"), "/users?q=a");
        assert_eq!(
            safe_next("/users/0190?confirm=deactivate"),
            "/users/0190?confirm=deactivate"
        );
        for hostile in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r//evil.example",
            "/ /evil.example",
            "/\u{0}/evil.example",
            "/%2f/evil.example",
            "/%2F%2Fevil.example",
            "/%5Cevil.example",
            "/%5cevil.example",
            "/x/https://evil.example",
            "javascript:alert(1)",
            "/auth/google/invite?token=00",
            "/AUTH/google/connect",
            "evil.example",
            "",
        ] {
            assert_eq!(safe_next(hostile), "/", "{hostile}");
        }
    }
}

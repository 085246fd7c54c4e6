//! The HTTP side of a fake: routes per flavor, the in-memory state (persona, sabotage, keys,
//! outstanding codes) and the discovery, authorize, token, JWKS and userinfo handlers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, LOCATION, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::RngCore;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;

use crate::keys::KeyRing;
use crate::token::{self, Subject};
use crate::{Flavor, Persona, Sabotage};

/// Codes are single use and expire after this long, as Google's do (Entra allows 10 minutes).
const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// Expired codes are swept out every this many authorizations, so a long benchmark whose
/// clients abandon some codes cannot grow the map without bound.
const SWEEP_EVERY: usize = 1024;

/// State shared by a [`FakeIdp`](crate::FakeIdp) handle and its server task.
pub(crate) struct Shared {
    pub flavor: Flavor,
    pub base_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub discovery_requests: AtomicUsize,
    pub jwks_requests: AtomicUsize,
    pub token_requests: AtomicUsize,
    state: Mutex<MutableState>,
}

/// Everything a test can change while the fake runs. Held only briefly, never across an
/// await or while signing.
pub(crate) struct MutableState {
    pub persona: Persona,
    pub sabotage: Option<Sabotage>,
    pub keys: KeyRing,
    codes: HashMap<String, Grant>,
    authorizations_since_sweep: usize,
    /// Google refresh tokens (issued for `access_type=offline`): who and which scope.
    pub refresh_tokens: HashMap<String, (Persona, String)>,
}

/// What an authorization code stands for.
struct Grant {
    persona: Persona,
    redirect_uri: String,
    nonce: String,
    scope: String,
    /// PKCE challenge and whether its method is S256 (else plain).
    challenge: Option<(String, bool)>,
    /// Google `access_type=offline`: the code's exchange also hands out a refresh token.
    offline: bool,
    issued: Instant,
}

impl Shared {
    pub(crate) fn new(flavor: Flavor, base_url: String, client_id: String, client_secret: String) -> Shared {
        Shared {
            flavor,
            base_url,
            client_id,
            client_secret,
            discovery_requests: AtomicUsize::new(0),
            jwks_requests: AtomicUsize::new(0),
            token_requests: AtomicUsize::new(0),
            state: Mutex::new(MutableState {
                persona: Persona::default_for(flavor),
                sabotage: None,
                keys: KeyRing::new(),
                codes: HashMap::new(),
                authorizations_since_sweep: 0,
                refresh_tokens: HashMap::new(),
            }),
        }
    }

    /// The state, even after a panic elsewhere poisoned the lock: one failed test assertion
    /// must not turn every later request into a panic too.
    pub(crate) fn lock(&self) -> MutexGuard<'_, MutableState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sabotage(&self) -> Option<Sabotage> {
        self.lock().sabotage
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The discovery document's `issuer`.
    fn issuer(&self) -> String {
        match self.flavor {
            Flavor::Microsoft => token::microsoft_issuer(&self.base_url, "{tenantid}"),
            Flavor::Google | Flavor::Slack => self.base_url.clone(),
        }
    }
}

/// Where each flavor serves what, copying the real providers' paths.
struct Paths {
    discovery: &'static str,
    authorize: &'static str,
    token: &'static str,
    jwks: &'static str,
    userinfo: &'static str,
}

fn paths(flavor: Flavor) -> Paths {
    match flavor {
        Flavor::Google => Paths {
            discovery: "/.well-known/openid-configuration",
            authorize: "/o/oauth2/v2/auth",
            token: "/token",
            jwks: "/oauth2/v3/certs",
            userinfo: "/v1/userinfo",
        },
        Flavor::Microsoft => Paths {
            discovery: "/organizations/v2.0/.well-known/openid-configuration",
            authorize: "/organizations/oauth2/v2.0/authorize",
            token: "/organizations/oauth2/v2.0/token",
            jwks: "/organizations/discovery/v2.0/keys",
            userinfo: "/oidc/userinfo",
        },
        Flavor::Slack => Paths {
            discovery: "/.well-known/openid-configuration",
            authorize: "/openid/connect/authorize",
            token: "/api/openid.connect.token",
            jwks: "/openid/connect/keys",
            userinfo: "/api/openid.connect.userInfo",
        },
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let p = paths(shared.flavor);
    Router::new()
        .route(p.discovery, get(discovery))
        .route(p.authorize, get(authorize))
        .route(p.token, post(token_endpoint))
        .route(p.jwks, get(jwks))
        .route(p.userinfo, get(userinfo).post(userinfo))
        .with_state(shared)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

// ---------------------------------------------------------------------------------------------
// Discovery

async fn discovery(State(s): State<Arc<Shared>>) -> Response {
    s.discovery_requests.fetch_add(1, Ordering::Relaxed);
    match s.sabotage() {
        Some(Sabotage::DiscoveryBroken) => (StatusCode::INTERNAL_SERVER_ERROR, "fake discovery outage").into_response(),
        // Parses as JSON and names the issuer, but every endpoint and required list is gone.
        Some(Sabotage::DiscoveryInvalid) => {
            Json(json!({"issuer": s.issuer(), "scopes_supported": ["openid", "email", "profile"]})).into_response()
        }
        _ => Json(discovery_document(&s)).into_response(),
    }
}

fn discovery_document(s: &Shared) -> Value {
    let p = paths(s.flavor);
    let mut doc = json!({
        "issuer": s.issuer(),
        "authorization_endpoint": s.url(p.authorize),
        "token_endpoint": s.url(p.token),
        "userinfo_endpoint": s.url(p.userinfo),
        "jwks_uri": s.url(p.jwks),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "grant_types_supported": ["authorization_code"],
    });
    let extra = match s.flavor {
        Flavor::Google => json!({
            "code_challenge_methods_supported": ["plain", "S256"],
            "response_modes_supported": ["query"],
            "claims_supported": ["aud", "azp", "email", "email_verified", "exp", "hd", "iat", "iss", "name", "nonce", "sub"],
        }),
        // Entra publishes more than the fake implements (implicit flows, form_post); clients
        // must not depend on those, and the fake's authorize refuses them.
        Flavor::Microsoft => json!({
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "end_session_endpoint": s.url("/organizations/oauth2/v2.0/logout"),
            "request_uri_parameter_supported": false,
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "nonce", "tid", "oid", "ver", "name",
                "preferred_username", "email", "xms_edov"],
            "tenant_region_scope": null,
            "cloud_instance_name": "microsoftonline.com",
        }),
        // Slack advertises no PKCE (no code_challenge_methods_supported).
        Flavor::Slack => json!({
            "response_modes_supported": ["query"],
            "claims_supported": ["sub", "auth_time", "iss"],
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": true,
        }),
    };
    if let (Value::Object(doc), Value::Object(extra)) = (&mut doc, extra) {
        doc.extend(extra);
    }
    doc
}

// ---------------------------------------------------------------------------------------------
// JWKS

async fn jwks(State(s): State<Arc<Shared>>) -> Json<Value> {
    s.jwks_requests.fetch_add(1, Ordering::Relaxed);
    // Entra marks each key with the issuers it may sign for; `{tenantid}` = any tenant.
    let issuer = (s.flavor == Flavor::Microsoft).then(|| s.issuer());
    let mut state = s.lock();
    let sabotage = state.sabotage;
    Json(state.keys.jwks(sabotage, issuer.as_deref()))
}

// ---------------------------------------------------------------------------------------------
// Authorize

fn bad_request(message: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, message.into()).into_response()
}

/// Query or form parameters; `None` when one is repeated (RFC 6749 §3.1 forbids that).
pub(crate) fn parse_params(raw: &[u8]) -> Option<HashMap<String, String>> {
    let mut params = HashMap::new();
    for (k, v) in form_urlencoded::parse(raw) {
        if params.insert(k.into_owned(), v.into_owned()).is_some() {
            return None;
        }
    }
    Some(params)
}

/// A redirect URI the fake will send a browser to: absolute http(s), no fragment, and
/// nothing a `Location` header cannot carry.
pub(crate) fn acceptable_redirect_uri(uri: &str) -> bool {
    let host = uri.strip_prefix("https://").or_else(|| uri.strip_prefix("http://"));
    matches!(host, Some(rest) if !rest.is_empty() && !rest.starts_with('/'))
        && !uri.contains('#')
        && uri.bytes().all(|b| b.is_ascii_graphic())
}

pub(crate) fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    match HeaderValue::from_str(&format!("{redirect_uri}{separator}{query}")) {
        Ok(location) => (StatusCode::FOUND, [(LOCATION, location)]).into_response(),
        Err(_) => bad_request("redirect_uri is not a valid URL"),
    }
}

async fn authorize(State(s): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let Some(q) = parse_params(query.unwrap_or_default().as_bytes()) else {
        return bad_request("a parameter is repeated");
    };
    let param = |name: &str| q.get(name).map(String::as_str).filter(|v| !v.is_empty());

    // Errors a client could only cause by a bug: plain 400 pages, never a redirect, as the
    // real providers do for a bad client or redirect URI.
    if param("client_id") != Some(s.client_id.as_str()) {
        return bad_request(format!("unknown client_id (this fake accepts {:?})", s.client_id));
    }
    let Some(redirect_uri) = param("redirect_uri").filter(|u| acceptable_redirect_uri(u)) else {
        return bad_request("redirect_uri missing or not an absolute http(s) URL without fragment");
    };
    if param("response_type") != Some("code") {
        return bad_request("response_type must be code");
    }
    if let Some(mode) = param("response_mode") {
        if mode != "query" {
            return bad_request("only response_mode=query is supported");
        }
    }
    let Some(scope) = param("scope").filter(|s| s.split(' ').any(|x| x == "openid")) else {
        return bad_request("scope must include openid");
    };
    let Some(state) = param("state") else {
        return bad_request("state is required");
    };
    let Some(nonce) = param("nonce") else {
        return bad_request("nonce is required");
    };
    let challenge = match (param("code_challenge"), param("code_challenge_method")) {
        (None, None) => None,
        (None, Some(_)) => return bad_request("code_challenge_method without code_challenge"),
        (Some(c), method) => {
            let s256 = match method {
                Some("S256") => true,
                // RFC 7636: no method means plain.
                Some("plain") | None => false,
                Some(_) => return bad_request("code_challenge_method must be S256 or plain"),
            };
            if !(43..=128).contains(&c.len()) {
                return bad_request("code_challenge must be 43 to 128 characters");
            }
            Some((c.to_owned(), s256))
        }
    };

    let code = random_token(32);
    {
        let mut st = s.lock();
        if st.sabotage == Some(Sabotage::DenyConsent) {
            drop(st);
            return redirect_with(
                redirect_uri,
                &[
                    ("error", "access_denied"),
                    ("error_description", "The user denied consent (fake sabotage)"),
                    ("state", state),
                ],
            );
        }
        let persona = match param("login_hint") {
            Some(hint) => Persona::from_login_hint(s.flavor, hint, st.persona.org.clone()),
            None => st.persona.clone(),
        };
        st.authorizations_since_sweep += 1;
        if st.authorizations_since_sweep >= SWEEP_EVERY {
            st.authorizations_since_sweep = 0;
            st.codes.retain(|_, g| g.issued.elapsed() < CODE_LIFETIME);
        }
        let grant = Grant {
            persona,
            redirect_uri: redirect_uri.to_owned(),
            nonce: nonce.to_owned(),
            scope: scope.to_owned(),
            challenge,
            offline: s.flavor == Flavor::Google && param("access_type") == Some("offline"),
            issued: Instant::now(),
        };
        st.codes.insert(code.clone(), grant);
    }
    redirect_with(redirect_uri, &[("code", &code), ("state", state)])
}

// ---------------------------------------------------------------------------------------------
// Token

/// A refusal at the token endpoint, in both dialects: RFC 6749 (Google, Microsoft) and Slack's.
struct TokenError {
    status: StatusCode,
    oauth: &'static str,
    slack: &'static str,
    /// Entra's AADSTS number, put in `error_description` and `error_codes`.
    aadsts: u32,
    description: String,
}

impl TokenError {
    fn invalid_request(description: impl Into<String>) -> TokenError {
        TokenError {
            status: StatusCode::BAD_REQUEST,
            oauth: "invalid_request",
            slack: "invalid_arguments",
            aadsts: 900144,
            description: description.into(),
        }
    }

    /// RFC 6749 §5.2 allows 400 but Google and Entra answer 401 for bad client credentials.
    fn invalid_client(slack: &'static str, description: impl Into<String>) -> TokenError {
        TokenError {
            status: StatusCode::UNAUTHORIZED,
            oauth: "invalid_client",
            slack,
            aadsts: 7000215,
            description: description.into(),
        }
    }

    fn invalid_grant(slack: &'static str, aadsts: u32, description: impl Into<String>) -> TokenError {
        TokenError {
            status: StatusCode::BAD_REQUEST,
            oauth: "invalid_grant",
            slack,
            aadsts,
            description: description.into(),
        }
    }

    fn into_response(self, flavor: Flavor) -> Response {
        match flavor {
            // Slack reports every failure as HTTP 200.
            Flavor::Slack => no_store(StatusCode::OK, json!({"ok": false, "error": self.slack})),
            Flavor::Google => no_store(
                self.status,
                json!({"error": self.oauth, "error_description": self.description}),
            ),
            Flavor::Microsoft => no_store(
                self.status,
                json!({
                    "error": self.oauth,
                    "error_description": format!("AADSTS{}: {}", self.aadsts, self.description),
                    "error_codes": [self.aadsts],
                    "trace_id": uuid::Uuid::new_v4().to_string(),
                    "correlation_id": uuid::Uuid::new_v4().to_string(),
                }),
            ),
        }
    }
}

/// Token responses must not be cached (RFC 6749 §5.1).
fn no_store(status: StatusCode, body: Value) -> Response {
    let headers = [(CACHE_CONTROL, "no-store"), (PRAGMA, "no-cache")];
    (status, headers, Json(body)).into_response()
}

/// Client ID and secret from HTTP Basic (`client_secret_basic`, both parts form-urlencoded per
/// RFC 6749 §2.3.1) or from the body (`client_secret_post`), never both.
fn client_credentials(headers: &HeaderMap, body: &HashMap<String, String>) -> Result<(String, String), TokenError> {
    let basic = match headers.get(AUTHORIZATION) {
        None => None,
        Some(value) => {
            let decoded = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
                .and_then(|b64| STANDARD.decode(b64.trim()).ok())
                .and_then(|raw| String::from_utf8(raw).ok())
                .and_then(|pair| {
                    let (id, secret) = pair.split_once(':')?;
                    Some((form_decode(id), form_decode(secret)))
                });
            match decoded {
                Some(pair) => Some(pair),
                None => {
                    return Err(TokenError::invalid_client(
                        "invalid_client_id",
                        "malformed Authorization header",
                    ))
                }
            }
        }
    };
    match (basic, body.get("client_secret")) {
        (Some(_), Some(_)) => Err(TokenError::invalid_request(
            "client authenticated by more than one method",
        )),
        (Some((id, secret)), None) => {
            if body.get("client_id").is_some_and(|body_id| *body_id != id) {
                return Err(TokenError::invalid_request("client_id in body differs from HTTP Basic"));
            }
            Ok((id, secret))
        }
        (None, Some(secret)) => match body.get("client_id") {
            Some(id) => Ok((id.clone(), secret.clone())),
            None => Err(TokenError::invalid_client("invalid_client_id", "client_id is required")),
        },
        (None, None) => Err(TokenError::invalid_client(
            "bad_client_secret",
            "client authentication is required",
        )),
    }
}

pub(crate) fn form_decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// The request body as parameters: form-encoded, or (Slack only, which documents it) JSON.
fn token_params(flavor: Flavor, headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, TokenError> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/x-www-form-urlencoded" => {
            parse_params(body).ok_or_else(|| TokenError::invalid_request("a parameter is repeated"))
        }
        "application/json" if flavor == Flavor::Slack => {
            let object: Map<String, Value> =
                serde_json::from_slice(body).map_err(|_| TokenError::invalid_request("body is not a JSON object"))?;
            Ok(object
                .into_iter()
                .filter_map(|(k, v)| match v {
                    Value::String(s) => Some((k, s)),
                    _ => None,
                })
                .collect())
        }
        _ => Err(TokenError::invalid_request(
            "body must be application/x-www-form-urlencoded",
        )),
    }
}

fn pkce_ok(challenge: &str, s256: bool, verifier: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    let derived = if s256 {
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
    } else {
        verifier.to_owned()
    };
    well_formed && derived == challenge
}

/// The sabotage-driven failures of the token endpoint, or `None` to proceed.
fn token_outage(flavor: Flavor, sabotage: Option<Sabotage>) -> Option<Response> {
    match sabotage? {
        Sabotage::TokenEndpointError => Some(
            TokenError::invalid_grant(
                "invalid_code",
                70008,
                "The provided authorization code has expired or was revoked (fake sabotage)",
            )
            .into_response(flavor),
        ),
        Sabotage::TokenEndpointStatus(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = match flavor {
                Flavor::Slack if status == StatusCode::TOO_MANY_REQUESTS => {
                    json!({"ok": false, "error": "ratelimited"})
                }
                Flavor::Slack => json!({"ok": false, "error": "fatal_error"}),
                _ => json!({"error": "temporarily_unavailable", "error_description": "fake token endpoint outage"}),
            };
            let mut response = no_store(status, body);
            if matches!(status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Some(response)
        }
        _ => None,
    }
}

async fn token_endpoint(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    s.token_requests.fetch_add(1, Ordering::Relaxed);
    let sabotage = s.sabotage();
    if let Some(response) = token_outage(s.flavor, sabotage) {
        return response;
    }
    match exchange(&s, sabotage, &headers, &body) {
        Ok(response) => response,
        Err(e) => e.into_response(s.flavor),
    }
}

fn exchange(s: &Shared, sabotage: Option<Sabotage>, headers: &HeaderMap, body: &[u8]) -> Result<Response, TokenError> {
    let params = token_params(s.flavor, headers, body)?;
    let (client_id, client_secret) = client_credentials(headers, &params)?;
    if client_id != s.client_id {
        return Err(TokenError {
            aadsts: 700016,
            ..TokenError::invalid_client("invalid_client_id", format!("unknown client {client_id:?}"))
        });
    }
    if client_secret != s.client_secret {
        return Err(TokenError::invalid_client("bad_client_secret", "invalid client secret"));
    }
    match params.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {}
        Some("refresh_token") if s.flavor == Flavor::Google => return refresh(s, &params),
        Some(_) => {
            return Err(TokenError {
                oauth: "unsupported_grant_type",
                slack: "invalid_grant_type",
                aadsts: 70003,
                ..TokenError::invalid_request("only grant_type=authorization_code is supported")
            })
        }
        None => return Err(TokenError::invalid_request("grant_type is required")),
    }
    let code = params
        .get("code")
        .ok_or_else(|| TokenError::invalid_request("code is required"))?;
    // Removed on first presentation, whatever happens next: a code is good for one attempt.
    let grant = s.lock().codes.remove(code);
    let grant =
        grant.ok_or_else(|| TokenError::invalid_grant("invalid_code", 70008, "unknown or already used code"))?;
    if grant.issued.elapsed() >= CODE_LIFETIME {
        return Err(TokenError::invalid_grant("invalid_code", 70008, "the code has expired"));
    }
    if params.get("redirect_uri") != Some(&grant.redirect_uri) {
        return Err(TokenError::invalid_grant(
            "bad_redirect_uri",
            50148,
            "redirect_uri differs from authorization",
        ));
    }
    if let Some((challenge, s256)) = &grant.challenge {
        let verifier = params.get("code_verifier").map(String::as_str).unwrap_or_default();
        if !pkce_ok(challenge, *s256, verifier) {
            return Err(TokenError::invalid_grant(
                "invalid_code",
                501481,
                "code_verifier missing or wrong",
            ));
        }
    }

    let now = now();
    let subject = Subject {
        flavor: s.flavor,
        base_url: &s.base_url,
        client_id: &s.client_id,
        persona: &grant.persona,
        nonce: &grant.nonce,
    };
    let mut claims = token::base_claims(&subject, now);
    // The access token carries its own userinfo, so userinfo needs no server-side table.
    let mut userinfo = token::userinfo_claims(&claims);
    token::apply_extra(&mut userinfo, &token::userinfo_claims(&grant.persona.extra_claims));
    let access_token = format!(
        "{}{}",
        access_token_prefix(s.flavor),
        URL_SAFE_NO_PAD.encode(Value::Object(userinfo).to_string())
    );
    if s.flavor != Flavor::Microsoft {
        claims.insert("at_hash".into(), token::at_hash(&access_token).into());
    }
    if let Some(sabotage) = sabotage {
        token::sabotage_claims(&mut claims, s.flavor, sabotage, now);
    }
    token::apply_extra(&mut claims, &grant.persona.extra_claims);

    let signer = s.lock().keys.signer(sabotage);
    let id_token = signer.sign(&claims);
    let refresh_token = grant.offline.then(|| {
        let token = format!("1//fake-{}", random_token(32));
        s.lock()
            .refresh_tokens
            .insert(token.clone(), (grant.persona.clone(), grant.scope.clone()));
        token
    });

    let body = match s.flavor {
        Flavor::Slack => {
            json!({"ok": true, "access_token": access_token, "token_type": "Bearer", "id_token": id_token})
        }
        Flavor::Google => {
            let mut body = json!({
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 3599,
                "scope": grant.scope,
                "id_token": id_token,
            });
            if let Some(refresh_token) = refresh_token {
                body["refresh_token"] = refresh_token.into();
            }
            body
        }
        Flavor::Microsoft => json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "scope": grant.scope,
            "id_token": id_token,
        }),
    };
    Ok(no_store(StatusCode::OK, body))
}

/// Google's `grant_type=refresh_token`: a fresh access token for the same person and scope, or
/// `invalid_grant` "Token has been expired or revoked." once the grant is gone.
fn refresh(s: &Shared, params: &HashMap<String, String>) -> Result<Response, TokenError> {
    let token = params
        .get("refresh_token")
        .ok_or_else(|| TokenError::invalid_request("refresh_token is required"))?;
    let (persona, scope) = s
        .lock()
        .refresh_tokens
        .get(token)
        .cloned()
        .ok_or_else(|| TokenError::invalid_grant("invalid_grant", 70008, "Token has been expired or revoked."))?;
    let subject = Subject {
        flavor: s.flavor,
        base_url: &s.base_url,
        client_id: &s.client_id,
        persona: &persona,
        nonce: "",
    };
    let claims = token::base_claims(&subject, now());
    let mut userinfo = token::userinfo_claims(&claims);
    token::apply_extra(&mut userinfo, &token::userinfo_claims(&persona.extra_claims));
    let access_token = format!(
        "{}{}",
        access_token_prefix(s.flavor),
        URL_SAFE_NO_PAD.encode(Value::Object(userinfo).to_string())
    );
    Ok(no_store(
        StatusCode::OK,
        json!({"access_token": access_token, "token_type": "Bearer", "expires_in": 3599, "scope": scope}),
    ))
}

pub(crate) fn access_token_prefix(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::Google => "ya29.fake-",
        Flavor::Microsoft => "fake-entra-at.",
        Flavor::Slack => "xoxp-fake-",
    }
}

// ---------------------------------------------------------------------------------------------
// Userinfo

async fn userinfo(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let claims = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| t.strip_prefix(access_token_prefix(s.flavor)))
        .and_then(|b64| URL_SAFE_NO_PAD.decode(b64).ok())
        .and_then(|json| serde_json::from_slice::<Map<String, Value>>(&json).ok());
    match (s.flavor, claims) {
        (Flavor::Slack, Some(mut claims)) => {
            claims.insert("ok".into(), true.into());
            Json(claims).into_response()
        }
        (Flavor::Slack, None) => Json(json!({"ok": false, "error": "invalid_auth"})).into_response(),
        (_, Some(claims)) => Json(claims).into_response(),
        (_, None) => (
            StatusCode::UNAUTHORIZED,
            [(WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
            Json(json!({"error": "invalid_token"})),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris() {
        assert!(acceptable_redirect_uri("http://127.0.0.1:3000/auth/google/callback"));
        assert!(acceptable_redirect_uri("https://rollcall.example/cb?x=1"));
        assert!(!acceptable_redirect_uri("javascript:alert(1)"));
        assert!(!acceptable_redirect_uri("https:///nohost"));
        assert!(!acceptable_redirect_uri("https://a/cb#frag"));
        assert!(!acceptable_redirect_uri("https://a/c b"));
    }

    #[test]
    fn pkce() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(pkce_ok("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", true, verifier));
        assert!(!pkce_ok("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", true, "x"));
        assert!(pkce_ok(verifier, false, verifier));
    }

    #[test]
    fn repeated_parameters_are_refused() {
        assert!(parse_params(b"a=1&b=2").is_some());
        assert!(parse_params(b"a=1&a=2").is_none());
    }
}

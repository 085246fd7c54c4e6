//! End-to-end checks of the fakes over HTTP, as an OIDC client sees them: discovery, authorize,
//! token exchange with PKCE, ID-token signature against the JWKS, claims; then the sabotage
//! that is hardest to get right (alg none, Slack's HTTP 200 errors, a kid published later).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use fakes::{FakeIdp, Flavor, Persona, Sabotage};
use hmac::{Hmac, Mac};
use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};
use rsa::pkcs8::DecodePublicKey;
use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey};
use serde_json::Value;
use sha2::{Digest, Sha256};

const REDIRECT_URI: &str = "http://127.0.0.1:3000/auth/callback";
const VERIFIER: &str = "a-pkce-code-verifier-that-is-long-enough-0123456789";
const TENANT: &str = "3f2a9b1c-1d2e-4f50-8a6b-7c8d9e0f1a2b";

fn client() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

fn discovery_url(idp: &FakeIdp) -> String {
    match idp.flavor() {
        Flavor::Microsoft => format!("{}/organizations/v2.0/.well-known/openid-configuration", idp.base_url()),
        _ => format!("{}/.well-known/openid-configuration", idp.base_url()),
    }
}

async fn discover(http: &Client, idp: &FakeIdp) -> Value {
    let response = http.get(discovery_url(idp)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Follows the authorization endpoint once; returns the `Location` query as pairs.
async fn authorize(http: &Client, idp: &FakeIdp, doc: &Value, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    let mut query = vec![
        ("response_type", "code"),
        ("client_id", idp.client_id()),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid email profile"),
        ("state", "st4te"),
        ("nonce", "n0nce"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    query.extend_from_slice(extra);
    let response = http
        .get(doc["authorization_endpoint"].as_str().unwrap())
        .query(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND, "{:?}", response.text().await);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let (base, query) = location.split_once('?').unwrap();
    assert_eq!(base, REDIRECT_URI);
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

async fn token_request(http: &Client, idp: &FakeIdp, doc: &Value, code: &str) -> reqwest::Response {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("client_id", idp.client_id()),
        ("client_secret", idp.client_secret()),
        ("code_verifier", VERIFIER),
    ];
    http.post(doc["token_endpoint"].as_str().unwrap())
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Discovery, authorization and a successful exchange: the token response body.
async fn sign_in(http: &Client, idp: &FakeIdp) -> (Value, Value) {
    let doc = discover(http, idp).await;
    let redirect = authorize(http, idp, &doc, &[]).await;
    let response = token_request(http, idp, &doc, param(&redirect, "code").unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    (doc, response.json().await.unwrap())
}

fn b64_json(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Header and claims, unverified.
fn decode(jwt: &str) -> (Value, Value) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "{jwt}");
    (b64_json(parts[0]), b64_json(parts[1]))
}

/// RS256 verification against the JWK whose `kid` the header names.
fn verifies(jwt: &str, jwks: &Value) -> bool {
    let (header, _) = decode(jwt);
    let Some(jwk) = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
    else {
        return false;
    };
    let int = |name: &str| BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap());
    let key = RsaPublicKey::new(int("n"), int("e")).unwrap();
    let (input, signature) = jwt.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    header["alg"] == "RS256"
        && key
            .verify(
                Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(input.as_bytes()),
                &signature,
            )
            .is_ok()
}

async fn jwks(http: &Client, doc: &Value) -> Value {
    http.get(doc["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn assert_fresh_times(claims: &Value) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let iat = claims["iat"].as_i64().unwrap();
    assert!((iat - now).abs() < 60);
    assert_eq!(claims["exp"].as_i64().unwrap(), iat + 3600);
}

#[tokio::test]
async fn google_sign_in() {
    let idp = FakeIdp::start(Flavor::Google).await;
    idp.sign_in_as(Persona::new("108000000000000000042", "ada.lovelace@acme.com").org("acme.com"));
    let http = client();
    let doc = discover(&http, &idp).await;
    assert_eq!(doc["issuer"], idp.base_url());
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["plain", "S256"])
    );

    let redirect = authorize(&http, &idp, &doc, &[]).await;
    assert_eq!(param(&redirect, "state"), Some("st4te"));
    let code = param(&redirect, "code").unwrap().to_owned();
    let response = token_request(&http, &idp, &doc, &code).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["scope"], "openid email profile");

    let id_token = body["id_token"].as_str().unwrap();
    assert!(verifies(id_token, &jwks(&http, &doc).await));
    let (header, claims) = decode(id_token);
    assert_eq!(header["kid"], idp.current_kid());
    assert_eq!(claims["iss"], idp.base_url());
    assert_eq!(claims["aud"], "fake-google-client");
    assert_eq!(claims["azp"], "fake-google-client");
    assert_eq!(claims["sub"], "108000000000000000042");
    assert_eq!(claims["nonce"], "n0nce");
    assert_eq!(claims["email"], "ada.lovelace@acme.com");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["name"], "Ada Lovelace");
    assert_eq!(claims["hd"], "acme.com");
    assert_fresh_times(&claims);
    let access_token = body["access_token"].as_str().unwrap();
    assert_eq!(
        claims["at_hash"],
        URL_SAFE_NO_PAD.encode(&Sha256::digest(access_token.as_bytes())[..16])
    );

    let userinfo: Value = http
        .get(doc["userinfo_endpoint"].as_str().unwrap())
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["sub"], "108000000000000000042");
    assert_eq!(userinfo["hd"], "acme.com");

    // Codes are single use.
    let again = token_request(&http, &idp, &doc, &code).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(again.json::<Value>().await.unwrap()["error"], "invalid_grant");
    assert_eq!(
        (idp.discovery_requests(), idp.jwks_requests(), idp.token_requests()),
        (1, 1, 2)
    );
}

#[tokio::test]
async fn microsoft_sign_in_with_basic_auth() {
    let idp = FakeIdp::start(Flavor::Microsoft).await;
    idp.sign_in_as(Persona::new("0b5c2a86-32f2-4d0c-9c1e-7a0d8f6e1c11", "grace@contoso.com").org(TENANT));
    let http = client();
    let doc = discover(&http, &idp).await;
    let base = idp.base_url();
    assert_eq!(doc["issuer"], format!("{base}/{{tenantid}}/v2.0"));
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{base}/organizations/oauth2/v2.0/authorize")
    );
    assert_eq!(doc["token_endpoint"], format!("{base}/organizations/oauth2/v2.0/token"));
    assert_eq!(doc["jwks_uri"], format!("{base}/organizations/discovery/v2.0/keys"));
    let keys = jwks(&http, &doc).await;
    assert_eq!(keys["keys"][0]["issuer"], format!("{base}/{{tenantid}}/v2.0"));

    let redirect = authorize(&http, &idp, &doc, &[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", param(&redirect, "code").unwrap()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", VERIFIER),
    ];
    let response = http
        .post(doc["token_endpoint"].as_str().unwrap())
        .basic_auth(idp.client_id(), Some(idp.client_secret()))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["ext_expires_in"], 3599);
    let id_token = body["id_token"].as_str().unwrap();
    assert!(verifies(id_token, &keys));
    let (_, claims) = decode(id_token);
    assert_eq!(claims["iss"], format!("{base}/{TENANT}/v2.0"));
    assert_eq!(claims["tid"], TENANT);
    assert_eq!(claims["ver"], "2.0");
    assert_eq!(claims["oid"], "0b5c2a86-32f2-4d0c-9c1e-7a0d8f6e1c11");
    assert_ne!(claims["sub"], claims["oid"]);
    assert_eq!(claims["aud"], "fake-microsoft-client");
    assert_eq!(claims["preferred_username"], "grace@contoso.com");
    assert_eq!(claims["xms_edov"], true);
    assert_eq!(claims["nbf"], claims["iat"]);
    assert!(claims.get("hd").is_none() && claims.get("email_verified").is_none());
    assert_fresh_times(&claims);
}

#[tokio::test]
async fn slack_sign_in() {
    let idp = FakeIdp::start(Flavor::Slack).await;
    idp.sign_in_as(Persona::new("U0123ABCDEF", "lin@team.example").org("T0TEAM0001"));
    let http = client();
    let doc = discover(&http, &idp).await;
    assert_eq!(doc["issuer"], idp.base_url());
    assert!(doc.get("code_challenge_methods_supported").is_none());
    assert_eq!(doc["response_modes_supported"], serde_json::json!(["query"]));

    let (doc, body) = sign_in(&http, &idp).await;
    assert_eq!(body["ok"], true);
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["access_token"].as_str().unwrap().starts_with("xoxp-"));
    let id_token = body["id_token"].as_str().unwrap();
    assert!(verifies(id_token, &jwks(&http, &doc).await));
    let (_, claims) = decode(id_token);
    assert_eq!(claims["iss"], idp.base_url());
    assert_eq!(claims["sub"], "U0123ABCDEF");
    assert_eq!(claims["https://slack.com/user_id"], "U0123ABCDEF");
    assert_eq!(claims["https://slack.com/team_id"], "T0TEAM0001");
    assert_eq!(claims["aud"], "fake-slack-client");
    assert_eq!(claims["auth_time"], claims["iat"]);
    assert_eq!(claims["email_verified"], true);
    assert_fresh_times(&claims);
}

#[tokio::test]
async fn login_hint_chooses_a_stable_user_in_the_current_org() {
    let idp = FakeIdp::start(Flavor::Google).await;
    idp.sign_in_as(Persona::new("1", "someone@acme.com").org("acme.com"));
    let http = client();
    let doc = discover(&http, &idp).await;
    let mut subjects = Vec::new();
    for _ in 0..2 {
        let redirect = authorize(&http, &idp, &doc, &[("login_hint", "bench.user.17@acme.com")]).await;
        let body: Value = token_request(&http, &idp, &doc, param(&redirect, "code").unwrap())
            .await
            .json()
            .await
            .unwrap();
        let (_, claims) = decode(body["id_token"].as_str().unwrap());
        assert_eq!(claims["email"], "bench.user.17@acme.com");
        assert_eq!(claims["hd"], "acme.com");
        subjects.push(claims["sub"].clone());
    }
    assert_eq!(subjects[0], subjects[1]);
    let expected = Persona::from_login_hint(Flavor::Google, "bench.user.17@acme.com", None).subject;
    assert_eq!(subjects[0], expected.as_str());
}

#[tokio::test]
async fn authorize_and_token_refuse_bad_requests() {
    let idp = FakeIdp::start(Flavor::Google).await;
    let http = client();
    let doc = discover(&http, &idp).await;
    let endpoint = doc["authorization_endpoint"].as_str().unwrap();
    let bad_client = http
        .get(endpoint)
        .query(&[
            ("response_type", "code"),
            ("client_id", "nope"),
            ("redirect_uri", REDIRECT_URI),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad_client.status(), StatusCode::BAD_REQUEST);

    // A wrong PKCE verifier.
    let redirect = authorize(&http, &idp, &doc, &[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", param(&redirect, "code").unwrap()),
        ("redirect_uri", REDIRECT_URI),
        ("client_id", idp.client_id()),
        ("client_secret", idp.client_secret()),
        ("code_verifier", "the-wrong-verifier-but-long-enough-to-be-well-formed"),
    ];
    let response = http
        .post(doc["token_endpoint"].as_str().unwrap())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_grant");

    idp.sabotage(Sabotage::DenyConsent);
    let redirect = authorize(&http, &idp, &doc, &[]).await;
    assert_eq!(param(&redirect, "error"), Some("access_denied"));
    assert_eq!(param(&redirect, "state"), Some("st4te"));
    assert_eq!(param(&redirect, "code"), None);
}

#[tokio::test]
async fn alg_none_and_hs256_confusion() {
    let idp = FakeIdp::start(Flavor::Google).await;
    let http = client();
    idp.sabotage(Sabotage::AlgNone);
    let (doc, body) = sign_in(&http, &idp).await;
    let id_token = body["id_token"].as_str().unwrap();
    let (header, claims) = decode(id_token);
    assert_eq!(header, serde_json::json!({"alg": "none"}));
    assert!(id_token.ends_with('.'));
    assert_eq!(claims["aud"], idp.client_id());

    idp.sabotage(Sabotage::Hs256WithPublicKey);
    let (_, body) = sign_in(&http, &idp).await;
    let id_token = body["id_token"].as_str().unwrap();
    assert_eq!(decode(id_token).0["alg"], "HS256");
    // Keyed with the published key's SPKI PEM, as a naive verifier would use it.
    let jwk = &jwks(&http, &doc).await["keys"][0];
    let int = |name: &str| BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap());
    let pem = rsa::pkcs8::EncodePublicKey::to_public_key_pem(
        &RsaPublicKey::new(int("n"), int("e")).unwrap(),
        rsa::pkcs8::LineEnding::LF,
    )
    .unwrap();
    assert!(RsaPublicKey::from_public_key_pem(&pem).is_ok());
    let (input, signature) = id_token.rsplit_once('.').unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(pem.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    mac.verify_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
}

#[tokio::test]
async fn claim_and_signature_sabotage() {
    let idp = FakeIdp::start(Flavor::Microsoft).await;
    idp.sign_in_as(Persona::new("0b5c2a86-32f2-4d0c-9c1e-7a0d8f6e1c11", "grace@contoso.com").org(TENANT));
    let http = client();

    idp.sabotage(Sabotage::BadSignature);
    let (doc, body) = sign_in(&http, &idp).await;
    let keys = jwks(&http, &doc).await;
    assert!(!verifies(body["id_token"].as_str().unwrap(), &keys));

    idp.sabotage(Sabotage::MicrosoftIssuerTenantMismatch);
    let (_, body) = sign_in(&http, &idp).await;
    let (_, claims) = decode(body["id_token"].as_str().unwrap());
    assert_eq!(claims["tid"], TENANT);
    assert!(!claims["iss"].as_str().unwrap().contains(TENANT));

    idp.sabotage(Sabotage::Expired);
    let (_, body) = sign_in(&http, &idp).await;
    let id_token = body["id_token"].as_str().unwrap();
    assert!(verifies(id_token, &keys), "only the claims are off");
    let (_, claims) = decode(id_token);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(claims["exp"].as_i64().unwrap() <= now - 3600 + 5);

    idp.sabotage(Sabotage::UnknownKid);
    let (_, body) = sign_in(&http, &idp).await;
    assert!(!verifies(body["id_token"].as_str().unwrap(), &jwks(&http, &doc).await));

    idp.sabotage(Sabotage::NoKidTwoKeys);
    let (_, body) = sign_in(&http, &idp).await;
    let (header, _) = decode(body["id_token"].as_str().unwrap());
    assert!(header.get("kid").is_none());
    assert_eq!(jwks(&http, &doc).await["keys"].as_array().unwrap().len(), 2);

    idp.clear_sabotage();
    let old_kid = idp.current_kid();
    idp.rotate_keys();
    let (_, body) = sign_in(&http, &idp).await;
    let rotated = jwks(&http, &doc).await;
    assert_eq!(rotated["keys"].as_array().unwrap().len(), 1);
    assert_ne!(rotated["keys"][0]["kid"], old_kid.as_str());
    assert!(verifies(body["id_token"].as_str().unwrap(), &rotated));
}

#[tokio::test]
async fn slack_errors_are_http_200() {
    let idp = FakeIdp::start(Flavor::Slack).await;
    let http = client();
    let doc = discover(&http, &idp).await;

    let response = token_request(&http, &idp, &doc, "no-such-code").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        serde_json::json!({"ok": false, "error": "invalid_code"})
    );

    idp.sabotage(Sabotage::TokenEndpointError);
    let redirect = authorize(&http, &idp, &doc, &[]).await;
    let response = token_request(&http, &idp, &doc, param(&redirect, "code").unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        serde_json::json!({"ok": false, "error": "invalid_code"})
    );

    idp.sabotage(Sabotage::TokenEndpointStatus(429));
    let response = token_request(&http, &idp, &doc, "whatever").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "1");

    idp.sabotage(Sabotage::DiscoveryBroken);
    assert_eq!(
        http.get(discovery_url(&idp)).send().await.unwrap().status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    idp.sabotage(Sabotage::DiscoveryInvalid);
    let invalid: Value = http
        .get(discovery_url(&idp))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(invalid.get("jwks_uri").is_none() && invalid.get("token_endpoint").is_none());
}

#[tokio::test]
async fn google_token_errors_are_http_400() {
    let idp = FakeIdp::start(Flavor::Google).await;
    let http = client();
    let doc = discover(&http, &idp).await;
    idp.sabotage(Sabotage::TokenEndpointError);
    let redirect = authorize(&http, &idp, &doc, &[]).await;
    let response = token_request(&http, &idp, &doc, param(&redirect, "code").unwrap()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_grant");
}

#[tokio::test]
async fn unknown_kid_is_published_after_the_token_went_out() {
    let idp = FakeIdp::start(Flavor::Google).await;
    let http = client();
    let doc = discover(&http, &idp).await;
    let cached = jwks(&http, &doc).await;
    idp.sabotage(Sabotage::UnknownKidPublishedLater);
    // A JWKS request before any such token does not publish the key yet.
    assert_eq!(jwks(&http, &doc).await, cached);

    let (_, body) = sign_in(&http, &idp).await;
    let id_token = body["id_token"].as_str().unwrap();
    assert!(!verifies(id_token, &cached), "the client's cached JWKS lacks the kid");
    let before = idp.jwks_requests();
    let refetched = jwks(&http, &doc).await;
    assert_eq!(idp.jwks_requests(), before + 1);
    assert_eq!(refetched["keys"].as_array().unwrap().len(), 2);
    assert!(verifies(id_token, &refetched), "one refetch finds it");

    // The next token under the same sabotage uses the now-published key.
    let (_, body) = sign_in(&http, &idp).await;
    assert!(verifies(body["id_token"].as_str().unwrap(), &refetched));
}

#[tokio::test]
async fn dropping_the_fake_stops_its_server() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<FakeIdp>();

    let idp = FakeIdp::start(Flavor::Slack).await;
    let url = discovery_url(&idp);
    let http = client();
    assert_eq!(http.get(&url).send().await.unwrap().status(), StatusCode::OK);
    drop(idp);
    // Shutdown is asynchronous (the server task notices on its next poll): wait a little.
    for _ in 0..100 {
        if Client::new().get(&url).send().await.is_err() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the fake still answers after being dropped");
}

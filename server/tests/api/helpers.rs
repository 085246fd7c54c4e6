//! `spawn_app()`: boots Rollcall on a random port against its own database, cloned from a
//! migrated template in one shared embedded cluster (started once per test run).

use rollcall_server::config::Settings;
use rollcall_server::embedded_pg::EmbeddedPostgres;
use rollcall_server::startup::Application;
use sqlx::{Connection, PgConnection, PgPool};
use std::path::PathBuf;
use std::sync::OnceLock;

pub const PASSWORD: &str = "correct horse battery staple";

/// Template database every test database is cloned from (migrations already applied).
const TEMPLATE: &str = "rollcall_template";

pub fn cluster_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("test-pg")
}

/// Starts (or joins) the shared cluster and prepares the template, once per process. Runs on
/// its own runtime because each test has a runtime of its own.
fn admin_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        std::thread::spawn(|| {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                let pg = EmbeddedPostgres::start(&cluster_dir())
                    .await
                    .expect("start test cluster");
                let mut conn = PgConnection::connect(&pg.url("postgres")).await.unwrap();
                // Another test binary may hold it; serialise template creation cluster-wide.
                sqlx::query("select pg_advisory_lock(4242)")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let _ = sqlx::query(&format!("drop database if exists {TEMPLATE}"))
                    .execute(&mut conn)
                    .await;
                sqlx::query(&format!("create database {TEMPLATE}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let template = PgPool::connect(&pg.url(TEMPLATE)).await.unwrap();
                identity::db::migrate(&template).await.unwrap();
                template.close().await;
                sqlx::query("select pg_advisory_unlock(4242)")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                pg.url("postgres")
            })
        })
        .join()
        .unwrap()
    })
}

pub async fn fresh_database() -> String {
    let admin = admin_url();
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(admin).await.unwrap();
    sqlx::query(&format!("create database {name} template {TEMPLATE}"))
        .execute(&mut conn)
        .await
        .unwrap();
    admin.replace("/postgres?", &format!("/{name}?"))
}

pub fn settings(database_url: String) -> Settings {
    Settings {
        database_url: Some(database_url.into()),
        data_dir: cluster_dir(),
        listen: "127.0.0.1:0".parse().unwrap(),
        public_url: None,
        open_signup: false,
        session_idle_minutes: 60,
        session_max_hours: 24,
        trust_proxy: false,
        trust_proxy_hops: 1,
        login_max_failures_per_account: 5,
        login_max_failures_per_ip: 20,
        db_max_connections: 5,
        max_connections: 768,
        smtp_url: None,
        mail_from: "Rollcall <rollcall@test.invalid>".into(),
        secret_key: None,
        google_client_id: None,
        google_client_secret: None,
        google_issuer: "https://accounts.google.com".into(),
        microsoft_client_id: None,
        microsoft_client_secret: None,
        microsoft_authority: "https://login.microsoftonline.com".into(),
        slack_client_id: None,
        slack_client_secret: None,
        slack_issuer: "https://slack.com".into(),
        google_directory_url: "https://admin.googleapis.com".into(),
        graph_url: "https://graph.microsoft.com".into(),
        slack_api_url: "https://slack.com/api".into(),
        site_root: format!("{}/../target/site", env!("CARGO_MANIFEST_DIR")),
    }
}

pub struct TestApp {
    pub address: String,
    pub db: PgPool,
    pub database_url: String,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let database_url = fresh_database().await;
    spawn_on(database_url, adjust).await
}

/// Another server process on an existing database (scale-out tests).
pub async fn spawn_on(database_url: String, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = settings(database_url.clone());
    adjust(&mut settings);
    let db = identity::db::connect(&database_url, 5).await.unwrap();
    let app = Application::build(&settings, db.clone()).await.unwrap();
    let address = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until(std::future::pending()));
    TestApp {
        address,
        db,
        database_url,
    }
}

/// A browser-like client: keeps cookies, does not follow redirects, sends same-origin headers.
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
}

impl TestApp {
    pub fn browser(&self) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: self.address.clone(),
        }
    }

    /// Creates the first workspace through the setup form; returns the signed-in admin.
    pub async fn first_admin(&self) -> Browser {
        let browser = self.browser();
        let res = browser
            .form(
                "/auth/setup",
                &[
                    ("org_name", "Acme"),
                    ("given_name", "Ada"),
                    ("family_name", "Admin"),
                    ("email", "ada@acme.test"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(res.status(), 303);
        assert_eq!(location(&res), "/users");
        browser
    }

    /// Creates another workspace through the public sign-up page (needs open sign-up).
    pub async fn another_workspace(&self, name: &str, admin_email: &str) {
        let res = self
            .browser()
            .form(
                "/auth/setup",
                &[("org_name", name), ("email", admin_email), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(location(&res), "/users");
    }

    pub async fn org_id(&self, slug: &str) -> uuid::Uuid {
        sqlx::query_scalar("select id from orgs where slug = $1")
            .bind(slug)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    pub async fn user_id(&self, email: &str) -> uuid::Uuid {
        sqlx::query_scalar("select id from users where lower(email) = lower($1) order by created_at limit 1")
            .bind(email)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }
}

impl Browser {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("origin", &self.base)
            .header("accept", "text/html")
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// Calls a server function the way the hydrated app does (no `text/html` in Accept).
    pub async fn call(&self, function: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/api/{function}")))
            .header("origin", &self.base)
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// Calls a server function and decodes its JSON answer.
    pub async fn call_json<T: serde::de::DeserializeOwned>(&self, function: &str, fields: &[(&str, &str)]) -> T {
        self.call(function, fields).await.json().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap()
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> reqwest::Response {
        self.form("/auth/login", &[("email", email), ("password", password)])
            .await
    }

    /// Who the server thinks this browser is (email), if anyone.
    pub async fn whoami(&self) -> Option<String> {
        let res = self.call("whoami", &[]).await;
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.unwrap();
        body.get("email").and_then(|e| e.as_str()).map(str::to_owned)
    }
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

pub fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The flash message a failed form post left for the next page.
pub async fn flash_error(browser: &Browser) -> String {
    let res = browser.call("take_flash", &[]).await;
    let body: serde_json::Value = res.json().await.unwrap();
    body.get("error")
        .and_then(|e| e.as_str())
        .unwrap_or_default()
        .to_owned()
}

/// Posts to a server function with only a session cookie, as a second browser or server would.
pub async fn call_with_cookie(base: &str, cookie: &str, function: &str, fields: &[(&str, &str)]) -> String {
    reqwest::Client::new()
        .post(format!("{base}/api/{function}"))
        .header("cookie", cookie)
        .form(fields)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The `name=value` part of the session cookie a response set.
pub fn session_cookie(res: &reqwest::Response) -> String {
    let cookie = set_cookies(res)
        .into_iter()
        .find(|c| c.starts_with("rollcall_session="))
        .expect("a session cookie");
    cookie.split(';').next().unwrap().to_owned()
}

/// The name of the database a test's URL points at.
pub fn database_name(url: &str) -> String {
    let path = url.split('?').next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or("").to_owned()
}

/// A connection to the test cluster's maintenance database, for changes a test's own database
/// cannot make to itself.
pub async fn admin_connection() -> PgPool {
    PgPool::connect(admin_url()).await.unwrap()
}

/// Accepts an invitation through its plain form, as Mo New with `password`.
pub async fn accept_invitation(browser: &Browser, token: &str, password: &str) -> reqwest::Response {
    browser
        .form(
            "/auth/invite/accept",
            &[
                ("token", token),
                ("given_name", "Mo"),
                ("family_name", "New"),
                ("password", password),
            ],
        )
        .await
}

impl TestApp {
    /// Invites `email` as `admin` and returns the person's id and their open invitation link.
    pub async fn invite(&self, admin: &Browser, email: &str) -> (String, String) {
        admin.call("send_invites", &[("list", email)]).await;
        let id = self.user_id(email).await.to_string();
        let link: String = admin.call_json("invite_link", &[("user_id", &id)]).await;
        (id, link)
    }
}

/// Follows a provider sign-in from `start` (a path on Rollcall) through the fake's authorize
/// endpoint (which answers at once) to Rollcall's callback; returns the callback's answer.
pub async fn through_provider(browser: &Browser, start: &str) -> reqwest::Response {
    let started = browser.get(start).await;
    assert_eq!(started.status(), 303, "starting {start}: {}", location(&started));
    let callback = authorize(&location(&started)).await;
    browser.client.get(callback).send().await.unwrap()
}

/// The fake's authorize step: where it sends the browser back.
pub async fn authorize(authorization_url: &str) -> String {
    let answer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(authorization_url)
        .send()
        .await
        .unwrap();
    assert!(
        answer.status().is_redirection(),
        "authorize answered {}",
        answer.status()
    );
    location(&answer)
}

//! Assembling a running server: database (embedded or external), migrations, state, router,
//! listener. `Application::build` binds first so tests can ask for port 0 and learn the port.

use crate::config::Settings;
use crate::embedded_pg::{self, EmbeddedPostgres};
use anyhow::{Context, Result};
use app::ssr::{ServerState, SharedState};
use identity::auth::ThrottlePolicy;
use identity::secrets::ExposeSecret;
use identity::sessions::{SessionPolicy, SessionStore};
use identity::Db;
use leptos::config::LeptosOptions;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

pub struct Database {
    pub db: Db,
    /// Present when Rollcall runs its own cluster.
    pub embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// Connects to `DATABASE_URL`, or starts the embedded cluster; then migrates.
    pub async fn open(settings: &Settings) -> Result<Database> {
        let (url, embedded) = match &settings.database_url {
            Some(url) => (url.expose_secret().to_owned(), None),
            None => {
                let pg = EmbeddedPostgres::start(&settings.data_dir)
                    .await
                    .context("starting the embedded PostgreSQL")?;
                (pg.url(embedded_pg::DATABASE), Some(pg))
            }
        };
        let (pool_size, _) = settings.db_connection_split();
        let db = identity::db::connect(&url, pool_size)
            .await
            .context("connecting to PostgreSQL")?;
        identity::db::migrate(&db)
            .await
            .context("applying database migrations")?;
        Ok(Database { db, embedded })
    }

    /// Closes the pool and stops the embedded cluster if this process started it.
    pub async fn close(self) {
        self.db.close().await;
        if let Some(pg) = self.embedded.filter(EmbeddedPostgres::started_here) {
            if let Err(err) = pg.stop().await {
                tracing::warn!(error = %err, "could not stop the embedded PostgreSQL");
            }
        }
    }
}

pub struct Application {
    listener: tokio::net::TcpListener,
    router: axum::Router,
    state: SharedState,
    mailer: Option<crate::smtp::Mailer>,
    max_connections: usize,
}

impl Application {
    pub async fn build(settings: &Settings, db: Db) -> Result<Application> {
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("listening on {}", settings.listen))?;
        let local_addr = listener.local_addr()?;
        let public_url = settings
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{local_addr}"))
            .trim_end_matches('/')
            .to_owned();
        let secret_key = settings.load_secret_key()?;
        identity::secrets::secret_key::check_matches_database(&db, &secret_key)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mailer = match &settings.smtp_url {
            Some(url) => Some(crate::smtp::Mailer::new(url, &settings.mail_from)?),
            None => None,
        };
        let providers = identity::auth::oidc::Providers::new(settings.providers(&public_url)?);
        // Discovery now, so a misconfigured provider shows at once (on its card and in
        // /readyz); a failure never stops the server, and is retried when someone signs in.
        tokio::spawn({
            let providers = providers.clone();
            async move { providers.discover_all().await }
        });
        let (_, lane_size) = settings.db_connection_split();
        let policy = SessionPolicy {
            idle_timeout: chrono::Duration::minutes(settings.session_idle_minutes.max(1)),
            absolute_lifetime: chrono::Duration::hours(settings.session_max_hours.max(1)),
        };
        let state: SharedState = Arc::new(ServerState {
            sessions: SessionStore::new(&db, lane_size, policy),
            db,
            throttle: ThrottlePolicy {
                max_failures_per_account: settings.login_max_failures_per_account,
                max_failures_per_ip: settings.login_max_failures_per_ip,
                ..ThrottlePolicy::default()
            },
            open_signup: settings.open_signup,
            secure_cookies: public_url.starts_with("https://"),
            trusted_proxy_hops: if settings.trust_proxy {
                settings.trust_proxy_hops as usize
            } else {
                0
            },
            secret_key,
            public_url: public_url.clone(),
            smtp_configured: mailer.is_some(),
            providers,
            scim_tokens: Default::default(),
        });
        tokio::spawn(identity::scim::tokens::follow_revocations(
            state.db.clone(),
            state.scim_tokens.clone(),
        ));
        let bundle = crate::http::bundle::Bundle::load(&settings.site_root);
        let leptos_options = LeptosOptions::builder()
            .output_name("rollcall")
            .site_root(settings.site_root.as_str())
            .site_pkg_dir(bundle.url_dir())
            .site_addr(local_addr)
            .build();
        let public_origin = origin_of(&public_url, local_addr);
        let router = crate::http::router(state.clone(), leptos_options, bundle, public_origin);
        Ok(Application {
            listener,
            router,
            state,
            mailer,
            max_connections: settings.max_connections as usize,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener has an address")
    }

    pub fn state(&self) -> SharedState {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let workers = crate::workers::Workers::start(self.state.clone(), self.mailer);
        let result = crate::http::serve::serve(self.listener, self.router, self.max_connections, shutdown).await;
        workers.stop();
        result.context("serving HTTP")
    }
}

fn origin_of(public_url: &str, local: SocketAddr) -> String {
    let trimmed = public_url.trim_end_matches('/');
    match trimmed.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or("")),
        None => format!("http://{local}"),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down");
}

//! Command line and environment configuration. Every option has a flag and an environment
//! variable; the README lists them all.

use clap::{Args, Parser, Subcommand, ValueEnum};
use identity::secrets::{ExposeSecret, SecretKey, SecretString};
use identity::users::Role;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Parser)]
#[command(name = "rollcall", version, about = "Rollcall: user access for B2B apps")]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[arg(
        long,
        env = "ROLLCALL_LOG_FORMAT",
        value_enum,
        default_value = "human",
        global = true
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// PostgreSQL to use. Without it, Rollcall runs its own cluster under the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<SecretString>,
    /// Local state: the embedded database cluster and its logs.
    #[arg(long, env = "ROLLCALL_DATA_DIR", default_value = ".rollcall", global = true)]
    pub data_dir: PathBuf,
    /// Address and port to listen on (port 0 picks a free one).
    #[arg(long, env = "ROLLCALL_LISTEN", default_value = "127.0.0.1:3000", global = true)]
    pub listen: SocketAddr,
    /// The address people use to reach Rollcall, e.g. https://id.example.com. Decides secure
    /// cookies and which origins may post forms. Defaults to http://<listen address>.
    #[arg(long, env = "ROLLCALL_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Let anyone create a new workspace from the sign-in page.
    #[arg(long, env = "ROLLCALL_OPEN_SIGNUP", global = true)]
    pub open_signup: bool,
    /// Minutes of inactivity after which a session ends.
    #[arg(long, env = "ROLLCALL_SESSION_IDLE_MINUTES", default_value_t = 480, global = true)]
    pub session_idle_minutes: i64,
    /// Hours after sign-in at which a session ends however active it is.
    #[arg(long, env = "ROLLCALL_SESSION_MAX_HOURS", default_value_t = 336, global = true)]
    pub session_max_hours: i64,
    /// Take the client's address from X-Forwarded-For, --trust-proxy-hops entries from the right
    /// (only behind your own reverse proxy).
    #[arg(long, env = "ROLLCALL_TRUST_PROXY", global = true)]
    pub trust_proxy: bool,
    /// With --trust-proxy: how many proxies of yours append to X-Forwarded-For. The client's
    /// address is the entry that many places from the right (entries further left are whatever
    /// the client sent).
    #[arg(
        long,
        env = "ROLLCALL_TRUST_PROXY_HOPS",
        default_value_t = 1,
        value_parser = clap::value_parser!(u8).range(1..),
        global = true
    )]
    pub trust_proxy_hops: u8,
    /// Failed sign-ins allowed per account in 15 minutes.
    #[arg(
        long,
        env = "ROLLCALL_LOGIN_MAX_FAILURES_PER_ACCOUNT",
        default_value_t = 10,
        global = true
    )]
    pub login_max_failures_per_account: i32,
    /// Failed sign-ins allowed per client address in 15 minutes.
    #[arg(
        long,
        env = "ROLLCALL_LOGIN_MAX_FAILURES_PER_IP",
        default_value_t = 50,
        global = true
    )]
    pub login_max_failures_per_ip: i32,
    /// Most database connections per app server (at least 2): CPU cores + 1 (at most half)
    /// serve the session read every request starts with, the rest everything else. Default:
    /// 2 × CPU cores (at least 4) for the rest, plus CPU cores + 1. Besides these, each
    /// background listener (the outbox, directory syncs, SCIM token revocations) keeps one
    /// connection of its own for `LISTEN`.
    #[arg(
        long,
        env = "ROLLCALL_DB_MAX_CONNECTIONS",
        default_value_t = default_db_connections(),
        value_parser = clap::value_parser!(u32).range(2..),
        global = true
    )]
    pub db_max_connections: u32,
    /// Open client connections per server, at most; past it, new ones are closed at once.
    #[arg(long, env = "ROLLCALL_MAX_CONNECTIONS", default_value_t = 768, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub max_connections: u32,
    /// SMTP server for outgoing mail, e.g. smtp://mail:25, smtp://user:pass@host:587?tls=required,
    /// smtps://user:pass@host. Without it mail waits in the outbox, readable by admins.
    #[arg(long, env = "ROLLCALL_SMTP_URL", hide_env_values = true, global = true)]
    pub smtp_url: Option<SecretString>,
    /// Sender of Rollcall's mail.
    #[arg(
        long,
        env = "ROLLCALL_MAIL_FROM",
        default_value = "Rollcall <rollcall@localhost>",
        global = true
    )]
    pub mail_from: String,
    /// 64 hex characters; invite links are derived from it. Every server sharing a database
    /// needs the same one. Default: generated once into <data dir>/secret.key.
    #[arg(long, env = "ROLLCALL_SECRET_KEY", hide_env_values = true, global = true)]
    pub secret_key: Option<SecretString>,
    /// Sign in with Google: the OAuth client's id (with its secret; redirect URI
    /// <public URL>/auth/google/callback).
    #[arg(long, env = "ROLLCALL_GOOGLE_CLIENT_ID", global = true)]
    pub google_client_id: Option<String>,
    #[arg(long, env = "ROLLCALL_GOOGLE_CLIENT_SECRET", hide_env_values = true, global = true)]
    pub google_client_secret: Option<SecretString>,
    /// Where Google's discovery document lives (tests and other clouds point this elsewhere).
    #[arg(
        long,
        env = "ROLLCALL_GOOGLE_ISSUER",
        default_value = "https://accounts.google.com",
        global = true
    )]
    pub google_issuer: String,
    /// Sign in with Microsoft (Entra ID, multi-tenant): the app registration's client id.
    #[arg(long, env = "ROLLCALL_MICROSOFT_CLIENT_ID", global = true)]
    pub microsoft_client_id: Option<String>,
    #[arg(
        long,
        env = "ROLLCALL_MICROSOFT_CLIENT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub microsoft_client_secret: Option<SecretString>,
    /// The authority; the `organizations` discovery document is read under it.
    #[arg(
        long,
        env = "ROLLCALL_MICROSOFT_AUTHORITY",
        default_value = "https://login.microsoftonline.com",
        global = true
    )]
    pub microsoft_authority: String,
    /// Sign in with Slack: the Slack app's client id.
    #[arg(long, env = "ROLLCALL_SLACK_CLIENT_ID", global = true)]
    pub slack_client_id: Option<String>,
    #[arg(long, env = "ROLLCALL_SLACK_CLIENT_SECRET", hide_env_values = true, global = true)]
    pub slack_client_secret: Option<SecretString>,
    #[arg(
        long,
        env = "ROLLCALL_SLACK_ISSUER",
        default_value = "https://slack.com",
        global = true
    )]
    pub slack_issuer: String,

    /// Google's Admin SDK Directory API, where a connected Google Workspace's people are read.
    #[arg(
        long,
        env = "ROLLCALL_GOOGLE_DIRECTORY_URL",
        default_value = "https://admin.googleapis.com",
        global = true
    )]
    pub google_directory_url: String,

    /// Microsoft Graph, where a connected Entra tenant's people are read.
    #[arg(
        long,
        env = "ROLLCALL_GRAPH_URL",
        default_value = "https://graph.microsoft.com",
        global = true
    )]
    pub graph_url: String,

    /// Slack's Web API, where a connected Slack workspace's people are read and its install completes.
    #[arg(
        long,
        env = "ROLLCALL_SLACK_API_URL",
        default_value = "https://slack.com/api",
        global = true
    )]
    pub slack_api_url: String,
    /// Where the built site (WASM, JS, CSS, public files) lives.
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site", global = true)]
    pub site_root: String,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve the app (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage organisations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage the embedded database.
    #[command(subcommand)]
    Db(DbCommand),
    /// Sign in with Google, Microsoft or Slack, per workspace.
    #[command(subcommand)]
    Integration(IntegrationCommand),
    /// SCIM provisioning tokens (Entra ID, Okta), per workspace.
    #[command(subcommand, name = "scim-token")]
    ScimToken(ScimTokenCommand),
    /// The SCIM blast-radius guard of a workspace: on (the default) or off.
    #[command(name = "scim-guard")]
    ScimGuard {
        /// The organisation's slug.
        #[arg(long)]
        org: String,
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum ScimTokenCommand {
    /// Create a token; it is printed once, alone on the last line.
    Create {
        /// The organisation's slug.
        #[arg(long)]
        org: String,
        /// What the token is for, say "Entra ID".
        #[arg(long)]
        name: String,
    },
    /// List a workspace's tokens: id, name, prefix, created, last used, revoked.
    List {
        #[arg(long)]
        org: String,
    },
    /// Revoke a token by its id (see `list`).
    Revoke {
        #[arg(long)]
        org: String,
        #[arg(long)]
        id: uuid::Uuid,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum IntegrationCommand {
    /// List a workspace's providers: mode, connected organisation, linked accounts.
    List {
        /// The organisation's slug.
        #[arg(long)]
        org: String,
    },
    /// Set a provider's mode (`off` unlinks everyone, as Disable does in the app).
    Set {
        /// The organisation's slug.
        #[arg(long)]
        org: String,
        #[arg(long, value_parser = ["google", "microsoft", "slack"])]
        provider: String,
        #[arg(long, value_parser = ["off", "sso-only", "org-connected"])]
        mode: String,
        /// The organisation to connect, which you vouch for: Google Workspace domain, Entra
        /// tenant id or Slack team id.
        #[arg(long)]
        org_key: Option<String>,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum DbCommand {
    /// Stop the embedded PostgreSQL of the data directory if one is still running.
    Stop,
    /// Print the connection URL of the running embedded PostgreSQL (for psql and other tools).
    Url,
    /// List embedded clusters kept in /var/lib/rollcall/embedded whose data directory is gone
    /// (or names another cluster); with --remove, stop and delete them.
    Orphans {
        #[arg(long)]
        remove: bool,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum OrgCommand {
    /// Create an organisation and its first admin; prints the organisation's slug first.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        admin_email: String,
        #[arg(long, default_value = "")]
        admin_given_name: String,
        #[arg(long, default_value = "")]
        admin_family_name: String,
        /// Read the admin's password from the first line of standard input.
        #[arg(long, required = true)]
        admin_password_stdin: bool,
    },
    /// List organisations.
    List,
}

#[derive(Debug, Clone, Subcommand)]
pub enum UserCommand {
    /// Add a user to an organisation.
    Create {
        /// The organisation's slug.
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "")]
        given_name: String,
        #[arg(long, default_value = "")]
        family_name: String,
        #[arg(long, default_value = "member", value_parser = role_parser())]
        role: Role,
        /// Read a password from the first line of standard input (else the user has none yet).
        #[arg(long)]
        password_stdin: bool,
    },
}

/// A role by the name the rest of Rollcall gives it (`people::Role`), with the names listed in
/// `--help` and errors.
fn role_parser() -> impl clap::builder::TypedValueParser<Value = Role> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Role::ALL.map(Role::as_str))
        .map(|name| Role::parse(&name).expect("clap accepts only the names of Role::ALL"))
}

impl Settings {
    /// How the connection budget (at least 2) is shared: the session read every request starts
    /// with (the engine's read lane, `identity::sessions::SessionStore`) gets one more than this machine's cores, at most half; the
    /// pool every other statement uses gets the rest. The session read is one short statement
    /// per request, so more of them at once than cores to run them would only queue in the
    /// database. Returns (pool, lane).
    pub fn db_connection_split(&self) -> (u32, u32) {
        let cores = cpu_cores();
        let lane = (cores + 1).min(self.db_max_connections / 2).max(1);
        (self.db_max_connections.saturating_sub(lane).max(1), lane)
    }

    /// The providers with a client configured (id and secret both set; one without the other is
    /// an error, so a half-finished set-up is not silently ignored).
    pub fn providers(&self, public_url: &str) -> anyhow::Result<Vec<identity::auth::oidc::ProviderSettings>> {
        use identity::providers::Provider;
        let configured = [
            (
                Provider::Google,
                &self.google_client_id,
                &self.google_client_secret,
                &self.google_issuer,
                &self.google_directory_url,
            ),
            (
                Provider::Microsoft,
                &self.microsoft_client_id,
                &self.microsoft_client_secret,
                &self.microsoft_authority,
                &self.graph_url,
            ),
            (
                Provider::Slack,
                &self.slack_client_id,
                &self.slack_client_secret,
                &self.slack_issuer,
                &self.slack_api_url,
            ),
        ];
        let mut out = Vec::new();
        for (provider, id, secret, issuer, directory_url) in configured {
            let id = id.as_deref().map(str::trim).filter(|v| !v.is_empty());
            let secret = secret.as_ref().filter(|s| !s.expose_secret().trim().is_empty());
            match (id, secret) {
                (None, None) => {}
                (Some(id), Some(secret)) => {
                    let issuer = issuer.trim().trim_end_matches('/');
                    if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
                        let setting = match provider {
                            Provider::Microsoft => "AUTHORITY",
                            _ => "ISSUER",
                        };
                        anyhow::bail!(
                            "{}_{setting} must be an http(s) URL, not {issuer}",
                            provider.env_prefix()
                        );
                    }
                    let directory_url = directory_url.trim().trim_end_matches('/');
                    if !(directory_url.starts_with("https://") || directory_url.starts_with("http://")) {
                        anyhow::bail!(
                            "the {} directory URL must be an http(s) URL, not {directory_url}",
                            provider.label()
                        );
                    }
                    out.push(identity::auth::oidc::ProviderSettings {
                        provider,
                        directory_url: directory_url.to_owned(),
                        client_id: id.to_owned(),
                        client_secret: secret.clone(),
                        issuer: issuer.to_owned(),
                        redirect_uri: format!(
                            "{}/auth/{}/callback",
                            public_url.trim_end_matches('/'),
                            provider.as_str()
                        ),
                    });
                }
                _ => anyhow::bail!(
                    "{p}_CLIENT_ID and {p}_CLIENT_SECRET must be set together",
                    p = provider.env_prefix()
                ),
            }
        }
        Ok(out)
    }

    /// The configured key, or the one kept in the data directory (created on first use, 0600).
    pub fn load_secret_key(&self) -> anyhow::Result<SecretKey> {
        use anyhow::Context;
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(hex) = &self.secret_key {
            return SecretKey::from_hex(hex.expose_secret()).map_err(|e| anyhow::anyhow!("ROLLCALL_SECRET_KEY: {e}"));
        }
        let path = self.data_dir.join("secret.key");
        if let Ok(text) = std::fs::read_to_string(&path) {
            return SecretKey::from_hex(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
        }
        std::fs::create_dir_all(&self.data_dir).context("creating the data directory")?;
        let key = SecretKey::generate();
        // Written in full under a private name, then linked into place: a process starting at the
        // same moment sees either no key file or a complete one, never a half-written one.
        let draft = self.data_dir.join(format!(".secret.key.{}", uuid::Uuid::new_v4()));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&draft)
            .with_context(|| format!("writing {}", draft.display()))?;
        file.write_all(key.to_hex().as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("writing {}", draft.display()))?;
        let linked = std::fs::hard_link(&draft, &path);
        let _ = std::fs::remove_file(&draft);
        match linked {
            Ok(()) => Ok(key),
            // Another process put its key there first: use theirs.
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(&path)?;
                SecretKey::from_hex(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
            }
            Err(err) => Err(err).with_context(|| format!("writing {}", path.display())),
        }
    }
}

/// The pool's classic size, two connections per core (at least 4), plus one per core and one
/// more for the session read (see `Settings::db_connection_split`; on 2 cores, 3 connections
/// for that read served the Users tab 15% faster than 2). More connections than the cores can
/// run do not add throughput; they add queueing inside the database, which shows as tail
/// latency (on 2 cores, 20 pooled connections gave a 50% higher p99 than 4 on the Users tab).
pub fn default_db_connections() -> u32 {
    let cores = cpu_cores();
    (2 * cores).max(4) + cores + 1
}

/// This machine's cores, which both the default budget and its split are sized by.
fn cpu_cores() -> u32 {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) as u32
}

#[cfg(test)]
mod secrets_tests {
    use super::*;

    #[test]
    fn settings_never_show_the_database_url_smtp_credentials_or_secret_key() {
        let cli = Cli::try_parse_from([
            "rollcall",
            "--database-url",
            "postgres://rollcall:hunter2-db@db/rollcall",
            "--smtp-url",
            "smtp://mailer:hunter2-smtp@mail:587",
            "--secret-key",
            &"ab".repeat(32),
            "--google-client-id",
            "id",
            "--google-client-secret",
            "hunter2-google",
        ])
        .unwrap();
        let shown = format!("{cli:?}");
        for secret in ["hunter2-db", "hunter2-smtp", &"ab".repeat(32), "hunter2-google"] {
            assert!(!shown.contains(secret), "{secret} printed in {shown}");
        }
        assert_eq!(
            cli.settings.database_url.as_ref().map(|url| url.expose_secret()),
            Some("postgres://rollcall:hunter2-db@db/rollcall")
        );
    }
}

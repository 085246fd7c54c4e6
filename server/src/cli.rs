//! What each subcommand does.

use crate::config::{Cli, Command, DbCommand, IntegrationCommand, OrgCommand, ScimTokenCommand, UserCommand};
use crate::startup::{shutdown_signal, Application, Database};
use anyhow::{anyhow, Context, Result};
use identity::audit::Actor;
use identity::orgs::{Creation, NewOrg};
use identity::users::{NewUser, Source, Status};
use identity::EmailAddress;
use std::io::BufRead;

pub async fn run(cli: Cli) -> Result<()> {
    let settings = cli.settings;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let started = std::time::Instant::now();
            let database = Database::open(&settings).await?;
            let app = Application::build(&settings, database.db.clone()).await?;
            let url = match &settings.public_url {
                Some(url) => url.clone(),
                None => format!("http://{}", app.local_addr()),
            };
            tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "ready");
            say(format_args!("Rollcall is running at {url}  (Ctrl-C to stop)"))?;
            let result = app.run_until(shutdown_signal()).await;
            database.close().await;
            result
        }
        Command::Db(DbCommand::Stop) => {
            let stopped = crate::embedded_pg::EmbeddedPostgres::stop_if_running(&settings.data_dir).await?;
            say(format_args!("{}", if stopped { "stopped" } else { "not running" }))?;
            Ok(())
        }
        Command::Db(DbCommand::Url) => {
            let url = crate::embedded_pg::EmbeddedPostgres::running_url(&settings.data_dir)
                .await?
                .ok_or_else(|| anyhow!("no embedded PostgreSQL is running for this data directory"))?;
            say(format_args!("{url}"))?;
            Ok(())
        }
        Command::Db(DbCommand::Orphans { remove }) => {
            let orphans = crate::embedded_pg::orphans()?;
            if orphans.is_empty() {
                say(format_args!("no orphaned clusters"))?;
            }
            for orphan in &orphans {
                let cluster = orphan.cluster.display();
                match (&orphan.data_dir, remove) {
                    (Some(dir), true) => {
                        crate::embedded_pg::remove_orphan(orphan).await?;
                        say(format_args!("removed {cluster} (was for {dir})"))?;
                    }
                    (Some(dir), false) => say(format_args!("{cluster} (was for {dir})"))?,
                    (None, _) => say(format_args!(
                        "{cluster} (made by an earlier release, owner unknown: kept; a data directory that has \
                         not started since the upgrade may still use it, so delete it by hand if none does)"
                    ))?,
                }
            }
            Ok(())
        }
        Command::Integration(command) => integration(&settings, command).await,
        Command::ScimToken(command) => scim_token(&settings, command).await,
        Command::ScimGuard { org, state } => {
            let database = Database::open(&settings).await?;
            let updated = sqlx::query("update orgs set scim_guard = $2 where lower(slug) = lower($1)")
                .bind(&org)
                .bind(state == "on")
                .execute(&database.db)
                .await?
                .rows_affected();
            database.close().await;
            if updated == 0 {
                return Err(anyhow!("no workspace with that slug (see `rollcall org list`)"));
            }
            say(format_args!("SCIM blast-radius guard {state} for {org}"))
        }
        Command::Migrate => {
            let database = Database::open(&settings).await?;
            say(format_args!("migrations applied"))?;
            database.close().await;
            Ok(())
        }
        Command::Org(OrgCommand::Create {
            name,
            admin_email,
            admin_given_name,
            admin_family_name,
            admin_password_stdin: _,
        }) => {
            let password = read_stdin_line().context("reading the admin password from standard input")?;
            let email = EmailAddress::parse(&admin_email).map_err(|e| anyhow!("{e}"))?;
            let database = Database::open(&settings).await?;
            let new = NewOrg {
                name,
                admin_email: email,
                admin_given_name,
                admin_family_name,
                admin_password: password.into(),
            };
            let result = identity::orgs::create_with_admin(&database.db, new, Creation::Additional, None).await;
            database.close().await;
            let (org, _) = result.map_err(|e| anyhow!("{e}"))?;
            say(format_args!("{}", org.slug))?;
            say(format_args!(
                "Created workspace \u{201c}{}\u{201d}; sign in at /o/{}/login",
                org.name, org.slug
            ))?;
            Ok(())
        }
        Command::Org(OrgCommand::List) => {
            let database = Database::open(&settings).await?;
            let rows: Vec<(String, String)> = sqlx::query_as("select slug, name from orgs order by slug")
                .fetch_all(&database.db)
                .await?;
            database.close().await;
            for (slug, name) in rows {
                say(format_args!("{slug}\t{name}"))?;
            }
            Ok(())
        }
        Command::User(UserCommand::Create {
            org,
            email,
            given_name,
            family_name,
            role,
            password_stdin,
        }) => {
            let password = if password_stdin {
                Some(read_stdin_line().context("reading the password from standard input")?)
            } else {
                None
            };
            let email = EmailAddress::parse(&email).map_err(|e| anyhow!("{e}"))?;
            let database = Database::open(&settings).await?;
            let result = async {
                let org = identity::orgs::find_by_slug(&database.db, &org)
                    .await?
                    .ok_or(identity::Error::NotFound)?;
                let new = NewUser {
                    email,
                    given_name,
                    family_name,
                    role,
                    status: if password.is_some() {
                        Status::Active
                    } else {
                        Status::Imported
                    },
                    source: Source::Manual,
                    password: password.map(Into::into),
                };
                identity::users::create(&database.db, &Actor::system(org.id, "cli"), new).await
            }
            .await;
            database.close().await;
            let user = result.map_err(|e| match e {
                identity::Error::NotFound => {
                    anyhow!("no workspace with that slug (see `rollcall org list`)")
                }
                other => anyhow!("{other}"),
            })?;
            say(format_args!("{}", user.id))?;
            Ok(())
        }
    }
}

async fn integration(settings: &crate::config::Settings, command: IntegrationCommand) -> Result<()> {
    use identity::providers::{Mode, Provider};
    let slug = match &command {
        IntegrationCommand::List { org } | IntegrationCommand::Set { org, .. } => org.clone(),
    };
    let database = Database::open(settings).await?;
    let result = async {
        let org = identity::orgs::find_by_slug(&database.db, &slug)
            .await?
            .ok_or(identity::Error::NotFound)?;
        match command {
            IntegrationCommand::List { .. } => identity::integrations::list(&database.db, org.id).await,
            IntegrationCommand::Set {
                provider,
                mode,
                org_key,
                ..
            } => {
                let provider = Provider::parse(&provider).expect("clap accepts only known providers");
                let mode = Mode::parse(&mode).expect("clap accepts only known modes");
                let key = settings
                    .load_secret_key()
                    .map_err(|e| identity::Error::Internal(e.to_string()))?;
                // The servers' key: turning a provider off mails links derived from it.
                identity::secrets::secret_key::check_matches_database(&database.db, &key).await?;
                let done = identity::integrations::set_mode(
                    &database.db,
                    &key,
                    &Actor::system(org.id, "cli"),
                    provider,
                    mode,
                    org_key.as_deref(),
                )
                .await?;
                Ok(vec![done])
            }
        }
    }
    .await;
    database.close().await;
    let integrations = result.map_err(|e| match e {
        identity::Error::NotFound => anyhow!("no workspace with that slug (see `rollcall org list`)"),
        other => anyhow!("{other}"),
    })?;
    for i in integrations {
        say(format_args!(
            "{}\t{}\t{}\t{} linked",
            i.provider,
            i.mode.as_str().replace('_', "-"),
            i.org_key.as_deref().unwrap_or("-"),
            i.linked
        ))?;
    }
    Ok(())
}

async fn scim_token(settings: &crate::config::Settings, command: ScimTokenCommand) -> Result<()> {
    use identity::scim::tokens;
    let slug = match &command {
        ScimTokenCommand::Create { org, .. }
        | ScimTokenCommand::List { org }
        | ScimTokenCommand::Revoke { org, .. } => org.clone(),
    };
    let database = Database::open(settings).await?;
    let result: Result<(), identity::Error> = async {
        let org = identity::orgs::find_by_slug(&database.db, &slug)
            .await?
            .ok_or(identity::Error::NotFound)?;
        let actor = Actor::system(org.id, "cli");
        match command {
            ScimTokenCommand::Create { name, .. } => {
                let (secret, info) = tokens::create(&database.db, &actor, &name).await?;
                let _ = say(format_args!(
                    "Created SCIM token \u{201c}{}\u{201d} ({}). SCIM base URL: <public URL>/scim/v2. It is shown once:",
                    info.name, info.id
                ));
                let _ = say(format_args!("{secret}"));
            }
            ScimTokenCommand::List { .. } => {
                for t in tokens::list(&database.db, org.id).await? {
                    let when = |at: Option<chrono::DateTime<chrono::Utc>>| at.map(|a| a.to_rfc3339()).unwrap_or_else(|| "-".into());
                    let _ = say(format_args!(
                        "{}\t{}\t{}…\tcreated {}\tlast used {}\t{}",
                        t.id,
                        t.name,
                        t.prefix,
                        t.created_at.to_rfc3339(),
                        when(t.last_used_at),
                        if t.revoked_at.is_some() { "revoked" } else { "active" }
                    ));
                }
            }
            ScimTokenCommand::Revoke { id, .. } => {
                tokens::revoke(&database.db, &actor, id).await?;
                let _ = say(format_args!("revoked {id}"));
            }
        }
        Ok(())
    }
    .await;
    database.close().await;
    result.map_err(|e| match e {
        identity::Error::NotFound => {
            anyhow!("no such workspace or token (see `rollcall org list`, `rollcall scim-token list`)")
        }
        other => anyhow!("{other}"),
    })
}

fn read_stdin_line() -> Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

/// Prints a line of output. A reader that closed the pipe early (`rollcall org list | head -1`)
/// is not an error: the work is done and it had what it wanted. Other write errors are.
fn say(line: std::fmt::Arguments) -> Result<()> {
    use std::io::Write;
    match writeln!(std::io::stdout().lock(), "{line}") {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(err.into()),
        _ => Ok(()),
    }
}

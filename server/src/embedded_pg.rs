//! A private PostgreSQL cluster for running Rollcall with nothing else installed: created with
//! the system's `initdb` on first use, started with `pg_ctl` on a Unix socket only (no TCP port
//! to clash with), and stopped again when the server exits.
//!
//! PostgreSQL refuses to run as root, so when Rollcall runs as root the cluster runs as the
//! `postgres` system user instead.

use anyhow::{bail, Context, Result};
use std::ffi::CString;
use std::path::{Path, PathBuf};
use tokio::process::Command;

pub const DATABASE: &str = "rollcall";
const SUPERUSER: &str = "postgres";

#[derive(Debug)]
pub struct EmbeddedPostgres {
    cluster_dir: PathBuf,
    socket_dir: PathBuf,
    log_file: PathBuf,
    bin_dir: PathBuf,
    run_as: Option<String>,
    /// Whether this process started the cluster (and so should stop it).
    started_here: bool,
}

impl EmbeddedPostgres {
    /// Creates (if new) and starts the cluster for `data_dir`, or joins it if it is already
    /// running (a second server on the same data directory).
    pub async fn start(data_dir: &Path) -> Result<Self> {
        let mut pg = Self::locate(data_dir)?;
        if !pg.cluster_dir.join("PG_VERSION").exists() {
            pg.initdb().await?;
        }
        if !pg.is_running().await {
            pg.pg_ctl_start().await?;
            pg.started_here = true;
        }
        pg.ensure_database(DATABASE).await?;
        Ok(pg)
    }

    /// Stops the cluster of `data_dir` if one is running (say, left behind by a killed server
    /// or by the test suite). Returns whether there was one.
    pub async fn stop_if_running(data_dir: &Path) -> Result<bool> {
        let pg = Self::locate(data_dir)?;
        if pg.cluster_dir.join("PG_VERSION").exists() && pg.is_running().await {
            pg.stop().await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// The URL of the `rollcall` database if the cluster of `data_dir` is running.
    pub async fn running_url(data_dir: &Path) -> Result<Option<String>> {
        let pg = Self::locate(data_dir)?;
        Ok((pg.cluster_dir.join("PG_VERSION").exists() && pg.is_running().await).then(|| pg.url(DATABASE)))
    }

    /// Works out where the cluster of `data_dir` lives, creating its directories.
    fn locate(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir).with_context(|| format!("creating data directory {}", data_dir.display()))?;
        let data_dir = data_dir.canonicalize().context("resolving data directory")?;
        let bin_dir = find_bin_dir()?;
        // SAFETY: geteuid has no preconditions.
        let run_as = if unsafe { libc::geteuid() } == 0 {
            Some(SUPERUSER.to_owned())
        } else {
            None
        };

        let mut root = data_dir.join("postgres");
        if let Some(user) = &run_as {
            let (uid, gid) = lookup_user(user).with_context(|| {
                format!("running as root needs the '{user}' system user for PostgreSQL (apt-get install postgresql creates it)")
            })?;
            if !can_traverse(&data_dir, uid, gid) {
                // The data directory sits somewhere the postgres user cannot reach (say under
                // /root): keep the cluster in a reachable place, keyed by the data directory.
                root =
                    PathBuf::from("/var/lib/rollcall/embedded").join(short_hash(data_dir.to_string_lossy().as_bytes()));
                tracing::info!(cluster = %root.display(), "data directory not reachable by the postgres user; keeping the cluster here");
            }
            std::fs::create_dir_all(root.join("run")).context("creating cluster directory")?;
            chown_tree(&root, uid, gid)?;
        } else {
            std::fs::create_dir_all(root.join("run")).context("creating cluster directory")?;
        }
        Ok(EmbeddedPostgres {
            cluster_dir: root.join("data"),
            socket_dir: root.join("run"),
            log_file: root.join("postgres.log"),
            bin_dir,
            run_as,
            started_here: false,
        })
    }

    /// Connection URL for a database in this cluster, over its Unix socket.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}@localhost/{database}?host={}",
            self.socket_dir.display()
        )
    }

    pub fn started_here(&self) -> bool {
        self.started_here
    }

    pub async fn stop(&self) -> Result<()> {
        let status = self
            .command("pg_ctl")
            .arg("stop")
            .arg("-D")
            .arg(&self.cluster_dir)
            .args(["-m", "fast", "-w"])
            .status()
            .await?;
        if !status.success() {
            bail!("pg_ctl stop failed ({status})");
        }
        Ok(())
    }

    pub async fn stop_quietly(&self) {
        if let Err(err) = self.stop().await {
            tracing::warn!(error = %err, "could not stop the embedded PostgreSQL");
        }
    }

    fn command(&self, program: &str) -> Command {
        let binary = self.bin_dir.join(program);
        let mut command = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(binary);
                c
            }
            None => Command::new(binary),
        };
        command.kill_on_drop(false).stdin(std::process::Stdio::null());
        command
    }

    async fn initdb(&self) -> Result<()> {
        tracing::info!(dir = %self.cluster_dir.display(), "creating embedded PostgreSQL cluster");
        let output = self
            .command("initdb")
            .arg("-D")
            .arg(&self.cluster_dir)
            .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C"])
            .output()
            .await
            .context("running initdb")?;
        if !output.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(())
    }

    async fn is_running(&self) -> bool {
        self.command("pg_ctl")
            .arg("status")
            .arg("-D")
            .arg(&self.cluster_dir)
            .stdout(std::process::Stdio::null())
            .status()
            .await
            .map(|s| s.success())
            .unwrap_or(false)
    }

    async fn pg_ctl_start(&self) -> Result<()> {
        let log = &self.log_file;
        // Socket only, in a directory of its own: nothing listens on TCP, nothing clashes.
        let options = format!(
            "-c listen_addresses='' -c unix_socket_directories='{}' -c max_connections=300",
            self.socket_dir.display()
        );
        let output = self
            .command("pg_ctl")
            .arg("start")
            .arg("-D")
            .arg(&self.cluster_dir)
            .arg("-l")
            .arg(log)
            .args(["-w", "-t", "60", "-o", &options])
            .output()
            .await
            .context("running pg_ctl start")?;
        if !output.status.success() {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(10).collect();
            bail!(
                "PostgreSQL did not start: {}\n{}",
                String::from_utf8_lossy(&output.stderr).trim(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        Ok(())
    }

    pub async fn ensure_database(&self, name: &str) -> Result<()> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .context("connecting to the embedded cluster")?;
        let exists: bool = sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
        if !exists {
            // Two servers may race to create it; losing that race is fine.
            if let Err(err) = sqlx::query(&format!("create database \"{name}\""))
                .execute(&mut conn)
                .await
            {
                let duplicate = err
                    .as_database_error()
                    .and_then(|e| e.code())
                    .is_some_and(|c| c == "42P04" || c == "23505");
                if !duplicate {
                    return Err(err.into());
                }
            }
        }
        Ok(())
    }
}

fn find_bin_dir() -> Result<PathBuf> {
    if let Ok(path) = std::env::var("PATH") {
        for dir in std::env::split_paths(&path) {
            let initdb = dir.join("initdb");
            if initdb.exists() && dir.join("pg_ctl").exists() {
                // Resolve symlinks (/usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb)
                // so runuser finds the real binaries.
                let real = initdb.canonicalize().unwrap_or(initdb);
                return Ok(real.parent().map(Path::to_path_buf).unwrap_or(dir));
            }
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .filter(|p| p.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
    });
    versions.pop().context(
        "PostgreSQL's initdb was not found. Install PostgreSQL (Debian: apt-get install postgresql) or set DATABASE_URL.",
    )
}

fn lookup_user(name: &str) -> Result<(u32, u32)> {
    let c_name = CString::new(name)?;
    // SAFETY: getpwnam returns a pointer into static storage or null; we copy out at once.
    let entry = unsafe { libc::getpwnam(c_name.as_ptr()) };
    if entry.is_null() {
        bail!("no such user: {name}");
    }
    Ok(unsafe { ((*entry).pw_uid, (*entry).pw_gid) })
}

/// Whether `uid` can walk down every directory leading to `path`.
fn can_traverse(path: &Path, uid: u32, gid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    path.ancestors().all(|dir| match std::fs::metadata(dir) {
        Ok(meta) => {
            let mode = meta.mode();
            if meta.uid() == uid {
                mode & 0o100 != 0
            } else if meta.gid() == gid {
                mode & 0o010 != 0
            } else {
                mode & 0o001 != 0
            }
        }
        Err(_) => false,
    })
}

fn chown_tree(root: &Path, uid: u32, gid: u32) -> Result<()> {
    for dir in [root.to_path_buf(), root.join("run")] {
        let c_path = CString::new(dir.to_string_lossy().as_bytes())?;
        // SAFETY: plain syscall on a NUL-terminated path.
        if unsafe { libc::chown(c_path.as_ptr(), uid, gid) } != 0 {
            bail!(
                "could not hand {} to the postgres user: {}",
                dir.display(),
                std::io::Error::last_os_error()
            );
        }
    }
    Ok(())
}

/// A stable short directory name for a path (FNV-1a; not for security).
fn short_hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

//! A private PostgreSQL cluster for running Rollcall with nothing else installed: created with
//! the system's `initdb` on first use, started with `pg_ctl` on a Unix socket only (no TCP port
//! to clash with), and stopped again when the server exits.
//!
//! PostgreSQL refuses to run as root, so when Rollcall runs as root the cluster runs as the
//! `postgres` system user instead.
//!
//! Only Rollcall's own OS user (and root) can reach the cluster: its directories and socket are
//! private to the cluster's user (0700), and the socket admits only the OS users Rollcall runs
//! as, by peer authentication mapped onto the database superuser. Another local user can
//! neither open the socket nor, were it reachable, sign in to the database.

use anyhow::{bail, Context, Result};
use std::ffi::CString;
use std::path::{Path, PathBuf};
use tokio::process::Command;

pub const DATABASE: &str = "rollcall";
/// Where clusters live whose data directory the `postgres` user cannot reach.
const RELOCATED_ROOT: &str = "/var/lib/rollcall/embedded";
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
        // Servers and CLI commands started at once on one data directory take turns: each
        // would otherwise pick a relocated cluster of its own, or run initdb twice.
        let _turn = StartLock::take(data_dir).await?;
        let mut pg = Self::locate(data_dir)?;
        if !pg.cluster_dir.join("PG_VERSION").exists() {
            pg.initdb().await?;
        }
        pg.write_access_rules()?;
        if !pg.is_running().await {
            pg.pg_ctl_start().await?;
            pg.started_here = true;
        } else {
            // A cluster started by an older release (which trusted every local user), or whose
            // last reload never happened, picks the rules up without a restart.
            pg.reload().await;
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
                // /root): keep the cluster in a reachable place, recorded in the data directory.
                root = relocated_root(&data_dir)?;
                tracing::info!(cluster = %root.display(), "data directory not reachable by the postgres user; keeping the cluster here");
            }
            if let Some(parent) = root.parent() {
                std::fs::create_dir_all(parent).context("creating cluster directory")?;
            }
            std::fs::create_dir_all(root.join("run")).context("creating cluster directory")?;
            chown_tree(&root, uid, gid)?;
        } else {
            std::fs::create_dir_all(root.join("run")).context("creating cluster directory")?;
        }
        // The cluster's directories, its socket among them, are its user's alone.
        for dir in [root.clone(), root.join("run")] {
            set_mode(&dir, 0o700)?;
        }
        if root.starts_with(RELOCATED_ROOT) {
            // Traversable by the cluster's user, not listable by anyone else.
            for dir in [PathBuf::from("/var/lib/rollcall"), PathBuf::from(RELOCATED_ROOT)] {
                set_mode(&dir, 0o711)?;
            }
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
            .args(["-U", SUPERUSER, "-A", "peer", "-E", "UTF8", "--locale=C"])
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
            "-c listen_addresses='' -c unix_socket_directories='{}' -c unix_socket_permissions=0700 \
             -c max_connections=300",
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

    /// Who may connect: over the socket only, by peer authentication, only the OS users Rollcall
    /// runs as (this process's, and the cluster's own), each as the database superuser.
    ///
    /// A file is rewritten only when its text differs, and then by renaming a complete copy
    /// over it: a running cluster reloads its rules whenever any process asks, and a file
    /// truncated for rewriting at that moment would shut every new connection out.
    fn write_access_rules(&self) -> Result<()> {
        let me = current_user_name()?;
        let mut ident = format!("# Written by Rollcall at every start.\nrollcall {me} {SUPERUSER}\n");
        if let Some(user) = self.run_as.as_ref().filter(|user| **user != me) {
            ident.push_str(&format!("rollcall {user} {SUPERUSER}\n"));
        }
        let hba = "# Written by Rollcall at every start: the Unix socket only, by peer, mapped in pg_ident.conf.\n\
                   local all all peer map=rollcall\n";
        let owner = self.run_as.as_deref().map(lookup_user).transpose()?;
        for (name, text) in [("pg_hba.conf", hba.to_owned()), ("pg_ident.conf", ident)] {
            let path = self.cluster_dir.join(name);
            if std::fs::read_to_string(&path).is_ok_and(|current| current == text) {
                continue;
            }
            let staged = write_staged(&self.cluster_dir, name, &text, owner)?;
            std::fs::rename(&staged, &path).with_context(|| format!("replacing {}", path.display()))?;
        }
        Ok(())
    }

    async fn reload(&self) {
        let reloaded = self
            .command("pg_ctl")
            .arg("reload")
            .arg("-D")
            .arg(&self.cluster_dir)
            .stdout(std::process::Stdio::null())
            .status()
            .await;
        if !reloaded.as_ref().is_ok_and(|status| status.success()) {
            tracing::warn!(result = ?reloaded, "the embedded PostgreSQL did not reload its access rules");
        }
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
        chown(&dir, uid, gid)?;
    }
    Ok(())
}

fn chown(path: &Path, uid: u32, gid: u32) -> Result<()> {
    let c_path = CString::new(path.to_string_lossy().as_bytes())?;
    // SAFETY: plain syscall on a NUL-terminated path.
    if unsafe { libc::chown(c_path.as_ptr(), uid, gid) } != 0 {
        bail!(
            "could not hand {} to the postgres user: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("restricting {}", path.display()))
}

/// Writes `text` to `path`, readable by its owner only.
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    set_mode(path, 0o600)
}

/// Writes `text` to a new file beside `name` in `dir`, ready to be renamed over it: a random
/// name, created afresh (never through a link someone planted, nor into an existing file),
/// readable by its owner only, handed to `owner` through the open file, and on disk before the
/// rename. The directory belongs to the cluster's user, who must not be able to steer root's
/// writes elsewhere.
fn write_staged(dir: &Path, name: &str, text: &str, owner: Option<(u32, u32)>) -> Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut suffix = [0u8; 8];
    getrandom(&mut suffix)?;
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let staged = dir.join(format!("{name}.rollcall-{suffix}"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&staged)
        .with_context(|| format!("writing {}", staged.display()))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(&file, Some(uid), Some(gid))
            .with_context(|| format!("handing {} to the cluster's user", staged.display()))?;
    }
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", staged.display()))?;
    Ok(staged)
}

/// The name of the OS user this process runs as.
fn current_user_name() -> Result<String> {
    // SAFETY: geteuid has no preconditions; getpwuid returns static storage or null, copied out
    // at once.
    let entry = unsafe { libc::getpwuid(libc::geteuid()) };
    if entry.is_null() {
        bail!("this process's user has no name (no passwd entry)");
    }
    let name = unsafe { std::ffi::CStr::from_ptr((*entry).pw_name) };
    Ok(name.to_string_lossy().into_owned())
}

/// An exclusive lock on a data directory's `embedded.lock`, held while a process sets up and
/// starts its cluster; released when dropped (or when the process dies).
struct StartLock {
    _held: std::fs::File,
}

impl StartLock {
    async fn take(data_dir: &Path) -> Result<Self> {
        use std::os::fd::AsRawFd;
        std::fs::create_dir_all(data_dir).with_context(|| format!("creating data directory {}", data_dir.display()))?;
        let path = data_dir.join("embedded.lock");
        // Readable by its owner only (anyone who could open it could hold the lock and stall
        // every start), and never opened through a link.
        let file = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
                .with_context(|| format!("opening {}", path.display()))?
        };
        tokio::task::spawn_blocking(move || {
            // SAFETY: flock on a descriptor this closure owns; it blocks until the lock is free.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
                return Err(std::io::Error::last_os_error()).context("locking the data directory");
            }
            Ok(StartLock { _held: file })
        })
        .await
        .context("waiting for the data directory's lock")?
    }
}

/// The file in a data directory that names its relocated cluster.
const RELOCATION_RECORD: &str = "embedded-cluster";
/// The file in a relocated cluster that names the data directory it belongs to.
const OWNER_RECORD: &str = "data-directory";

/// Where the relocated cluster of `data_dir` lives: the one its record names, or for a data
/// directory without one, a brand-new cluster directory. A fresh data directory (a new secret
/// key) never adopts a cluster another one left behind, even at the same path.
fn relocated_root(data_dir: &Path) -> Result<PathBuf> {
    let record = data_dir.join(RELOCATION_RECORD);
    if let Ok(text) = std::fs::read_to_string(&record) {
        let root = PathBuf::from(text.trim());
        // Only ever a directory of ours: the record is in a directory others may write.
        if root.parent() == Some(Path::new(RELOCATED_ROOT)) {
            return Ok(root);
        }
        bail!(
            "{} names {}, which is not a Rollcall cluster directory",
            record.display(),
            root.display()
        );
    }
    // Earlier releases named the cluster by a hash of the data directory's path and recorded
    // nothing. A data directory that has been used (it holds its secret key) keeps that cluster;
    // a fresh one never takes it over.
    let legacy = PathBuf::from(RELOCATED_ROOT).join(legacy_name(data_dir));
    let root = if legacy.join("data/PG_VERSION").exists() && data_dir.join("secret.key").exists() {
        legacy
    } else {
        let mut id = [0u8; 12];
        getrandom(&mut id)?;
        PathBuf::from(RELOCATED_ROOT).join(id.iter().map(|b| format!("{b:02x}")).collect::<String>())
    };
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    write_private(&root.join(OWNER_RECORD), &format!("{}\n", data_dir.display()))?;
    write_private(&record, &format!("{}\n", root.display()))?;
    Ok(root)
}

/// The directory name earlier releases gave the relocated cluster of `data_dir` (FNV-1a of its
/// path).
fn legacy_name(data_dir: &Path) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data_dir.to_string_lossy().as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

fn getrandom(buf: &mut [u8]) -> Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .context("reading /dev/urandom")
}

/// A relocated cluster whose data directory is gone, or no longer names it.
#[derive(Debug)]
pub struct Orphan {
    pub cluster: PathBuf,
    /// The data directory it was made for; `None` for a cluster an earlier release made, which
    /// recorded nothing (it may still be the cluster of a data directory that has not started
    /// since the upgrade, so it is never removed for you).
    pub data_dir: Option<String>,
}

/// The relocated clusters no data directory claims any more.
pub fn orphans() -> Result<Vec<Orphan>> {
    let Ok(entries) = std::fs::read_dir(RELOCATED_ROOT) else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let cluster = entry.path();
        let data_dir = std::fs::read_to_string(cluster.join(OWNER_RECORD))
            .ok()
            .map(|text| text.trim().to_owned());
        let claimed = data_dir.as_ref().is_some_and(|dir| {
            std::fs::read_to_string(Path::new(dir).join(RELOCATION_RECORD))
                .map(|named| Path::new(named.trim()) == cluster)
                .unwrap_or(false)
        });
        if !claimed {
            found.push(Orphan { cluster, data_dir });
        }
    }
    found.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    Ok(found)
}

/// Stops an orphaned cluster if it still runs, and deletes it.
pub async fn remove_orphan(orphan: &Orphan) -> Result<()> {
    let pg = EmbeddedPostgres {
        cluster_dir: orphan.cluster.join("data"),
        socket_dir: orphan.cluster.join("run"),
        log_file: orphan.cluster.join("postgres.log"),
        bin_dir: find_bin_dir()?,
        // SAFETY: geteuid has no preconditions.
        run_as: (unsafe { libc::geteuid() } == 0).then(|| SUPERUSER.to_owned()),
        started_here: false,
    };
    if pg.cluster_dir.join("PG_VERSION").exists() && pg.is_running().await {
        pg.stop().await?;
    }
    std::fs::remove_dir_all(&orphan.cluster).with_context(|| format!("removing {}", orphan.cluster.display()))
}

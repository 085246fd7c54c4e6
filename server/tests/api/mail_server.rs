//! A real SMTP server for tests: aiosmtpd (installed by `scripts/setup --test`) writing every
//! message it receives into a Maildir that tests read back.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct MailServer {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Received {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl MailServer {
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Self {
        let aiosmtpd = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/aiosmtpd");
        assert!(aiosmtpd.exists(), "aiosmtpd is missing: run scripts/setup --test");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("maildir-{}", uuid::Uuid::new_v4().simple()));
        let child = Command::new(aiosmtpd)
            .args([
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "aiosmtpd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        MailServer { child, port, dir }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.dir.join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                let bytes = std::fs::read(entry.path()).unwrap();
                let parsed = mailparse::parse_mail(&bytes).unwrap();
                let header = |name: &str| {
                    parsed
                        .headers
                        .iter()
                        .find(|h| h.get_key().eq_ignore_ascii_case(name))
                        .map(|h| h.get_value())
                        .unwrap_or_default()
                };
                let part = |mime: &str| {
                    parsed
                        .subparts
                        .iter()
                        .find(|p| p.ctype.mimetype == mime)
                        .map(|p| p.get_body().unwrap())
                        .unwrap_or_default()
                };
                out.push(Received {
                    to: header("To"),
                    subject: header("Subject"),
                    text: part("text/plain"),
                    html: part("text/html"),
                });
            }
        }
        out
    }

    /// Waits until at least `n` messages arrived (at most `timeout`).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let received = self.received();
            if received.len() >= n || started.elapsed() > timeout {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for MailServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The invitation link in a mail's text.
pub fn link_in(text: &str) -> String {
    text.lines()
        .find(|l| l.contains("/invite/"))
        .expect("a link in the mail")
        .trim()
        .to_owned()
}

//! `fake-directory`: one fake directory API as a stand-alone process, for benchmarks and manual
//! runs, holding a generated directory (see `fakes::directory::generate`).
//!
//! ```text
//! fake-directory --flavor google|microsoft|slack --listen 127.0.0.1:PORT --people N [--seed S] [--org ORG] [--with-idp]
//! ```
//!
//! `--with-idp` also serves the provider's sign-in and consent on the same origin (as
//! accounts.google.com, login.microsoftonline.com and slack.com do), signing in as the
//! directory's administrator; the origin is then the value for `ROLLCALL_GOOGLE_ISSUER`,
//! `ROLLCALL_MICROSOFT_AUTHORITY` or `ROLLCALL_SLACK_ISSUER`.
//!
//! Prints `listening on URL` (the API base URL: the value for `ROLLCALL_GOOGLE_DIRECTORY_URL`,
//! `ROLLCALL_GRAPH_URL` or `ROLLCALL_SLACK_API_URL`) once ready, then `token TOKEN`, `org ORG`,
//! `origin URL`, `client_id ID` and `client_secret SECRET`, one per line, and runs until killed.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Instant;

use clap::Parser;
use fakes::directory::{generate, DirectoryFlavor, FakeDirectory};

#[derive(Parser)]
#[command(about = "A fake Google Directory / Microsoft Graph / Slack users API (test use only)")]
struct Args {
    /// API to imitate: google, microsoft or slack.
    #[arg(long)]
    flavor: DirectoryFlavor,
    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// How many people the generated directory holds.
    #[arg(long, default_value_t = 1000)]
    people: usize,
    /// Seed of the generated directory: the same seed is the same directory.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Org of the directory: Google domain, Entra tenant ID, Slack team ID [default: the
    /// fake's own]. People's emails stay at example.com.
    #[arg(long)]
    org: Option<String>,
    /// Also serve the provider's OpenID sign-in and consent on the same origin.
    #[arg(long)]
    with_idp: bool,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let people = generate(args.flavor, args.people, args.seed);
    let (dir, _idp) = if args.with_idp {
        let (dir, idp) = FakeDirectory::start_with_idp(args.flavor, args.listen, people).await?;
        (dir, Some(idp))
    } else {
        (FakeDirectory::start_with(args.flavor, args.listen, people).await?, None)
    };
    if let Some(org) = args.org {
        dir.set_org(org);
    }
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {}", dir.base_url())?;
    writeln!(stdout, "token {}", dir.token())?;
    writeln!(stdout, "org {}", dir.org())?;
    writeln!(stdout, "origin {}", dir.origin())?;
    writeln!(stdout, "client_id {}", dir.client_id())?;
    writeln!(stdout, "client_secret {}", dir.client_secret())?;
    // Whoever waits for the lines may read a pipe: flush rather than rely on line buffering.
    stdout.flush()?;
    eprintln!(
        "fake-directory: {} {} people ready in {:.2?}",
        args.people,
        args.flavor.name(),
        started.elapsed()
    );
    std::future::pending::<()>().await;
    Ok(())
}

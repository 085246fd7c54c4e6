//! `fake-idp`: one fake OpenID Connect provider as a stand-alone process, for benchmarks and
//! manual runs. Sign-ins need no interaction; an authorization with `login_hint=EMAIL` signs in
//! as a stable user derived from that email, so a benchmark can sign in as many people.
//!
//! ```text
//! fake-idp --flavor google|microsoft|slack --listen 127.0.0.1:PORT \
//!          [--client-id ID] [--client-secret S] [--org ORG]
//! ```
//!
//! Prints `listening on http://127.0.0.1:PORT` once ready and runs until killed.

use std::io::Write;
use std::net::SocketAddr;

use clap::Parser;
use fakes::{FakeIdp, Flavor, Persona};

#[derive(Parser)]
#[command(about = "A fake Google / Microsoft Entra ID / Slack OpenID Connect provider (test use only)")]
struct Args {
    /// Provider to imitate: google, microsoft or slack.
    #[arg(long)]
    flavor: Flavor,
    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Client ID to accept [default: fake-FLAVOR-client].
    #[arg(long)]
    client_id: Option<String>,
    /// Client secret to accept [default: fake-FLAVOR-secret].
    #[arg(long)]
    client_secret: Option<String>,
    /// Org of every user signed in: Google hosted domain, Entra tenant GUID, Slack team ID.
    /// Without it users are personal accounts (Entra: the consumer tenant).
    #[arg(long)]
    org: Option<String>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let client_id = args.client_id.unwrap_or_else(|| args.flavor.default_client_id());
    let client_secret = args
        .client_secret
        .unwrap_or_else(|| args.flavor.default_client_secret());
    let idp = FakeIdp::start_with(args.flavor, args.listen, &client_id, &client_secret).await?;
    // `login_hint` derivations take the org from the current persona, so set it even though
    // most benchmark sign-ins carry a hint.
    idp.sign_in_as(Persona::from_login_hint(args.flavor, "ada@example.com", args.org));
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {}", idp.base_url())?;
    // Whoever waits for the line may read a pipe: flush rather than rely on line buffering.
    stdout.flush()?;
    std::future::pending::<()>().await;
    Ok(())
}

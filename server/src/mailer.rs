//! Delivering the outbox over SMTP. The queue itself (claiming, retries, rendering) is in
//! `identity::outbox`; this module only speaks SMTP and runs the worker loop.

use anyhow::{Context, Result};
use app::ssr::SharedState;
use identity::mail::Mail;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// `url`: `smtp://host:port` (plain), `smtp://user:pass@host:587?tls=required` (STARTTLS) or
    /// `smtps://user:pass@host` (TLS).
    pub fn new(url: &str, from: &str) -> Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .context("ROLLCALL_SMTP_URL is not a valid SMTP URL (e.g. smtp://mail.example.com:25)")?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let from = from
            .parse()
            .with_context(|| format!("ROLLCALL_MAIL_FROM is not a valid address: {from}"))?;
        Ok(Mailer { transport, from })
    }

    pub async fn send(&self, mail: &Mail) -> Result<(), String> {
        let to: Mailbox = mail.to.parse().map_err(|e| format!("recipient address refused: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&mail.subject)
            .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))
            .map_err(|e| format!("could not build the message: {e}"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    }
}

/// Drains the outbox for as long as the server runs. Any number of servers may run this at once:
/// each row is claimed by exactly one worker at a time.
pub async fn run_outbox_worker(state: SharedState, mailer: Mailer) {
    let mailer = Arc::new(mailer);
    let mut listener = match sqlx::postgres::PgListener::connect_with(&state.db).await {
        Ok(mut l) => match l.listen("rollcall_outbox").await {
            Ok(()) => Some(l),
            Err(_) => None,
        },
        Err(_) => None,
    };
    loop {
        let claimed = match identity::outbox::claim(&state.db, 32).await {
            Ok(claimed) => claimed,
            Err(err) => {
                tracing::warn!(error = ?err, "outbox claim failed");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        if claimed.is_empty() {
            // Wake on a NOTIFY from a new outbox row, or poll every 2 s (retries come due).
            match listener.as_mut() {
                Some(l) => {
                    let _ = tokio::time::timeout(Duration::from_secs(2), l.recv()).await;
                }
                None => tokio::time::sleep(Duration::from_secs(1)).await,
            }
            continue;
        }
        let mut deliveries = tokio::task::JoinSet::new();
        for item in claimed {
            let (state, mailer) = (state.clone(), mailer.clone());
            deliveries.spawn(async move { deliver(&state, &mailer, item).await });
        }
        while deliveries.join_next().await.is_some() {}
    }
}

async fn deliver(state: &SharedState, mailer: &Mailer, item: identity::outbox::Claimed) {
    let db = &state.db;
    let result =
        match identity::outbox::render(db, &state.secret_key, &state.public_url, item.org_id, item.invite_id).await {
            Ok(None) => {
                identity::outbox::mark_cancelled(
                    db,
                    item.org_id,
                    item.id,
                    "Not sent: the invitation was accepted, revoked or replaced first.",
                )
                .await
            }
            Ok(Some(mail)) => match mailer.send(&mail).await {
                Ok(()) => identity::outbox::mark_sent(db, item.org_id, item.id).await,
                Err(error) => {
                    tracing::warn!(
                        outbox_id = item.id,
                        attempts = item.attempts,
                        error,
                        "mail delivery failed"
                    );
                    identity::outbox::mark_failed(db, &item, &error).await
                }
            },
            Err(err) => identity::outbox::mark_failed(db, &item, &err.to_string()).await,
        };
    if let Err(err) = result {
        tracing::error!(error = ?err, "could not record a delivery result");
    }
}

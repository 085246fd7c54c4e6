//! Speaking SMTP: one message out per call. The queue it drains (claiming, retries, rendering)
//! is the engine's (`identity::mail::outbox`), the loop that drains it `workers::outbox`.

use anyhow::{Context, Result};
use identity::mail::Mail;
use identity::secrets::{ExposeSecret, SecretString};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// `url`: `smtp://host:port` (plain), `smtp://user:pass@host:587?tls=required` (STARTTLS) or
    /// `smtps://user:pass@host` (TLS).
    pub fn new(url: &SecretString, from: &str) -> Result<Self> {
        // The URL may carry credentials: the error names the setting, never its value.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
            .context("ROLLCALL_SMTP_URL is not a valid SMTP URL (e.g. smtp://mail.example.com:25)")?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let from = from
            .parse()
            .with_context(|| format!("ROLLCALL_MAIL_FROM is not a valid address: {from}"))?;
        Ok(Mailer { transport, from })
    }

    #[tracing::instrument(name = "smtp_send", skip_all, fields(subject = %mail.subject))]
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

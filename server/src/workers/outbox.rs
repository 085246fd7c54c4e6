//! Delivering the mail outbox over SMTP, as a queue of the jobs mechanism.

use super::queue;
use crate::smtp::Mailer;
use app::ssr::SharedState;
use identity::jobs::Claim;
use identity::mail::outbox;
use std::sync::Arc;

pub async fn run(state: SharedState, mailer: Mailer) {
    let mailer = Arc::new(mailer);
    let db = state.db.clone();
    queue::drain(db, &outbox::QUEUE, move |claim| {
        let (state, mailer) = (state.clone(), mailer.clone());
        async move { deliver(&state, &mailer, claim).await }
    })
    .await
}

#[tracing::instrument(name = "deliver_mail", skip_all, fields(outbox_id = claim.id, attempt = claim.attempts))]
async fn deliver(state: &SharedState, mailer: &Mailer, claim: Claim) {
    let db = &state.db;
    let result = match outbox::render(db, &state.secret_key, &state.public_url, claim.org_id, claim.id).await {
        Ok(None) => {
            outbox::mark_cancelled(
                db,
                &claim,
                "Not sent: the invitation was accepted, revoked or replaced first.",
            )
            .await
        }
        Ok(Some(mail)) => match mailer.send(&mail).await {
            Ok(()) => outbox::mark_sent(db, &claim).await,
            Err(error) => {
                tracing::warn!(error, "mail delivery failed");
                outbox::mark_failed(db, &claim, &error).await
            }
        },
        Err(err) => outbox::mark_failed(db, &claim, &err.to_string()).await,
    };
    if let Err(err) = result {
        tracing::error!(error = ?err, "could not record a delivery result");
    }
}

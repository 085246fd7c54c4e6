//! Attack: make the server hash passwords for free (argon2 takes memory and a core each time) by
//! posting invitation acceptances with links that are not open. Only the holder of an open link
//! gets a password hashed: the link is checked first.

use crate::helpers::*;
use std::sync::{Arc, Mutex};
use tracing_subscriber::layer::SubscriberExt;

/// The names of the spans opened on this thread while it is the default subscriber.
#[derive(Clone, Default)]
struct SpanNames(Arc<Mutex<Vec<&'static str>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SpanNames {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        self.0.lock().unwrap().push(attrs.metadata().name());
    }
}

impl SpanNames {
    fn hashes(&self) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|name| **name == "password_hash")
            .count()
    }
}

#[tokio::test]
async fn a_link_that_is_not_open_never_gets_a_password_hashed() {
    // The server runs on this test's single-threaded runtime, so the spans its handlers open are
    // seen here.
    let spans = SpanNames::default();
    let _seen = tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    let (mo, first) = app.invite(&admin, "mo@acme.test").await;
    // A resend replaces the first link.
    admin.call("resend_invite", &[("user_id", &mo)]).await;
    let open: String = admin.call_json("invite_link", &[("user_id", &mo)]).await;
    let token = |link: &str| link.rsplit('/').next().unwrap().to_owned();

    let visitor = app.browser();
    let before = spans.hashes();
    for dead in [token(&first), "0".repeat(64), "not-a-link".to_owned(), "x".repeat(5000)] {
        let res = accept_invitation(&visitor, &dead, "a long enough password").await;
        assert!(
            res.status().is_redirection() || res.status().is_client_error(),
            "{}",
            res.status()
        );
    }
    assert_eq!(spans.hashes(), before, "a dead link had a password hashed");

    // The open link does, once: the count above would have seen it.
    assert_eq!(
        accept_invitation(&visitor, &token(&open), "a long enough password")
            .await
            .status(),
        303
    );
    assert_eq!(spans.hashes(), before + 1);
}

//! Liveness and readiness for load balancers and orchestrators.

use app::ssr::SharedState;
use axum::extract::State;
use axum::http::StatusCode;
use std::time::Duration;

/// A load balancer asks often and must hear back promptly: a database slower than this counts
/// as unavailable.
const READY_WITHIN: Duration = Duration::from_secs(3);

/// The process is up and serving.
pub async fn healthz() -> &'static str {
    "ok"
}

/// The database answers: this server can do real work. The body also names each configured
/// sign-in provider's state: one that cannot be used (discovery failed) is reported but does not
/// make the server unready, since password sign-in and everything else still work.
#[tracing::instrument(skip_all)]
pub async fn readyz(State(state): State<SharedState>) -> (StatusCode, String) {
    let probe = sqlx::query_scalar::<_, i32>("select 1").fetch_one(&state.db);
    match tokio::time::timeout(READY_WITHIN, probe).await {
        Ok(Ok(_)) => {
            let mut body = String::from("ready");
            for provider in state.providers.configured() {
                use identity::auth::oidc::Availability;
                let line = match state.providers.availability(provider).await {
                    Availability::Ready | Availability::NotConfigured => format!("\n{provider}: ready"),
                    Availability::Misconfigured(why) => format!("\n{provider}: unavailable: {why}"),
                };
                body.push_str(&line);
            }
            (StatusCode::OK, body)
        }
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable".into())
        }
        Err(_) => {
            tracing::warn!("readiness check timed out");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable".into())
        }
    }
}

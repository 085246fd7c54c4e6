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

/// The database answers: this server can do real work.
#[tracing::instrument(skip_all)]
pub async fn readyz(State(state): State<SharedState>) -> (StatusCode, &'static str) {
    let probe = sqlx::query_scalar::<_, i32>("select 1").fetch_one(&state.db);
    match tokio::time::timeout(READY_WITHIN, probe).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready"),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
        Err(_) => {
            tracing::warn!("readiness check timed out");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

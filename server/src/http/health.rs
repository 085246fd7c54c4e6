//! Liveness and readiness for load balancers and orchestrators.

use app::ssr::SharedState;
use axum::extract::State;
use axum::http::StatusCode;

/// The process is up and serving.
pub async fn healthz() -> &'static str {
    "ok"
}

/// The database answers: this server can do real work.
pub async fn readyz(State(state): State<SharedState>) -> (StatusCode, &'static str) {
    match sqlx::query_scalar::<_, i32>("select 1").fetch_one(&state.db).await {
        Ok(_) => (StatusCode::OK, "ready"),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

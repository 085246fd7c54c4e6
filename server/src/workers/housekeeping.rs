//! Periodic clean-up any number of servers may run at once (it is idempotent): expired sessions
//! and pending sign-ins, sign-in throttle and rate-limit windows that ended, people SCIM deleted
//! more than 30 days ago, and the SCIM guard's counts older than its hour.

use app::ssr::SharedState;
use std::time::Duration;

const EVERY: Duration = Duration::from_secs(600);

pub async fn run(state: SharedState) {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tick.tick().await;
        match state.sessions.purge_expired().await {
            Ok(n) if n > 0 => tracing::info!(sessions = n, "purged expired sessions"),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = ?err, "session purge failed"),
        }
        if let Err(err) = identity::auth::throttle::purge_expired(&state.db, &state.throttle).await {
            tracing::warn!(error = ?err, "sign-in throttle purge failed");
        }
        if let Err(err) = identity::db::rate_window::purge_ended(&state.db).await {
            tracing::warn!(error = ?err, "rate-limit window purge failed");
        }
        match identity::scim::users::purge_deleted(&state.db).await {
            Ok(n) if n > 0 => tracing::info!(people = n, "purged people SCIM deleted over 30 days ago"),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = ?err, "purging SCIM-deleted people failed"),
        }
        // The guard counts the last hour; older entries only take space.
        if let Err(err) = sqlx::query("delete from scim_deprovisions where at < now() - interval '2 hours'")
            .execute(&state.db)
            .await
        {
            tracing::warn!(error = ?err, "purging the SCIM guard's counts failed");
        }
    }
}

//! The blast-radius guard: a burst of SCIM deprovisionings (deactivations and deletions) that
//! would take more than a tenth of the workspace, or more than 500 people, within an hour is
//! held for an admin's approval instead of applied. The hour's count is kept in the database
//! and taken under the workspace's row lock, so every app server's requests count together.
//!
//! What the SCIM client is told for a held change: **503 Service Unavailable** with
//! `Retry-After: 3600` and a SCIM error saying it is held for approval. Never a success: the
//! change was not made. Entra ID and Okta retry a 5xx on their next cycle; after an admin
//! approves, the retry finds the change made (and succeeds), and after a discard the retry is
//! held again, until the directory stops asking (its admin fixes the assignment) or a Rollcall
//! admin approves. The last active admin is never deprovisioned by SCIM (409).

use super::tokens::Authenticated;
use super::ScimError;
use crate::audit::{self, Actor, Target};
use crate::error::{Error, Result};
use crate::Db;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

/// Most deprovisionings an hour, as a share of the workspace (percent) and in all.
pub const SHARE_PERCENT: i64 = 10;
pub const MOST_PER_HOUR: i64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deprovision {
    Deactivate,
    Delete,
}

impl Deprovision {
    fn as_str(self) -> &'static str {
        match self {
            Deprovision::Deactivate => "deactivate",
            Deprovision::Delete => "delete",
        }
    }
}

pub enum Decision {
    Apply,
    /// Held: the error to answer with (the caller commits the hold, not the change).
    Held(ScimError),
}

/// Whether the burst would exceed the guard, `recent` deprovisionings having been applied in
/// the last hour in a workspace of `workspace` people.
pub fn exceeds(recent: i64, workspace: i64) -> bool {
    let n = recent + 1;
    n * 100 > workspace * SHARE_PERCENT || n > MOST_PER_HOUR
}

/// Admits one deprovisioning, in the caller's transaction.
pub async fn admit(
    conn: &mut PgConnection,
    caller: &Authenticated,
    user_id: Uuid,
    action: Deprovision,
) -> std::result::Result<Decision, ScimError> {
    let guarded: bool = sqlx::query_scalar("select scim_guard from orgs where id = $1 for update")
        .bind(caller.org_id)
        .fetch_one(&mut *conn)
        .await?;
    let (role, status): (String, String) =
        sqlx::query_as("select role, status from users where org_id = $1 and id = $2")
            .bind(caller.org_id)
            .bind(user_id)
            .fetch_one(&mut *conn)
            .await?;
    if role == "admin" && status == "active" {
        let others: i64 = sqlx::query_scalar(
            "select count(*) from users where org_id = $1 and role = 'admin' and status = 'active' and id <> $2",
        )
        .bind(caller.org_id)
        .bind(user_id)
        .fetch_one(&mut *conn)
        .await?;
        if others == 0 {
            return Err(ScimError::new(
                409,
                None,
                "This is the workspace's last active admin: Rollcall does not let provisioning deactivate or delete them. Make another admin first.",
            ));
        }
    }
    if guarded {
        let (recent, workspace): (i64, i64) = sqlx::query_as(
            "select (select count(*) from scim_deprovisions where org_id = $1 and at > now() - interval '1 hour'),
                    -- The workspace from its kept counts (not a count of its people, a scan of
                    -- the whole workspace under its lock at each deprovisioning), less the people
                    -- SCIM created in the last day: they count only after a day, so creating
                    -- dummies cannot widen the allowance for removing real people.
                    (select coalesce(sum(n), 0) from org_user_counts where org_id = $1 and status <> 'deleted')::bigint
                    - (select count(*) from users where org_id = $1 and created_at >= now() - interval '1 day'
                         and scim_created and status <> 'deleted')",
        )
        .bind(caller.org_id)
        .fetch_one(&mut *conn)
        .await?;
        if exceeds(recent, workspace) {
            let held = sqlx::query(
                "insert into scim_holds (org_id, user_id, action, token_id) values ($1, $2, $3, $4)
                 on conflict (org_id, user_id, action) where decided_at is null do nothing",
            )
            .bind(caller.org_id)
            .bind(user_id)
            .bind(action.as_str())
            .bind(caller.token_id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if held > 0 {
                audit::record(
                    conn,
                    &caller.actor(),
                    "scim.deprovision_held",
                    Some(Target { id: user_id, label: "" }),
                    json!({ "action": action.as_str(), "in_the_last_hour": recent, "workspace": workspace }),
                )
                .await?;
            }
            return Ok(Decision::Held(ScimError::new(
                503,
                None,
                format!(
                    "Held for an admin's approval: with this one, provisioning would {} more than {SHARE_PERCENT}% of the workspace (or {MOST_PER_HOUR} people) within an hour. An admin approves or discards it in Rollcall's Provisioning tab; retry after that.",
                    action.as_str()
                ),
            )));
        }
    }
    sqlx::query("insert into scim_deprovisions (org_id, user_id) values ($1, $2)")
        .bind(caller.org_id)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(Decision::Apply)
}

/// A deprovisioning waiting for an admin.
#[derive(Debug, Clone, FromRow)]
pub struct Hold {
    pub id: i64,
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub action: String,
    pub held_at: DateTime<Utc>,
}

pub async fn open_holds(db: &Db, org_id: Uuid) -> Result<Vec<Hold>> {
    Ok(sqlx::query_as(
        "select h.id, h.user_id, u.email, btrim(u.given_name || ' ' || u.family_name) as name, h.action, h.held_at
         from scim_holds h join users u on u.org_id = h.org_id and u.id = h.user_id
         where h.org_id = $1 and h.decided_at is null order by h.held_at limit 2000",
    )
    .bind(org_id)
    .fetch_all(db)
    .await?)
}

/// An admin approves (the held changes are made now) or discards every open hold.
pub async fn decide_all(db: &Db, actor: &Actor, approve: bool) -> Result<i64> {
    let mut tx = db.begin().await?;
    // Under the workspace's lock, as SCIM's deprovisionings and the last-admin rules are.
    sqlx::query("select 1 from orgs where id = $1 for update")
        .bind(actor.org_id)
        .execute(&mut *tx)
        .await?;
    let holds: Vec<(i64, Uuid, String)> = sqlx::query_as(
        "update scim_holds set decided_at = now(), decision = $2, decided_by_label = $3
         where org_id = $1 and decided_at is null returning id, user_id, action",
    )
    .bind(actor.org_id)
    .bind(if approve { "approved" } else { "discarded" })
    .bind(&actor.label)
    .fetch_all(&mut *tx)
    .await?;
    if approve {
        for (_, user_id, action) in &holds {
            // The last active admin stays, whatever was held.
            let last_admin: bool = sqlx::query_scalar(
                "select u.role = 'admin' and u.status = 'active' and not exists (
                     select 1 from users o where o.org_id = u.org_id and o.role = 'admin' and o.status = 'active' and o.id <> u.id)
                 from users u where u.org_id = $1 and u.id = $2",
            )
            .bind(actor.org_id)
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
            if last_admin {
                return Err(Error::conflict(
                    "holds",
                    "One held change would remove the last active admin. Make another admin first.",
                ));
            }
            let sql = if action == "delete" {
                "update users set status = 'deleted', deleted_at = now(), version = version + 1 where org_id = $1 and id = $2"
            } else {
                "update users set status = 'deactivated', version = version + 1 where org_id = $1 and id = $2 and status <> 'deactivated'"
            };
            sqlx::query(sql)
                .bind(actor.org_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            crate::sessions::revoke_all_for_user(&mut tx, actor.org_id, *user_id).await?;
        }
    }
    let n = holds.len() as i64;
    if n > 0 {
        audit::record(
            &mut tx,
            actor,
            if approve {
                "scim.holds_approved"
            } else {
                "scim.holds_discarded"
            },
            None,
            json!({ "count": n }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::exceeds;

    #[test]
    fn more_than_a_tenth_of_the_workspace_or_500_in_an_hour_is_held() {
        assert!(!exceeds(9, 100), "the tenth of 100 passes");
        assert!(exceeds(10, 100), "the eleventh is held");
        assert!(exceeds(0, 5), "one of five is a fifth");
        assert!(!exceeds(499, 100_000));
        assert!(exceeds(500, 100_000), "the 501st is held however large the workspace");
    }
}

//! Creating people, editing their profiles, and the deactivate / reactivate lifecycle with its
//! safety rules: the last active admin can be neither demoted nor deactivated, and deactivation
//! ends every session in the same transaction.

use super::{get_for_update, parse_name, EmailAddress, Role, Source, Status, User, USER_COLUMNS};
use crate::audit::{self, Actor, Target};
use crate::error::{Error, Result};
use crate::secrets::{password, SecretString};
use crate::Db;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: EmailAddress,
    pub given_name: String,
    pub family_name: String,
    pub role: Role,
    pub status: Status,
    pub source: Source,
    /// Plain password to hash; `None` leaves the account without one (invite or SSO later).
    pub password: Option<SecretString>,
}

/// Inserts a user inside the caller's transaction (used by org creation and the CLI as well).
#[tracing::instrument(skip_all, fields(org = %org_id))]
pub async fn insert(
    conn: &mut PgConnection,
    org_id: Uuid,
    new: &NewUser,
    password_hash: Option<String>,
) -> Result<User> {
    let user: User = sqlx::query_as(&format!(
        "insert into users (org_id, id, email, given_name, family_name, role, status, source, password_hash)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning {USER_COLUMNS}"
    ))
    .bind(org_id)
    .bind(Uuid::now_v7())
    .bind(new.email.as_str())
    .bind(parse_name("given_name", &new.given_name)?)
    .bind(parse_name("family_name", &new.family_name)?)
    .bind(new.role)
    .bind(new.status)
    .bind(new.source)
    .bind(password_hash)
    .fetch_one(conn)
    .await?;
    Ok(user)
}

#[tracing::instrument(skip_all, fields(org = %actor.org_id))]
pub async fn create(db: &Db, actor: &Actor, new: NewUser) -> Result<User> {
    parse_name("given_name", &new.given_name)?;
    parse_name("family_name", &new.family_name)?;
    let password_hash = match &new.password {
        Some(p) => Some(password::hash(p.clone()).await?),
        None => None,
    };
    let mut tx = db.begin().await?;
    let user = insert(&mut tx, actor.org_id, &new, password_hash).await?;
    audit::record(
        &mut tx,
        actor,
        "user.created",
        Some(Target {
            id: user.id,
            label: &user.email,
        }),
        json!({ "role": user.role.as_str(), "status": user.status.as_str(), "with_password": user.has_password }),
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

#[derive(Debug, Clone)]
pub struct ProfileChange {
    pub email: EmailAddress,
    pub given_name: String,
    pub family_name: String,
    /// `None` keeps the role (members editing their own profile cannot change it).
    pub role: Option<Role>,
}

/// Serialises every change that could leave an org without an active admin.
async fn lock_org(conn: &mut PgConnection, org_id: Uuid) -> Result<()> {
    sqlx::query("select 1 from orgs where id = $1 for update")
        .bind(org_id)
        .fetch_one(conn)
        .await?;
    Ok(())
}

async fn other_active_admins(conn: &mut PgConnection, org_id: Uuid, user_id: Uuid) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "select count(*) from users where org_id = $1 and id <> $2 and role = 'admin' and status = 'active'",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_one(conn)
    .await?)
}

#[tracing::instrument(skip_all, fields(org = %actor.org_id, %user_id))]
pub async fn update_profile(db: &Db, actor: &Actor, user_id: Uuid, change: ProfileChange) -> Result<User> {
    let given_name = parse_name("given_name", &change.given_name)?;
    let family_name = parse_name("family_name", &change.family_name)?;
    let mut tx = db.begin().await?;
    lock_org(&mut tx, actor.org_id).await?;
    let before = get_for_update(&mut tx, actor.org_id, user_id).await?;
    // A directory provisioning over SCIM owns these; its next sync would undo the edit.
    if before.source == Source::Scim
        && (!before.email.eq_ignore_ascii_case(change.email.as_str())
            || before.given_name != given_name
            || before.family_name != family_name)
    {
        return Err(Error::conflict(
            "email",
            "This person is provisioned by your directory over SCIM: change their name and email there.",
        ));
    }
    let role = change.role.unwrap_or(before.role);
    if before.role == Role::Admin
        && role == Role::Member
        && before.status == Status::Active
        && other_active_admins(&mut tx, actor.org_id, user_id).await? == 0
    {
        return Err(Error::conflict(
            "role",
            "This is the last active admin. Make someone else an admin first, then change this role.",
        ));
    }
    let after: User = sqlx::query_as(&format!(
        "update users set email = $3, given_name = $4, family_name = $5, role = $6, version = version + 1
         where org_id = $1 and id = $2 returning {USER_COLUMNS}"
    ))
    .bind(actor.org_id)
    .bind(user_id)
    .bind(change.email.as_str())
    .bind(&given_name)
    .bind(&family_name)
    .bind(role)
    .fetch_one(&mut *tx)
    .await?;

    let mut changed = serde_json::Map::new();
    let mut note = |field: &str, from: &str, to: &str| {
        if from != to {
            changed.insert(field.to_owned(), json!({ "from": from, "to": to }));
        }
    };
    note("email", &before.email, &after.email);
    note("given_name", &before.given_name, &after.given_name);
    note("family_name", &before.family_name, &after.family_name);
    note("role", before.role.as_str(), after.role.as_str());
    if !changed.is_empty() {
        audit::record(
            &mut tx,
            actor,
            "user.updated",
            Some(Target {
                id: after.id,
                label: &after.email,
            }),
            changed.into(),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(after)
}

/// Deactivation ends every session of the user in the same transaction, so the very next
/// request they make is refused.
#[tracing::instrument(skip_all, fields(org = %actor.org_id, %user_id))]
pub async fn deactivate(db: &Db, actor: &Actor, user_id: Uuid) -> Result<User> {
    if actor.user_id == Some(user_id) {
        return Err(Error::conflict(
            "status",
            "You cannot deactivate yourself. Ask another admin.",
        ));
    }
    let mut tx = db.begin().await?;
    lock_org(&mut tx, actor.org_id).await?;
    let before = get_for_update(&mut tx, actor.org_id, user_id).await?;
    if before.status == Status::Deactivated {
        return Ok(before);
    }
    if before.role == Role::Admin
        && before.status == Status::Active
        && other_active_admins(&mut tx, actor.org_id, user_id).await? == 0
    {
        return Err(Error::conflict(
            "status",
            "This is the last active admin and cannot be deactivated.",
        ));
    }
    let after = set_status(&mut tx, actor.org_id, user_id, Status::Deactivated).await?;
    let ended = crate::sessions::revoke_all_for_user(&mut tx, actor.org_id, user_id).await?;
    // An invitation they still held must not come back to life on reactivation, nor its mail go
    // out meanwhile: reactivated, they are invited afresh.
    let invitations_closed = crate::invites::close_open(
        &mut tx,
        actor.org_id,
        user_id,
        "Not sent: the person was deactivated first.",
    )
    .await?;
    audit::record(
        &mut tx,
        actor,
        "user.deactivated",
        Some(Target {
            id: after.id,
            label: &after.email,
        }),
        json!({
            "sessions_ended": ended,
            "invitations_closed": invitations_closed,
            "previous_status": before.status.as_str(),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Brings a deactivated user back: active if they have ever been able to sign in, otherwise
/// back to imported so they can be invited.
#[tracing::instrument(skip_all, fields(org = %actor.org_id, %user_id))]
pub async fn reactivate(db: &Db, actor: &Actor, user_id: Uuid) -> Result<User> {
    let mut tx = db.begin().await?;
    let before = get_for_update(&mut tx, actor.org_id, user_id).await?;
    if before.status != Status::Deactivated {
        return Ok(before);
    }
    let status = if before.has_password || before.last_login_at.is_some() {
        Status::Active
    } else {
        Status::Imported
    };
    let after = set_status(&mut tx, actor.org_id, user_id, status).await?;
    audit::record(
        &mut tx,
        actor,
        "user.reactivated",
        Some(Target {
            id: after.id,
            label: &after.email,
        }),
        json!({ "status": status.as_str() }),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

async fn set_status(conn: &mut PgConnection, org_id: Uuid, user_id: Uuid, status: Status) -> Result<User> {
    Ok(sqlx::query_as(&format!(
        "update users set status = $3, version = version + 1 where org_id = $1 and id = $2 returning {USER_COLUMNS}"
    ))
    .bind(org_id)
    .bind(user_id)
    .bind(status)
    .fetch_one(conn)
    .await?)
}

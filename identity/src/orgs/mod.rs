//! Organisations (workspaces): creation with their first admin, lookup by slug.

use crate::audit::{self, Actor, Target};
use crate::error::{Error, Result};
use crate::secrets::{password, SecretString};
use crate::users::{self, EmailAddress, NewUser, Role, Source, Status, User};
use crate::Db;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::FromRow;
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct Org {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub invite_ttl_hours: i32,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewOrg {
    pub name: String,
    pub admin_email: EmailAddress,
    pub admin_given_name: String,
    pub admin_family_name: String,
    pub admin_password: SecretString,
}

/// Who may create this organisation; decides the extra checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creation {
    /// The first-run page: allowed only while the server has no organisation at all.
    FirstRun,
    /// The operator (CLI) or open sign-up.
    Additional,
}

pub fn parse_org_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(Error::invalid("org_name", "Enter your organisation's name."));
    }
    if name.chars().count() > 120 {
        return Err(Error::invalid("org_name", "Use at most 120 characters."));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "org_name",
            "The name cannot contain control characters.",
        ));
    }
    Ok(name.to_owned())
}

/// "Acme Corp." -> "acme-corp". Non-ASCII names fall back to "workspace".
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_matches('-').chars().take(40).collect();
    let slug = slug.trim_end_matches('-').to_owned();
    if slug.is_empty() {
        "workspace".to_owned()
    } else {
        slug
    }
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn any_exists(db: &Db) -> Result<bool> {
    Ok(sqlx::query_scalar("select exists (select 1 from orgs)")
        .fetch_one(db)
        .await?)
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn find_by_slug(db: &Db, slug: &str) -> Result<Option<Org>> {
    Ok(
        sqlx::query_as("select id, slug, name, invite_ttl_hours, created_at from orgs where lower(slug) = lower($1)")
            .bind(slug)
            .fetch_optional(db)
            .await?,
    )
}

#[tracing::instrument(level = "debug", skip_all, fields(org = %org_id))]
pub async fn get(db: &Db, org_id: Uuid) -> Result<Org> {
    sqlx::query_as("select id, slug, name, invite_ttl_hours, created_at from orgs where id = $1")
        .bind(org_id)
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound)
}

/// Creates an organisation and its first admin (active, with a password) in one transaction.
#[tracing::instrument(skip_all)]
pub async fn create_with_admin(db: &Db, new: NewOrg, creation: Creation, ip: Option<String>) -> Result<(Org, User)> {
    let name = parse_org_name(&new.name)?;
    users::parse_name("given_name", &new.admin_given_name)?;
    users::parse_name("family_name", &new.admin_family_name)?;
    let password_hash = password::hash(new.admin_password.clone()).await?;
    let base = slugify(&name);

    let mut tx = db.begin().await?;
    // One creation at a time, so "first run" cannot happen twice and slugs are picked calmly.
    sqlx::query("select pg_advisory_xact_lock(7231001)")
        .execute(&mut *tx)
        .await?;
    if creation == Creation::FirstRun
        && sqlx::query_scalar::<_, bool>("select exists (select 1 from orgs)")
            .fetch_one(&mut *tx)
            .await?
    {
        return Err(Error::Forbidden(
            "This server already has a workspace. Sign in instead.".into(),
        ));
    }
    let taken: Vec<String> =
        sqlx::query_scalar("select lower(slug) from orgs where lower(slug) = $1 or lower(slug) like $1 || '-%'")
            .bind(&base)
            .fetch_all(&mut *tx)
            .await?;
    let slug = (1..)
        .map(|n| if n == 1 { base.clone() } else { format!("{base}-{n}") })
        .find(|s| !taken.contains(s))
        .expect("a free slug");

    let org: Org = sqlx::query_as(
        "insert into orgs (id, slug, name) values ($1, $2, $3) returning id, slug, name, invite_ttl_hours, created_at",
    )
    .bind(Uuid::now_v7())
    .bind(&slug)
    .bind(&name)
    .fetch_one(&mut *tx)
    .await?;
    let admin = NewUser {
        email: new.admin_email,
        given_name: new.admin_given_name,
        family_name: new.admin_family_name,
        role: Role::Admin,
        status: Status::Active,
        source: Source::Manual,
        password: None,
    };
    let user = users::insert(&mut tx, org.id, &admin, Some(password_hash)).await?;
    let actor = Actor {
        org_id: org.id,
        user_id: Some(user.id),
        label: user.email.clone(),
        ip,
        request_id: None,
    };
    audit::record(
        &mut tx,
        &actor,
        "org.created",
        Some(Target {
            id: user.id,
            label: &user.email,
        }),
        json!({ "name": org.name, "slug": org.slug }),
    )
    .await?;
    tx.commit().await?;
    Ok((org, user))
}

#[cfg(test)]
mod tests {
    use super::slugify;

    #[test]
    fn slugs_are_lowercase_words_joined_by_hyphens() {
        assert_eq!(slugify("Acme Corp."), "acme-corp");
        assert_eq!(slugify("  Über  Café & Co "), "ber-caf-co");
        assert_eq!(slugify("日本"), "workspace");
    }
}

//! Importing directory people into the workspace, and deactivating those removed upstream.
//!
//! An import works on a selection (upstream ids, or everyone matching the view's filter) of
//! people who are ready to import or changed since import, in one statement: people already
//! imported are matched by upstream id and updated; others are matched by email
//! (case-insensitive) to someone with no account of that directory yet, and linked; the rest
//! are created with status *imported* and source the provider. It is idempotent: a row is
//! written only where something differs, so importing the same people again changes nothing.
//!
//! Nobody is deactivated silently: an admin chooses whom, and a choice that would deactivate
//! more than a tenth of the workspace, or more than 500 people, must be confirmed by typing the
//! count. An automatic sync never deactivates anyone.

use super::view::{filter_sql, states_sql, Filter};
use crate::audit::{self, Actor};
use crate::error::{Error, Result};
use crate::providers::Provider;
use crate::Db;
use serde_json::json;

/// Whom an action applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// These upstream ids (checked boxes), at most [`MAX_SELECTED`].
    Ids(Vec<String>),
    /// Everyone the view's filter matches, across pages.
    Matching(Filter),
}

/// Most upstream ids one request may name; beyond that, select everyone matching.
pub const MAX_SELECTED: usize = 5_000;

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Imported {
    /// New people, status imported.
    pub created: u64,
    /// Existing people (matched by email) now linked to their directory account.
    pub linked: u64,
    /// Imported people whose name or email the directory changed.
    pub updated: u64,
    /// Selected but not importable (skipped, removed, already imported and unchanged, an email
    /// another selected person has too).
    pub unchanged: u64,
}

impl Imported {
    pub fn summary(&self) -> String {
        let mut parts = vec![format!("{} imported", self.created)];
        if self.linked > 0 {
            parts.push(format!("{} linked to existing people", self.linked));
        }
        if self.updated > 0 {
            parts.push(format!("{} updated", self.updated));
        }
        if self.unchanged > 0 {
            parts.push(format!("{} left as they were", self.unchanged));
        }
        parts.join(", ")
    }
}

/// The selection's clause over `states_sql`'s rows (`s`), its placeholders numbered from
/// `$first`, and its values (the upstream ids come first when there are some).
fn selection_sql(selection: &Selection, first: usize) -> Result<(String, Vec<String>, Option<Vec<String>>)> {
    match selection {
        Selection::Ids(ids) => {
            if ids.is_empty() {
                return Err(Error::Invalid {
                    field: "selection",
                    message: "Select at least one person.".into(),
                });
            }
            if ids.len() > MAX_SELECTED {
                return Err(Error::Invalid {
                    field: "selection",
                    message: format!(
                        "Select at most {MAX_SELECTED} people at once, or choose \"select all matching\"."
                    ),
                });
            }
            Ok((format!("s.upstream_id = any(${first})"), vec![], Some(ids.clone())))
        }
        Selection::Matching(filter) => {
            let (clauses, binds) = filter_sql(filter, first);
            Ok((clauses, binds, None))
        }
    }
}

/// Imports the selected people (those ready or changed; the rest are left alone).
#[tracing::instrument(skip_all, fields(org = %actor.org_id, provider = %provider))]
pub async fn import(db: &Db, actor: &Actor, provider: Provider, selection: &Selection) -> Result<Imported> {
    let key = provider.as_str();
    let (clause, binds, ids) = selection_sql(selection, 3)?;
    let states = states_sql(provider);
    // One statement: pick, match, update, link, create. `on conflict do nothing` leaves out a
    // second person with an email the first already took (counted as unchanged).
    let sql = format!(
        "with s as materialized ({states}),
         picked as (
             -- One person per email: a second directory person with the same address stays
             -- as it is (counted unchanged) rather than racing the first for it.
             select distinct on (lower(s.email))
                    s.upstream_id, btrim(s.email) as email, left(s.given_name, 100) as given_name,
                    left(s.family_name, 100) as family_name, s.user_id, s.match_id, s.state
             from s where ({clause}) and s.state in ('ready', 'changed')
               and s.email ~ '^[^@[:space:]]+@[^@[:space:]]+[.][^@[:space:]]+$'
             order by lower(s.email), s.upstream_id
         ),
         updated as (
             update users u set
                 given_name = p.given_name, family_name = p.family_name,
                 -- The directory moves the address only of people it created, never an admin's,
                 -- and never onto an address someone else has.
                 email = case when u.source <> '{key}' or u.role <> 'member'
                                   or exists (select 1 from users o where o.org_id = u.org_id and o.id <> u.id
                                              and lower(o.email) = lower(p.email)) then u.email else p.email end,
                 version = u.version + 1
             from picked p
             where p.state = 'changed' and u.org_id = $1 and u.id = p.user_id
               and length(p.email) between 3 and 254
             returning u.id
         ),
         linked as (
             update users u set
                 external_ids = u.external_ids || jsonb_build_object('{key}', p.upstream_id),
                 given_name = case when u.given_name = '' then p.given_name else u.given_name end,
                 family_name = case when u.family_name = '' then p.family_name else u.family_name end,
                 version = u.version + 1
             from picked p
             where p.state = 'ready' and p.match_id is not null and u.org_id = $1 and u.id = p.match_id
               and not (u.external_ids ? '{key}') and u.role = 'member'
             returning u.id
         ),
         created as (
             insert into users (org_id, id, email, given_name, family_name, role, status, source, external_ids)
             select $1, gen_random_uuid(), p.email, p.given_name, p.family_name, 'member', 'imported', '{key}',
                    jsonb_build_object('{key}', p.upstream_id)
             from picked p
             where p.state = 'ready' and p.match_id is null and length(p.email) between 3 and 254
             on conflict do nothing
             returning id
         )
         select (select count(*) from picked), (select count(*) from created), (select count(*) from linked),
                (select count(*) from updated)"
    );
    let mut tx = db.begin().await?;
    let mut query = sqlx::query_as::<_, (i64, i64, i64, i64)>(&sql)
        .bind(actor.org_id)
        .bind(provider.as_str());
    if let Some(ids) = &ids {
        query = query.bind(ids);
    }
    for b in &binds {
        query = query.bind(b);
    }
    let (picked, created, linked, updated) = query.fetch_one(&mut *tx).await?;
    // Selected but not ready or changed (or a duplicate address) count as unchanged too.
    let selected: i64 = match &ids {
        Some(ids) => ids.len() as i64,
        None => picked,
    };
    let picked = selected.max(picked);
    let result = Imported {
        created: created as u64,
        linked: linked as u64,
        updated: updated as u64,
        unchanged: (picked - created - linked - updated).max(0) as u64,
    };
    if created + linked + updated > 0 {
        audit::record(
            &mut tx,
            actor,
            "directory.imported",
            None,
            json!({
                "provider": key,
                "created": result.created,
                "linked": result.linked,
                "updated": result.updated,
                "unchanged": result.unchanged,
            }),
        )
        .await?;
    }
    tx.commit().await?;
    // After a bulk load the planner's row counts are stale (a workspace of 5 people now has
    // 100,005), and the view's joins would run as nested loops: 16.6 s for an unchanged
    // re-import of 10,000 in bench/import, against well under a second once analysed.
    // Best effort: a role that may not analyse leaves it to autovacuum.
    if created + linked > 1_000 {
        if let Err(err) = sqlx::query("analyze users").execute(db).await {
            tracing::info!(error = %err, "could not analyse users after an import");
        }
    }
    Ok(result)
}

/// The most people one deactivation may take without the count typed in: a tenth of the
/// workspace, and never more than 500.
pub fn confirmation_needed(deactivating: i64, workspace: i64) -> bool {
    deactivating > 500 || deactivating * 10 > workspace
}

/// What a deactivation of people removed upstream would do, or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deactivation {
    /// Too many for a click: `count` must be typed in to confirm.
    NeedsConfirmation {
        count: i64,
        workspace: i64,
    },
    Done {
        deactivated: i64,
        sessions_ended: i64,
    },
}

/// Deactivates the selected people removed or suspended upstream (never an admin who is the
/// last active one, never the admin acting), ending their sessions and closing their open
/// invitations in the same transaction. `confirmed`: the count the admin typed, required when
/// [`confirmation_needed`].
#[tracing::instrument(skip_all, fields(org = %actor.org_id, provider = %provider))]
pub async fn deactivate_removed(
    db: &Db,
    actor: &Actor,
    provider: Provider,
    selection: &Selection,
    confirmed: Option<i64>,
) -> Result<Deactivation> {
    let (clause, binds, ids) = selection_sql(selection, 4)?;
    let states = states_sql(provider);
    let mut tx = db.begin().await?;
    // The workspace's row is locked so two deactivations (or this and a last-admin check) queue.
    sqlx::query("select 1 from orgs where id = $1 for update")
        .bind(actor.org_id)
        .execute(&mut *tx)
        .await?;
    let sql = format!(
        "with s as materialized ({states})
         select s.user_id from s join users u on u.org_id = $1 and u.id = s.user_id
         where s.state = 'removed' and u.status <> 'deactivated' and u.id is distinct from $3::uuid and ({clause})"
    );
    let mut query = sqlx::query_scalar::<_, uuid::Uuid>(&sql)
        .bind(actor.org_id)
        .bind(provider.as_str())
        .bind(actor.user_id);
    if let Some(ids) = &ids {
        query = query.bind(ids);
    }
    for b in &binds {
        query = query.bind(b);
    }
    let users: Vec<uuid::Uuid> = query.fetch_all(&mut *tx).await?;
    let count = users.len() as i64;
    let workspace: i64 = sqlx::query_scalar("select count(*) from users where org_id = $1 and status <> 'deleted'")
        .bind(actor.org_id)
        .fetch_one(&mut *tx)
        .await?;
    if confirmation_needed(count, workspace) && confirmed != Some(count) {
        return Ok(Deactivation::NeedsConfirmation { count, workspace });
    }
    // The last active admin stays, whatever the directory says.
    let admins_left: i64 = sqlx::query_scalar(
        "select count(*) from users where org_id = $1 and role = 'admin' and status = 'active' and not (id = any($2))",
    )
    .bind(actor.org_id)
    .bind(&users)
    .fetch_one(&mut *tx)
    .await?;
    if admins_left == 0 {
        return Err(Error::conflict(
            "selection",
            "That would deactivate every active admin. Leave at least one admin out of the selection.",
        ));
    }
    let deactivated = sqlx::query(
        "update users set status = 'deactivated', version = version + 1
         where org_id = $1 and id = any($2) and status <> 'deactivated'",
    )
    .bind(actor.org_id)
    .bind(&users)
    .execute(&mut *tx)
    .await?
    .rows_affected() as i64;
    let sessions_ended = sqlx::query("delete from sessions where org_id = $1 and user_id = any($2)")
        .bind(actor.org_id)
        .bind(&users)
        .execute(&mut *tx)
        .await?
        .rows_affected() as i64;
    for user_id in &users {
        crate::invites::close_open(
            &mut tx,
            actor.org_id,
            *user_id,
            "Not sent: the person was deactivated first.",
        )
        .await?;
    }
    if deactivated > 0 {
        audit::record(
            &mut tx,
            actor,
            "directory.deactivated",
            None,
            json!({
                "provider": provider.as_str(),
                "deactivated": deactivated,
                "sessions_ended": sessions_ended,
                "confirmed_by_typing": confirmation_needed(count, workspace),
            }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Deactivation::Done {
        deactivated,
        sessions_ended,
    })
}

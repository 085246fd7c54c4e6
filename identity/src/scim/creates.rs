//! Creates of someone new, combined (see `combine`): only the usual case, someone with neither
//! the email nor a deleted person's userName in the workspace, and no unique value taken.
//! Anyone else is not written here, and goes through `users::create`'s transaction, which
//! takes over or says what conflicts.

use super::combine::{Combined, Combiner};
use super::users::Row;
use crate::Db;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use uuid::Uuid;

/// Someone new, as `users::create` read them.
pub(super) struct NewPerson {
    pub org_id: Uuid,
    pub id: Uuid,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub status: &'static str,
    pub user_name: String,
    pub scim: Value,
    pub external_id: Option<String>,
    pub actor_label: String,
    pub details: Value,
}

/// The writers of new people; cheap to clone.
#[derive(Clone)]
pub struct Creates(Combiner<NewPerson>);

impl Creates {
    /// Starts the writers on `db`.
    pub fn start(db: Db) -> Creates {
        Creates(Combiner::start(db))
    }

    /// Writes `person` with the next statement: their row, or `None` when they were not
    /// written here.
    pub(super) async fn insert(&self, person: NewPerson) -> Option<Row> {
        self.0.write(person).await
    }
}

impl Combined for NewPerson {
    fn person(&self) -> Uuid {
        self.id
    }

    fn write_all<'a>(
        db: &'a Db,
        all: &'a [Self],
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Row>, sqlx::Error>> + Send + 'a>> {
        Box::pin(insert_all(db, all))
    }
}

/// One statement: everyone who is new and takes no unique value (`on conflict do nothing`
/// skips anyone who would, including a second person of the same statement with the same
/// email or userName), each with their audit entry.
async fn insert_all(db: &Db, all: &[NewPerson]) -> Result<Vec<Row>, sqlx::Error> {
    let people = all.iter();
    let mut tx = db.begin().await?;
    // The rows' workspaces are key-share locked (their foreign keys), which waits behind an
    // admin's long transaction on one workspace (a batch of invitations): rather than hold up
    // everyone written with it, give up soon, and let each be written alone.
    sqlx::query("set local lock_timeout = '200ms'")
        .execute(&mut *tx)
        .await?;
    let rows = sqlx::query_as::<_, Row>(
        "with input as (
             select * from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                                  $8::jsonb[], $9::text[], $10::text[], $11::jsonb[])
                 as t(org_id, id, email, given_name, family_name, status, user_name, scim, external_id, actor_label, details)
         ), ins as (
             insert into users (org_id, id, email, given_name, family_name, role, status, source, user_name, scim, scim_created, external_ids)
             select org_id, id, email, given_name, family_name, 'member', status, 'scim', user_name, scim, true,
                    case when external_id is null then '{}'::jsonb else jsonb_build_object('scim', external_id) end
             from input i
             where not exists (select 1 from users u where u.org_id = i.org_id and lower(u.email) = lower(i.email))
               and not exists (select 1 from users u where u.org_id = i.org_id and lower(u.user_name) = lower(i.user_name)
                               and u.user_name is not null and u.deleted_at is not null)
             on conflict do nothing
             returning *
         ), audited as (
             insert into audit_events (org_id, actor_id, actor_label, action, target_id, target_label, details)
             select ins.org_id, null, i.actor_label, 'scim.user_created', ins.id, ins.email, i.details
             from ins join input i on i.id = ins.id
         )
         select id, user_name, email, given_name, family_name, status, external_ids ->> 'scim' as external_id, scim,
                created_at, updated_at, version, '[]'::jsonb as groups
         from ins",
    )
    .bind(people.clone().map(|p| p.org_id).collect::<Vec<_>>())
    .bind(people.clone().map(|p| p.id).collect::<Vec<_>>())
    .bind(people.clone().map(|p| p.email.as_str()).collect::<Vec<_>>())
    .bind(people.clone().map(|p| p.given_name.as_str()).collect::<Vec<_>>())
    .bind(people.clone().map(|p| p.family_name.as_str()).collect::<Vec<_>>())
    .bind(people.clone().map(|p| p.status).collect::<Vec<_>>())
    .bind(people.clone().map(|p| p.user_name.as_str()).collect::<Vec<_>>())
    .bind(people.clone().map(|p| &p.scim).collect::<Vec<_>>())
    .bind(people.clone().map(|p| p.external_id.as_deref()).collect::<Vec<_>>())
    .bind(people.clone().map(|p| p.actor_label.as_str()).collect::<Vec<_>>())
    .bind(people.map(|p| &p.details).collect::<Vec<_>>())
    // Planned at every run, for the table as it is then: a plan cached while a first sync
    // filled a new table scanned all of it for each person's email (it was the cheapest way
    // when the table was small), and creates slowed as it grew, until autovacuum's first
    // analyse (bench/scim, creates on a fresh database: 783/s cached, 3,274–3,945/s planned each
    // time). Planning is shared by everyone in the statement.
    .persistent(false)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows)
}

//! SCIM Users, stored as Rollcall people: `userName` (unique per workspace, case-insensitive),
//! the email, names, `active` (status) and `externalId` in their columns, everything else in the
//! person's SCIM document. Every write is one transaction with its audit entry, attributed to
//! the token; deactivation and deletion end the person's sessions in the same transaction, and
//! pass the blast-radius guard (`guard`) first. A malformed request changes nothing.

pub use super::creates::Creates;
use super::creates::NewPerson;
use super::document;
use super::filter::ENTERPRISE;
use super::guard::{self, Deprovision};
use super::sql::{self, Bind, Resource};
use super::tokens::Authenticated;
use super::{Page, ScimError};
use crate::audit::{self, Actor, Target};
use crate::users::EmailAddress;
use crate::Db;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::{FromRow, PgConnection, Postgres};
use uuid::Uuid;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// The most resources one list returns (`filter.maxResults`).
pub const MAX_RESULTS: i64 = 1000;

#[derive(Debug, FromRow)]
pub struct Row {
    pub id: Uuid,
    pub user_name: Option<String>,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub status: String,
    pub external_id: Option<String>,
    pub scim: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    pub groups: Value,
}

const COLUMNS: &str = "u.id, u.user_name, u.email, u.given_name, u.family_name, u.status, \
     u.external_ids ->> 'scim' as external_id, u.scim, u.created_at, u.updated_at, u.version, \
     coalesce((select jsonb_agg(jsonb_build_object('value', g.id::text, 'display', g.display_name) order by g.display_name)
               from group_members m join groups g on g.org_id = m.org_id and g.id = m.group_id
               where m.org_id = u.org_id and m.user_id = u.id), '[]'::jsonb) as groups";

/// The weak ETag of a version.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// The resource as SCIM shows it.
pub fn render(row: &Row, base: &str) -> Value {
    let mut doc = match &row.scim {
        Some(Value::Object(o)) => o.clone(),
        _ => Map::new(),
    };
    let mut schemas = vec![Value::String(USER_SCHEMA.into())];
    if doc.contains_key(ENTERPRISE) {
        schemas.push(Value::String(ENTERPRISE.into()));
    }
    doc.insert("schemas".into(), Value::Array(schemas));
    doc.insert("id".into(), Value::String(row.id.to_string()));
    if let Some(user_name) = &row.user_name {
        doc.insert("userName".into(), Value::String(user_name.clone()));
    }
    match &row.external_id {
        Some(e) => doc.insert("externalId".into(), Value::String(e.clone())),
        None => doc.remove("externalId"),
    };
    doc.insert("active".into(), Value::Bool(row.status != "deactivated"));
    if !doc.contains_key("name") {
        doc.insert(
            "name".into(),
            json!({ "givenName": row.given_name, "familyName": row.family_name }),
        );
    }
    if !doc.contains_key("emails") {
        doc.insert(
            "emails".into(),
            json!([{ "value": row.email, "type": "work", "primary": true }]),
        );
    }
    if row.groups.as_array().is_some_and(|g| !g.is_empty()) {
        doc.insert("groups".into(), row.groups.clone());
    }
    doc.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": row.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "lastModified": row.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "location": format!("{base}/Users/{}", row.id),
            "version": etag(row.version),
        }),
    );
    Value::Object(doc)
}

/// What Rollcall keeps in columns, from a document.
struct Columns {
    user_name: String,
    email: String,
    given_name: String,
    family_name: String,
    active: bool,
    external_id: Option<String>,
}

fn columns(doc: &Map<String, Value>) -> Result<Columns, ScimError> {
    document::check_limits(doc)?;
    let user_name = doc
        .get("userName")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ScimError::invalid_value("userName is required."))?
        .to_owned();
    if user_name.chars().count() > 256 {
        return Err(ScimError::invalid_value("userName is longer than 256 characters."));
    }
    let emails = doc.get("emails").and_then(Value::as_array).cloned().unwrap_or_default();
    let pick = |pred: &dyn Fn(&Value) -> bool| {
        emails
            .iter()
            .find(|e| pred(e))
            .and_then(|e| e.get("value"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let email = pick(&|e| e.get("primary") == Some(&Value::Bool(true)))
        .or_else(|| {
            pick(&|e| {
                e.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case("work"))
            })
        })
        .or_else(|| pick(&|_| true))
        .or_else(|| user_name.contains('@').then(|| user_name.clone()))
        .ok_or_else(|| {
            ScimError::invalid_value(
                "Rollcall needs an email address: send emails (type work), or a userName that is an address.",
            )
        })?;
    let email = EmailAddress::parse(&email)
        .map_err(|e| ScimError::invalid_value(format!("The email address \"{email}\" cannot be used: {e}")))?;
    let name = doc.get("name");
    let part = |key: &str| {
        name.and_then(|n| n.get(key))
            .and_then(Value::as_str)
            .unwrap_or("")
            .chars()
            .take(100)
            .collect::<String>()
    };
    let external_id = match doc.get("externalId") {
        Some(Value::String(s)) if s.chars().count() > 256 => {
            return Err(ScimError::invalid_value("externalId is longer than 256 characters."))
        }
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    Ok(Columns {
        user_name,
        email: email.as_str().to_owned(),
        given_name: part("givenName"),
        family_name: part("familyName"),
        active: doc.get("active").and_then(Value::as_bool).unwrap_or(true),
        external_id,
    })
}

/// The document as stored: without what lives in columns or is the server's.
fn stored(doc: &Map<String, Value>) -> Value {
    let mut doc = doc.clone();
    for key in [
        "userName",
        "externalId",
        "active",
        "id",
        "meta",
        "schemas",
        "groups",
        "password",
    ] {
        doc.remove(key);
    }
    Value::Object(doc)
}

/// Binds a compiled filter's values.
pub(crate) fn bind_all<'q, O>(
    mut q: QueryAs<'q, Postgres, O, PgArguments>,
    binds: &'q [Bind],
) -> QueryAs<'q, Postgres, O, PgArguments> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s),
            Bind::Uuid(u) => q.bind(u),
            Bind::Time(t) => q.bind(t),
        };
    }
    q
}

async fn load(conn: &mut PgConnection, org_id: Uuid, id: &str, lock: bool) -> Result<Row, ScimError> {
    let Ok(id) = Uuid::parse_str(id) else {
        return Err(ScimError::not_found());
    };
    let sql = format!(
        "select {COLUMNS} from users u where u.org_id = $1 and u.id = $2 and u.user_name is not null and u.deleted_at is null{}",
        if lock { " for update of u" } else { "" }
    );
    sqlx::query_as(&sql)
        .bind(org_id)
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(ScimError::not_found)
}

/// The person as `load` reads them, and whether a deactivation could skip the guard as they
/// were read (see `deprovision_at_once`, whose statement decides): so a workspace with the
/// guard on (the default) does not try that path first.
async fn load_for_write(conn: &mut PgConnection, org_id: Uuid, id: &str) -> Result<(Row, bool), ScimError> {
    let Ok(id) = Uuid::parse_str(id) else {
        return Err(ScimError::not_found());
    };
    #[derive(FromRow)]
    struct ForWrite {
        #[sqlx(flatten)]
        row: Row,
        unguarded: bool,
    }
    let found: Option<ForWrite> = sqlx::query_as(&format!(
        "select {COLUMNS}, (u.role <> 'admin' and u.invite_sent_at is null and not o.scim_guard) as unguarded
         from users u join orgs o on o.id = u.org_id
         where u.org_id = $1 and u.id = $2 and u.user_name is not null and u.deleted_at is null"
    ))
    .bind(org_id)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    found.map(|f| (f.row, f.unguarded)).ok_or_else(ScimError::not_found)
}

pub async fn get(db: &Db, org_id: Uuid, id: &str) -> Result<Row, ScimError> {
    let mut conn = db.acquire().await?;
    load(&mut conn, org_id, id, false).await
}

/// Lists users matching `filter`, 1-based `start_index`, at most `count`.
pub async fn list(
    db: &Db,
    org_id: Uuid,
    filter: Option<&str>,
    start_index: i64,
    count: i64,
    sort_by: Option<&str>,
    descending: bool,
) -> Result<Page<Row>, ScimError> {
    let condition = sql::condition(Resource::User, filter, 2)?;
    let order = sql::order_by(Resource::User, sort_by, descending)?;
    let start_index = start_index.max(1);
    let count = count.clamp(0, MAX_RESULTS);
    let scope = "u.org_id = $1 and u.user_name is not null and u.deleted_at is null";
    let mut conn = db.acquire().await?;
    if count > 0 {
        // The matches first, then their order: with `order by id limit` over the filter, the
        // planner may walk the primary key through every person (2.3 s at 1,000,000 people for
        // a `userName eq` lookup in bench/scim) instead of using the filter's index.
        let sql = format!(
            "with matched as materialized (select u.* from users u where {scope} and ({}))
             select {COLUMNS}, count(*) over () as total from matched u order by {order} limit {count} offset {}",
            condition.sql,
            start_index - 1
        );
        #[derive(FromRow)]
        struct WithTotal {
            #[sqlx(flatten)]
            row: Row,
            total: i64,
        }
        let q = bind_all(sqlx::query_as::<_, WithTotal>(&sql).bind(org_id), &condition.binds);
        let rows = q.fetch_all(&mut *conn).await?;
        if let Some(first) = rows.first() {
            let total = first.total;
            return Ok(Page {
                total,
                start_index,
                rows: rows.into_iter().map(|r| r.row).collect(),
            });
        }
        if start_index == 1 {
            return Ok(Page {
                total: 0,
                start_index,
                rows: vec![],
            });
        }
    }
    let sql = format!("select count(*) from users u where {scope} and ({})", condition.sql);
    let total: (i64,) = bind_all(sqlx::query_as(&sql).bind(org_id), &condition.binds)
        .fetch_one(&mut *conn)
        .await?;
    Ok(Page {
        total: total.0,
        start_index,
        rows: vec![],
    })
}

fn unique_violation(err: &sqlx::Error) -> Option<&str> {
    match err {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => db.constraint(),
        _ => None,
    }
}

fn conflict(constraint: Option<&str>, c: &Columns) -> ScimError {
    match constraint {
        Some("users_user_name") => ScimError::uniqueness(format!("userName \"{}\" is already in use.", c.user_name)),
        Some("users_scim_external_id") => ScimError::uniqueness(format!(
            "externalId \"{}\" is already another person's.",
            c.external_id.as_deref().unwrap_or("")
        )),
        Some("users_email_per_org") => ScimError::uniqueness(format!(
            "The email {} belongs to someone already provisioned under another userName.",
            c.email
        )),
        _ => ScimError::uniqueness("A unique value is already in use."),
    }
}

/// Someone already in the workspace a create may take over: id, userName, when SCIM deleted
/// them, role.
type Existing = (Uuid, Option<String>, Option<DateTime<Utc>>, String);

/// Creates a user (201), or takes over the person already in the workspace with that email
/// who is not provisioned yet (someone added by hand, invited or imported), or brings back one
/// deleted by SCIM within 30 days: linked, never duplicated.
pub async fn create(db: &Db, creates: &Creates, caller: &Authenticated, body: &Value) -> Result<Row, ScimError> {
    let doc = document::read_user(body)?;
    let c = columns(&doc)?;
    let status = if c.active { "active" } else { "deactivated" };
    // Someone new (the usual case in a sync) is written with whoever else is being created at
    // the moment, in one statement (`creates`). Anyone else comes back `None`, and the
    // transaction below takes over or says what conflicts.
    let new = NewPerson {
        org_id: caller.org_id,
        id: Uuid::now_v7(),
        email: c.email.clone(),
        given_name: c.given_name.clone(),
        family_name: c.family_name.clone(),
        status,
        user_name: c.user_name.clone(),
        scim: stored(&doc),
        external_id: c.external_id.clone(),
        actor_label: caller.actor().label,
        details: json!({ "userName": c.user_name, "active": c.active }),
    };
    if let Some(row) = creates.insert(new).await {
        return Ok(row);
    }
    let mut tx = db.begin().await?;
    // Someone with that email, or else someone SCIM deleted under that userName (brought back).
    // Two equality lookups, each on its unique index whatever the table's statistics say (an
    // `or` of the two planned as a scan of the workspace while a first sync fills a new table).
    let by_email: Option<Existing> = sqlx::query_as(
        "select id, user_name, deleted_at, role from users where org_id = $1 and lower(email) = lower($2) for update",
    )
    .bind(caller.org_id)
    .bind(&c.email)
    .fetch_optional(&mut *tx)
    .await?;
    let existing = match by_email {
        Some(found) => Some(found),
        None => {
            sqlx::query_as(
                "select id, user_name, deleted_at, role from users
                 where org_id = $1 and lower(user_name) = lower($2) and user_name is not null and deleted_at is not null
                 for update",
            )
            .bind(caller.org_id)
            .bind(&c.user_name)
            .fetch_optional(&mut *tx)
            .await?
        }
    };
    // The audit entry is written before the person: the insert's statement trigger locks the
    // workspace's count row until commit, so the less that follows it, the less creates queue.
    let new_id = existing.as_ref().map_or_else(Uuid::now_v7, |e| e.0);
    audit::record(
        &mut tx,
        &caller.actor(),
        "scim.user_created",
        Some(Target {
            id: new_id,
            label: &c.email,
        }),
        json!({ "userName": c.user_name, "active": c.active }),
    )
    .await?;
    let id = match existing {
        Some((_, Some(_), None, _)) => return Err(conflict(Some("users_email_per_org"), &c)),
        // An admin is never taken over by provisioning: a token must not be a way to change, or
        // bring back, an admin.
        Some((_, _, _, role)) if role == "admin" => {
            return Err(ScimError::uniqueness(format!(
                "{} belongs to a workspace admin, whom provisioning does not manage. Give the directory's user another address, or unassign them.",
                c.email
            )))
        }
        Some((id, _, _, _)) => {
            let updated = sqlx::query(
                "update users set user_name = $3, given_name = $4, family_name = $5, scim = $6, source = 'scim', email = $9,
                        external_ids = case when $7::text is null then external_ids - 'scim'
                                            else external_ids || jsonb_build_object('scim', $7::text) end,
                        status = case when deleted_at is not null or status = 'deactivated' then $8 else status end,
                        deleted_at = null, version = version + 1
                 where org_id = $1 and id = $2",
            )
            .bind(caller.org_id)
            .bind(id)
            .bind(&c.user_name)
            .bind(&c.given_name)
            .bind(&c.family_name)
            .bind(stored(&doc))
            .bind(&c.external_id)
            .bind(status)
            .bind(&c.email)
            .execute(&mut *tx)
            .await;
            if let Err(err) = updated {
                return Err(match unique_violation(&err) {
                    Some(constraint) => conflict(Some(constraint), &c),
                    None => err.into(),
                });
            }
            id
        }
        None => {
            let id = new_id;
            let inserted = sqlx::query(
                "insert into users (org_id, id, email, given_name, family_name, role, status, source, user_name, scim, scim_created, external_ids)
                 values ($1, $2, $3, $4, $5, 'member', $6, 'scim', $7, $8, true,
                         case when $9::text is null then '{}'::jsonb else jsonb_build_object('scim', $9::text) end)",
            )
            .bind(caller.org_id)
            .bind(id)
            .bind(&c.email)
            .bind(&c.given_name)
            .bind(&c.family_name)
            .bind(status)
            .bind(&c.user_name)
            .bind(stored(&doc))
            .bind(&c.external_id)
            .execute(&mut *tx)
            .await;
            if let Err(err) = inserted {
                return Err(match unique_violation(&err) {
                    Some(constraint) => conflict(Some(constraint), &c),
                    None => err.into(),
                });
            }
            id
        }
    };
    let row = load(&mut tx, caller.org_id, &id.to_string(), false).await?;
    tx.commit().await?;
    Ok(row)
}

/// What a write does to the person's status.
fn transition(before: &str, active: bool) -> Option<&'static str> {
    match (before, active) {
        ("deactivated", true) => Some("active"),
        ("deactivated", false) => None,
        (_, false) => Some("deactivated"),
        (_, true) => None,
    }
}

/// Replaces (PUT) or patches a user. `if_match`: the ETag the client holds, if any.
///
/// Read, change, then write only if the person is still as read (their version): a PATCH
/// applies to what is there, so when someone else wrote in between it is read and applied
/// again (a few times, then 409). Most writes are one statement with their audit entry
/// (measured in bench/scim's Entra mix: a PATCH was about ten round trips in a transaction).
/// A deprovisioning passes the blast-radius guard first, in a transaction under the
/// workspace's lock, unless nothing could hold it (the guard off, not an admin; see
/// `deprovision_at_once`).
pub async fn update(
    db: &Db,
    caller: &Authenticated,
    id: &str,
    change: Change<'_>,
    if_match: Option<&str>,
) -> Result<Row, ScimError> {
    // One connection for the read and the write: a second checkout from the pool would cost
    // the pool's ping on its return, and a wait for a connection (bench/scim's mix: 7% more
    // requests a second).
    let mut conn = db.acquire().await?;
    for _ in 0..3 {
        let (before, unguarded) = load_for_write(&mut conn, caller.org_id, id).await?;
        check_version(if_match, before.version)?;
        let doc = changed(&before, &change)?;
        let write = Write::new(caller, &before, &doc)?;
        let written = match write.status {
            Some("deactivated") => {
                let at_once = if unguarded {
                    deprovision_at_once(&mut conn, &write).await?
                } else {
                    None
                };
                match at_once {
                    Some(row) => Some(row),
                    None => deprovision_guarded(&mut conn, &write).await?,
                }
            }
            _ => write.run(&mut *conn, "", "").await?,
        };
        if let Some(row) = written {
            return Ok(row);
        }
        // Changed or deleted since it was read: read it again.
    }
    Err(ScimError::new(
        409,
        None,
        "The person kept changing while this request ran; retry.",
    ))
}

/// The document after the change.
fn changed(before: &Row, change: &Change<'_>) -> Result<Map<String, Value>, ScimError> {
    match change {
        // userName may change; id never does.
        Change::Replace(body) => document::read_user(body),
        Change::Patch(body) => {
            let current = match render(before, "") {
                Value::Object(o) => o,
                _ => Map::new(),
            };
            let mut current = document::read_user(&Value::Object(current))?;
            document::apply(&mut current, &document::read_patch(body)?)?;
            Ok(current)
        }
    }
}

/// One person's new columns and document, as read at `before.version`.
struct Write<'a> {
    caller: &'a Authenticated,
    before: &'a Row,
    c: Columns,
    stored: Value,
    status: Option<&'static str>,
}

impl<'a> Write<'a> {
    fn new(caller: &'a Authenticated, before: &'a Row, doc: &Map<String, Value>) -> Result<Self, ScimError> {
        let c = columns(doc)?;
        Ok(Write {
            caller,
            before,
            status: transition(&before.status, c.active),
            stored: stored(doc),
            c,
        })
    }

    fn action(&self) -> &'static str {
        match self.status {
            Some("deactivated") => "scim.user_deactivated",
            Some("active") => "scim.user_reactivated",
            _ => "scim.user_updated",
        }
    }

    /// The write and its audit entry, in one statement, if the person is still at the version
    /// read and `condition` holds; `more` adds statements on the written row (`upd`), and may
    /// name `ended` (sessions ended) for the audit entry. `None` when nothing was written.
    async fn run<'e, E>(&self, conn: E, condition: &str, more: &str) -> Result<Option<Row>, ScimError>
    where
        E: sqlx::Executor<'e, Database = Postgres>,
    {
        let ended = if more.contains("ended as") {
            "(select count(*) from ended)"
        } else {
            "0"
        };
        let sql = format!(
            "with upd as (
                 update users set user_name = $3, email = $4, given_name = $5, family_name = $6, scim = $7,
                        external_ids = case when $8::text is null then external_ids - 'scim'
                                            else external_ids || jsonb_build_object('scim', $8::text) end,
                        status = coalesce($9, status), version = version + 1
                 where org_id = $1 and id = $2 and version = $10 and deleted_at is null{condition}
                 returning *
             ){more}, audited as (
                 insert into audit_events (org_id, actor_id, actor_label, action, target_id, target_label, details)
                 select org_id, null, $11, $12, id, email,
                        case when $9 = 'deactivated' then $13 || jsonb_build_object('sessions_ended', {ended}) else $13 end
                 from upd
             )
             select {COLUMNS} from upd u"
        );
        let written = sqlx::query_as::<_, Row>(&sql)
            .bind(self.caller.org_id)
            .bind(self.before.id)
            .bind(&self.c.user_name)
            .bind(&self.c.email)
            .bind(&self.c.given_name)
            .bind(&self.c.family_name)
            .bind(&self.stored)
            .bind(&self.c.external_id)
            .bind(self.status)
            .bind(self.before.version)
            .bind(self.caller.actor().label)
            .bind(self.action())
            .bind(json!({ "userName": self.c.user_name }))
            .fetch_optional(conn)
            .await;
        match written {
            Ok(row) => Ok(row),
            // Against the admin console (which locks the workspace, then the person): read
            // again and retry.
            Err(err) if deadlock(&err) => Ok(None),
            Err(err) => Err(match unique_violation(&err) {
                Some(constraint) => conflict(Some(constraint), &self.c),
                None => err.into(),
            }),
        }
    }
}

/// Ends the written person's sessions, for `Write::run` (as `sessions::revoke_all_for_user`,
/// in the same statement).
const END_SESSIONS: &str = ", ended as (
         delete from sessions s using upd where s.org_id = upd.org_id and s.user_id = upd.id returning 1
     )";

/// Deactivation when nothing could hold it or stop it: the guard is off, the person is no
/// admin (the last admin stays) and has no open invitation (closed in `deprovision_guarded`).
/// The person locked, then one statement: the person, their sessions ended, the
/// deprovisioning counted (for when the guard is turned on), the audit entry. `None` when any
/// of that does not hold.
async fn deprovision_at_once(conn: &mut PgConnection, write: &Write<'_>) -> Result<Option<Row>, ScimError> {
    let mut tx = sqlx::Connection::begin(conn).await?;
    if !lock_at(&mut tx, write).await? {
        return Ok(None);
    }
    let written = write
        .run(
            &mut *tx,
            " and role <> 'admin' and invite_sent_at is null
              and not (select scim_guard from orgs where id = $1)",
            &format!(
                "{END_SESSIONS}, counted as (
                     insert into scim_deprovisions (org_id, user_id) select org_id, id from upd
                 )"
            ),
        )
        .await?;
    if written.is_some() {
        tx.commit().await?;
    }
    Ok(written)
}

/// Locks the person's row if they are still at the version read (`false` when not, or when
/// the lock would deadlock: the caller reads again). Taken before the statement that ends
/// their sessions: that statement's snapshot then holds every session a sign-in committed
/// before, and no sign-in adds one after (`sessions::create` stamps only an active person, and
/// waits for this lock).
async fn lock_at(conn: &mut PgConnection, write: &Write<'_>) -> Result<bool, ScimError> {
    let locked = sqlx::query(
        "select 1 from users where org_id = $1 and id = $2 and version = $3 and deleted_at is null for update",
    )
    .bind(write.caller.org_id)
    .bind(write.before.id)
    .bind(write.before.version)
    .fetch_optional(conn)
    .await;
    match locked {
        Ok(found) => Ok(found.is_some()),
        Err(err) if deadlock(&err) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

/// PostgreSQL broke a deadlock by failing this statement (its transaction is rolled back).
fn deadlock(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.code().as_deref() == Some("40P01"))
}

/// Deactivation through the guard, in a transaction under the workspace's lock (taken before
/// the person's, in the order the admin console takes them, so the two never deadlock).
/// `None` when the person changed since read.
async fn deprovision_guarded(conn: &mut PgConnection, write: &Write<'_>) -> Result<Option<Row>, ScimError> {
    let (caller, id) = (write.caller, write.before.id);
    let mut tx = sqlx::Connection::begin(conn).await?;
    match guard::admit(&mut tx, caller, id, Deprovision::Deactivate).await? {
        guard::Decision::Apply => {}
        guard::Decision::Held(err) => {
            // The hold is kept; the change is not made.
            tx.commit().await?;
            return Err(err);
        }
    }
    if !lock_at(&mut tx, write).await? {
        return Ok(None);
    }
    let Some(row) = write.run(&mut *tx, "", END_SESSIONS).await? else {
        return Ok(None);
    };
    crate::invites::close_open(
        &mut tx,
        caller.org_id,
        id,
        "Not sent: the person was deprovisioned first.",
    )
    .await?;
    tx.commit().await?;
    Ok(Some(row))
}

pub enum Change<'a> {
    Replace(&'a Value),
    Patch(&'a Value),
}

/// Locks the person's row, refusing when it changed since it was read in this request.
async fn lock_unchanged(conn: &mut PgConnection, org_id: Uuid, id: Uuid, version: i64) -> Result<(), ScimError> {
    let now: Option<i64> =
        sqlx::query_scalar("select version from users where org_id = $1 and id = $2 and deleted_at is null for update")
            .bind(org_id)
            .bind(id)
            .fetch_optional(conn)
            .await?;
    match now {
        Some(v) if v == version => Ok(()),
        Some(_) => Err(ScimError::new(
            409,
            None,
            "The person changed while this request ran; retry.",
        )),
        None => Err(ScimError::not_found()),
    }
}

/// `If-Match`: the weak or strong form of the current version, or `*`; else 412.
pub(crate) fn check_version(if_match: Option<&str>, version: i64) -> Result<(), ScimError> {
    match if_match.map(str::trim) {
        None | Some("*") => Ok(()),
        Some(tags)
            if tags
                .split(',')
                .any(|t| t.trim() == etag(version) || t.trim() == format!("\"{version}\"")) =>
        {
            Ok(())
        }
        Some(_) => Err(ScimError::new(
            412,
            None,
            "The resource changed since that version: read it again, then retry.",
        )),
    }
}

/// Soft-deletes a user (204): hidden from the Users tab and from SCIM, sessions ended, kept 30
/// days for an admin to restore, then purged.
pub async fn delete(db: &Db, caller: &Authenticated, id: &str, if_match: Option<&str>) -> Result<(), ScimError> {
    let mut tx = db.begin().await?;
    let before = load(&mut tx, caller.org_id, id, false).await?;
    check_version(if_match, before.version)?;
    if before.status != "deactivated" {
        match guard::admit(&mut tx, caller, before.id, Deprovision::Delete).await? {
            guard::Decision::Apply => {}
            guard::Decision::Held(err) => {
                tx.commit().await?;
                return Err(err);
            }
        }
    }
    lock_unchanged(&mut tx, caller.org_id, before.id, before.version).await?;
    sqlx::query(
        "update users set status = 'deleted', deleted_at = now(), version = version + 1 where org_id = $1 and id = $2",
    )
    .bind(caller.org_id)
    .bind(before.id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("delete from group_members where org_id = $1 and user_id = $2")
        .bind(caller.org_id)
        .bind(before.id)
        .execute(&mut *tx)
        .await?;
    let ended = crate::sessions::revoke_all_for_user(&mut tx, caller.org_id, before.id).await?;
    crate::invites::close_open(
        &mut tx,
        caller.org_id,
        before.id,
        "Not sent: the person was deprovisioned first.",
    )
    .await?;
    audit::record(
        &mut tx,
        &caller.actor(),
        "scim.user_deleted",
        Some(Target {
            id: before.id,
            label: &before.email,
        }),
        json!({ "sessions_ended": ended, "restorable_for_days": 30 }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Someone SCIM deleted, restorable until 30 days after.
#[derive(Debug, Clone, FromRow)]
pub struct Deleted {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub deleted_at: DateTime<Utc>,
}

/// How long a SCIM-deleted person can be restored before they are purged.
pub const RESTORABLE_DAYS: i32 = 30;

pub async fn deleted(db: &Db, org_id: Uuid) -> crate::error::Result<Vec<Deleted>> {
    Ok(sqlx::query_as(
        "select id, email, btrim(given_name || ' ' || family_name) as name, deleted_at from users
         where org_id = $1 and deleted_at > now() - make_interval(days => $2) order by deleted_at desc limit 500",
    )
    .bind(org_id)
    .bind(RESTORABLE_DAYS)
    .fetch_all(db)
    .await?)
}

/// Brings back someone SCIM deleted, deactivated (an admin reactivates them from the Users tab
/// if they should sign in; the directory sees them again).
pub async fn restore(db: &Db, actor: &Actor, id: Uuid) -> crate::error::Result<()> {
    let mut tx = db.begin().await?;
    let email: Option<String> = sqlx::query_scalar(
        "update users set deleted_at = null, status = 'deactivated', version = version + 1
         where org_id = $1 and id = $2 and deleted_at > now() - make_interval(days => $3) returning email",
    )
    .bind(actor.org_id)
    .bind(id)
    .bind(RESTORABLE_DAYS)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(email) = email else {
        return Err(crate::error::Error::NotFound);
    };
    audit::record(
        &mut tx,
        actor,
        "scim.user_restored",
        Some(Target { id, label: &email }),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Purges people SCIM deleted more than 30 days ago (housekeeping).
pub async fn purge_deleted(db: &Db) -> crate::error::Result<u64> {
    Ok(
        sqlx::query("delete from users where deleted_at < now() - make_interval(days => $1)")
            .bind(RESTORABLE_DAYS)
            .execute(db)
            .await?
            .rows_affected(),
    )
}

/// One line of the workspace's SCIM request log.
#[derive(Debug, Clone, FromRow)]
pub struct Logged {
    pub at: DateTime<Utc>,
    pub method: String,
    pub path: String,
    pub status: i32,
    pub summary: String,
    pub hint: Option<String>,
}

pub async fn recent_requests(db: &Db, org_id: Uuid, limit: i64) -> crate::error::Result<Vec<Logged>> {
    Ok(sqlx::query_as(
        "select at, method, path, status, summary, hint from scim_requests where org_id = $1 order by id desc limit $2",
    )
    .bind(org_id)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

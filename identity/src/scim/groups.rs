//! SCIM Groups with members: `displayName` unique per workspace (case-insensitive, Entra's
//! matching key), `externalId`, and members who are people of the same workspace. Membership
//! PATCHes in every shape Entra and Okta send: add a value array, remove a value array (only
//! those members, never all), remove `members[value eq "…"]`, replace all. All or nothing.

use super::filter::{self, Filter};
use super::sql::{self, Resource};
use super::tokens::Authenticated;
use super::users::{bind_all, etag, LIST_SCHEMA, MAX_RESULTS};
use super::{Page, ScimError};
use crate::audit::{self, Target};
use crate::Db;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use sqlx::{FromRow, PgConnection};
use std::collections::BTreeSet;
use uuid::Uuid;

pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Most members one request may name, and most a group may have.
pub const MAX_MEMBERS_PER_REQUEST: usize = 10_000;
pub const MAX_MEMBERS: usize = 100_000;

#[derive(Debug, FromRow)]
pub struct Row {
    pub id: Uuid,
    pub display_name: String,
    pub external_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

const COLUMNS: &str = "g.id, g.display_name, g.external_id, g.created_at, g.updated_at, g.version";

/// A group as SCIM shows it; `members` read only when asked for.
pub async fn render(db: &Db, org_id: Uuid, row: &Row, base: &str, with_members: bool) -> Result<Value, ScimError> {
    let mut all = render_all(db, org_id, std::slice::from_ref(row), base, with_members).await?;
    Ok(all.pop().unwrap_or(Value::Null))
}

/// Groups as SCIM shows them, their members (when asked for) read in one query for all.
pub async fn render_all(
    db: &Db,
    org_id: Uuid,
    rows: &[Row],
    base: &str,
    with_members: bool,
) -> Result<Vec<Value>, ScimError> {
    let mut members: std::collections::HashMap<Uuid, Vec<Value>> = std::collections::HashMap::new();
    if with_members && !rows.is_empty() {
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let found: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
            "select m.group_id, u.id, coalesce(nullif(btrim(u.given_name || ' ' || u.family_name), ''), u.email)
             from group_members m join users u on u.org_id = m.org_id and u.id = m.user_id
             where m.org_id = $1 and m.group_id = any($2) order by m.group_id, u.id",
        )
        .bind(org_id)
        .bind(&ids)
        .fetch_all(db)
        .await?;
        for (group, id, display) in found {
            members.entry(group).or_default().push(
                json!({ "value": id.to_string(), "display": display, "type": "User", "$ref": format!("{base}/Users/{id}") }),
            );
        }
    }
    Ok(rows
        .iter()
        .map(|row| {
            let mut out = json!({
                "schemas": [GROUP_SCHEMA],
                "id": row.id.to_string(),
                "displayName": row.display_name,
                "meta": {
                    "resourceType": "Group",
                    "created": row.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "lastModified": row.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "location": format!("{base}/Groups/{}", row.id),
                    "version": etag(row.version),
                },
            });
            if let Some(e) = &row.external_id {
                out["externalId"] = Value::String(e.clone());
            }
            if with_members {
                out["members"] = Value::Array(members.remove(&row.id).unwrap_or_default());
            }
            out
        })
        .collect())
}

async fn load(conn: &mut PgConnection, org_id: Uuid, id: &str, lock: bool) -> Result<Row, ScimError> {
    let Ok(id) = Uuid::parse_str(id) else {
        return Err(ScimError::not_found());
    };
    sqlx::query_as(&format!(
        "select {COLUMNS} from groups g where g.org_id = $1 and g.id = $2{}",
        if lock { " for update" } else { "" }
    ))
    .bind(org_id)
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(ScimError::not_found)
}

pub async fn get(db: &Db, org_id: Uuid, id: &str) -> Result<Row, ScimError> {
    let mut conn = db.acquire().await?;
    load(&mut conn, org_id, id, false).await
}

pub async fn list(
    db: &Db,
    org_id: Uuid,
    filter: Option<&str>,
    start_index: i64,
    count: i64,
    sort_by: Option<&str>,
    descending: bool,
) -> Result<Page<Row>, ScimError> {
    let condition = sql::condition(Resource::Group, filter, 2)?;
    let order = sql::order_by(Resource::Group, sort_by, descending)?;
    let start_index = start_index.max(1);
    let count = count.clamp(0, MAX_RESULTS);
    let mut conn = db.acquire().await?;
    let total: (i64,) = bind_all(
        sqlx::query_as(&format!(
            "select count(*) from groups g where g.org_id = $1 and ({})",
            condition.sql
        ))
        .bind(org_id),
        &condition.binds,
    )
    .fetch_one(&mut *conn)
    .await?;
    let rows = if count > 0 && total.0 >= start_index {
        let sql = format!(
            "select {COLUMNS} from groups g where g.org_id = $1 and ({}) order by {order} limit {count} offset {}",
            condition.sql,
            start_index - 1
        );
        bind_all(sqlx::query_as::<_, Row>(&sql).bind(org_id), &condition.binds)
            .fetch_all(&mut *conn)
            .await?
    } else {
        vec![]
    };
    Ok(Page {
        total: total.0,
        start_index,
        rows,
    })
}

pub fn list_response(total: i64, start_index: i64, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

fn field<'a>(o: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// Member ids from `[{"value": id}, …]`, a single object, or bare ids.
fn member_ids(v: &Value) -> Result<BTreeSet<Uuid>, ScimError> {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => vec![],
        other => vec![other],
    };
    if items.len() > MAX_MEMBERS_PER_REQUEST {
        return Err(ScimError::new(
            400,
            Some("tooMany"),
            format!("Send at most {MAX_MEMBERS_PER_REQUEST} members in one request."),
        ));
    }
    let mut out = BTreeSet::new();
    for item in items {
        let id = match item {
            Value::String(s) => Some(s.as_str()),
            Value::Object(o) => field(o, "value").and_then(Value::as_str),
            _ => None,
        }
        .ok_or_else(|| ScimError::invalid_value("Each member needs a value: the member's id."))?;
        out.insert(
            Uuid::parse_str(id)
                .map_err(|_| ScimError::invalid_value(format!("\"{id}\" is not a member id of this workspace.")))?,
        );
    }
    Ok(out)
}

/// What a write leaves: name, external id, members.
struct State {
    display_name: String,
    external_id: Option<String>,
    members: BTreeSet<Uuid>,
}

fn display_name(v: Option<&Value>) -> Result<String, ScimError> {
    let name = v
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ScimError::invalid_value("displayName is required."))?;
    if name.chars().count() > 256 {
        return Err(ScimError::invalid_value("displayName is longer than 256 characters."));
    }
    Ok(name.to_owned())
}

fn external_id(v: Option<&Value>) -> Result<Option<String>, ScimError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= 256 => Ok(Some(s.clone()).filter(|s| !s.is_empty())),
        _ => Err(ScimError::invalid_value(
            "externalId must be a string of at most 256 characters.",
        )),
    }
}

fn read_group(body: &Value) -> Result<State, ScimError> {
    let Value::Object(o) = body else {
        return Err(ScimError::invalid_syntax(
            "The body must be a JSON object (a SCIM Group).",
        ));
    };
    Ok(State {
        display_name: display_name(field(o, "displayName"))?,
        external_id: external_id(field(o, "externalId"))?,
        members: field(o, "members").map(member_ids).transpose()?.unwrap_or_default(),
    })
}

fn apply_patch(state: &mut State, body: &Value) -> Result<(), ScimError> {
    let ops = super::document::read_patch(body)?;
    for (op, path, value) in ops {
        let Some(path) = path else {
            if op == "remove" {
                return Err(ScimError::no_target("remove needs a path"));
            }
            let Some(Value::Object(values)) = &value else {
                return Err(ScimError::invalid_value(
                    "Without a path, value must be an object of attributes.",
                ));
            };
            for (k, v) in values {
                match k.to_ascii_lowercase().as_str() {
                    "displayname" => state.display_name = display_name(Some(v))?,
                    "externalid" => state.external_id = external_id(Some(v))?,
                    "members" if op == "add" => state.members.extend(member_ids(v)?),
                    "members" => state.members = member_ids(v)?,
                    _ => {}
                }
            }
            continue;
        };
        let (p, filter, sub) = filter::parse_path(&path).map_err(|e| ScimError::invalid_path(e.0))?;
        if p.is("displayName") && filter.is_none() {
            match op.as_str() {
                "remove" => return Err(ScimError::mutability("displayName is required and cannot be removed")),
                _ => state.display_name = display_name(value.as_ref())?,
            }
        } else if p.is("externalId") && filter.is_none() {
            state.external_id = if op == "remove" {
                None
            } else {
                external_id(value.as_ref())?
            };
        } else if p.is("members") && sub.is_none() && p.sub.is_none() {
            match (op.as_str(), filter) {
                ("remove", Some(f)) => {
                    let gone = filtered_members(&f)?;
                    state.members.retain(|m| !gone.contains(m));
                }
                ("remove", None) => match value.as_ref().filter(|v| !v.is_null()) {
                    // Entra's remove with a value array: only those members, never all.
                    Some(v) => {
                        let gone = member_ids(v)?;
                        state.members.retain(|m| !gone.contains(m));
                    }
                    None => state.members.clear(),
                },
                ("add", None) => state
                    .members
                    .extend(member_ids(value.as_ref().unwrap_or(&Value::Null))?),
                ("replace", None) => state.members = member_ids(value.as_ref().unwrap_or(&Value::Null))?,
                _ => return Err(ScimError::invalid_path(format!("Rollcall cannot {op} \"{path}\""))),
            }
        } else if p.is("id") || p.is("meta") {
            return Err(ScimError::mutability(format!("{} is read-only", p.attr)));
        } else {
            return Err(ScimError::invalid_path(format!("Groups have no attribute \"{path}\"")));
        }
    }
    Ok(())
}

/// The ids a `members[value eq "…"]` (or an `or` of those) names.
fn filtered_members(f: &Filter) -> Result<BTreeSet<Uuid>, ScimError> {
    match f {
        Filter::Compare(p, filter::CompareOp::Eq, filter::Value::Str(id)) if p.is("value") => {
            Ok(Uuid::parse_str(id).into_iter().collect())
        }
        Filter::Or(a, b) => {
            let mut out = filtered_members(a)?;
            out.extend(filtered_members(b)?);
            Ok(out)
        }
        _ => Err(ScimError::invalid_filter(
            "Remove members by members[value eq \"<id>\"].",
        )),
    }
}

/// Writes a group's state: its row and its members (who must be people of the workspace).
async fn write(conn: &mut PgConnection, org_id: Uuid, id: Uuid, state: &State, create: bool) -> Result<(), ScimError> {
    if state.members.len() > MAX_MEMBERS {
        return Err(ScimError::new(
            400,
            Some("tooMany"),
            format!("A group has at most {MAX_MEMBERS} members."),
        ));
    }
    let ids: Vec<Uuid> = state.members.iter().copied().collect();
    let known: i64 =
        sqlx::query_scalar("select count(*) from users where org_id = $1 and id = any($2) and deleted_at is null")
            .bind(org_id)
            .bind(&ids)
            .fetch_one(&mut *conn)
            .await?;
    if known != ids.len() as i64 {
        return Err(ScimError::invalid_value(
            "A member is not a person of this workspace: provision the user first.",
        ));
    }
    let result = if create {
        sqlx::query("insert into groups (org_id, id, display_name, external_id) values ($1, $2, $3, $4)")
            .bind(org_id)
            .bind(id)
            .bind(&state.display_name)
            .bind(&state.external_id)
            .execute(&mut *conn)
            .await
    } else {
        sqlx::query(
            "update groups set display_name = $3, external_id = $4, version = version + 1, updated_at = now()
             where org_id = $1 and id = $2",
        )
        .bind(org_id)
        .bind(id)
        .bind(&state.display_name)
        .bind(&state.external_id)
        .execute(&mut *conn)
        .await
    };
    if let Err(sqlx::Error::Database(db)) = &result {
        if db.constraint() == Some("groups_display_name") {
            return Err(ScimError::uniqueness(format!(
                "A group named \"{}\" already exists.",
                state.display_name
            )));
        }
    }
    result?;
    // Members: one statement each way.
    sqlx::query("delete from group_members where org_id = $1 and group_id = $2 and not (user_id = any($3))")
        .bind(org_id)
        .bind(id)
        .bind(&ids)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "insert into group_members (org_id, group_id, user_id) select $1, $2, unnest($3::uuid[]) on conflict do nothing",
    )
    .bind(org_id)
    .bind(id)
    .bind(&ids)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn create(db: &Db, caller: &Authenticated, body: &Value) -> Result<Row, ScimError> {
    let state = read_group(body)?;
    let id = Uuid::now_v7();
    let mut tx = db.begin().await?;
    write(&mut tx, caller.org_id, id, &state, true).await?;
    audit::record(
        &mut tx,
        &caller.actor(),
        "scim.group_created",
        Some(Target {
            id,
            label: &state.display_name,
        }),
        json!({ "members": state.members.len() }),
    )
    .await?;
    let row = load(&mut tx, caller.org_id, &id.to_string(), false).await?;
    tx.commit().await?;
    Ok(row)
}

pub enum Change<'a> {
    Replace(&'a Value),
    Patch(&'a Value),
}

pub async fn update(
    db: &Db,
    caller: &Authenticated,
    id: &str,
    change: Change<'_>,
    if_match: Option<&str>,
) -> Result<Row, ScimError> {
    let mut tx = db.begin().await?;
    let before = load(&mut tx, caller.org_id, id, true).await?;
    super::users::check_version(if_match, before.version)?;
    let members: Vec<Uuid> =
        sqlx::query_scalar("select user_id from group_members where org_id = $1 and group_id = $2")
            .bind(caller.org_id)
            .bind(before.id)
            .fetch_all(&mut *tx)
            .await?;
    let state = match change {
        Change::Replace(body) => read_group(body)?,
        Change::Patch(body) => {
            let mut state = State {
                display_name: before.display_name.clone(),
                external_id: before.external_id.clone(),
                members: members.iter().copied().collect(),
            };
            apply_patch(&mut state, body)?;
            state
        }
    };
    write(&mut tx, caller.org_id, before.id, &state, false).await?;
    let added = state.members.iter().filter(|m| !members.contains(m)).count();
    let removed = members.iter().filter(|m| !state.members.contains(m)).count();
    audit::record(
        &mut tx,
        &caller.actor(),
        "scim.group_updated",
        Some(Target {
            id: before.id,
            label: &state.display_name,
        }),
        json!({ "members_added": added, "members_removed": removed }),
    )
    .await?;
    let row = load(&mut tx, caller.org_id, id, false).await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn delete(db: &Db, caller: &Authenticated, id: &str) -> Result<(), ScimError> {
    let mut tx = db.begin().await?;
    let before = load(&mut tx, caller.org_id, id, true).await?;
    sqlx::query("delete from groups where org_id = $1 and id = $2")
        .bind(caller.org_id)
        .bind(before.id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        &caller.actor(),
        "scim.group_deleted",
        Some(Target {
            id: before.id,
            label: &before.display_name,
        }),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

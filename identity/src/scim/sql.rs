//! Compiling a SCIM filter to a SQL condition over `users u` or `groups g`, every value a bound
//! parameter. Each attribute maps to a column where Rollcall keeps one (so `userName eq`,
//! `externalId eq` and `id eq` use indexes) or to the person's SCIM document; an attribute
//! Rollcall cannot filter on is refused with `invalidFilter`, naming it.

use super::filter::{AttrPath, CompareOp, Filter, Value};
use super::ScimError;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A bound value.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Uuid(Uuid),
    Time(DateTime<Utc>),
}

/// A condition and its values, numbered from the `first` placeholder given to `compile`.
#[derive(Debug, Default)]
pub struct Condition {
    pub sql: String,
    pub binds: Vec<Bind>,
    first: usize,
}

impl Condition {
    /// No condition: every row.
    pub fn all() -> Condition {
        Condition {
            sql: "true".into(),
            ..Default::default()
        }
    }

    fn bind(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.first + self.binds.len() - 1)
    }
}

/// Which resource a filter is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    User,
    Group,
}

/// How an attribute is compared.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Case-insensitive text (the expression is already lower-cased).
    Text,
    /// Case-exact text.
    Exact,
    Bool,
    Time,
    Id,
}

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The SQL expression for a single-valued attribute, and its kind.
fn single(resource: Resource, path: &AttrPath) -> Option<(String, Kind)> {
    let a = path.attr.to_ascii_lowercase();
    let sub = path.sub.as_deref().map(str::to_ascii_lowercase);
    match resource {
        Resource::Group => match (a.as_str(), sub.as_deref()) {
            ("id", None) => Some(("g.id".into(), Kind::Id)),
            ("displayname", None) => Some(("lower(g.display_name)".into(), Kind::Text)),
            ("externalid", None) => Some(("g.external_id".into(), Kind::Exact)),
            ("meta", Some("created")) => Some(("g.created_at".into(), Kind::Time)),
            ("meta", Some("lastmodified")) => Some(("g.updated_at".into(), Kind::Time)),
            _ => None,
        },
        Resource::User if path.enterprise() => match (a.as_str(), sub.as_deref()) {
            ("manager", None | Some("value")) => {
                Some((format!("(u.scim -> '{ENT}' -> 'manager' ->> 'value')"), Kind::Exact))
            }
            ("employeenumber" | "costcenter" | "organization" | "division" | "department", None) => {
                let key = canonical(&a);
                Some((format!("lower(u.scim -> '{ENT}' ->> '{key}')"), Kind::Text))
            }
            _ => None,
        },
        Resource::User => match (a.as_str(), sub.as_deref()) {
            ("id", None) => Some(("u.id".into(), Kind::Id)),
            ("username", None) => Some(("lower(u.user_name)".into(), Kind::Text)),
            ("externalid", None) => Some(("(u.external_ids ->> 'scim')".into(), Kind::Exact)),
            ("active", None) => Some(("(u.status <> 'deactivated')".into(), Kind::Bool)),
            ("name", Some("givenname")) => Some(("lower(u.given_name)".into(), Kind::Text)),
            ("name", Some("familyname")) => Some(("lower(u.family_name)".into(), Kind::Text)),
            ("name", Some("formatted")) => Some(("lower(u.scim -> 'name' ->> 'formatted')".into(), Kind::Text)),
            ("meta", Some("created")) => Some(("u.created_at".into(), Kind::Time)),
            ("meta", Some("lastmodified")) => Some(("u.updated_at".into(), Kind::Time)),
            (
                "displayname" | "nickname" | "title" | "usertype" | "preferredlanguage" | "locale" | "timezone"
                | "profileurl",
                None,
            ) => {
                let key = canonical(&a);
                Some((format!("lower(u.scim ->> '{key}')"), Kind::Text))
            }
            _ => None,
        },
    }
}

/// The canonical camelCase name of a known lower-cased attribute (a constant, never input).
fn canonical(lower: &str) -> &'static str {
    match lower {
        "employeenumber" => "employeeNumber",
        "costcenter" => "costCenter",
        "organization" => "organization",
        "division" => "division",
        "department" => "department",
        "displayname" => "displayName",
        "nickname" => "nickName",
        "title" => "title",
        "usertype" => "userType",
        "preferredlanguage" => "preferredLanguage",
        "locale" => "locale",
        "timezone" => "timezone",
        "profileurl" => "profileUrl",
        "value" => "value",
        "type" => "type",
        "display" => "display",
        "primary" => "primary",
        _ => "",
    }
}

/// Multi-valued attributes filtered element by element: the JSON array's SQL and the
/// sub-attributes an element may be filtered on.
fn multi(resource: Resource, attr: &str) -> Option<&'static str> {
    match (resource, attr.to_ascii_lowercase().as_str()) {
        (Resource::User, "emails") => Some("coalesce(u.scim -> 'emails', '[]'::jsonb)"),
        (Resource::User, "phonenumbers") => Some("coalesce(u.scim -> 'phoneNumbers', '[]'::jsonb)"),
        _ => None,
    }
}

fn unsupported(path: &AttrPath) -> ScimError {
    ScimError::invalid_filter(format!(
        "Rollcall cannot filter on the attribute \"{path}\": filter on userName, externalId, id, active, name, displayName, emails, the enterprise attributes or meta dates."
    ))
}

/// A request's `filter` (absent or blank: every row) parsed and compiled from `$first`.
pub fn condition(resource: Resource, filter: Option<&str>, first: usize) -> Result<Condition, ScimError> {
    match filter.map(str::trim).filter(|f| !f.is_empty()) {
        Some(f) => {
            let parsed = super::filter::parse(f).map_err(|e| ScimError::invalid_filter(e.0))?;
            compile(resource, &parsed, first)
        }
        None => Ok(Condition::all()),
    }
}

/// Compiles `filter` to a condition whose placeholders start at `$first`.
pub fn compile(resource: Resource, filter: &Filter, first: usize) -> Result<Condition, ScimError> {
    let mut c = Condition {
        first,
        ..Default::default()
    };
    c.sql = expr(resource, filter, &mut c)?;
    Ok(c)
}

fn expr(resource: Resource, f: &Filter, c: &mut Condition) -> Result<String, ScimError> {
    Ok(match f {
        Filter::And(a, b) => format!("({} and {})", expr(resource, a, c)?, expr(resource, b, c)?),
        Filter::Or(a, b) => format!("({} or {})", expr(resource, a, c)?, expr(resource, b, c)?),
        Filter::Not(a) => format!("(not coalesce({}, false))", expr(resource, a, c)?),
        Filter::Present(path) => {
            if let Some(array) = multi(resource, &path.attr) {
                return Ok(format!("(jsonb_array_length({array}) > 0)"));
            }
            if resource == Resource::Group && path.is("members") {
                return Ok(
                    "exists (select 1 from group_members m where m.org_id = g.org_id and m.group_id = g.id)".into(),
                );
            }
            let (sql, kind) = single(resource, path).ok_or_else(|| unsupported(path))?;
            match kind {
                Kind::Text => format!("({sql} is not null and {sql} <> '')"),
                _ => format!("({sql} is not null)"),
            }
        }
        Filter::Compare(path, op, value) => {
            if let Some(array) = multi(resource, &path.attr) {
                // A bare multi-valued attribute compares its elements' `value`.
                let sub = path.sub.clone().unwrap_or_else(|| "value".into());
                let cond = element(&sub, *op, value, c)?;
                return Ok(format!(
                    "exists (select 1 from jsonb_array_elements({array}) e where {cond})"
                ));
            }
            if resource == Resource::Group
                && path.is("members")
                && path.sub.as_deref().is_none_or(|s| s.eq_ignore_ascii_case("value"))
            {
                let Value::Str(id) = value else {
                    return Err(ScimError::invalid_filter(
                        "members is compared with a member's id, a string",
                    ));
                };
                if *op != CompareOp::Eq {
                    return Err(ScimError::invalid_filter("members can only be compared with eq"));
                }
                return Ok(match Uuid::parse_str(id) {
                    Ok(id) => {
                        let p = c.bind(Bind::Uuid(id));
                        format!("exists (select 1 from group_members m where m.org_id = g.org_id and m.group_id = g.id and m.user_id = {p})")
                    }
                    Err(_) => "false".into(),
                });
            }
            let (sql, kind) = single(resource, path).ok_or_else(|| unsupported(path))?;
            compare(&sql, kind, *op, value, c)?
        }
        Filter::ValuePath { path, inner, then } => {
            let Some(array) = multi(resource, &path.attr) else {
                if resource == Resource::Group && path.is("members") {
                    let cond = members_inner(inner, c)?;
                    return Ok(format!(
                        "exists (select 1 from group_members m where m.org_id = g.org_id and m.group_id = g.id and {cond})"
                    ));
                }
                return Err(unsupported(path));
            };
            let mut cond = element_filter(inner, c)?;
            if let Some((sub, op, value)) = then {
                cond = format!("({cond} and {})", element(sub, *op, value, c)?);
            }
            format!("exists (select 1 from jsonb_array_elements({array}) e where {cond})")
        }
    })
}

/// A filter inside `members[…]`: on `value` (the member's id).
fn members_inner(f: &Filter, c: &mut Condition) -> Result<String, ScimError> {
    match f {
        Filter::Compare(p, CompareOp::Eq, Value::Str(id)) if p.is("value") => Ok(match Uuid::parse_str(id) {
            Ok(id) => format!("m.user_id = {}", c.bind(Bind::Uuid(id))),
            Err(_) => "false".into(),
        }),
        Filter::And(a, b) => Ok(format!("({} and {})", members_inner(a, c)?, members_inner(b, c)?)),
        Filter::Or(a, b) => Ok(format!("({} or {})", members_inner(a, c)?, members_inner(b, c)?)),
        _ => Err(ScimError::invalid_filter(
            "inside members[…], filter on value eq \"<id>\"",
        )),
    }
}

/// A filter inside `emails[…]`, over one element `e`.
fn element_filter(f: &Filter, c: &mut Condition) -> Result<String, ScimError> {
    Ok(match f {
        Filter::And(a, b) => format!("({} and {})", element_filter(a, c)?, element_filter(b, c)?),
        Filter::Or(a, b) => format!("({} or {})", element_filter(a, c)?, element_filter(b, c)?),
        Filter::Not(a) => format!("(not coalesce({}, false))", element_filter(a, c)?),
        Filter::Compare(p, op, v) if p.sub.is_none() && p.schema.is_none() => element(&p.attr, *op, v, c)?,
        Filter::Present(p) if p.sub.is_none() => {
            let key = element_key(&p.attr)?;
            format!("(e ->> '{key}' is not null and e ->> '{key}' <> '')")
        }
        _ => {
            return Err(ScimError::invalid_filter(
                "value filters may compare value, type, display or primary",
            ))
        }
    })
}

fn element_key(sub: &str) -> Result<&'static str, ScimError> {
    match canonical(&sub.to_ascii_lowercase()) {
        key @ ("value" | "type" | "display" | "primary") => Ok(key),
        _ => Err(ScimError::invalid_filter(format!(
            "Rollcall cannot filter on the sub-attribute \"{sub}\""
        ))),
    }
}

fn element(sub: &str, op: CompareOp, value: &Value, c: &mut Condition) -> Result<String, ScimError> {
    let key = element_key(sub)?;
    if key == "primary" {
        return compare(
            &format!("coalesce((e ->> '{key}')::boolean, false)"),
            Kind::Bool,
            op,
            value,
            c,
        );
    }
    compare(&format!("lower(e ->> '{key}')"), Kind::Text, op, value, c)
}

fn compare(sql: &str, kind: Kind, op: CompareOp, value: &Value, c: &mut Condition) -> Result<String, ScimError> {
    use CompareOp::*;
    if *value == Value::Null {
        // `eq null` is "not present"; `ne null` is "present".
        return match op {
            Eq => Ok(format!("({sql} is null)")),
            Ne => Ok(format!("({sql} is not null)")),
            _ => Err(ScimError::invalid_filter("null can only be compared with eq or ne")),
        };
    }
    match kind {
        Kind::Bool => {
            let b = match value {
                Value::Bool(b) => *b,
                // Entra sends booleans as strings elsewhere; accept them here too.
                Value::Str(s) if s.eq_ignore_ascii_case("true") => true,
                Value::Str(s) if s.eq_ignore_ascii_case("false") => false,
                _ => {
                    return Err(ScimError::invalid_filter(
                        "a boolean attribute is compared with true or false",
                    ))
                }
            };
            match op {
                Eq => Ok(format!("({sql} = {b})")),
                Ne => Ok(format!("({sql} <> {b})")),
                _ => Err(ScimError::invalid_filter(format!(
                    "{} cannot compare booleans",
                    op.as_str()
                ))),
            }
        }
        Kind::Id => {
            let Value::Str(s) = value else {
                return Err(ScimError::invalid_filter("id is compared with a string"));
            };
            match (op, Uuid::parse_str(s)) {
                (Eq, Ok(id)) => Ok(format!("({sql} = {})", c.bind(Bind::Uuid(id)))),
                (Ne, Ok(id)) => Ok(format!("({sql} <> {})", c.bind(Bind::Uuid(id)))),
                (Eq, Err(_)) => Ok("false".into()),
                (Ne, Err(_)) => Ok("true".into()),
                _ => text_compare(&format!("{sql}::text"), op, s.to_ascii_lowercase(), c),
            }
        }
        Kind::Time => {
            let Value::Str(s) = value else {
                return Err(ScimError::invalid_filter(
                    "a date is compared with a string such as \"2024-01-31T12:00:00Z\"",
                ));
            };
            let at = DateTime::parse_from_rfc3339(s)
                .map_err(|_| ScimError::invalid_filter(format!("\"{s}\" is not an RFC 3339 date-time")))?
                .with_timezone(&Utc);
            let p = c.bind(Bind::Time(at));
            let sym = match op {
                Eq => "=",
                Ne => "<>",
                Gt => ">",
                Ge => ">=",
                Lt => "<",
                Le => "<=",
                _ => {
                    return Err(ScimError::invalid_filter(format!(
                        "{} cannot compare dates",
                        op.as_str()
                    )))
                }
            };
            Ok(format!("({sql} {sym} {p})"))
        }
        Kind::Text | Kind::Exact => {
            let text = match value {
                Value::Str(s) => s.clone(),
                Value::Num(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null => unreachable!("handled above"),
            };
            let text = if kind == Kind::Text { text.to_lowercase() } else { text };
            text_compare(sql, op, text, c)
        }
    }
}

fn text_compare(sql: &str, op: CompareOp, text: String, c: &mut Condition) -> Result<String, ScimError> {
    use CompareOp::*;
    let like = |t: &str| t.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    Ok(match op {
        Eq => format!("({sql} = {})", c.bind(Bind::Text(text))),
        Ne => format!("({sql} is distinct from {})", c.bind(Bind::Text(text))),
        Co => format!("({sql} like {})", c.bind(Bind::Text(format!("%{}%", like(&text))))),
        Sw => format!("({sql} like {})", c.bind(Bind::Text(format!("{}%", like(&text))))),
        Ew => format!("({sql} like {})", c.bind(Bind::Text(format!("%{}", like(&text))))),
        Gt => format!("({sql} > {})", c.bind(Bind::Text(text))),
        Ge => format!("({sql} >= {})", c.bind(Bind::Text(text))),
        Lt => format!("({sql} < {})", c.bind(Bind::Text(text))),
        Le => format!("({sql} <= {})", c.bind(Bind::Text(text))),
    })
}

/// The SQL to order users or groups by `sortBy` (a known single-valued attribute), stable.
pub fn order_by(resource: Resource, sort_by: Option<&str>, descending: bool) -> Result<String, ScimError> {
    let dir = if descending { "desc" } else { "asc" };
    let id = match resource {
        Resource::User => "u.id",
        Resource::Group => "g.id",
    };
    let Some(sort_by) = sort_by.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(id.to_owned());
    };
    let (rest, path) = super::filter::attr_path(sort_by)
        .map_err(|_| ScimError::invalid_value(format!("sortBy \"{sort_by}\" is not an attribute path")))?;
    if !rest.is_empty() {
        return Err(ScimError::invalid_value(format!(
            "sortBy \"{sort_by}\" is not an attribute path"
        )));
    }
    let expr = match multi(resource, &path.attr) {
        Some(array) => format!("lower(({array}) -> 0 ->> 'value')"),
        None => single(resource, &path)
            .map(|(sql, _)| sql)
            .ok_or_else(|| ScimError::invalid_value(format!("Rollcall cannot sort by \"{sort_by}\"")))?,
    };
    // Unassigned values last, whichever the direction.
    Ok(format!("{expr} {dir} nulls last, {id}"))
}

#[cfg(test)]
mod tests {
    use super::super::filter::parse;
    use super::*;

    fn user(f: &str) -> Condition {
        compile(Resource::User, &parse(f).unwrap(), 2).unwrap_or_else(|e| panic!("{f}: {e:?}"))
    }

    #[test]
    fn user_name_lookups_use_the_lower_cased_indexed_column_and_a_bound_value() {
        let c = user(r#"userName eq "Alice@Contoso.com""#);
        assert_eq!(c.sql, "(lower(u.user_name) = $2)");
        assert_eq!(c.binds, vec![Bind::Text("alice@contoso.com".into())]);
    }

    #[test]
    fn values_never_reach_the_sql_text() {
        let c = user(r#"userName eq "x' or 1=1 --" or displayName co "%_\\""#);
        assert!(!c.sql.contains("1=1") && !c.sql.contains('%'), "{}", c.sql);
        assert_eq!(c.binds.len(), 2);
        assert_eq!(c.binds[1], Bind::Text("%\\%\\_\\\\%".into()));
    }

    #[test]
    fn entra_s_email_lookup_and_value_filters_compile() {
        let c = user(r#"emails[type eq "work"].value eq "a@b.c""#);
        assert!(
            c.sql.starts_with("exists (select 1 from jsonb_array_elements("),
            "{}",
            c.sql
        );
        assert_eq!(c.binds.len(), 2);
        user(r#"emails co "@b.c" and not (active eq false) and externalId pr"#);
        user(&format!(r#"{ENT}:manager eq "m1" and {ENT}:department sw "R""#));
        user(r#"meta.lastModified gt "2024-01-01T00:00:00Z""#);
    }

    #[test]
    fn unknown_attributes_and_misuse_are_invalid_filters_naming_the_attribute() {
        for (f, says) in [
            (r#"password eq "x""#, "password"),
            (r#"active gt true"#, "booleans"),
            (r#"meta.created gt "yesterday""#, "RFC 3339"),
            (r#"emails[foo eq "x"]"#, "foo"),
        ] {
            let err = compile(Resource::User, &parse(f).unwrap(), 1).unwrap_err();
            assert_eq!(err.scim_type, Some("invalidFilter"), "{f}");
            assert!(err.detail.contains(says), "{f}: {}", err.detail);
        }
    }

    #[test]
    fn a_malformed_id_matches_nothing_instead_of_failing() {
        assert_eq!(user(r#"id eq "not-a-uuid""#).sql, "false");
        let g = compile(Resource::Group, &parse(r#"members[value eq "nope"]"#).unwrap(), 1).unwrap();
        assert!(g.sql.contains("false"));
    }
}

//! A SCIM user as a JSON document: what a client sends is read leniently into canonical form
//! (attribute names case-insensitive, Entra's `"True"`/`"False"` strings for booleans, its three
//! shapes of `manager`, explicit `null`s and unknown attributes and schema URNs ignored,
//! read-only attributes dropped), and PATCH operations are applied to it in order, all or
//! nothing, in both of Entra's dialects (PROTOCOLS.md §8.4).

use super::filter::{self, AttrPath, CompareOp, Filter, Value as FValue, ENTERPRISE};
use super::ScimError;
use serde_json::{Map, Value};

/// Canonical names of the core user attributes, by lower-cased name.
const USER_ATTRS: [&str; 21] = [
    "userName",
    "name",
    "displayName",
    "nickName",
    "profileUrl",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "active",
    "emails",
    "phoneNumbers",
    "ims",
    "photos",
    "addresses",
    "entitlements",
    "roles",
    "x509Certificates",
    "externalId",
    "password",
];
const NAME_ATTRS: [&str; 6] = [
    "formatted",
    "familyName",
    "givenName",
    "middleName",
    "honorificPrefix",
    "honorificSuffix",
];
const ENTERPRISE_ATTRS: [&str; 6] = [
    "employeeNumber",
    "costCenter",
    "organization",
    "division",
    "department",
    "manager",
];
const MULTI: [&str; 8] = [
    "emails",
    "phoneNumbers",
    "ims",
    "photos",
    "addresses",
    "entitlements",
    "roles",
    "x509Certificates",
];
const ELEMENT_ATTRS: [&str; 12] = [
    "value",
    "display",
    "type",
    "primary",
    "formatted",
    "streetAddress",
    "locality",
    "region",
    "postalCode",
    "country",
    "$ref",
    "operation",
];

fn canonical<'a>(names: &[&'a str], name: &str) -> Option<&'a str> {
    names.iter().copied().find(|n| n.eq_ignore_ascii_case(name))
}

fn is_multi(attr: &str) -> bool {
    MULTI.contains(&attr)
}

/// Reads a boolean leniently: JSON booleans and the strings Entra sends.
pub fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// An element of a multi-valued attribute in canonical form (a bare value becomes `{value}`).
fn element(v: &Value) -> Result<Option<Value>, ScimError> {
    match v {
        Value::Null => Ok(None),
        Value::Object(o) => {
            let mut out = Map::new();
            for (k, v) in o {
                if v.is_null() {
                    continue;
                }
                let Some(key) = canonical(&ELEMENT_ATTRS, k) else {
                    continue;
                };
                if key == "primary" {
                    let b = boolean(v).ok_or_else(|| ScimError::invalid_value("primary must be true or false"))?;
                    out.insert(key.into(), Value::Bool(b));
                } else {
                    out.insert(key.into(), v.clone());
                }
            }
            Ok((!out.is_empty()).then_some(Value::Object(out)))
        }
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(Some(serde_json::json!({ "value": v }))),
        Value::Array(_) => Err(ScimError::invalid_value(
            "a multi-valued attribute's element cannot be an array",
        )),
    }
}

/// Most elements of a multi-valued attribute, characters of a value, and bytes of a stored
/// document: a person is not a database of their own.
pub const MAX_ELEMENTS: usize = 100;
pub const MAX_CHARS: usize = 1024;
pub const MAX_DOCUMENT: usize = 32 * 1024;

fn elements(v: &Value) -> Result<Vec<Value>, ScimError> {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => vec![],
        other => vec![other],
    };
    if items.len() > MAX_ELEMENTS {
        return Err(ScimError::invalid_value(format!(
            "A multi-valued attribute holds at most {MAX_ELEMENTS} values."
        )));
    }
    let mut out = Vec::new();
    for item in items {
        if let Some(e) = element(item)? {
            out.push(e);
        }
    }
    Ok(out)
}

/// Entra's `manager`: a string id, `{"value": id}`, or a one-element array of those; empty is
/// unassigned.
fn manager(v: &Value) -> Result<Option<Value>, ScimError> {
    let id = match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("value"))
            .and_then(|(_, v)| v.as_str().map(str::to_owned)),
        Value::Array(a) if a.len() <= 1 => return a.first().map_or(Ok(None), manager),
        _ => {
            return Err(ScimError::invalid_value(
                "manager must be an id, {\"value\": id} or one of those in an array",
            ))
        }
    };
    Ok(id
        .filter(|s| !s.trim().is_empty())
        .map(|id| serde_json::json!({ "value": id })))
}

/// One attribute's value in canonical form; `None` unassigns it.
fn attribute(container: Container, name: &str, v: &Value) -> Result<Option<Value>, ScimError> {
    if v.is_null() {
        return Ok(None);
    }
    match (container, name) {
        (Container::Enterprise, "manager") => manager(v),
        (Container::Core, "active") => boolean(v)
            .map(|b| Some(Value::Bool(b)))
            .ok_or_else(|| ScimError::invalid_value("active must be true or false")),
        (Container::Core, "name") => {
            let Value::Object(o) = v else {
                return Err(ScimError::invalid_value("name must be an object"));
            };
            let mut out = Map::new();
            for (k, v) in o {
                if let (Some(key), Value::String(_)) = (canonical(&NAME_ATTRS, k), v) {
                    out.insert(key.into(), v.clone());
                }
            }
            Ok(Some(Value::Object(out)))
        }
        (Container::Core, multi) if is_multi(multi) => {
            let items = elements(v)?;
            Ok((!items.is_empty()).then_some(Value::Array(items)))
        }
        (_, "userName" | "externalId" | "displayName") => match v {
            Value::String(s) => Ok(Some(Value::String(s.clone()))),
            _ => Err(ScimError::invalid_value(format!("{name} must be a string"))),
        },
        (_, _) => match v {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(Some(v.clone())),
            _ => Err(ScimError::invalid_value(format!("{name} must be a single value"))),
        },
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Container {
    Core,
    Enterprise,
}

/// Checks a document's size: each string at most `MAX_CHARS`, each array at most
/// `MAX_ELEMENTS`, the whole at most `MAX_DOCUMENT` bytes.
pub fn check_limits(doc: &Map<String, Value>) -> Result<(), ScimError> {
    fn walk(v: &Value) -> Result<(), ScimError> {
        match v {
            Value::String(s) if s.chars().count() > MAX_CHARS => Err(ScimError::invalid_value(format!(
                "A value is longer than {MAX_CHARS} characters."
            ))),
            Value::Array(a) if a.len() > MAX_ELEMENTS => Err(ScimError::invalid_value(format!(
                "A multi-valued attribute holds at most {MAX_ELEMENTS} values."
            ))),
            Value::Array(a) => a.iter().try_for_each(walk),
            Value::Object(o) => o.values().try_for_each(walk),
            _ => Ok(()),
        }
    }
    doc.values().try_for_each(walk)?;
    if serde_json::to_vec(doc).map_or(0, |b| b.len()) > MAX_DOCUMENT {
        return Err(ScimError::invalid_value(format!(
            "The user is larger than {} KiB of attributes.",
            MAX_DOCUMENT / 1024
        )));
    }
    Ok(())
}

/// Reads a user resource sent by a client (POST, PUT) into canonical form.
pub fn read_user(body: &Value) -> Result<Map<String, Value>, ScimError> {
    let Value::Object(o) = body else {
        return Err(ScimError::invalid_syntax(
            "The body must be a JSON object (a SCIM User).",
        ));
    };
    let mut doc = Map::new();
    for (k, v) in o {
        if k.eq_ignore_ascii_case(ENTERPRISE) {
            if let Value::Object(ext) = v {
                let mut out = Map::new();
                for (k, v) in ext {
                    if let Some(key) = canonical(&ENTERPRISE_ATTRS, k) {
                        if let Some(v) = attribute(Container::Enterprise, key, v)? {
                            out.insert(key.into(), v);
                        }
                    }
                }
                if !out.is_empty() {
                    doc.insert(ENTERPRISE.into(), Value::Object(out));
                }
            }
            continue;
        }
        // `id`, `meta`, `groups` and `schemas` are the server's; unknown attributes are ignored.
        let Some(key) = canonical(&USER_ATTRS, k) else { continue };
        if key == "password" {
            continue;
        }
        if let Some(v) = attribute(Container::Core, key, v)? {
            doc.insert(key.into(), v);
        }
    }
    Ok(doc)
}

/// One PATCH operation: `add`, `replace` or `remove` (lower-cased), its path and its value.
pub type Operation = (String, Option<String>, Option<Value>);

/// A PATCH request's operations (`Operations`, any case), checked for form.
pub fn read_patch(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let Value::Object(o) = body else {
        return Err(ScimError::invalid_syntax("The body must be a PatchOp JSON object."));
    };
    let ops = o
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
        .and_then(|(_, v)| v.as_array())
        .ok_or_else(|| ScimError::invalid_syntax("A PatchOp needs an Operations array."))?;
    if ops.is_empty() {
        return Err(ScimError::invalid_syntax("Operations is empty."));
    }
    if ops.len() > 1000 {
        return Err(ScimError::new(
            400,
            Some("tooMany"),
            "At most 1,000 operations in one PATCH.",
        ));
    }
    let mut out = Vec::new();
    for op in ops {
        let Value::Object(op) = op else {
            return Err(ScimError::invalid_syntax("Each operation must be an object."));
        };
        let get = |name: &str| op.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
        let kind = get("op")
            .and_then(|v| v.as_str())
            .map(str::to_ascii_lowercase)
            .filter(|k| ["add", "replace", "remove"].contains(&k.as_str()))
            .ok_or_else(|| ScimError::invalid_syntax("Each operation's op must be add, replace or remove."))?;
        let path = match get("path") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) if p.trim().is_empty() => None,
            Some(Value::String(p)) => Some(p.clone()),
            Some(_) => return Err(ScimError::invalid_path("path must be a string")),
        };
        let value = get("value").cloned();
        out.push((kind, path, value));
    }
    Ok(out)
}

/// Where a path points in a user document.
struct Target {
    container: Container,
    attr: &'static str,
    sub: Option<String>,
    filter: Option<Filter>,
}

fn target(path: &str) -> Result<Target, ScimError> {
    let (p, filter, after) = filter::parse_path(path).map_err(|e| ScimError::invalid_path(e.0))?;
    let bad = || ScimError::invalid_path(format!("Rollcall has no attribute \"{path}\""));
    let readonly = ["id", "meta", "groups", "schemas"];
    if p.schema.is_none() && readonly.iter().any(|r| p.is(r)) {
        return Err(ScimError::mutability(format!("{} is read-only", p.attr)));
    }
    let (container, attr) = if p.enterprise() {
        (
            Container::Enterprise,
            canonical(&ENTERPRISE_ATTRS, &p.attr).ok_or_else(bad)?,
        )
    } else {
        (Container::Core, canonical(&USER_ATTRS, &p.attr).ok_or_else(bad)?)
    };
    let sub = match (p.sub, after) {
        (Some(_), Some(_)) => return Err(bad()),
        (a, b) => a.or(b),
    };
    Ok(Target {
        container,
        attr,
        sub,
        filter,
    })
}

fn container_mut(doc: &mut Map<String, Value>, c: Container) -> &mut Map<String, Value> {
    match c {
        Container::Core => doc,
        Container::Enterprise => {
            let ext = doc
                .entry(ENTERPRISE.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !ext.is_object() {
                *ext = Value::Object(Map::new());
            }
            ext.as_object_mut().expect("made an object above")
        }
    }
}

/// Whether an element of a multi-valued attribute matches a value filter.
fn matches(f: &Filter, e: &Value) -> bool {
    let field = |p: &AttrPath| e.get(canonical(&ELEMENT_ATTRS, &p.attr).unwrap_or(""));
    match f {
        Filter::And(a, b) => matches(a, e) && matches(b, e),
        Filter::Or(a, b) => matches(a, e) || matches(b, e),
        Filter::Not(a) => !matches(a, e),
        Filter::Present(p) => field(p).is_some_and(|v| !v.is_null() && v != ""),
        Filter::Compare(p, op, value) => {
            let Some(actual) = field(p) else {
                return *op == CompareOp::Ne;
            };
            match (actual, value) {
                (_, FValue::Bool(b)) => boolean(actual)
                    .map(|a| (a == *b) == (*op == CompareOp::Eq))
                    .unwrap_or(false),
                (Value::String(a), FValue::Str(b)) => {
                    let (a, b) = (a.to_lowercase(), b.to_lowercase());
                    match op {
                        CompareOp::Eq => a == b,
                        CompareOp::Ne => a != b,
                        CompareOp::Co => a.contains(&b),
                        CompareOp::Sw => a.starts_with(&b),
                        CompareOp::Ew => a.ends_with(&b),
                        CompareOp::Gt => a > b,
                        CompareOp::Ge => a >= b,
                        CompareOp::Lt => a < b,
                        CompareOp::Le => a <= b,
                    }
                }
                _ => false,
            }
        }
        Filter::ValuePath { .. } => false,
    }
}

/// The `eq` conditions of a value filter, to build the element that create-on-absent adds
/// (`emails[type eq "work"].value` on a user with no work email).
fn seed(f: &Filter, out: &mut Map<String, Value>) {
    match f {
        Filter::And(a, b) => {
            seed(a, out);
            seed(b, out);
        }
        Filter::Compare(p, CompareOp::Eq, v) => {
            if let Some(key) = canonical(&ELEMENT_ATTRS, &p.attr) {
                let v = match v {
                    FValue::Str(s) if key == "primary" => match boolean(&Value::String(s.clone())) {
                        Some(b) => Value::Bool(b),
                        None => return,
                    },
                    FValue::Str(s) => Value::String(s.clone()),
                    FValue::Bool(b) => Value::Bool(*b),
                    FValue::Num(n) => serde_json::json!(n),
                    FValue::Null => return,
                };
                out.insert(key.into(), v);
            }
        }
        _ => {}
    }
}

/// Applies PATCH operations to a user document, in order; any failure leaves `doc` unchanged.
pub fn apply(doc: &mut Map<String, Value>, ops: &[Operation]) -> Result<(), ScimError> {
    let mut work = doc.clone();
    for (op, path, value) in ops {
        apply_one(&mut work, op, path.as_deref(), value.as_ref())?;
    }
    *doc = work;
    Ok(())
}

fn apply_one(
    doc: &mut Map<String, Value>,
    op: &str,
    path: Option<&str>,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let Some(path) = path else {
        if op == "remove" {
            return Err(ScimError::no_target("remove needs a path"));
        }
        // No path: the value is an object of attributes; keys may be dotted or URN-qualified
        // paths (Entra), or nested objects (the RFC).
        let Some(Value::Object(values)) = value else {
            return Err(ScimError::invalid_value(
                "Without a path, value must be an object of attributes.",
            ));
        };
        for (k, v) in values {
            if k.eq_ignore_ascii_case(ENTERPRISE) {
                if let Value::Object(ext) = v {
                    for (ek, ev) in ext {
                        apply_one(doc, op, Some(&format!("{ENTERPRISE}:{ek}")), Some(ev))?;
                    }
                }
                continue;
            }
            if k.eq_ignore_ascii_case("schemas") || k.eq_ignore_ascii_case("id") || k.eq_ignore_ascii_case("meta") {
                continue;
            }
            if k.eq_ignore_ascii_case("name") && v.is_object() {
                // Merged sub-attribute by sub-attribute.
                for (nk, nv) in v.as_object().expect("checked") {
                    apply_one(doc, op, Some(&format!("name.{nk}")), Some(nv))?;
                }
                continue;
            }
            // Unknown attributes are ignored, as on create.
            match target(k) {
                Ok(_) => apply_one(doc, op, Some(k), Some(v))?,
                Err(e) if e.scim_type == Some("invalidPath") => {}
                Err(e) => return Err(e),
            }
        }
        return Ok(());
    };
    let t = target(path)?;
    if op != "remove" && value.is_none() {
        return Err(ScimError::invalid_value(format!("{op} on {path} needs a value")));
    }
    let attr = t.attr;
    let container = t.container;
    let place = container_mut(doc, container);
    match (&t.filter, &t.sub) {
        // name.givenName, enterprise manager.value
        (None, Some(sub)) => {
            if is_multi(attr) {
                // emails.value without a filter: every element's sub-attribute.
                let key = canonical(&ELEMENT_ATTRS, sub)
                    .ok_or_else(|| ScimError::invalid_path(format!("no sub-attribute {sub}")))?;
                let v = match value {
                    Some(v) if key == "primary" => {
                        Some(Value::Bool(boolean(v).ok_or_else(|| {
                            ScimError::invalid_value("primary must be true or false")
                        })?))
                    }
                    other => other.cloned(),
                };
                if let Some(Value::Array(items)) = place.get_mut(attr) {
                    for item in items.iter_mut().filter_map(Value::as_object_mut) {
                        match (op, &v) {
                            ("remove", _) => {
                                item.remove(key);
                            }
                            (_, Some(v)) => {
                                item.insert(key.into(), v.clone());
                            }
                            _ => {}
                        }
                    }
                }
                return Ok(());
            }
            if container == Container::Enterprise && attr == "manager" {
                return set(place, container, attr, if op == "remove" { None } else { value });
            }
            if attr != "name" {
                return Err(ScimError::invalid_path(format!("{attr} has no sub-attributes")));
            }
            let key =
                canonical(&NAME_ATTRS, sub).ok_or_else(|| ScimError::invalid_path(format!("name has no {sub}")))?;
            let name = place.entry("name").or_insert_with(|| Value::Object(Map::new()));
            let name = name.as_object_mut().ok_or_else(ScimError::internal)?;
            match (op, value) {
                ("remove", _) | (_, Some(Value::Null)) => {
                    name.remove(key);
                }
                (_, Some(Value::String(s))) => {
                    name.insert(key.into(), Value::String(s.clone()));
                }
                _ => return Err(ScimError::invalid_value(format!("name.{key} must be a string"))),
            }
            Ok(())
        }
        // emails[type eq "work"] and emails[type eq "work"].value
        (Some(f), sub) => {
            if !is_multi(attr) {
                return Err(ScimError::invalid_path(format!("{attr} is not multi-valued")));
            }
            let items = place.entry(attr).or_insert_with(|| Value::Array(vec![]));
            let Value::Array(items) = items else {
                return Err(ScimError::internal());
            };
            let matching: Vec<usize> = items
                .iter()
                .enumerate()
                .filter(|(_, e)| matches(f, e))
                .map(|(i, _)| i)
                .collect();
            match (op, sub) {
                ("remove", None) => {
                    let mut i = 0;
                    items.retain(|_| {
                        let keep = !matching.contains(&i);
                        i += 1;
                        keep
                    });
                }
                ("remove", Some(sub)) => {
                    let key = canonical(&ELEMENT_ATTRS, sub).unwrap_or("");
                    for i in &matching {
                        if let Some(o) = items[*i].as_object_mut() {
                            o.remove(key);
                        }
                    }
                }
                (_, Some(sub)) => {
                    let key = canonical(&ELEMENT_ATTRS, sub)
                        .ok_or_else(|| ScimError::invalid_path(format!("{attr} has no sub-attribute {sub}")))?;
                    let v = value.expect("checked above").clone();
                    let v = if key == "primary" {
                        Value::Bool(
                            boolean(&v).ok_or_else(|| ScimError::invalid_value("primary must be true or false"))?,
                        )
                    } else {
                        v
                    };
                    if matching.is_empty() {
                        // Create on absent (Entra): the filter's eq conditions make the element.
                        let mut e = Map::new();
                        seed(f, &mut e);
                        e.insert(key.into(), v);
                        items.push(Value::Object(e));
                    } else {
                        for i in &matching {
                            if let Some(o) = items[*i].as_object_mut() {
                                o.insert(key.into(), v.clone());
                            }
                        }
                    }
                }
                (_, None) => {
                    let new = elements(value.expect("checked above"))?;
                    if matching.is_empty() {
                        for mut e in new {
                            if let Some(o) = e.as_object_mut() {
                                let mut seeded = Map::new();
                                seed(f, &mut seeded);
                                for (k, v) in seeded {
                                    o.entry(k).or_insert(v);
                                }
                            }
                            items.push(e);
                        }
                    } else {
                        for i in &matching {
                            if let (Some(o), Some(Value::Object(n))) = (items[*i].as_object_mut(), new.first()) {
                                for (k, v) in n {
                                    o.insert(k.clone(), v.clone());
                                }
                            }
                        }
                    }
                }
            }
            if items.is_empty() {
                place.remove(attr);
            }
            Ok(())
        }
        (None, None) => {
            if op == "remove" {
                if attr == "userName" {
                    return Err(ScimError::mutability("userName is required and cannot be removed"));
                }
                if is_multi(attr) {
                    if let Some(v) = value.filter(|v| !v.is_null()) {
                        // A value names which elements go (as Entra does for members).
                        let gone = elements(v)?;
                        if let Some(Value::Array(items)) = place.get_mut(attr) {
                            items.retain(|e| {
                                !gone
                                    .iter()
                                    .any(|g| g.get("value").is_some() && g.get("value") == e.get("value"))
                            });
                            if items.is_empty() {
                                place.remove(attr);
                            }
                        }
                        return Ok(());
                    }
                }
                place.remove(attr);
                return Ok(());
            }
            let v = value.expect("checked above");
            if is_multi(attr) && op == "add" {
                let new = elements(v)?;
                let items = place.entry(attr).or_insert_with(|| Value::Array(vec![]));
                if let Value::Array(items) = items {
                    for e in new {
                        if !items.contains(&e) {
                            items.push(e);
                        }
                    }
                }
                return Ok(());
            }
            if attr == "name" {
                if let Value::Object(parts) = v {
                    for (k, nv) in parts {
                        apply_one(doc, op, Some(&format!("name.{k}")), Some(nv))?;
                    }
                    return Ok(());
                }
            }
            set(place, container, attr, Some(v))
        }
    }
}

fn set(
    place: &mut Map<String, Value>,
    container: Container,
    attr: &str,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    match value.map(|v| attribute(container, attr, v)).transpose()?.flatten() {
        Some(v) => {
            place.insert(attr.into(), v);
        }
        None => {
            if attr == "userName" {
                return Err(ScimError::mutability("userName is required and cannot be removed"));
            }
            place.remove(attr);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Map<String, Value> {
        read_user(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "urn:not:a:real:schema"],
            "UserName": "Alice@Contoso.com", "externalId": "alice", "active": "True", "displayName": null,
            "name": {"givenName": "Alice", "FamilyName": "Example", "bogus": 1},
            "emails": [{"primary": "true", "type": "work", "value": "alice@contoso.com"}],
            "meta": {"resourceType": "User"}, "roles": [], "id": "client-chosen", "nonsense": {"x": 1},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"Department": "R&D", "manager": [{"value": "m1"}]}
        }))
        .unwrap()
    }

    fn patch(doc: &mut Map<String, Value>, body: Value) -> Result<(), ScimError> {
        apply(doc, &read_patch(&body)?)
    }

    #[test]
    fn a_create_body_is_read_leniently_into_canonical_form() {
        let doc = user();
        assert_eq!(doc["userName"], "Alice@Contoso.com");
        assert_eq!(doc["active"], true);
        assert_eq!(doc["name"], json!({"givenName": "Alice", "familyName": "Example"}));
        assert_eq!(doc["emails"][0]["primary"], true);
        assert_eq!(
            doc[ENTERPRISE],
            json!({"department": "R&D", "manager": {"value": "m1"}})
        );
        for gone in ["id", "meta", "roles", "displayName", "nonsense", "schemas"] {
            assert!(!doc.contains_key(gone), "{gone}");
        }
    }

    #[test]
    fn entra_s_legacy_dialect_applies() {
        let mut doc = user();
        patch(&mut doc, json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Add", "path": "nickName", "value": "Babs"},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "a@b.com"},
            {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "m2"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Retail"}
        ]})).unwrap();
        assert_eq!(doc["active"], false);
        assert_eq!(doc["nickName"], "Babs");
        assert_eq!(
            doc["emails"],
            json!([{"primary": true, "type": "work", "value": "a@b.com"}])
        );
        assert_eq!(doc["phoneNumbers"], json!([{"type": "mobile", "value": "+1 555"}]));
        assert_eq!(doc[ENTERPRISE]["manager"], json!({"value": "m2"}));
        assert_eq!(doc[ENTERPRISE]["department"], "Retail");
    }

    #[test]
    fn entra_s_flagged_dialect_applies_dotted_and_urn_keys_without_a_path() {
        let mut doc = user();
        patch(
            &mut doc,
            json!({"Operations": [
                {"op": "replace", "value": {"displayName": "X", "name.givenName": "Y", "name.familyName": "Z",
                  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "123", "active": false}}
            ]}),
        )
        .unwrap();
        assert_eq!(
            (doc["displayName"].as_str(), doc["active"].as_bool()),
            (Some("X"), Some(false))
        );
        assert_eq!(doc["name"], json!({"givenName": "Y", "familyName": "Z"}));
        assert_eq!(doc[ENTERPRISE]["employeeNumber"], "123");
    }

    #[test]
    fn manager_removal_in_each_shape() {
        for op in [
            json!({"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}),
            json!({"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": ""}),
            json!({"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": {"value": ""}}),
        ] {
            let mut doc = user();
            patch(&mut doc, json!({"Operations": [op]})).unwrap();
            assert!(doc[ENTERPRISE].get("manager").is_none());
        }
    }

    #[test]
    fn operations_are_all_or_nothing_and_errors_carry_their_scim_type() {
        let mut doc = user();
        let before = doc.clone();
        let err = patch(
            &mut doc,
            json!({"Operations": [
                {"op": "replace", "path": "nickName", "value": "Changed"},
                {"op": "remove", "path": "userName"}
            ]}),
        )
        .unwrap_err();
        assert_eq!(err.scim_type, Some("mutability"));
        assert_eq!(doc, before, "the first operation was kept");
        for (body, kind) in [
            (json!({"Operations": [{"op": "remove"}]}), "noTarget"),
            (
                json!({"Operations": [{"op": "replace", "path": "emails[type eq", "value": 1}]}),
                "invalidPath",
            ),
            (
                json!({"Operations": [{"op": "replace", "path": "id", "value": "x"}]}),
                "mutability",
            ),
            (
                json!({"Operations": [{"op": "jump", "path": "title", "value": "x"}]}),
                "invalidSyntax",
            ),
            (json!({"Operations": []}), "invalidSyntax"),
            (
                json!({"Operations": [{"op": "replace", "path": "active", "value": "maybe"}]}),
                "invalidValue",
            ),
        ] {
            assert_eq!(
                patch(&mut doc, body.clone()).unwrap_err().scim_type,
                Some(kind),
                "{body}"
            );
        }
    }

    #[test]
    fn no_patch_body_makes_the_engine_panic_and_a_refused_one_changes_nothing() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let ops = ["add", "Replace", "remove", "REMOVE", "copy"];
        let paths = [
            None,
            Some("userName"),
            Some("name.givenName"),
            Some("name"),
            Some("emails"),
            Some("emails[type eq \"work\"].value"),
            Some("emails[value eq \"1\"]"),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"),
            Some("active"),
            Some("id"),
            Some("phoneNumbers.value"),
            Some("bogus"),
            Some("emails[type eq"),
            Some(""),
        ];
        let values = [
            json!(null),
            json!("x"),
            json!("False"),
            json!(true),
            json!(1),
            json!([]),
            json!([{"value": "1"}]),
            json!({"givenName": "G"}),
            json!({"name.familyName": "F", "active": "true"}),
            json!([[1]]),
            json!({"value": ""}),
        ];
        let mut rng = StdRng::seed_from_u64(5);
        for _ in 0..20_000 {
            let n = rng.gen_range(1..4);
            let body: Vec<Value> = (0..n)
                .map(|_| {
                    let mut op = json!({"op": ops[rng.gen_range(0..ops.len())]});
                    if let Some(p) = paths[rng.gen_range(0..paths.len())] {
                        op["path"] = json!(p);
                    }
                    if rng.gen_bool(0.8) {
                        op["value"] = values[rng.gen_range(0..values.len())].clone();
                    }
                    op
                })
                .collect();
            let mut doc = user();
            let before = doc.clone();
            if patch(&mut doc, json!({"Operations": body})).is_err() {
                assert_eq!(doc, before);
            }
        }
    }

    #[test]
    fn removing_with_a_value_array_removes_only_those_values() {
        let mut doc =
            read_user(&json!({"userName": "a", "emails": [{"value": "1"}, {"value": "2"}, {"value": "3"}]})).unwrap();
        patch(
            &mut doc,
            json!({"Operations": [{"op": "Remove", "path": "emails", "value": [{"value": "2"}]}]}),
        )
        .unwrap();
        assert_eq!(doc["emails"], json!([{"value": "1"}, {"value": "3"}]));
        patch(
            &mut doc,
            json!({"Operations": [{"op": "remove", "path": "emails[value eq \"1\"]"}]}),
        )
        .unwrap();
        assert_eq!(doc["emails"], json!([{"value": "3"}]));
    }
}

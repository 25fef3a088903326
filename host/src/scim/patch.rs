//! Applying a SCIM PATCH request (RFC 7644 §3.5.2) to a resource in JSON form: `add`,
//! `replace` and `remove`, with and without `path`, value filters and sub-attributes,
//! extension attributes by URN (or a whole extension by its URN alone), the common
//! `externalId`, and multi-valued merges. What real clients send is accepted
//! as well: operation names in any case, `"True"`/`"False"` strings for booleans (Entra ID),
//! `remove` with a `value` listing the members to drop (Entra ID), and a filtered `add` or
//! `replace` that matches nothing creating the value it describes
//! (`addresses[type eq "work"].locality`). Attribute names match case-insensitively and are
//! written with the schema's spelling. The caller checks the result against the schema.

use serde_json::{Map, Value};

use super::error::{ScimError, ScimType};
use super::eval;
use super::filter::{AttrPath, CompValue, CompareOp, Filter};
use super::path::PatchPath;
use super::schema::{self, Attr, Mutability, Type};

/// Most operations in one PATCH request.
pub const MAX_OPERATIONS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

/// Applies the body of a PATCH request (`{"schemas": [PatchOp], "Operations": [...]}`) to
/// `resource`, whose core attributes are `attrs`. All or nothing: on error `resource` may be
/// half-changed, so callers apply to a copy.
pub fn apply(resource: &mut Value, body: &Value, attrs: &'static [Attr]) -> Result<(), ScimError> {
    let invalid = |d: &str| ScimError::bad_request(ScimType::InvalidSyntax, d);
    let ops = body
        .get("Operations")
        .or_else(|| body.get("operations"))
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("a PATCH request needs an `Operations` array"))?;
    if ops.is_empty() || ops.len() > MAX_OPERATIONS {
        return Err(invalid(&format!("give 1 to {MAX_OPERATIONS} operations")));
    }
    for op in ops {
        let name = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("each operation needs an `op`"))?;
        let kind = match name.to_ascii_lowercase().as_str() {
            "add" => Op::Add,
            "replace" => Op::Replace,
            "remove" => Op::Remove,
            _ => return Err(invalid(&format!("`{name}` is not add, replace or remove"))),
        };
        let value = op.get("value");
        // A path that is an extension's URN names the extension's object as a whole, as a
        // path-less value `{"urn:…": {…}}` does (RFC 7643 §3.3: the URN is the attribute
        // holding the extension). Read as `URI ":" ATTRNAME` it would name an attribute
        // `User` of a schema `…:enterprise:2.0`, which no client means.
        if let Some((urn, ext)) = op
            .get("path")
            .and_then(Value::as_str)
            .and_then(|p| extension(p.trim()))
        {
            set_extension(resource, urn, ext, value, kind)?;
            continue;
        }
        let path = match op.get("path") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) if p.trim().is_empty() => None,
            Some(Value::String(p)) => Some(
                p.parse::<PatchPath>()
                    .map_err(|e| ScimError::bad_request(ScimType::InvalidPath, e.0))?,
            ),
            Some(_) => return Err(invalid("`path` must be a string")),
        };
        match (kind, path) {
            (Op::Remove, None) => {
                return Err(ScimError::bad_request(
                    ScimType::NoTarget,
                    "a remove operation needs a `path`",
                ))
            }
            (Op::Remove, Some(path)) => remove(resource, &path, value, attrs)?,
            (_, None) => {
                let Some(Value::Object(map)) = value else {
                    return Err(ScimError::bad_request(
                        ScimType::InvalidValue,
                        "without a `path`, the value must be an object of attributes",
                    ));
                };
                for (key, v) in map {
                    if key == "schemas" {
                        continue;
                    }
                    match (known_schema(key), v) {
                        // `{"urn:…:enterprise:2.0:User": {"department": "x"}}`
                        (Some((urn, ext)), Value::Object(inner)) => {
                            set_members(resource, urn, ext, inner, kind)?;
                        }
                        _ => {
                            let path: PatchPath =
                                key.parse().map_err(|e: super::filter::FilterError| {
                                    ScimError::bad_request(ScimType::InvalidPath, e.0)
                                })?;
                            set(resource, &path, v, kind, attrs)?;
                        }
                    }
                }
            }
            (_, Some(path)) => {
                let value = value.ok_or_else(|| {
                    ScimError::bad_request(ScimType::InvalidValue, "this operation needs a `value`")
                })?;
                set(resource, &path, value, kind, attrs)?;
            }
        }
    }
    Ok(())
}

/// The schema `text` names (case-insensitively), in its spelling, with its attributes.
fn known_schema(text: &str) -> Option<(&'static str, &'static [Attr])> {
    let urn = [schema::USER, schema::GROUP, schema::ENTERPRISE_USER]
        .into_iter()
        .find(|u| u.eq_ignore_ascii_case(text))?;
    Some((urn, schema::attributes(urn)?))
}

/// The extension schema `text` names: a known schema that is not a core one.
fn extension(text: &str) -> Option<(&'static str, &'static [Attr])> {
    known_schema(text).filter(|(urn, _)| *urn == schema::ENTERPRISE_USER)
}

/// `add` or `replace` of attributes of the extension `urn`, one by one.
fn set_members(
    resource: &mut Value,
    urn: &str,
    ext: &'static [Attr],
    members: &Map<String, Value>,
    op: Op,
) -> Result<(), ScimError> {
    for (name, v) in members {
        // An extension object may repeat the resource's `schemas`; it is no attribute.
        if name.eq_ignore_ascii_case("schemas") {
            continue;
        }
        let path = PatchPath {
            attr: AttrPath {
                urn: Some(urn.to_string()),
                name: name.clone(),
                sub: None,
            },
            filter: None,
            sub: None,
        };
        set(resource, &path, v, op, ext)?;
    }
    Ok(())
}

/// An operation whose path is the extension `urn` itself: `add` merges the value's
/// attributes into the extension object, `replace` puts the value in its place, `remove`
/// drops the whole object.
fn set_extension(
    resource: &mut Value,
    urn: &str,
    ext: &'static [Attr],
    value: Option<&Value>,
    op: Op,
) -> Result<(), ScimError> {
    let root = resource.as_object_mut().ok_or_else(|| {
        ScimError::bad_request(ScimType::InvalidSyntax, "the resource is not an object")
    })?;
    if op != Op::Add {
        if let Some(k) = key_of(root, urn) {
            root.remove(&k);
        }
    }
    match (op, value) {
        (Op::Remove, _) => Ok(()),
        (_, Some(Value::Object(members))) => set_members(resource, urn, ext, members, op),
        _ => Err(ScimError::bad_request(
            ScimType::InvalidValue,
            format!("the value of `{urn}` must be an object of its attributes"),
        )),
    }
}

/// The object holding `path`'s attribute (the resource, or its extension object), created
/// when `create`.
fn container<'a>(
    resource: &'a mut Value,
    path: &AttrPath,
    create: bool,
) -> Option<&'a mut Map<String, Value>> {
    let root = resource.as_object_mut()?;
    if is_core(path) {
        return Some(root);
    }
    let urn = path.urn.as_deref()?;
    let key = root
        .keys()
        .find(|k| k.eq_ignore_ascii_case(urn))
        .cloned()
        .unwrap_or_else(|| urn.to_string());
    if !root.contains_key(&key) {
        if !create {
            return None;
        }
        root.insert(key.clone(), Value::Object(Map::new()));
    }
    root.get_mut(&key)?.as_object_mut()
}

/// The key of `name` in `map`, matched case-insensitively.
fn key_of(map: &Map<String, Value>, name: &str) -> Option<String> {
    map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

/// The definition of `path`'s attribute, or `invalidPath`. A core attribute may also be
/// one every resource has (`externalId`; `id` and `meta`, which are read-only).
fn definition<'a>(attrs: &'a [Attr], path: &AttrPath) -> Result<&'a Attr, ScimError> {
    let core = is_core(path);
    let attrs = match &path.urn {
        Some(urn) => schema::attributes(urn).ok_or_else(|| {
            ScimError::bad_request(ScimType::InvalidPath, format!("unknown schema `{urn}`"))
        })?,
        None => attrs,
    };
    schema::find(attrs, &path.name)
        .or_else(|| {
            core.then(|| schema::find(schema::COMMON_ATTRS, &path.name))
                .flatten()
        })
        .ok_or_else(|| {
            ScimError::bad_request(ScimType::InvalidPath, format!("unknown attribute `{path}`"))
        })
}

/// Whether `path` names a core attribute (no URN, or a core schema's), not an extension's.
fn is_core(path: &AttrPath) -> bool {
    path.urn.as_deref().is_none_or(|u| {
        u.eq_ignore_ascii_case(schema::USER) || u.eq_ignore_ascii_case(schema::GROUP)
    })
}

fn writable(def: &Attr, path: &AttrPath) -> Result<(), ScimError> {
    if def.mutability == Mutability::ReadOnly {
        return Err(ScimError::bad_request(
            ScimType::Mutability,
            format!("`{path}` is read-only"),
        ));
    }
    Ok(())
}

/// Coerces a value to the attribute's type where clients are known to send it wrongly.
fn coerce(def: &Attr, value: &Value) -> Value {
    match (def.ty, value) {
        (Type::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
        (Type::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
        (Type::Complex, Value::Object(map)) => Value::Object(
            map.iter()
                .map(|(k, v)| match schema::find(def.sub, k) {
                    Some(sub) => (sub.name.to_string(), coerce(sub, v)),
                    None => (k.clone(), v.clone()),
                })
                .collect(),
        ),
        _ => value.clone(),
    }
}

/// `add` or `replace` of `value` at `path`.
fn set(
    resource: &mut Value,
    path: &PatchPath,
    value: &Value,
    op: Op,
    attrs: &[Attr],
) -> Result<(), ScimError> {
    let def = definition(attrs, &path.attr)?;
    writable(def, &path.attr)?;
    let map = container(resource, &path.attr, true).ok_or_else(|| {
        ScimError::bad_request(ScimType::InvalidSyntax, "the resource is not an object")
    })?;
    // Written with the schema's spelling from now on.
    if let Some(old) = key_of(map, def.name).filter(|k| k != def.name) {
        if let Some(v) = map.remove(&old) {
            map.insert(def.name.to_string(), v);
        }
    }
    let key = def.name.to_string();

    if let Some(filter) = &path.filter {
        return set_filtered(map, &key, def, filter, path.sub.as_deref(), value, op);
    }
    if let Some(sub_name) = &path.attr.sub {
        let sub = schema::find(def.sub, sub_name).ok_or_else(|| {
            ScimError::bad_request(
                ScimType::InvalidPath,
                format!("unknown attribute `{}`", path.attr),
            )
        })?;
        writable(sub, &path.attr)?;
        if def.multi {
            // `emails.value` without a filter would change every email: refuse.
            return Err(ScimError::bad_request(
                ScimType::InvalidPath,
                format!(
                    "`{}` needs a value filter, such as {}[type eq \"work\"].{}",
                    path.attr, def.name, sub.name
                ),
            ));
        }
        let entry = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(inner) = entry {
            let k = key_of(inner, sub.name).unwrap_or_else(|| sub.name.to_string());
            inner.remove(&k);
            inner.insert(sub.name.to_string(), coerce(sub, value));
        }
        return Ok(());
    }
    let value = coerce(def, value);
    if def.multi {
        let incoming: Vec<Value> = match value {
            Value::Array(items) => items.iter().map(|i| coerce(def, i)).collect(),
            other => vec![other],
        };
        match op {
            Op::Replace => {
                map.insert(key, Value::Array(incoming));
            }
            _ => {
                let list = map.entry(key).or_insert_with(|| Value::Array(Vec::new()));
                if !list.is_array() {
                    *list = Value::Array(Vec::new());
                }
                let items = list.as_array_mut().expect("made an array");
                // Compared by their JSON text in a set: adding n values to m is O(n + m), not
                // O(n·m), for a group of thousands of members.
                let mut seen: std::collections::HashSet<String> =
                    items.iter().map(Value::to_string).collect();
                for v in incoming {
                    if seen.insert(v.to_string()) {
                        items.push(v);
                    }
                }
            }
        }
    } else if def.ty == Type::Complex && op == Op::Add {
        // Add merges sub-attributes into a single complex value; replace sets it whole.
        let entry = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
        match (entry, value) {
            (Value::Object(old), Value::Object(new)) => {
                for (k, v) in new {
                    old.insert(k, v);
                }
            }
            (slot, v) => *slot = v,
        }
    } else {
        map.insert(key, value);
    }
    Ok(())
}

/// `add`/`replace` at `attr[filter]` or `attr[filter].sub`.
fn set_filtered(
    map: &mut Map<String, Value>,
    key: &str,
    def: &Attr,
    filter: &Filter,
    sub: Option<&str>,
    value: &Value,
    op: Op,
) -> Result<(), ScimError> {
    if !def.multi || def.ty != Type::Complex {
        return Err(ScimError::bad_request(
            ScimType::InvalidPath,
            format!("`{}` is not a multi-valued complex attribute", def.name),
        ));
    }
    let sub_def = match sub {
        Some(s) => Some(schema::find(def.sub, s).ok_or_else(|| {
            ScimError::bad_request(
                ScimType::InvalidPath,
                format!("unknown attribute `{}.{s}`", def.name),
            )
        })?),
        None => None,
    };
    let list = map
        .entry(key.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    let items = list.as_array_mut().expect("made an array");
    let mut hit = false;
    for item in items.iter_mut() {
        if !eval::matches(filter, item, def.sub) {
            continue;
        }
        hit = true;
        match sub_def {
            Some(s) => {
                if let Value::Object(obj) = item {
                    if let Some(k) = key_of(obj, s.name) {
                        obj.remove(&k);
                    }
                    obj.insert(s.name.to_string(), coerce(s, value));
                }
            }
            None => {
                // Add merges into the matched value; replace puts the new value in its place.
                let new = coerce(def, value);
                if let (Op::Add, Value::Object(fields), Some(obj)) =
                    (op, &new, item.as_object_mut())
                {
                    obj.extend(fields.clone());
                } else {
                    *item = new;
                }
            }
        }
    }
    if hit {
        return Ok(());
    }
    // Nothing matched: create the value the filter describes, if it is a plain description.
    let mut created = described(filter).ok_or_else(|| {
        ScimError::bad_request(
            ScimType::NoTarget,
            format!("no value of `{}` matches the filter", def.name),
        )
    })?;
    match (sub_def, coerce(def, value)) {
        (Some(s), _) => {
            created.insert(s.name.to_string(), coerce(s, value));
        }
        (None, Value::Object(new)) => created.extend(new),
        (None, _) => {
            return Err(ScimError::bad_request(
                ScimType::InvalidValue,
                format!("a value of `{}` must be an object", def.name),
            ))
        }
    }
    items.push(Value::Object(created));
    Ok(())
}

/// The sub-attributes an `a eq "x" and b eq "y"` filter fixes, or `None` for any other.
fn described(filter: &Filter) -> Option<Map<String, Value>> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.urn.is_none() && path.sub.is_none() => {
            let v = match value {
                CompValue::Str(s) => Value::String(s.clone()),
                CompValue::Num(n) => Value::Number(n.clone()),
                CompValue::Bool(b) => Value::Bool(*b),
                CompValue::Null => return None,
            };
            Some(Map::from_iter([(path.name.clone(), v)]))
        }
        Filter::And(a, b) => {
            let mut m = described(a)?;
            m.extend(described(b)?);
            Some(m)
        }
        _ => None,
    }
}

/// `remove` at `path`; `value` (Entra ID) names the values of a multi-valued attribute to drop.
fn remove(
    resource: &mut Value,
    path: &PatchPath,
    value: Option<&Value>,
    attrs: &[Attr],
) -> Result<(), ScimError> {
    let def = definition(attrs, &path.attr)?;
    writable(def, &path.attr)?;
    if def.required && path.filter.is_none() && path.attr.sub.is_none() {
        return Err(ScimError::bad_request(
            ScimType::Mutability,
            format!("`{}` is required and cannot be removed", def.name),
        ));
    }
    let Some(map) = container(resource, &path.attr, false) else {
        return Ok(());
    };
    let Some(key) = key_of(map, def.name) else {
        return Ok(());
    };
    match (&path.filter, &path.attr.sub) {
        (Some(filter), _) => {
            if let Some(Value::Array(items)) = map.get_mut(&key) {
                match &path.sub {
                    Some(sub) => {
                        for item in items
                            .iter_mut()
                            .filter(|i| eval::matches(filter, i, def.sub))
                        {
                            if let Some(obj) = item.as_object_mut() {
                                if let Some(k) = key_of(obj, sub) {
                                    obj.remove(&k);
                                }
                            }
                        }
                    }
                    None => items.retain(|i| !eval::matches(filter, i, def.sub)),
                }
            }
        }
        (None, Some(sub)) => {
            if let Some(Value::Object(obj)) = map.get_mut(&key) {
                if let Some(k) = key_of(obj, sub) {
                    obj.remove(&k);
                }
            }
        }
        (None, None) => match (value, map.get_mut(&key)) {
            // Entra ID: `{"op": "Remove", "path": "members", "value": [{"value": "id"}]}`.
            (Some(v), Some(Value::Array(items))) if def.multi => {
                let drop: Vec<&Value> = match v {
                    Value::Array(list) => list.iter().collect(),
                    other => vec![other],
                };
                let id = |x: &Value| x.get("value").unwrap_or(x).to_string();
                let ids: std::collections::HashSet<String> = drop.iter().map(|d| id(d)).collect();
                items.retain(|i| !ids.contains(&id(i)));
            }
            _ => {
                map.remove(&key);
            }
        },
    }
    Ok(())
}

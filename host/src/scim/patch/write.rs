//! The writes of a PATCH: `add` and `replace` at a path (with or without a value filter,
//! creating what a filter that matches nothing describes), and `remove`.

use serde_json::{Map, Value};

use super::target::{coerce, container, definition, key_of, writable};
use super::Op;
use crate::scim::error::{ScimError, ScimType};
use crate::scim::eval;
use crate::scim::filter::{CompValue, CompareOp, Filter};
use crate::scim::path::PatchPath;
use crate::scim::schema::{self, Attr, Type};
/// `add` or `replace` of `value` at `path`.
pub(super) fn set(
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
pub(super) fn remove(
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

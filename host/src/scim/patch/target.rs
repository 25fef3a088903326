//! Where a PATCH path points: the object holding the attribute (the resource or its
//! extension object), the attribute's definition in the schema, whether it may be written,
//! and a value coerced to its type (`"True"` for `true`).

use serde_json::{Map, Value};

use crate::scim::error::{ScimError, ScimType};
use crate::scim::filter::AttrPath;
use crate::scim::schema::{self, Attr, Mutability, Type};
/// The object holding `path`'s attribute (the resource, or its extension object), created
/// when `create`.
pub(super) fn container<'a>(
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
pub(super) fn key_of(map: &Map<String, Value>, name: &str) -> Option<String> {
    map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

/// The definition of `path`'s attribute, or `invalidPath`. A core attribute may also be
/// one every resource has (`externalId`; `id` and `meta`, which are read-only).
pub(super) fn definition<'a>(attrs: &'a [Attr], path: &AttrPath) -> Result<&'a Attr, ScimError> {
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
pub(super) fn is_core(path: &AttrPath) -> bool {
    path.urn.as_deref().is_none_or(|u| {
        u.eq_ignore_ascii_case(schema::USER) || u.eq_ignore_ascii_case(schema::GROUP)
    })
}

pub(super) fn writable(def: &Attr, path: &AttrPath) -> Result<(), ScimError> {
    if def.mutability == Mutability::ReadOnly {
        return Err(ScimError::bad_request(
            ScimType::Mutability,
            format!("`{path}` is read-only"),
        ));
    }
    Ok(())
}

/// Coerces a value to the attribute's type where clients are known to send it wrongly.
pub(super) fn coerce(def: &Attr, value: &Value) -> Value {
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

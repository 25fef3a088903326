//! Applying a SCIM PATCH request (RFC 7644 §3.5.2) to a resource in JSON form: `add`,
//! `replace` and `remove`, with and without `path`, value filters and sub-attributes,
//! extension attributes by URN (or a whole extension by its URN alone), the common
//! `externalId`, and multi-valued merges. What real clients send is accepted
//! as well: operation names in any case, `"True"`/`"False"` strings for booleans (Entra ID),
//! `remove` with a `value` listing the members to drop (Entra ID), and a filtered `add` or
//! `replace` that matches nothing creating the value it describes
//! (`addresses[type eq "work"].locality`). Attribute names match case-insensitively and are
//! written with the schema's spelling. The caller checks the result against the schema.

mod target;
#[cfg(test)]
mod tests;
mod write;

use serde_json::{Map, Value};

use self::target::key_of;
use self::write::{remove, set};
use super::error::{ScimError, ScimType};
use super::filter::AttrPath;
use super::path::PatchPath;
use super::schema::{self, Attr};

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

//! Checking a resource a client wrote (POST, PUT, or the result of a PATCH) against the
//! schema: attribute names matched case-insensitively and rewritten with the schema's
//! spelling, types checked (Entra ID's `"True"`/`"False"` strings read as booleans, a single
//! object accepted where a list is expected), unknown attributes and unknown extensions
//! refused, read-only attributes ignored (RFC 7643 §2.2), and write-only ones (`password`)
//! dropped: Gatehouse keeps no SCIM passwords, its users sign in through SSO.

use serde_json::{Map, Value};

use super::error::{ScimError, ScimType};
use super::schema::{self, Attr, Mutability, Type};

/// Attributes common to every resource (RFC 7643 §3.1) that the server owns.
const SERVER_OWNED: [&str; 2] = ["id", "meta"];

/// Most values one multi-valued attribute (emails, phoneNumbers, entitlements…) may hold:
/// real directories send a handful; a client cannot make one user a megabyte of addresses.
/// Group `members` are rows of their own and are bounded per request instead.
pub const MAX_VALUES_PER_ATTRIBUTE: usize = 100;

/// Largest resource stored as the client wrote it (its attributes as JSON, without group
/// members), so one user cannot weigh on every listing that reads it.
pub const MAX_RESOURCE_BYTES: usize = 64 * 1024;

/// The checked resource: core attributes and `externalId` at the top, each known extension
/// under its URN, `schemas` as the client listed them (checked), nothing read-only.
pub fn check(
    input: &Value,
    core_urn: &str,
    core: &'static [Attr],
    extensions: &[&'static str],
) -> Result<Map<String, Value>, ScimError> {
    let Value::Object(map) = input else {
        return Err(syntax("the resource must be a JSON object"));
    };
    let mut out = Map::new();
    for (key, value) in map {
        if key.eq_ignore_ascii_case("schemas") {
            out.insert(
                "schemas".into(),
                check_schemas(value, core_urn, extensions)?,
            );
            continue;
        }
        if SERVER_OWNED.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            continue;
        }
        if key.eq_ignore_ascii_case("externalId") {
            match value {
                Value::Null => {}
                Value::String(s) => {
                    out.insert("externalId".into(), Value::String(s.clone()));
                }
                _ => return Err(value_error("externalId must be a string")),
            }
            continue;
        }
        if key.len() > 4 && key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
            let Some(urn) = extensions.iter().find(|u| u.eq_ignore_ascii_case(key)) else {
                return Err(syntax(format!(
                    "`{}` is not a schema extension of this resource type",
                    crate::types::truncate(key, 120)
                )));
            };
            let attrs = schema::attributes(urn).unwrap_or(&[]);
            match value {
                Value::Null => {}
                Value::Object(_) => {
                    let inner = check_complex(urn, attrs, value)?;
                    if !inner.is_empty() {
                        out.insert((*urn).to_string(), Value::Object(inner));
                    }
                }
                _ => return Err(value_error(format!("`{urn}` must be an object"))),
            }
            continue;
        }
        let Some(attr) = schema::find(core, key) else {
            return Err(syntax(format!(
                "`{}` is not an attribute of this resource type",
                crate::types::truncate(key, 120)
            )));
        };
        if let Some(v) = check_attr(attr, value)? {
            out.insert(attr.name.to_string(), v);
        }
    }
    let stored: usize = out
        .iter()
        .filter(|(k, _)| k.as_str() != "members")
        .map(|(k, v)| k.len() + v.to_string().len())
        .sum();
    if stored > MAX_RESOURCE_BYTES {
        return Err(value_error(format!(
            "the resource is larger than {MAX_RESOURCE_BYTES} bytes"
        )));
    }
    Ok(out)
}

fn syntax(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidSyntax, detail)
}

fn value_error(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidValue, detail)
}

fn check_schemas(value: &Value, core_urn: &str, extensions: &[&str]) -> Result<Value, ScimError> {
    let list = value
        .as_array()
        .ok_or_else(|| syntax("`schemas` must be a list of schema URNs"))?;
    let mut out = Vec::with_capacity(list.len());
    for s in list {
        let s = s
            .as_str()
            .ok_or_else(|| syntax("`schemas` must be a list of schema URNs"))?;
        let known = std::iter::once(core_urn)
            .chain(extensions.iter().copied())
            .find(|u| u.eq_ignore_ascii_case(s));
        match known {
            Some(u) => out.push(Value::String(u.to_string())),
            None => {
                return Err(syntax(format!(
                    "`{}` is not a schema of this resource type",
                    crate::types::truncate(s, 120)
                )))
            }
        }
    }
    if !out.iter().any(|s| s == core_urn) {
        return Err(syntax(format!("`schemas` must include `{core_urn}`")));
    }
    Ok(Value::Array(out))
}

/// A checked value for `attr`, or `None` when it should not be stored (null, read-only,
/// write-only).
fn check_attr(attr: &Attr, value: &Value) -> Result<Option<Value>, ScimError> {
    if value.is_null() || attr.mutability == Mutability::ReadOnly {
        return Ok(None);
    }
    if attr.mutability == Mutability::WriteOnly {
        return Ok(None);
    }
    if attr.multi {
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        if items.len() > MAX_VALUES_PER_ATTRIBUTE && attr.name != "members" {
            return Err(value_error(format!(
                "`{}` holds at most {MAX_VALUES_PER_ATTRIBUTE} values",
                attr.name
            )));
        }
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if item.is_null() {
                continue;
            }
            out.push(check_single(attr, item)?);
        }
        if out.is_empty() {
            return Ok(None);
        }
        let primaries = out
            .iter()
            .filter(|v| v.get("primary") == Some(&Value::Bool(true)))
            .count();
        if primaries > 1 {
            return Err(value_error(format!(
                "at most one of `{}` may be primary",
                attr.name
            )));
        }
        return Ok(Some(Value::Array(out)));
    }
    if value.is_array() {
        return Err(value_error(format!("`{}` takes a single value", attr.name)));
    }
    check_single(attr, value).map(Some)
}

fn check_single(attr: &Attr, value: &Value) -> Result<Value, ScimError> {
    let wrong = |what: &str| value_error(format!("`{}` must be {what}", attr.name));
    match attr.ty {
        Type::String | Type::Reference | Type::DateTime | Type::Binary => match value {
            Value::String(_) => Ok(value.clone()),
            _ => Err(wrong("a string")),
        },
        Type::Boolean => match value {
            Value::Bool(_) => Ok(value.clone()),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            _ => Err(wrong("true or false")),
        },
        Type::Integer => match value {
            Value::Number(n) if n.is_i64() => Ok(value.clone()),
            _ => Err(wrong("an integer")),
        },
        Type::Decimal => match value {
            Value::Number(_) => Ok(value.clone()),
            _ => Err(wrong("a number")),
        },
        Type::Complex => {
            if !value.is_object() {
                return Err(wrong("an object"));
            }
            Ok(Value::Object(check_complex(attr.name, attr.sub, value)?))
        }
    }
}

fn check_complex(
    parent: &str,
    sub: &'static [Attr],
    value: &Value,
) -> Result<Map<String, Value>, ScimError> {
    let mut out = Map::new();
    let Value::Object(map) = value else {
        return Ok(out);
    };
    for (key, v) in map {
        let Some(attr) = schema::find(sub, key) else {
            return Err(syntax(format!(
                "`{}` is not a sub-attribute of `{parent}`",
                crate::types::truncate(key, 120)
            )));
        };
        if let Some(v) = check_attr(attr, v)? {
            out.insert(attr.name.to_string(), v);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::{ENTERPRISE_USER, USER, USER_ATTRS};
    use serde_json::json;

    fn user(v: Value) -> Result<Map<String, Value>, ScimError> {
        check(&v, USER, USER_ATTRS, &[ENTERPRISE_USER])
    }

    #[test]
    fn names_are_canonicalised_and_entra_booleans_read() {
        let out = user(json!({
            "schemas": [USER.to_uppercase(), ENTERPRISE_USER],
            "USERNAME": "a@x", "Active": "False", "id": "ignored", "groups": [{"value": "g"}],
            "password": "secret", "emails": {"value": "a@x", "Primary": "True"},
            ENTERPRISE_USER.to_lowercase(): {"Department": "R&D"},
        }))
        .unwrap();
        assert_eq!(out["userName"], "a@x");
        assert_eq!(out["active"], false);
        assert_eq!(out["emails"], json!([{"value": "a@x", "primary": true}]));
        assert_eq!(out[ENTERPRISE_USER]["department"], "R&D");
        assert_eq!(out["schemas"], json!([USER, ENTERPRISE_USER]));
        for gone in ["id", "groups", "password"] {
            assert!(!out.contains_key(gone), "{gone}");
        }
    }

    #[test]
    fn bad_shapes_are_refused_with_the_right_scim_type() {
        let t = |v: Value| user(v).unwrap_err().scim_type.unwrap();
        assert_eq!(
            t(json!({"userName": "a", "shoeSize": 42})),
            ScimType::InvalidSyntax
        );
        assert_eq!(
            t(json!({"userName": "a", "urn:x:custom": {}})),
            ScimType::InvalidSyntax
        );
        assert_eq!(t(json!({"userName": 7})), ScimType::InvalidValue);
        assert_eq!(
            t(json!({"userName": "a", "active": "yes"})),
            ScimType::InvalidValue
        );
        assert_eq!(
            t(json!({"userName": "a", "name": {"first": "A"}})),
            ScimType::InvalidSyntax
        );
        assert_eq!(
            t(json!({"schemas": ["urn:nope"], "userName": "a"})),
            ScimType::InvalidSyntax
        );
        assert_eq!(
            t(
                json!({"userName": "a", "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": true}]})
            ),
            ScimType::InvalidValue
        );
        assert_eq!(t(json!(["not", "an", "object"])), ScimType::InvalidSyntax);
        // A key whose fourth byte is inside a multi-byte character is an unknown attribute,
        // not a panic.
        assert_eq!(
            t(json!({"userName": "a", "urn€x": 1})),
            ScimType::InvalidSyntax
        );
        assert_eq!(
            t(json!({"userName": "a", "ürn:x": 1})),
            ScimType::InvalidSyntax
        );
    }
}

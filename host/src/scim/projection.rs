//! Which attributes a response carries (RFC 7644 §3.4.2.5 and §3.9): `attributes` asks for
//! exactly these (plus those returned always), `excludedAttributes` drops some of the
//! defaults; attributes returned `never` (password) never leave, and those returned only on
//! `request` appear only when named. Extension attributes live in their URN's object.

use serde_json::{Map, Value};

use super::error::{ScimError, ScimType};
use super::filter::AttrPath;
use super::schema::{self, Attr, Returned};

/// Most attribute names in `attributes` or `excludedAttributes`.
pub const MAX_NAMES: usize = 100;

/// Parses a comma-separated `attributes` / `excludedAttributes` value.
pub fn parse_names(text: &str) -> Result<Vec<AttrPath>, ScimError> {
    let names: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if names.len() > MAX_NAMES {
        return Err(ScimError::bad_request(
            ScimType::InvalidValue,
            format!("name at most {MAX_NAMES} attributes"),
        ));
    }
    names
        .into_iter()
        .map(|n| {
            AttrPath::parse(n).map_err(|e| ScimError::bad_request(ScimType::InvalidValue, e.0))
        })
        .collect()
}

/// Names that are always returned, whatever was asked.
const ALWAYS: &[&str] = &["id", "schemas"];

fn named<'a>(list: &'a [AttrPath], urn: Option<&str>, name: &str) -> Vec<&'a AttrPath> {
    list.iter()
        .filter(|p| {
            p.name.eq_ignore_ascii_case(name)
                && match (&p.urn, urn) {
                    (None, _) => true,
                    (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                    (Some(a), None) => {
                        a.eq_ignore_ascii_case(schema::USER)
                            || a.eq_ignore_ascii_case(schema::GROUP)
                    }
                }
        })
        .collect()
}

/// `resource` with only the attributes the request and the schema allow.
pub fn project(
    resource: &Value,
    attrs: &[Attr],
    include: Option<&[AttrPath]>,
    exclude: &[AttrPath],
) -> Value {
    let Some(map) = resource.as_object() else {
        return resource.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        if ALWAYS.iter().any(|a| a.eq_ignore_ascii_case(key)) {
            out.insert(key.clone(), value.clone());
            continue;
        }
        // An extension object: project its attributes by the extension's schema.
        if key.starts_with("urn:") {
            let (Some(ext_attrs), Value::Object(inner)) = (schema::attributes(key), value) else {
                continue;
            };
            let mut kept = Map::new();
            for (k, v) in inner {
                if let Some(v) = keep(
                    Some(key),
                    k,
                    v,
                    schema::find(ext_attrs, k),
                    include,
                    exclude,
                ) {
                    kept.insert(k.clone(), v);
                }
            }
            let whole_asked = include.is_some_and(|list| {
                list.iter()
                    .any(|p| p.urn.is_none() && p.name.eq_ignore_ascii_case(key))
            });
            if whole_asked {
                out.insert(key.clone(), value.clone());
            } else if !kept.is_empty() {
                out.insert(key.clone(), Value::Object(kept));
            }
            continue;
        }
        if let Some(v) = keep(None, key, value, schema::find(attrs, key), include, exclude) {
            out.insert(key.clone(), v);
        }
    }
    Value::Object(out)
}

/// The value to send for one attribute, or `None` to leave it out.
fn keep(
    urn: Option<&str>,
    key: &str,
    value: &Value,
    def: Option<&Attr>,
    include: Option<&[AttrPath]>,
    exclude: &[AttrPath],
) -> Option<Value> {
    let returned = def.map(|d| d.returned).unwrap_or(Returned::Default);
    if returned == Returned::Never {
        return None;
    }
    if returned == Returned::Always {
        return Some(value.clone());
    }
    match include {
        Some(list) => {
            let asked = named(list, urn, key);
            if asked.is_empty() {
                return None;
            }
            // Only some sub-attributes asked for: keep just those.
            if asked.iter().all(|p| p.sub.is_some()) {
                let subs: Vec<&str> = asked.iter().filter_map(|p| p.sub.as_deref()).collect();
                return Some(only_subs(value, &subs));
            }
            Some(value.clone())
        }
        None => {
            if returned == Returned::Request {
                return None;
            }
            let dropped = named(exclude, urn, key);
            if dropped.iter().any(|p| p.sub.is_none()) {
                return None;
            }
            let subs: Vec<&str> = dropped.iter().filter_map(|p| p.sub.as_deref()).collect();
            Some(without_subs(value, &subs))
        }
    }
}

fn filter_subs(value: &Value, keep: impl Fn(&str) -> bool + Copy) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| keep(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|i| filter_subs(i, keep)).collect()),
        other => other.clone(),
    }
}

fn only_subs(value: &Value, subs: &[&str]) -> Value {
    filter_subs(value, |k| subs.iter().any(|s| s.eq_ignore_ascii_case(k)))
}

fn without_subs(value: &Value, subs: &[&str]) -> Value {
    filter_subs(value, |k| !subs.iter().any(|s| s.eq_ignore_ascii_case(k)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::schema::{ENTERPRISE_USER, USER_ATTRS};

    fn user() -> Value {
        json!({
            "schemas": [schema::USER, ENTERPRISE_USER], "id": "u1", "userName": "bjensen",
            "password": "never shown", "title": "Boss",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"value": "b@x.example", "type": "work"}],
            ENTERPRISE_USER: {"department": "R&D", "employeeNumber": "7"},
        })
    }

    fn names(text: &str) -> Vec<AttrPath> {
        parse_names(text).unwrap()
    }

    #[test]
    fn attributes_and_exclusions_follow_the_rules() {
        let all = project(&user(), USER_ATTRS, None, &[]);
        assert!(all.get("password").is_none(), "never returned");
        assert_eq!(all["title"], "Boss");
        assert_eq!(all[ENTERPRISE_USER]["department"], "R&D");

        let only = names("userName,name.familyName,emails.value");
        let some = project(&user(), USER_ATTRS, Some(&only), &[]);
        assert_eq!(
            some,
            json!({"schemas": [schema::USER, ENTERPRISE_USER], "id": "u1", "userName": "bjensen",
                   "name": {"familyName": "Jensen"}, "emails": [{"value": "b@x.example"}]})
        );

        let ext = names(&format!("{ENTERPRISE_USER}:department"));
        let some = project(&user(), USER_ATTRS, Some(&ext), &[]);
        assert_eq!(some[ENTERPRISE_USER], json!({"department": "R&D"}));
        assert!(some.get("userName").is_none());

        let without = names("title,name.givenName,id");
        let rest = project(&user(), USER_ATTRS, None, &without);
        assert!(rest.get("title").is_none());
        assert_eq!(rest["name"], json!({"familyName": "Jensen"}));
        assert_eq!(rest["id"], "u1", "id cannot be excluded");
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(parse_names("userName,,title").is_ok());
        assert!(parse_names("user name").is_err());
        let many = vec!["a"; MAX_NAMES + 1].join(",");
        assert!(parse_names(&many).is_err());
    }
}

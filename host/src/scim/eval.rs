//! Evaluating a [`Filter`] against a SCIM resource in JSON form, with the schema's rules:
//! attribute names are case-insensitive, string comparisons honour `caseExact` (userName
//! and emails are not case-exact, ids and member values are), a comparison on a
//! multi-valued attribute matches when any value does (a complex one by its `value`),
//! and `pr` means present and not empty. Used for PATCH value filters and for checking
//! results; the error for an unknown attribute or a meaningless comparison is the caller's.

use std::cmp::Ordering;

use serde_json::Value;

use super::filter::{AttrPath, CompValue, CompareOp, Filter};
use super::schema::{self, Attr, Type};

/// Whether `resource` (a User or Group, or one value of a multi-valued attribute when
/// `attrs` are its sub-attributes) matches `filter`.
pub fn matches(filter: &Filter, resource: &Value, attrs: &[Attr]) -> bool {
    match filter {
        Filter::And(a, b) => matches(a, resource, attrs) && matches(b, resource, attrs),
        Filter::Or(a, b) => matches(a, resource, attrs) || matches(b, resource, attrs),
        Filter::Not(a) => !matches(a, resource, attrs),
        Filter::Present(path) => values(resource, path, attrs)
            .iter()
            .any(|(v, _)| !is_empty(v)),
        Filter::Compare { path, op, value } => {
            let found = values(resource, path, attrs);
            // An absent attribute equals nothing, so it is "not equal" to anything.
            if found.is_empty() {
                return *op == CompareOp::Ne;
            }
            found.iter().any(|(v, def)| compare(v, *op, value, def))
        }
        Filter::ValuePath { path, filter } => {
            let def = lookup(attrs, path);
            let sub = def.map(|d| d.sub).unwrap_or(&[]);
            match get(resource, path) {
                Some(Value::Array(items)) => items.iter().any(|i| matches(filter, i, sub)),
                Some(item @ Value::Object(_)) => matches(filter, item, sub),
                _ => false,
            }
        }
    }
}

/// The attribute's definition, following an extension URN to its schema; `id`,
/// `externalId` and `meta` are every resource's (RFC 7643 §3.1: `id` and `externalId` are
/// case-exact).
fn lookup<'a>(attrs: &'a [Attr], path: &AttrPath) -> Option<&'a Attr> {
    let attrs = match &path.urn {
        Some(urn) => schema::attributes(urn)?,
        None => attrs,
    };
    schema::find(attrs, &path.name).or_else(|| schema::find(schema::COMMON_ATTRS, &path.name))
}

/// A member of a JSON object by case-insensitive name.
fn member<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The top-level attribute `path` names (inside its extension object when it has a URN
/// other than the resource's core schema).
fn get<'a>(resource: &'a Value, path: &AttrPath) -> Option<&'a Value> {
    match &path.urn {
        Some(urn)
            if !urn.eq_ignore_ascii_case(schema::USER)
                && !urn.eq_ignore_ascii_case(schema::GROUP) =>
        {
            member(member(resource, urn)?, &path.name)
        }
        _ => member(resource, &path.name),
    }
}

/// Every leaf value `path` reaches, with the definition it is compared under.
fn values<'a>(
    resource: &'a Value,
    path: &AttrPath,
    attrs: &'a [Attr],
) -> Vec<(&'a Value, Option<&'a Attr>)> {
    let def = lookup(attrs, path);
    let Some(top) = get(resource, path) else {
        return Vec::new();
    };
    // Which sub-attribute to compare: the named one, or `value` of a complex multi-valued
    // attribute compared as a whole (RFC 7644 §3.4.2.2: `emails co "x"` means any value).
    let sub_name = match (&path.sub, def) {
        (Some(s), _) => Some(s.as_str()),
        (None, Some(d)) if d.ty == Type::Complex && d.multi => Some("value"),
        _ => None,
    };
    let sub_def = |d: Option<&'a Attr>| match (sub_name, d) {
        (Some(n), Some(d)) => schema::find(d.sub, n),
        (None, d) => d,
        _ => None,
    };
    let items: Vec<&Value> = match top {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut out = Vec::new();
    for item in items {
        let leaf = match sub_name {
            Some(n) => member(item, n),
            None => Some(item),
        };
        match leaf {
            Some(Value::Array(leaves)) => out.extend(leaves.iter().map(|l| (l, sub_def(def)))),
            Some(l) => out.push((l, sub_def(def))),
            None => {}
        }
    }
    out
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn compare(actual: &Value, op: CompareOp, expected: &CompValue, def: &Option<&Attr>) -> bool {
    let case_exact = def.is_some_and(|d| d.case_exact);
    let date = def.is_some_and(|d| d.ty == Type::DateTime);
    match (actual, expected) {
        (Value::String(a), CompValue::Str(e)) => {
            if date {
                if let (Some(a), Some(e)) = (instant(a), instant(e)) {
                    return ordered(a.cmp(&e), op);
                }
            }
            let (a, e) = if case_exact {
                (a.clone(), e.clone())
            } else {
                (a.to_lowercase(), e.to_lowercase())
            };
            match op {
                CompareOp::Co => a.contains(&e),
                CompareOp::Sw => a.starts_with(&e),
                CompareOp::Ew => a.ends_with(&e),
                _ => ordered(a.cmp(&e), op),
            }
        }
        (Value::Number(a), CompValue::Num(e)) => match (a.as_f64(), e.as_f64()) {
            (Some(a), Some(e)) => a.partial_cmp(&e).is_some_and(|o| ordered(o, op)),
            _ => false,
        },
        (Value::Bool(a), CompValue::Bool(e)) => match op {
            CompareOp::Eq => a == e,
            CompareOp::Ne => a != e,
            _ => false,
        },
        (Value::Null, CompValue::Null) => op == CompareOp::Eq,
        (_, CompValue::Null) => op == CompareOp::Ne,
        _ => op == CompareOp::Ne,
    }
}

fn ordered(o: Ordering, op: CompareOp) -> bool {
    match op {
        CompareOp::Eq => o == Ordering::Equal,
        CompareOp::Ne => o != Ordering::Equal,
        CompareOp::Gt => o == Ordering::Greater,
        CompareOp::Ge => o != Ordering::Less,
        CompareOp::Lt => o == Ordering::Less,
        CompareOp::Le => o != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn instant(text: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::schema::USER_ATTRS;

    fn user() -> Value {
        json!({
            "id": "2819c223", "userName": "BJensen", "active": true, "title": "",
            "name": {"familyName": "Jensen", "givenName": "Barbara"},
            "emails": [
                {"value": "bjensen@Example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "701984"},
        })
    }

    fn is(text: &str) -> bool {
        matches(&text.parse().unwrap(), &user(), USER_ATTRS)
    }

    #[test]
    fn filters_match_as_the_rfc_describes() {
        assert!(is(r#"userName eq "bjensen""#), "userName is not case-exact");
        assert!(is(r#"USERNAME Eq "BJENSEN""#));
        assert!(is(r#"name.familyName sw "jen""#));
        assert!(is(r#"emails co "example.com""#), "any email value");
        assert!(is(r#"emails.value ew ".org""#));
        assert!(is(r#"emails[type eq "work" and value co "@example.com"]"#));
        assert!(!is(r#"emails[type eq "home" and value co "@example.com"]"#));
        assert!(is(r#"active eq true and not (userName eq "x")"#));
        assert!(is(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#
        ));
        assert!(is("name pr and emails pr"));
        assert!(!is("title pr"), "an empty string is not present");
        assert!(!is("nickName pr"));
        assert!(is(r#"nickName ne "x""#));
        assert!(!is(r#"userName gt "c""#));
        assert!(is(r#"userName lt "c" or title eq "x""#));
    }

    #[test]
    fn member_values_are_case_exact() {
        let group = json!({"displayName": "Admins", "members": [{"value": "AbC"}]});
        let attrs = crate::scim::schema::GROUP_ATTRS;
        let f = |t: &str| matches(&t.parse().unwrap(), &group, attrs);
        assert!(f(r#"members[value eq "AbC"]"#));
        assert!(!f(r#"members[value eq "abc"]"#));
        assert!(f(r#"displayName eq "admins""#));
    }
}

//! Listing and searching (RFC 7644 §3.4.2): the query parameters parsed and bounded
//! (`filter`, `startIndex`, `count`, `sortBy`, `sortOrder`, `attributes`,
//! `excludedAttributes`, and RFC 9865's `cursor`), sorting by an attribute with the
//! schema's case rules, and the `ListResponse` envelope. A cursor names the last resource a
//! page showed (its creation time and id, the listing order), so pages stay whole while
//! resources are added or removed, and never expire.

use std::cmp::Ordering;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{ScimError, ScimType};
use super::filter::{AttrPath, Filter};
use super::projection::parse_names;
use super::schema::{self, Attr};

pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// The query string as it arrives (names as RFC 7644 spells them).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawListQuery {
    pub filter: Option<String>,
    pub start_index: Option<String>,
    pub count: Option<String>,
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
    /// RFC 9865: empty for the first page, then a `nextCursor` given before.
    pub cursor: Option<String>,
}

/// Where a cursor-paged listing resumes: after the resource created at `micros` with `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorKey {
    pub micros: i64,
    pub id: String,
}

/// Longest cursor read (an encoded time and id are under 80 characters).
const MAX_CURSOR: usize = 200;

impl CursorKey {
    pub fn encode(&self) -> String {
        B64URL.encode(format!("{}:{}", self.micros, self.id))
    }

    fn decode(text: &str) -> Option<Self> {
        if text.len() > MAX_CURSOR {
            return None;
        }
        let plain = String::from_utf8(B64URL.decode(text).ok()?).ok()?;
        let (micros, id) = plain.split_once(':')?;
        let id_ok = !id.is_empty()
            && id.len() <= 64
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !id_ok {
            return None;
        }
        Some(CursorKey {
            micros: micros.parse().ok()?,
            id: id.to_string(),
        })
    }
}

/// How a listing pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paging {
    /// By `startIndex` (RFC 7644), 1-based.
    Index(usize),
    /// By cursor (RFC 9865): the first page, or after a resource.
    Cursor(Option<CursorKey>),
}

/// A parsed, bounded list request.
#[derive(Debug)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    /// 1-based index of the first result (1 when paging by cursor).
    pub start_index: usize,
    /// By index or by cursor.
    pub paging: Paging,
    /// Most results on this page (0: only `totalResults`).
    pub count: usize,
    pub sort_by: Option<AttrPath>,
    pub descending: bool,
    pub attributes: Option<Vec<AttrPath>>,
    pub excluded: Vec<AttrPath>,
}

fn integer(name: &str, text: Option<&str>) -> Result<Option<i64>, ScimError> {
    text.map(|t| {
        t.trim().parse::<i64>().map_err(|_| {
            ScimError::bad_request(
                ScimType::InvalidValue,
                format!("`{name}` must be an integer"),
            )
        })
    })
    .transpose()
}

impl RawListQuery {
    /// Parses the parameters; `count` is capped at `max_results`, as ServiceProviderConfig
    /// states. Out-of-range numbers are read as RFC 7644 says (startIndex below 1 is 1,
    /// a negative count is 0).
    pub fn parse(&self, max_results: usize) -> Result<ListQuery, ScimError> {
        let filter = self
            .filter
            .as_deref()
            .map(str::parse::<Filter>)
            .transpose()?;
        let start = integer("startIndex", self.start_index.as_deref())?
            .unwrap_or(1)
            .max(1);
        let count = integer("count", self.count.as_deref())?
            .map(|c| c.max(0) as u64)
            .unwrap_or(max_results as u64)
            .min(max_results as u64);
        let sort_by = self
            .sort_by
            .as_deref()
            .map(|s| {
                AttrPath::parse(s.trim())
                    .map_err(|e| ScimError::bad_request(ScimType::InvalidValue, e.0))
            })
            .transpose()?;
        let descending = match self.sort_order.as_deref().map(str::trim) {
            None => false,
            Some(o) if o.eq_ignore_ascii_case("ascending") => false,
            Some(o) if o.eq_ignore_ascii_case("descending") => true,
            Some(_) => {
                return Err(ScimError::bad_request(
                    ScimType::InvalidValue,
                    "`sortOrder` is ascending or descending",
                ))
            }
        };
        let paging = match (&self.cursor, &self.start_index) {
            (None, _) => Paging::Index(usize::try_from(start).unwrap_or(usize::MAX)),
            (Some(_), Some(_)) => {
                return Err(ScimError::bad_request(
                    ScimType::InvalidValue,
                    "page by `startIndex` or by `cursor`, not both",
                ))
            }
            (Some(_), None) if sort_by.is_some() => {
                return Err(ScimError::bad_request(
                    ScimType::InvalidValue,
                    "`sortBy` pages by `startIndex`; a cursor follows the listing order",
                ))
            }
            (Some(c), None) if c.trim().is_empty() => Paging::Cursor(None),
            (Some(c), None) => {
                Paging::Cursor(Some(CursorKey::decode(c.trim()).ok_or_else(|| {
                    ScimError::bad_request(
                        ScimType::InvalidCursor,
                        "`cursor` is not one this server gave (send it as `nextCursor` had it)",
                    )
                })?))
            }
        };
        Ok(ListQuery {
            filter,
            start_index: match paging {
                Paging::Index(start) => start,
                Paging::Cursor(_) => 1,
            },
            paging,
            count: count as usize,
            sort_by,
            descending,
            attributes: self.attributes.as_deref().map(parse_names).transpose()?,
            excluded: self
                .excluded_attributes
                .as_deref()
                .map(parse_names)
                .transpose()?
                .unwrap_or_default(),
        })
    }
}

/// The value a resource sorts by: the attribute, the primary (else first) value of a
/// multi-valued one, lower-cased unless case-exact. `None` sorts last.
fn sort_key(resource: &Value, by: &AttrPath, attrs: &[Attr]) -> Option<Value> {
    let def_attrs = match &by.urn {
        Some(urn) => schema::attributes(urn).unwrap_or(attrs),
        None => attrs,
    };
    let def = schema::find(def_attrs, &by.name);
    let top = resource.as_object()?;
    let holder = match &by.urn {
        Some(urn)
            if !urn.eq_ignore_ascii_case(schema::USER)
                && !urn.eq_ignore_ascii_case(schema::GROUP) =>
        {
            top.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(urn))?
                .1
                .as_object()?
        }
        _ => top,
    };
    let value = holder
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(&by.name))?
        .1;
    let value = match value {
        Value::Array(items) => items
            .iter()
            .find(|i| i.get("primary") == Some(&Value::Bool(true)))
            .or_else(|| items.first())?,
        v => v,
    };
    let sub = by
        .sub
        .as_deref()
        .or_else(|| (def.is_some_and(|d| d.multi)).then_some("value"));
    let (leaf, leaf_def) = match sub {
        Some(s) => (
            value
                .as_object()?
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(s))?
                .1,
            def.and_then(|d| schema::find(d.sub, s)),
        ),
        None => (value, def),
    };
    match leaf {
        Value::String(s) if !leaf_def.is_some_and(|d| d.case_exact) => {
            Some(Value::String(s.to_lowercase()))
        }
        Value::Null => None,
        other => Some(other.clone()),
    }
}

fn compare_keys(a: &Option<Value>, b: &Option<Value>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
    }
}

/// Sorts `resources` in place by `by` (stable; missing values last when ascending).
pub fn sort(resources: &mut [Value], by: &AttrPath, descending: bool, attrs: &[Attr]) {
    let mut keyed: Vec<(Option<Value>, Value)> = resources
        .iter()
        .map(|r| (sort_key(r, by, attrs), r.clone()))
        .collect();
    keyed.sort_by(|(a, _), (b, _)| {
        let o = compare_keys(a, b);
        if descending {
            o.reverse()
        } else {
            o
        }
    });
    for (slot, (_, r)) in resources.iter_mut().zip(keyed) {
        *slot = r;
    }
}

/// The `ListResponse` for one page.
pub fn response(total: usize, start_index: usize, page: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": page.len(),
        "Resources": page,
    })
}

/// The `ListResponse` for one page of a cursor-paged listing (RFC 9865): no `startIndex`,
/// and `nextCursor` when more follow.
pub fn cursor_response(total: usize, page: Vec<Value>, next: Option<CursorKey>) -> Value {
    let mut body = json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "itemsPerPage": page.len(),
        "Resources": page,
    });
    if let Some(next) = next {
        body["nextCursor"] = json!(next.encode());
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::USER_ATTRS;

    fn raw(pairs: &[(&str, &str)]) -> RawListQuery {
        let v: serde_json::Map<String, Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        serde_json::from_value(Value::Object(v)).unwrap()
    }

    #[test]
    fn parameters_are_read_as_the_rfc_says() {
        let q = raw(&[("startIndex", "0"), ("count", "-5")])
            .parse(100)
            .unwrap();
        assert_eq!((q.start_index, q.count), (1, 0));
        let q = raw(&[
            ("count", "1000"),
            ("sortOrder", "Descending"),
            ("sortBy", "name.familyName"),
        ])
        .parse(100)
        .unwrap();
        assert_eq!(q.count, 100);
        assert!(q.descending);
        assert_eq!(q.sort_by.unwrap().sub.as_deref(), Some("familyName"));
        for bad in [
            raw(&[("count", "ten")]),
            raw(&[("sortOrder", "up")]),
            raw(&[("filter", "userName zz \"a\"")]),
            raw(&[("attributes", "a b")]),
        ] {
            assert!(bad.parse(100).is_err());
        }
        let err = raw(&[("filter", "(")]).parse(100).unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidFilter));
    }

    #[test]
    fn sorting_follows_case_rules_and_primary_values() {
        let mut users = vec![
            json!({"userName": "carol", "emails": [{"value": "z@x"}, {"value": "a@x", "primary": true}]}),
            json!({"userName": "Bob"}),
            json!({"userName": "alice", "emails": [{"value": "m@x"}]}),
        ];
        sort(
            &mut users,
            &AttrPath::parse("userName").unwrap(),
            false,
            USER_ATTRS,
        );
        let names: Vec<&str> = users
            .iter()
            .map(|u| u["userName"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["alice", "Bob", "carol"]);
        sort(
            &mut users,
            &AttrPath::parse("emails").unwrap(),
            false,
            USER_ATTRS,
        );
        let names: Vec<&str> = users
            .iter()
            .map(|u| u["userName"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["carol", "alice", "Bob"],
            "primary email a@x first, no email last"
        );
        sort(
            &mut users,
            &AttrPath::parse("userName").unwrap(),
            true,
            USER_ATTRS,
        );
        assert_eq!(users[0]["userName"], "carol");
        let r = response(3, 1, users[..2].to_vec());
        assert_eq!(r["itemsPerPage"], 2);
        assert_eq!(r["totalResults"], 3);
    }
}

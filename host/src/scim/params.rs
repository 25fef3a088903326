//! The query parameters SCIM defines (RFC 7644 §3.4.2), from a URL query or from the body
//! of a `POST …/.search` (§3.4.3).

use serde_json::Value;

use super::error::{ScimError, ScimType};
use super::filter::AttrPath;
use super::list::{ListQuery, RawListQuery};

/// Most resources one list page holds (`count` is capped to it, as ServiceProviderConfig says).
pub const MAX_RESULTS: u32 = 200;

/// The query parameters SCIM defines; others are ignored.
#[derive(Debug, Default)]
pub struct Params {
    raw: RawListQuery,
}

impl Params {
    pub(super) fn parse(query: &str) -> Result<Self, ScimError> {
        let mut raw = RawListQuery::default();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match k.as_ref() {
                "filter" => &mut raw.filter,
                "startIndex" => &mut raw.start_index,
                "count" => &mut raw.count,
                "sortBy" => &mut raw.sort_by,
                "sortOrder" => &mut raw.sort_order,
                "attributes" => &mut raw.attributes,
                "excludedAttributes" => &mut raw.excluded_attributes,
                "cursor" => &mut raw.cursor,
                _ => continue,
            };
            if slot.is_some() {
                return Err(ScimError::bad_request(
                    ScimType::InvalidValue,
                    format!("`{k}` is given twice"),
                ));
            }
            *slot = Some(v.into_owned());
        }
        Ok(Self { raw })
    }

    pub(super) fn list(&self) -> Result<ListQuery, ScimError> {
        self.raw.parse(MAX_RESULTS as usize)
    }

    /// `attributes` and `excludedAttributes`, for single-resource answers.
    pub fn projection(&self) -> Result<(Option<Vec<AttrPath>>, Vec<AttrPath>), ScimError> {
        let q = RawListQuery {
            attributes: self.raw.attributes.clone(),
            excluded_attributes: self.raw.excluded_attributes.clone(),
            ..RawListQuery::default()
        }
        .parse(MAX_RESULTS as usize)?;
        Ok((q.attributes, q.excluded))
    }
}

/// A `POST …/.search` body (RFC 7644 §3.4.3) as list parameters.
pub(super) fn search_query(body: Option<&Value>) -> Result<ListQuery, ScimError> {
    let body = body.and_then(Value::as_object).ok_or_else(|| {
        ScimError::bad_request(ScimType::InvalidSyntax, "a search needs a JSON object body")
    })?;
    let text = |k: &str| -> Result<Option<String>, ScimError> {
        match body.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Array(items)) => {
                let names: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
                names.map(|n| Some(n.join(","))).ok_or_else(|| {
                    ScimError::bad_request(
                        ScimType::InvalidValue,
                        format!("`{k}` must list strings"),
                    )
                })
            }
            Some(_) => Err(ScimError::bad_request(
                ScimType::InvalidValue,
                format!("`{k}` has the wrong type"),
            )),
        }
    };
    RawListQuery {
        filter: text("filter")?,
        start_index: text("startIndex")?,
        count: text("count")?,
        sort_by: text("sortBy")?,
        sort_order: text("sortOrder")?,
        attributes: text("attributes")?,
        excluded_attributes: text("excludedAttributes")?,
        cursor: text("cursor")?,
    }
    .parse(MAX_RESULTS as usize)
}

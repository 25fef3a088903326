//! `/Bulk` (RFC 7644 §3.7): up to [`BULK_MAX_OPERATIONS`] operations, each run through
//! [`resources::handle`] as its own request (and transaction), in order. `bulkId:` references
//! in paths and data resolve to the ids earlier POSTs created; an operation that refers to a
//! later POST waits for it (passes repeat while they make progress; what stays unresolved,
//! such as a cycle, fails with 409). `failOnErrors` stops after that many errors.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::error::{ScimError, ScimType};
use super::request::{Method, Provisioner, Reply, Request, BULK_MAX_OPERATIONS};
use super::resources;
use crate::services::Services;

pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
const PREFIX: &str = "bulkId:";

/// One operation as the client sent it, checked.
struct Operation {
    method: Method,
    method_name: String,
    bulk_id: Option<String>,
    version: Option<String>,
    path: String,
    data: Option<Value>,
}

fn syntax(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidSyntax, detail)
}

fn parse_operation(i: usize, op: &Value) -> Result<Operation, ScimError> {
    let at = |what: &str| syntax(format!("operation {}: {what}", i + 1));
    let get = |k: &str| {
        op.as_object().and_then(|m| {
            m.iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v)
        })
    };
    let method_name = get("method")
        .and_then(Value::as_str)
        .ok_or_else(|| at("`method` is required"))?
        .to_ascii_uppercase();
    let method = match method_name.as_str() {
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        _ => return Err(at("`method` is POST, PUT, PATCH or DELETE")),
    };
    let path = get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| at("`path` is required"))?
        .to_string();
    if !path.starts_with('/') || path.contains('?') {
        return Err(at(
            "`path` is a resource path such as /Users or /Groups/{id}",
        ));
    }
    let bulk_id = get("bulkId").and_then(Value::as_str).map(str::to_string);
    if method == Method::Post && bulk_id.as_deref().is_none_or(str::is_empty) {
        return Err(at("a POST needs a `bulkId`"));
    }
    let data = get("data").filter(|v| !v.is_null()).cloned();
    if data.is_none() && method != Method::Delete {
        return Err(at("`data` is required"));
    }
    Ok(Operation {
        method,
        method_name,
        bulk_id,
        version: get("version").and_then(Value::as_str).map(str::to_string),
        path,
        data,
    })
}

/// The bulkIds `text` refers to.
fn references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix(PREFIX) {
                out.push(id.to_string());
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        Value::Object(map) => map.values().for_each(|v| references(v, out)),
        _ => {}
    }
}

fn path_references(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|s| s.strip_prefix(PREFIX))
        .map(str::to_string)
        .collect()
}

fn substitute(value: &mut Value, ids: &HashMap<String, String>) {
    match value {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix(PREFIX).and_then(|b| ids.get(b)) {
                *s = id.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, ids)),
        Value::Object(map) => map.values_mut().for_each(|v| substitute(v, ids)),
        _ => {}
    }
}

fn substitute_path(path: &str, ids: &HashMap<String, String>) -> String {
    path.split('/')
        .map(|s| match s.strip_prefix(PREFIX).and_then(|b| ids.get(b)) {
            Some(id) => id.as_str(),
            None => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn result_line(
    op: &Operation,
    reply: Result<Reply, ScimError>,
    ids: &mut HashMap<String, String>,
) -> (Value, bool) {
    let mut line = Map::new();
    line.insert("method".into(), json!(op.method_name));
    if let Some(b) = &op.bulk_id {
        line.insert("bulkId".into(), json!(b));
    }
    match reply {
        Ok(r) => {
            let location = r.location.clone().or_else(|| {
                r.body
                    .as_ref()
                    .and_then(|b| b["meta"]["location"].as_str().map(str::to_string))
            });
            if let (Some(b), Some(id)) =
                (&op.bulk_id, r.body.as_ref().and_then(|b| b["id"].as_str()))
            {
                ids.insert(b.clone(), id.to_string());
            }
            if let Some(l) = location {
                line.insert("location".into(), json!(l));
            }
            if let Some(e) = r.etag {
                line.insert("version".into(), json!(e));
            }
            line.insert("status".into(), json!(r.status.to_string()));
            (Value::Object(line), false)
        }
        Err(e) => {
            line.insert("status".into(), json!(e.status.to_string()));
            line.insert("response".into(), e.body());
            (Value::Object(line), true)
        }
    }
}

pub async fn run(state: &Services, p: &Provisioner, body: &Value) -> Result<Reply, ScimError> {
    let map = body
        .as_object()
        .ok_or_else(|| syntax("a Bulk request is a JSON object"))?;
    if let Some(schemas) = map.get("schemas") {
        let ok = schemas.as_array().is_some_and(|s| {
            s.iter().any(|v| {
                v.as_str()
                    .is_some_and(|v| v.eq_ignore_ascii_case(BULK_REQUEST))
            })
        });
        if !ok {
            return Err(syntax(format!("`schemas` must include `{BULK_REQUEST}`")));
        }
    }
    let ops = map
        .get("Operations")
        .or_else(|| map.get("operations"))
        .and_then(Value::as_array)
        .ok_or_else(|| syntax("a Bulk request needs an `Operations` array"))?;
    if ops.len() > BULK_MAX_OPERATIONS as usize {
        return Err(ScimError::new(
            413,
            None,
            format!("at most {BULK_MAX_OPERATIONS} operations per Bulk request"),
        ));
    }
    let fail_on_errors = match map.get("failOnErrors") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
            ScimError::bad_request(
                ScimType::InvalidValue,
                "`failOnErrors` is an integer of at least 1",
            )
        })?),
    };
    let parsed: Vec<Operation> = ops
        .iter()
        .enumerate()
        .map(|(i, op)| parse_operation(i, op))
        .collect::<Result<_, _>>()?;
    let declared: std::collections::HashSet<&str> =
        parsed.iter().filter_map(|o| o.bulk_id.as_deref()).collect();

    let mut ids: HashMap<String, String> = HashMap::new();
    let mut lines: Vec<Option<Value>> = vec![None; parsed.len()];
    let mut errors = 0u64;
    let mut pending: Vec<usize> = (0..parsed.len()).collect();
    'passes: loop {
        let mut waiting = Vec::new();
        for &i in &pending {
            let op = &parsed[i];
            let mut refs = path_references(&op.path);
            if let Some(d) = &op.data {
                references(d, &mut refs);
            }
            let unresolved: Vec<&String> = refs
                .iter()
                .filter(|r| !ids.contains_key(r.as_str()))
                .collect();
            // A reference to a POST not yet run waits; one no POST declares cannot resolve.
            if unresolved.iter().any(|r| declared.contains(r.as_str())) {
                waiting.push(i);
                continue;
            }
            let reply = if let Some(r) = unresolved.first() {
                Err(ScimError::new(
                    409,
                    Some(ScimType::InvalidValue),
                    format!("bulkId `{r}` is not declared by a POST in this request"),
                ))
            } else if op.path.trim_matches('/').eq_ignore_ascii_case("Bulk") {
                Err(syntax("a Bulk operation cannot itself be a Bulk request"))
            } else if op
                .path
                .rsplit('/')
                .next()
                .is_some_and(|last| last.eq_ignore_ascii_case(".search"))
            {
                // A search per operation would make one request a thousand listings.
                Err(syntax(
                    "a Bulk operation cannot be a search; send POST .search on its own",
                ))
            } else {
                let mut data = op.data.clone();
                if let Some(d) = &mut data {
                    substitute(d, &ids);
                }
                let request = Request {
                    method: op.method,
                    path: substitute_path(&op.path, &ids),
                    body: data,
                    if_match: op.version.clone(),
                    if_none_match: None,
                };
                resources::handle(state, p, &request).await
            };
            let (line, failed) = result_line(op, reply, &mut ids);
            lines[i] = Some(line);
            if failed {
                errors += 1;
                if fail_on_errors.is_some_and(|limit| errors >= limit) {
                    break 'passes;
                }
            }
        }
        if waiting.is_empty() {
            break;
        }
        if waiting.len() == pending.len() {
            // No progress: the rest refer to each other in a cycle.
            for i in waiting {
                let err = ScimError::new(
                    409,
                    Some(ScimType::InvalidValue),
                    "the bulkId references of this operation form a cycle",
                );
                lines[i] = Some(result_line(&parsed[i], Err(err), &mut ids).0);
            }
            break;
        }
        pending = waiting;
    }
    let operations: Vec<Value> = lines.into_iter().flatten().collect();
    Ok(Reply::json(
        200,
        json!({"schemas": [BULK_RESPONSE], "Operations": operations}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found_and_substituted_in_paths_and_data() {
        let mut data = json!({"members": [{"type": "User", "value": "bulkId:u1"}], "displayName": "Ops bulkId:u1"});
        let mut refs = Vec::new();
        references(&data, &mut refs);
        assert_eq!(refs, vec!["u1".to_string()]);
        let ids = HashMap::from([("u1".to_string(), "id-1".to_string())]);
        substitute(&mut data, &ids);
        assert_eq!(data["members"][0]["value"], "id-1");
        assert_eq!(substitute_path("/Users/bulkId:u1", &ids), "/Users/id-1");
        assert_eq!(path_references("/Groups/bulkId:g"), vec!["g".to_string()]);
    }

    #[test]
    fn operations_are_checked() {
        assert!(
            parse_operation(0, &json!({"method": "POST", "path": "/Users", "data": {}})).is_err()
        );
        assert!(parse_operation(0, &json!({"method": "GET", "path": "/Users"})).is_err());
        assert!(parse_operation(0, &json!({"method": "patch", "path": "/Users/1"})).is_err());
        assert!(parse_operation(0, &json!({"method": "DELETE", "path": "/Users/1"})).is_ok());
        assert!(parse_operation(
            0,
            &json!({"method": "POST", "path": "Users", "bulkId": "a", "data": {}})
        )
        .is_err());
    }
}

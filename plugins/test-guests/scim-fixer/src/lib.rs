//! A SCIM adapter for the host's tests and as an example of a dialect fix: in PATCH requests
//! it lower-cases operation names (`Replace` → `replace`, as Entra ID sends them) and turns the
//! strings `"True"`/`"False"` into JSON booleans. Other requests pass unchanged. A body that is
//! not JSON is rejected.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "scim-adapter",
});

use exports::gatehouse::plugin::scim::Guest;
use gatehouse::plugin::types::{HttpMethod, PluginError, ScimRequest};
use serde_json::Value;

struct Fixer;

fn booleans(value: &mut Value) {
    match value {
        Value::String(s) if s.eq_ignore_ascii_case("true") => *value = Value::Bool(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => *value = Value::Bool(false),
        Value::Array(items) => items.iter_mut().for_each(booleans),
        Value::Object(map) => map.values_mut().for_each(booleans),
        _ => {}
    }
}

impl Guest for Fixer {
    fn normalize(request: ScimRequest) -> Result<ScimRequest, PluginError> {
        let (HttpMethod::Patch, Some(body)) = (request.method, request.body.as_deref()) else {
            return Ok(request);
        };
        let mut doc: Value = serde_json::from_str(body)
            .map_err(|e| PluginError::Rejected(format!("the PATCH body is not JSON: {e}")))?;
        if let Some(ops) = doc.get_mut("Operations").and_then(Value::as_array_mut) {
            for op in ops {
                if let Some(name) = op.get("op").and_then(Value::as_str) {
                    let lower = name.to_ascii_lowercase();
                    op["op"] = Value::String(lower);
                }
                if let Some(value) = op.get_mut("value") {
                    booleans(value);
                }
            }
        }
        Ok(ScimRequest {
            method: request.method,
            path: request.path,
            body: Some(doc.to_string()),
        })
    }
}

export!(Fixer);

//! The described API (`/openapi.json`) held to what the routes do. Every answer the suite
//! gets from `/operator/v1`, `/api/v1` or `/access/v1` through `TestApp::call` is checked
//! by [`check`]: its route and status must be in the document, and its body must match the
//! documented schema, with no member the schema does not name. The tests here check that
//! `docs/openapi.json` is the document the code makes, and that a client generated from it
//! by a standard generator (openapi-python-client) works against a running Gatehouse.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::spawn_app;

/// The prefixes the document describes.
const DESCRIBED: [&str; 3] = ["/operator/v1/", "/api/v1/", "/access/v1/"];

/// The document made by the code, made strict for checking, and validators built so far.
struct Described {
    /// The document with `unevaluatedProperties: false` on its object schemas.
    strict: Value,
    /// `(method, template, segments)` of every operation.
    operations: Vec<(String, String, Vec<String>)>,
    validators: Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>,
}

fn described() -> &'static Described {
    static DOC: OnceLock<Described> = OnceLock::new();
    DOC.get_or_init(|| {
        let doc: Value =
            serde_json::from_str(&gatehouse::http::openapi::document()).expect("document JSON");
        let mut operations = Vec::new();
        for (template, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                let segments = template.split('/').map(str::to_string).collect();
                operations.push((method.to_uppercase(), template.clone(), segments));
            }
        }
        let mut strict = doc;
        let in_all_of = all_of_refs(&strict);
        if let Some(schemas) = strict["components"]["schemas"].as_object_mut() {
            for (name, schema) in schemas.iter_mut() {
                close_objects(schema, !in_all_of.contains(name));
            }
        }
        if let Some(paths) = strict.get_mut("paths") {
            close_objects(paths, true);
        }
        Described {
            strict,
            operations,
            validators: Mutex::new(HashMap::new()),
        }
    })
}

/// Names of the component schemas that some `allOf` lists: each describes only part of an
/// object, so it cannot refuse the members the other parts describe.
fn all_of_refs(doc: &Value) -> HashSet<String> {
    let mut names = HashSet::new();
    fn walk(v: &Value, names: &mut HashSet<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::Array(parts)) = map.get("allOf") {
                    for part in parts {
                        if let Some(r) = part["$ref"].as_str() {
                            names.insert(r.rsplit('/').next().unwrap_or("").to_string());
                        }
                    }
                }
                map.values().for_each(|x| walk(x, names));
            }
            Value::Array(items) => items.iter().for_each(|x| walk(x, names)),
            _ => {}
        }
    }
    walk(doc, &mut names);
    names
}

/// Adds `unevaluatedProperties: false` to every object schema with `properties` or `allOf`
/// (unless it is a part of an `allOf`, or `close` is false for the schema itself), so an answer carrying a
/// member the document does not name fails the check.
fn close_objects(v: &mut Value, close: bool) {
    match v {
        Value::Object(map) => {
            let open = map.contains_key("additionalProperties")
                || map.contains_key("unevaluatedProperties");
            let object = map.contains_key("properties") || map.contains_key("allOf");
            if close && object && !open {
                map.insert("unevaluatedProperties".into(), Value::Bool(false));
            }
            for (key, child) in map.iter_mut() {
                if key == "allOf" {
                    if let Value::Array(parts) = child {
                        parts.iter_mut().for_each(|p| close_objects(p, false));
                    }
                } else {
                    close_objects(child, true);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|x| close_objects(x, true)),
        _ => {}
    }
}

/// The operation template `path` (no query) is served by: the one with most literal segments.
fn template_of(method: &Method, path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.split('/').collect();
    described()
        .operations
        .iter()
        .filter(|(m, _, t)| m == method.as_str() && t.len() == segments.len())
        .filter(|(_, _, t)| {
            t.iter()
                .zip(&segments)
                .all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
        })
        .max_by_key(|(_, _, t)| t.iter().filter(|s| !s.starts_with('{')).count())
        .map(|(_, template, _)| template.as_str())
}

/// JSON pointer escaping (RFC 6901).
fn escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

fn validator(pointer: &str) -> std::sync::Arc<jsonschema::Validator> {
    let d = described();
    let mut cache = d.validators.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry(pointer.to_string())
        .or_insert_with(|| {
            // The schema at the root, the document beside it for its `$ref`s to resolve in.
            let mut root = d.strict.clone();
            if let (Some(root), Some(Value::Object(schema))) =
                (root.as_object_mut(), d.strict.pointer(pointer))
            {
                root.extend(schema.clone());
            }
            let built = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(true)
                .build(&root)
                .unwrap_or_else(|e| panic!("schema at {pointer} does not compile: {e}"));
            std::sync::Arc::new(built)
        })
        .clone()
}

/// Panics unless the answer `status`/`content_type`/`body` to `method path` is described.
pub fn check(
    method: &Method,
    path_and_query: &str,
    status: StatusCode,
    content_type: &str,
    body: &[u8],
) {
    let path = path_and_query.split('?').next().unwrap_or("");
    if !DESCRIBED.iter().any(|p| path.starts_with(p)) {
        return;
    }
    // 404 and 405 from the fallback are for routes that do not exist at all.
    if matches!(
        status,
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
    ) && template_of(method, path).is_none()
    {
        return;
    }
    let Some(template) = template_of(method, path) else {
        panic!("{method} {path} answered {status} but is not in the OpenAPI document");
    };
    let op = format!(
        "/paths/{}/{}",
        escape(template),
        method.as_str().to_lowercase()
    );
    let responses = &described()
        .strict
        .pointer(&format!("{op}/responses"))
        .cloned()
        .unwrap_or_default();
    let code = status.as_str().to_string();
    let key = if responses.get(&code).is_some() {
        code
    } else if !status.is_success() && responses.get("default").is_some() {
        "default".to_string()
    } else {
        panic!("{method} {template} answered {status}, a status the document does not list");
    };
    let media = content_type.split(';').next().unwrap_or("").trim();
    let content = &responses[&key]["content"];
    if content.is_null() {
        assert!(
            body.is_empty(),
            "{method} {template} {status}: the document says no body, the route sent {media}"
        );
        return;
    }
    assert!(
        content.get(media).is_some(),
        "{method} {template} {status}: sent {media:?}, the document lists {:?}",
        content
            .as_object()
            .map(|c| c.keys().cloned().collect::<Vec<_>>())
    );
    if media != "application/json" && !media.ends_with("+json") {
        return;
    }
    let instance: Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{method} {template} {status}: body is not JSON: {e}"));
    let pointer = format!(
        "{op}/responses/{}/content/{}/schema",
        escape(&key),
        escape(media)
    );
    let v = validator(&pointer);
    let errors: Vec<String> = v
        .iter_errors(&instance)
        .take(5)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {template} {status}: the body differs from the documented schema: {errors:#?}\nbody: {instance}"
    );
}

/// `docs/openapi.json`, from the repository.
fn committed() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn the_committed_and_served_documents_are_the_one_the_code_makes() {
    let made = gatehouse::http::openapi::document();
    // Compared as JSON values: this test binary's serde_json may keep map keys in another
    // order than the server's (a dependency turns on its `preserve_order`).
    let parse = |s: &str| serde_json::from_str::<Value>(s).expect("document JSON");
    assert!(
        parse(&committed()) == parse(&made),
        "docs/openapi.json is not what the code describes: run \
         `cargo run -q -- openapi > docs/openapi.json` and commit it"
    );
    let app = spawn_app().await;
    let served = app
        .client
        .get(format!("{}/openapi.json", app.url))
        .send()
        .await
        .expect("get");
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.text().await.expect("body"), made);
}

#[test]
fn the_document_is_openapi_3_1_with_unique_operations_and_a_success_each() {
    let doc: Value = serde_json::from_str(&gatehouse::http::openapi::document()).expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    let mut ids = HashSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        assert!(
            DESCRIBED.iter().any(|p| path.starts_with(p)),
            "{path} is outside the described APIs"
        );
        for (method, op) in item.as_object().expect("item") {
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(
                ids.insert(id.to_string()),
                "operationId {id:?} is used twice"
            );
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|k| k.starts_with('2')),
                "{method} {path} documents no success"
            );
            assert!(
                responses.contains_key("default"),
                "{method} {path} has no problem answer"
            );
            assert!(
                op["security"].as_array().is_some_and(|s| !s.is_empty()),
                "{method} {path}: no security"
            );
            assert!(
                op["tags"].as_array().is_some_and(|t| t.len() == 1),
                "{method} {path}: one tag"
            );
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path}: no summary"
            );
        }
    }
    assert!(ids.len() > 60, "only {} operations described", ids.len());
}

#[tokio::test]
async fn an_undocumented_answer_fails_the_check() {
    // The checker itself: a member the schema does not name, a wrong type, an unlisted status.
    let app = spawn_app().await;
    let tenant = app.create_tenant("described").await;
    let good = app
        .op(Method::GET, &format!("/tenants/{tenant}"), None)
        .await;
    assert_eq!(good.status, StatusCode::OK);
    let path = format!("/operator/v1/tenants/{tenant}");
    let mut extra = good.body.clone();
    extra["unexpected"] = json!(1);
    let mut wrong = good.body.clone();
    wrong["id"] = json!(42);
    for (status, body) in [
        (StatusCode::OK, extra),
        (StatusCode::OK, wrong),
        (StatusCode::ACCEPTED, good.body.clone()),
    ] {
        let bytes = serde_json::to_vec(&body).expect("bytes");
        let failed = std::panic::catch_unwind(|| {
            check(&Method::GET, &path, status, "application/json", &bytes)
        });
        assert!(failed.is_err(), "the check let {status} {body} through");
    }
    let undocumented = std::panic::catch_unwind(|| {
        check(
            &Method::GET,
            "/api/v1/nowhere-documented",
            StatusCode::OK,
            "application/json",
            b"{}",
        )
    });
    assert!(undocumented.is_err());
}

#[tokio::test]
async fn a_client_generated_from_the_document_drives_gatehouse() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let document = dir.path().join("openapi.json");
    std::fs::write(&document, gatehouse::http::openapi::document()).expect("write document");
    let out = crate::peers::run_python(
        "api_client.py",
        &[
            document.to_str().expect("path"),
            dir.path().to_str().expect("path"),
            &app.url,
            &app.operator_token,
            "generated-client",
            "generated.example",
        ],
    )
    .await;
    assert!(out.get("error").is_none(), "generated client: {out}");
    assert_eq!(out["listed"], json!(["Generated Engineers"]));
    assert_eq!(out["deleted_status"], 204);
    assert_eq!(out["after_delete"], json!([]));
    assert_eq!(
        out["problem"],
        json!({"type": "urn:gatehouse:problem:not-found", "status": 404})
    );
    // What the generated client did is what Gatehouse recorded.
    let tenant = out["tenant"].as_str().expect("tenant id");
    let read = app
        .op(Method::GET, &format!("/tenants/{tenant}"), None)
        .await;
    assert_eq!(read.body["slug"], "generated-client");
    let actions = app.audit_actions(tenant).await;
    for action in ["group.created", "group.deleted"] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} not in {actions:?}"
        );
    }
}

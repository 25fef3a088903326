//! Events from the app: written with `audit:write`, bounded and checked (a batch is all or
//! nothing), idempotent by `Idempotency-Key`, then searched and verified like Gatehouse's own.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::audit::verify;
use crate::helpers::{spawn_app, TestApp};

fn event(app: &TestApp, action: &str, target: &str) -> Value {
    json!({
        "action": action,
        "occurred_at": app.clock.now().to_rfc3339(),
        "actor": { "type": "user", "id": "u_42", "name": "ann@acme.example",
                   "metadata": { "role": "editor" } },
        "targets": [ { "type": "document", "id": target, "name": "Q3 plan" },
                     { "type": "folder", "id": "f_1" } ],
        "context": { "location": "203.0.113.9", "user_agent": "Mozilla/5.0" },
        "metadata": { "rows": 1200, "format": "xlsx" },
    })
}

async fn post(
    app: &TestApp,
    token: &str,
    path: &str,
    body: Value,
    key: Option<&str>,
) -> crate::helpers::Resp {
    let headers: Vec<(&str, &str)> = key.map(|k| ("idempotency-key", k)).into_iter().collect();
    app.call_with(
        Method::POST,
        &format!("/api/v1{path}"),
        Some(token),
        Some(body),
        &headers,
    )
    .await
}

#[tokio::test]
async fn app_events_are_written_once_searched_and_verified() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("acme").await;
    let (writer_id, writer) = app.tenant_token(&tenant, &["audit:write"]).await;
    let (_, reader) = app.tenant_token(&tenant, &["audit:read"]).await;
    let doc = event(&app, "document.exported", "doc_7");

    let first = post(&app, &writer, "/audit-events", doc.clone(), Some("k-1")).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let id = first.body["events"][0]["id"].clone();
    let again = post(&app, &writer, "/audit-events", doc.clone(), Some("k-1")).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_eq!(
        (&again.body["events"][0]["id"], &again.body["replayed"]),
        (&id, &json!(true))
    );
    let mut changed = doc.clone();
    changed["metadata"]["rows"] = json!(1);
    let reused = post(&app, &writer, "/audit-events", changed, Some("k-1")).await;
    assert_eq!(reused.status, StatusCode::CONFLICT, "{}", reused.body);

    let found = app
        .api(
            &reader,
            Method::GET,
            "/audit-events?target_type=document&target_id=doc_7",
            None,
        )
        .await;
    let events = found.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "written once: {}", found.body);
    let e = &events[0];
    assert_eq!(e["id"], id);
    assert_eq!(e["actor"]["label"], "ann@acme.example");
    assert_eq!(e["ip"], "203.0.113.9");
    assert_eq!(e["after"]["metadata"]["rows"], 1200);
    assert_eq!(e["after"]["source"]["token"], writer_id.as_str());
    assert_eq!(e["after"]["targets"][1]["id"], "f_1");
    for q in [
        "q=xlsx",
        "ip=203.0.113.0/24",
        "actor=u_42",
        "action=document.*",
    ] {
        let r = app
            .api(&reader, Method::GET, &format!("/audit-events?{q}"), None)
            .await;
        assert_eq!(
            r.body["events"].as_array().unwrap().len(),
            1,
            "{q}: {}",
            r.body
        );
    }

    // A batch is all or nothing; the error names the event.
    let before = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE tenant_id = '{tenant}'"
        ))
        .await;
    let bad = json!({ "events": [
        event(&app, "document.viewed", "a"),
        event(&app, "login.succeeded", "b"),
    ]});
    let r = post(&app, &writer, "/audit-events/batch", bad, None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.to_string().contains("events[1]"), "{}", r.body);
    let after = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE tenant_id = '{tenant}'"
        ))
        .await;
    assert_eq!(before, after, "a refused batch wrote something");
    let good = json!({ "events": [
        event(&app, "document.viewed", "a"),
        event(&app, "document.viewed", "b"),
        event(&app, "document.deleted", "c"),
    ]});
    let r = post(&app, &writer, "/audit-events/batch", good, None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let seqs: Vec<i64> = r.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs.len(), 3);
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");

    // Each token does only its own job.
    let r = post(
        &app,
        &reader,
        "/audit-events",
        event(&app, "x.y", "z"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = app.api(&writer, Method::GET, "/audit-events", None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    let (ok, report) = verify(&app).await;
    assert!(ok, "{report}");
}

#[tokio::test]
async fn app_events_outside_the_limits_are_refused() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("acme").await;
    let (_, writer) = app.tenant_token(&tenant, &["audit:write"]).await;
    let base = event(&app, "document.exported", "doc_7");
    let old = app.clock.now().plus_seconds(-40 * 86_400).to_rfc3339();
    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Change)> = vec![
        (
            "occurred_at",
            Box::new(move |e| e["occurred_at"] = json!(old)),
        ),
        (
            "metadata",
            Box::new(|e| e["metadata"]["nested"] = json!({ "a": 1 })),
        ),
        (
            "targets",
            Box::new(|e| e["targets"] = json!(vec![json!({"type": "t", "id": "i"}); 11])),
        ),
        ("targets", Box::new(|e| e["targets"] = json!([]))),
        (
            "action",
            Box::new(|e| e["action"] = json!("Document Exported")),
        ),
        (
            "context.location",
            Box::new(|e| e["context"]["location"] = json!("not-an-ip")),
        ),
        (
            "actor.id",
            Box::new(|e| e["actor"]["id"] = json!("a\u{0}b")),
        ),
        ("unknown", Box::new(|e| e["unknown"] = json!(1))),
    ];
    for (what, change) in cases {
        let mut e = base.clone();
        change(&mut e);
        let r = post(&app, &writer, "/audit-events", e, None).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {}",
            r.body
        );
        assert!(r.body.to_string().contains(what), "{what}: {}", r.body);
    }
    let r = app
        .call_with(
            Method::POST,
            "/api/v1/audit-events",
            Some(&writer),
            Some(base),
            &[("idempotency-key", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
}

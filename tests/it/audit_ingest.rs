//! Events from the app: written with `audit:write`, bounded and checked (a batch is all or
//! nothing), idempotent by `Idempotency-Key`, then searched and verified like Gatehouse's own.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::audit::verify;
use crate::audit_search::{all_pages, download};
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

/// The app event with these targets (type, id) and action.
fn with_targets(app: &TestApp, action: &str, targets: &[(&str, &str)]) -> Value {
    let mut e = event(app, action, "unused");
    e["targets"] = targets
        .iter()
        .map(|(kind, id)| json!({ "type": kind, "id": id }))
        .collect();
    e
}

#[tokio::test]
async fn every_target_of_an_app_event_finds_it() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("acme").await;
    let (_, writer) = app.tenant_token(&tenant, &["audit:write"]).await;
    let (_, reader) = app.tenant_token(&tenant, &["audit:read"]).await;
    let batch = json!({ "events": [
        with_targets(&app, "document.shared", &[("document", "d1"), ("folder", "f1")]),
        with_targets(&app, "folder.renamed", &[("folder", "f1"), ("document", "d2")]),
        with_targets(&app, "document.moved",
            &[("document", "d3"), ("folder", "f2"), ("folder", "f1"), ("folder", "f1")]),
        with_targets(&app, "document.merged", &[("document", "d4"), ("document", "d1")]),
        with_targets(&app, "document.shared", &[("document", "d5")]),
    ]});
    let r = post(&app, &writer, "/audit-events/batch", batch, None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let seq: Vec<i64> = r.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();

    // Newest first, each event once, whether the target is an event's first or a further
    // one, over pages of one and in one page.
    let f1 = vec![seq[2], seq[1], seq[0]];
    let d1 = vec![seq[3], seq[0]];
    let documents = vec![seq[4], seq[3], seq[2], seq[1], seq[0]];
    for (query, expected) in [
        ("target_type=folder&target_id=f1", &f1),
        ("target_id=f1", &f1),
        ("target_id=d1", &d1),
        ("target_type=document", &documents),
    ] {
        for limit in [1, 50] {
            assert_eq!(
                &all_pages(&app, &reader, query, limit).await,
                expected,
                "{query}, limit {limit}"
            );
        }
    }
    // With other filters, in the other orders: free text, several actions, an export.
    for (query, expected) in [
        ("target_id=f1&q=xlsx", vec![seq[2], seq[1], seq[0]]),
        ("target_id=f1&action=folder.renamed", vec![seq[1]]),
        (
            "target_id=f1&action=document.shared,document.moved",
            vec![seq[2], seq[0]],
        ),
        ("target_id=f2&action=document.*", vec![seq[2]]),
    ] {
        assert_eq!(
            all_pages(&app, &reader, query, 1).await,
            expected,
            "{query}"
        );
    }
    let (_, admin) = app.tenant_token(&tenant, &["admin"]).await;
    let (_, _, csv) = download(&app, &admin, "format=csv&target_id=f1").await;
    assert_eq!(csv.lines().count(), 1 + f1.len(), "{csv}");

    let (ok, report) = verify(&app).await;
    assert!(ok, "{report}");
    // A row added to the search table to make a search find an event is caught.
    app.raw_sql(&format!(
        "INSERT INTO audit_targets (chain, event_seq, item_type, item_id, at) \
         SELECT tenant_id, seq, 'folder', 'f9', occurred_at FROM audit_events \
         WHERE tenant_id = '{tenant}' AND seq = {}",
        seq[4]
    ))
    .await;
    let (ok, report) = verify(&app).await;
    assert!(!ok, "{report}");
    assert!(report.contains("target folder/f9"), "{report}");
}

/// A JSON Lines export is written by the database; each line must be byte for byte what
/// `serde_json` writes for the event, and say what the API says, whatever the text holds
/// and however many digits the time has.
#[tokio::test]
async fn a_json_lines_export_writes_each_event_as_the_api_does() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("acme").await;
    let (_, writer) = app.tenant_token(&tenant, &["audit:write"]).await;
    let (_, admin) = app.tenant_token(&tenant, &["admin"]).await;
    let second = app.clock.now().as_micros() / 1_000_000 * 1_000_000 - 60_000_000;
    // The app's names and ids refuse control characters; its metadata may hold anything
    // (stored as JSON text, it goes into the line as stored); a browser's user agent may
    // hold a tab.
    let printable = "quote \" backslash \\ é 😀 </script> \u{2028}";
    let awkward = format!("{printable} newline \n bell \u{7} del \u{7f}");
    let events: Vec<Value> = [0, 500_000, 120_000, 123_456, 1, 999_999]
        .iter()
        .enumerate()
        .map(|(i, micros)| {
            let at = gatehouse::types::Timestamp::from_micros(second + micros);
            let mut e = event(&app, "document.exported", &format!("doc-{i}"));
            e["occurred_at"] = json!(at.to_rfc3339());
            e["metadata"] = json!({ "note": awkward, "ratio": 0.1, "big": 1e300, "n": -7 });
            // Each event has the awkward text in one field only, so a line is written with
            // escaping because of that field alone.
            let field = match i {
                0 => &mut e["actor"]["type"],
                1 => &mut e["actor"]["id"],
                2 => &mut e["actor"]["name"],
                3 => &mut e["targets"][0]["type"],
                4 => &mut e["targets"][0]["id"],
                _ => &mut e["context"]["user_agent"],
            };
            *field = json!(format!("{printable} {i}"));
            if i == 1 {
                e["context"] = json!({});
            }
            e
        })
        .collect();
    let r = post(
        &app,
        &writer,
        "/audit-events/batch",
        json!({ "events": events }),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    let tabbed = "quote \" backslash \\ <b>\tafter a tab";
    let r = app
        .call_with(
            Method::POST,
            "/api/v1/domains",
            Some(&admin),
            Some(json!({ "domain": "tab.example" })),
            &[("user-agent", tabbed)],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    let (_, _, jsonl) = download(&app, &admin, "format=jsonl").await;
    assert!(jsonl.contains("\\tafter a tab"), "{jsonl}");
    let api = app
        .api(&admin, Method::GET, "/audit-events?limit=500", None)
        .await;
    let by_seq: std::collections::HashMap<i64, &Value> = api.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["seq"].as_i64().unwrap(), e))
        .collect();
    let mut checked = 0;
    for line in jsonl.lines() {
        let parsed: Value = serde_json::from_str(line).unwrap();
        if parsed.get("export").is_some() || parsed.get("export_end").is_some() {
            continue;
        }
        let event: gatehouse::audit::AuditEvent = serde_json::from_str(line).unwrap();
        assert_eq!(serde_json::to_string(&event).unwrap(), line);
        let seq = parsed["seq"].as_i64().unwrap();
        assert_eq!(&&parsed, by_seq.get(&seq).unwrap(), "event {seq}");
        checked += 1;
    }
    assert!(checked >= 8, "{checked} events checked:\n{jsonl}");
}

//! The audit log: filters, pagination, and tamper detection by `gatehouse audit verify`.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{spawn_app, TestApp};
use gatehouse::cli::{AuditCommand, Command};

/// Runs `gatehouse audit verify` against the app's database.
pub(crate) async fn verify(app: &TestApp) -> (bool, String) {
    let mut out = Vec::new();
    let code = gatehouse::cli::run(
        Command::Audit {
            command: AuditCommand::Verify {
                chain: None,
                export: None,
                keys: None,
            },
        },
        app.config.clone(),
        &mut out,
    )
    .await
    .expect("verify runs");
    (
        code == std::process::ExitCode::SUCCESS,
        String::from_utf8(out).unwrap(),
    )
}

/// Lets someone with database rights edit audit rows (the triggers refuse otherwise).
pub(crate) async fn drop_append_only_guard(app: &TestApp) {
    if app.is_postgres() {
        app.raw_sql("DROP TRIGGER audit_events_no_change ON audit_events")
            .await;
    } else {
        app.raw_sql("DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete")
            .await;
    }
}

#[tokio::test]
async fn verify_passes_then_detects_an_edited_row() {
    let app = spawn_app().await;
    let id = app.create_tenant("acme").await;
    app.tenant_token(&id, &["admin"]).await;
    let (ok, report) = verify(&app).await;
    assert!(ok, "{report}");
    assert!(
        report.contains(&format!("ok      {id} (3 events,")),
        "{report}"
    );

    drop_append_only_guard(&app).await;
    app.raw_sql(&format!(
        "UPDATE audit_events SET actor_label = 'someone else' WHERE tenant_id = '{id}' AND seq = 2"
    ))
    .await;
    let (ok, report) = verify(&app).await;
    assert!(!ok, "{report}");
    assert!(
        report.contains("event 2") && report.contains("altered"),
        "{report}"
    );
    assert!(report.contains("TAMPERED"), "{report}");
}

#[tokio::test]
async fn verify_detects_deleted_rows() {
    let app = spawn_app().await;
    let id = app.create_tenant("acme").await;
    for _ in 0..3 {
        app.tenant_token(&id, &["audit:read"]).await;
    }
    drop_append_only_guard(&app).await;
    app.raw_sql(&format!(
        "DELETE FROM audit_events WHERE tenant_id = '{id}' AND seq = 3"
    ))
    .await;
    let (ok, report) = verify(&app).await;
    assert!(!ok);
    assert!(report.contains("events 3..3 are missing"), "{report}");

    app.raw_sql(&format!(
        "DELETE FROM audit_events WHERE tenant_id = '{id}' AND seq = 5"
    ))
    .await;
    let (_, report) = verify(&app).await;
    assert!(report.contains("missing from the end"), "{report}");
}

#[tokio::test]
async fn the_database_refuses_to_change_audit_rows() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    sqlx::any::install_default_drivers();
    use sqlx::Connection;
    let mut conn = sqlx::AnyConnection::connect(&app.config.database_url())
        .await
        .unwrap();
    let update = sqlx::raw_sql("UPDATE audit_events SET action = 'x'")
        .execute(&mut conn)
        .await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = sqlx::raw_sql("DELETE FROM audit_events")
        .execute(&mut conn)
        .await;
    assert!(delete.is_err());
}

#[tokio::test]
async fn listing_filters_by_action_actor_and_time_and_pages() {
    let app = spawn_app().await;
    let id = app.create_tenant("acme").await;
    let (token_id, token) = app.tenant_token(&id, &["admin"]).await;
    let mid = app.clock.now().to_rfc3339();
    for n in 0..3 {
        let r = app
            .api(
                &token,
                Method::POST,
                "/domains",
                Some(json!({ "domain": format!("d{n}.example") })),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let get = |q: String| {
        let token = token.clone();
        let app = &app;
        async move {
            let r = app
                .api(&token, Method::GET, &format!("/audit-events?{q}"), None)
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            r.body
        }
    };
    let by_action = get("action=domain.requested".into()).await;
    assert_eq!(by_action["events"].as_array().unwrap().len(), 3);
    let by_prefix = get("action=domain.*".into()).await;
    assert_eq!(by_prefix["events"].as_array().unwrap().len(), 4);
    let by_actor = get(format!("actor={token_id}")).await;
    assert_eq!(by_actor["events"].as_array().unwrap().len(), 3);
    assert!(by_actor["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["actor"]["type"] == "api_token"));
    let since = get(format!("from={}", mid.replace('+', "%2B"))).await;
    assert_eq!(since["events"].as_array().unwrap().len(), 3);
    let until = get(format!("to={}", mid.replace('+', "%2B"))).await;
    assert_eq!(until["events"].as_array().unwrap().len(), 3);

    // Pages of two, newest first, no event twice, none lost.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("limit=2&cursor={c}"),
            None => "limit=2".into(),
        };
        let page = get(q).await;
        for e in page["events"].as_array().unwrap() {
            seen.push(e["seq"].as_i64().unwrap());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, vec![6, 5, 4, 3, 2, 1]);

    // The operator sees its own chain separately.
    let op = app
        .op(Method::GET, "/audit-events?chain=operator", None)
        .await;
    let actions: Vec<&str> = op.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"operator_token.created"), "{actions:?}");
    assert!(actions.contains(&"plugin.published"), "{actions:?}");
}

#[tokio::test]
async fn concurrent_writers_keep_every_chain_linear() {
    let app = spawn_app().await;
    let a = app.create_tenant("alpha").await;
    let b = app.create_tenant("bravo").await;
    let mut tasks = Vec::new();
    for n in 0..24 {
        let tenant = if n % 2 == 0 { a.clone() } else { b.clone() };
        let url = format!("{}/operator/v1/tenants/{tenant}/tokens", app.url);
        let client = app.client.clone();
        let token = app.operator_token.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "name": format!("t{n}"), "scopes": ["audit:read"] }))
                .send()
                .await
                .map(|r| r.status())
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), StatusCode::CREATED);
    }
    let (ok, report) = verify(&app).await;
    assert!(ok, "{report}");
    // tenant.created + domain.verified + 12 tokens each.
    assert!(
        report.contains(&format!("ok      {a} (14 events,")),
        "{report}"
    );
    assert!(
        report.contains(&format!("ok      {b} (14 events,")),
        "{report}"
    );
}

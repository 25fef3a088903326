//! Audit retention: bounded by the operator, audited when changed, purged up to a signed
//! checkpoint only, and verification (of the database and of an export) still passing after
//! a purge, from that checkpoint.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::audit_checkpoints::{checkpointed_tenant, problems_at};

#[tokio::test]
async fn retention_is_bounded_audited_and_purges_up_to_a_checkpoint() {
    let (app, tenant, admin) = checkpointed_tenant().await;
    let r = app.api(&admin, Method::GET, "/audit-retention", None).await;
    assert_eq!(r.body["days"], 365);
    assert_eq!(r.body["is_default"], true);
    let r = app
        .api(
            &admin,
            Method::PUT,
            "/audit-retention",
            Some(json!({ "days": 3 })),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(
        r.body.to_string().contains("between 7 and 3650"),
        "{}",
        r.body
    );
    let r = app
        .api(
            &admin,
            Method::PUT,
            "/audit-retention",
            Some(json!({ "days": 7 })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (r.body["days"].as_u64(), r.body["is_default"].as_bool()),
        (Some(7), Some(false))
    );
    assert!(app
        .audit_actions(&tenant)
        .await
        .contains(&"audit.retention_changed".to_string()));
    // An app's event with a further target, then a checkpoint naming it.
    let (_, writer) = app.tenant_token(&tenant, &["audit:write"]).await;
    let event = json!({
        "action": "document.shared", "occurred_at": app.clock.now().to_rfc3339(),
        "actor": { "type": "user", "id": "u1" },
        "targets": [{ "type": "document", "id": "d1" }, { "type": "folder", "id": "f1" }],
    });
    let r = app
        .api(&writer, Method::POST, "/audit-events", Some(event))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    app.op(Method::POST, "/audit/checkpoints", None).await;
    let floor_seq = app
        .scalar(&format!(
            "SELECT MAX(last_seq) FROM audit_checkpoints WHERE tenant_id = '{tenant}'"
        ))
        .await;

    // Nothing is old enough yet.
    let r = app.op(Method::POST, "/audit/purge", None).await;
    assert_eq!(r.body["purged"], 0, "{}", r.body);

    // Eight days on, with a newer event and checkpoint: the events up to the old checkpoint go.
    app.clock
        .advance(std::time::Duration::from_secs(8 * 86_400));
    let r = app
        .api(
            &admin,
            Method::POST,
            "/domains",
            Some(json!({ "domain": "late.example" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    app.op(Method::POST, "/audit/checkpoints", None).await;
    let r = app.op(Method::POST, "/audit/purge", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body["purged"].as_u64().unwrap() >= floor_seq as u64,
        "{}",
        r.body
    );
    let oldest = app
        .scalar(&format!(
            "SELECT MIN(seq) FROM audit_events WHERE tenant_id = '{tenant}'"
        ))
        .await;
    assert_eq!(oldest, floor_seq + 1);
    let further = format!("SELECT COUNT(*) FROM audit_targets WHERE chain = '{tenant}'");
    assert_eq!(app.scalar(&further).await, 0, "purged events' targets stay");
    assert!(app
        .audit_actions(&tenant)
        .await
        .contains(&"audit.purged".to_string()));

    // Verification starts from the boundary checkpoint, and still catches an edit.
    let problems = problems_at(&app, Some(&tenant), 0).await;
    assert!(problems.is_empty(), "{problems:?}");
    // Nothing above the floor can be deleted, even by hand.
    let above = sqlx_delete(
        &app,
        &format!(
            "DELETE FROM audit_events WHERE tenant_id = '{tenant}' AND seq = {}",
            floor_seq + 1
        ),
    )
    .await;
    assert!(above.is_err(), "an event above the purge floor was deleted");
}

/// Runs a statement as someone with database access; returns whether the database took it.
async fn sqlx_delete(app: &crate::helpers::TestApp, sql: &str) -> Result<(), String> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&app.config.database_url())
        .await
        .map_err(|e| e.to_string())?;
    sqlx::raw_sql(sql)
        .execute(&mut conn)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

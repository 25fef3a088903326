//! Signed checkpoints: written per chain, linked, published as a JWK set, and what they
//! catch that the hash chain alone cannot (the newest events deleted and the head rewound),
//! plus edits to a checkpoint, to its key, and to an event's search columns.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::audit::{drop_append_only_guard, verify};
use crate::helpers::{spawn_app, TestApp};
use gatehouse::audit::chain::{self, Expectations};
use gatehouse::audit::checkpoint;

/// A tenant with three domain requests and a signed checkpoint. Returns (app, tenant, a
/// token with `audit:read`).
pub(crate) async fn checkpointed_tenant() -> (TestApp, String, String) {
    let app = spawn_app().await;
    let tenant = app.create_tenant("acme").await;
    let (_, admin) = app.tenant_token(&tenant, &["admin"]).await;
    for n in 0..3 {
        let r = app
            .api(
                &admin,
                Method::POST,
                "/domains",
                Some(json!({ "domain": format!("d{n}.example") })),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let signed = app.op(Method::POST, "/audit/checkpoints", None).await;
    assert_eq!(signed.status, StatusCode::OK, "{}", signed.body);
    assert!(
        signed.body["written"].as_u64().unwrap() >= 2,
        "{}",
        signed.body
    );
    (app, tenant, admin)
}

async fn checkpoints(app: &TestApp, token: &str) -> Vec<Value> {
    let r = app
        .api(token, Method::GET, "/audit-checkpoints", None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["checkpoints"].as_array().unwrap().clone()
}

/// Lets someone with database rights edit checkpoints.
async fn drop_checkpoint_guard(app: &TestApp) {
    if app.is_postgres() {
        app.raw_sql("DROP TRIGGER audit_checkpoints_no_change ON audit_checkpoints")
            .await;
    } else {
        app.raw_sql(
            "DROP TRIGGER audit_checkpoints_no_update; DROP TRIGGER audit_checkpoints_no_delete",
        )
        .await;
    }
}

/// The library's verification of one chain (or all) at `now + ahead_secs`; returns the
/// problems found.
pub(crate) async fn problems_at(
    app: &TestApp,
    chain: Option<&str>,
    ahead_secs: i64,
) -> Vec<String> {
    let keys = checkpoint::trusted_keys(&app.state.store, &app.state.secrets)
        .await
        .unwrap();
    let expect = Expectations {
        keys: &keys,
        now: app.clock.now().plus_seconds(ahead_secs),
        interval_secs: 3600,
        min_retention_days: 7,
    };
    let reports = chain::verify(&app.state.store, &expect, chain)
        .await
        .unwrap();
    reports.into_iter().flat_map(|r| r.problems).collect()
}

#[tokio::test]
async fn checkpoints_are_signed_linked_and_published() {
    let (app, tenant, admin) = checkpointed_tenant().await;
    app.op(Method::POST, "/audit/checkpoints", None).await;
    let run = checkpoints(&app, &admin).await;
    assert!(run.len() >= 2, "{run:?}");
    for pair in run.windows(2) {
        assert_eq!(
            pair[1]["number"].as_i64(),
            pair[0]["number"].as_i64().map(|n| n + 1)
        );
        assert_eq!(pair[1]["prev_signature"], pair[0]["signature"]);
    }
    let newest = run.last().unwrap();
    assert_eq!(newest["chain"], tenant.as_str());
    let head = app
        .scalar(&format!(
            "SELECT last_seq FROM audit_heads WHERE tenant_id = '{tenant}'"
        ))
        .await;
    assert_eq!(newest["last_seq"].as_i64(), Some(head));

    let keys = app
        .call(Method::GET, "/.well-known/gatehouse-audit-keys", None, None)
        .await;
    assert_eq!(keys.status, StatusCode::OK);
    let key = &keys.body["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    assert_eq!(key["kid"], newest["kid"]);

    let (ok, report) = verify(&app).await;
    assert!(ok, "{report}");
    assert!(
        report.contains(&format!("{} checkpoints)", run.len())),
        "{report}"
    );
}

#[tokio::test]
async fn a_cut_tail_with_a_rewound_head_is_caught() {
    let (app, tenant, _) = checkpointed_tenant().await;
    drop_append_only_guard(&app).await;
    // Delete the two newest events and rewind the head to the one before: the hash chain
    // itself is consistent again.
    app.raw_sql(&format!(
        "DELETE FROM audit_events WHERE tenant_id = '{tenant}' AND seq > \
         (SELECT last_seq - 2 FROM audit_heads WHERE tenant_id = '{tenant}')"
    ))
    .await;
    app.raw_sql(&format!(
        "UPDATE audit_heads SET last_seq = last_seq - 2, last_hash = (SELECT hash FROM \
         audit_events e WHERE e.tenant_id = audit_heads.tenant_id AND e.seq = audit_heads.last_seq - 2) \
         WHERE tenant_id = '{tenant}'"
    ))
    .await;
    let (ok, report) = verify(&app).await;
    assert!(!ok, "{report}");
    assert!(
        report.contains("the newest events were removed and the head rewound"),
        "{report}"
    );

    // Deleting the checkpoints as well leaves the chain without a recent one: caught once
    // the schedule says one should exist (here: three hours on).
    drop_checkpoint_guard(&app).await;
    app.raw_sql(&format!(
        "DELETE FROM audit_checkpoints WHERE tenant_id = '{tenant}'"
    ))
    .await;
    assert!(problems_at(&app, Some(&tenant), 0).await.is_empty());
    let late = problems_at(&app, Some(&tenant), 3 * 3600).await;
    assert!(
        late.iter()
            .any(|p| p.contains("the newest checkpoint is older")),
        "{late:?}"
    );
}

#[tokio::test]
async fn edited_checkpoints_keys_and_search_columns_are_caught() {
    let (app, tenant, _) = checkpointed_tenant().await;
    drop_checkpoint_guard(&app).await;
    app.raw_sql(&format!(
        "UPDATE audit_checkpoints SET last_seq = last_seq - 1 WHERE tenant_id = '{tenant}'"
    ))
    .await;
    let problems = problems_at(&app, Some(&tenant), 0).await;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("signature does not verify")),
        "{problems:?}"
    );

    // A key written into the database by hand is not trusted, nor published.
    app.raw_sql(
        // The instance's own key material under another id: the id must belong to the key.
        "INSERT INTO audit_signing_keys (kid, public_key, private_sealed, created_at) \
         SELECT 'forged', public_key, private_sealed, 0 FROM audit_signing_keys",
    )
    .await;
    app.raw_sql(&format!(
        "UPDATE audit_checkpoints SET kid = 'forged' WHERE tenant_id = '{tenant}'"
    ))
    .await;
    let problems = problems_at(&app, Some(&tenant), 0).await;
    assert!(
        problems.iter().any(|p| p.contains("not a trusted key")),
        "{problems:?}"
    );
    let keys = app
        .call(Method::GET, "/.well-known/gatehouse-audit-keys", None, None)
        .await;
    assert!(!keys.body.to_string().contains("forged"));

    // Hiding an event from `outcome=failure` by editing its (unhashed) search column.
    drop_append_only_guard(&app).await;
    app.raw_sql(&format!(
        "UPDATE audit_events SET ip_key = 'ffff' WHERE tenant_id = '{tenant}' AND seq = 2"
    ))
    .await;
    let problems = problems_at(&app, Some(&tenant), 0).await;
    assert!(
        problems.iter().any(|p| p.contains("search columns")),
        "{problems:?}"
    );
}

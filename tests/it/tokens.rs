//! Tenant API tokens: shown once, scoped, expiring, revocable, confined to their tenant.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn tokens_expire_and_are_revoked() {
    let app = spawn_app().await;
    let id = app.create_tenant("acme").await;
    let (_, admin) = app.tenant_token(&id, &["admin"]).await;
    let r = app
        .api(
            &admin,
            Method::POST,
            "/tokens",
            Some(json!({ "name": "short", "scopes": ["audit:read"], "expires_in_seconds": 3600 })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let short = r.body["token"].as_str().unwrap().to_string();
    let short_id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.api(&short, Method::GET, "/audit-events", None)
            .await
            .status,
        StatusCode::OK
    );

    // Listing never shows secrets.
    let list = app.api(&admin, Method::GET, "/tokens", None).await;
    assert_eq!(list.body["tokens"].as_array().unwrap().len(), 2);
    assert!(!list.body.to_string().contains(&short));
    assert!(list.body["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t.get("token").is_none()));

    app.clock.advance(Duration::from_secs(3601));
    let r = app.api(&short, Method::GET, "/audit-events", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        r.body["detail"].as_str().unwrap().contains("expired"),
        "{}",
        r.body
    );

    let r = app
        .api(&admin, Method::DELETE, &format!("/tokens/{short_id}"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["revoked_at"].is_string());

    // An admin token revoking itself locks itself out.
    let admin_id = list.body["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] != short_id.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.api(&admin, Method::DELETE, &format!("/tokens/{admin_id}"), None)
        .await;
    let r = app.api(&admin, Method::GET, "/tenant", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body["detail"].as_str().unwrap().contains("revoked"));
    let actions = app.audit_actions(&id).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "api_token.revoked").count(),
        2
    );
}

#[tokio::test]
async fn scopes_limit_tokens_and_cannot_be_escalated() {
    let app = spawn_app().await;
    let id = app.create_tenant("acme").await;
    let (_, reader) = app.tenant_token(&id, &["audit:read", "tokens:write"]).await;
    let r = app.api(&reader, Method::GET, "/tenant", None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body["detail"].as_str().unwrap().contains("tenant:read"));
    let r = app
        .api(
            &reader,
            Method::POST,
            "/tokens",
            Some(json!({ "name": "x", "scopes": ["admin"] })),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = app
        .api(
            &reader,
            Method::POST,
            "/tokens",
            Some(json!({ "name": "x", "scopes": ["audit:read"] })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app
        .api(
            &reader,
            Method::POST,
            "/tokens",
            Some(json!({ "name": "x", "scopes": ["root"] })),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body["detail"].as_str().unwrap().contains("unknown scope"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn one_tenants_token_cannot_reach_another_tenants_resources() {
    let app = spawn_app().await;
    let a = app.create_tenant("alpha").await;
    let b = app.create_tenant("bravo").await;
    let (_, token_a) = app.tenant_token(&a, &["admin"]).await;
    let (b_token_id, token_b) = app.tenant_token(&b, &["admin"]).await;

    // A's token names B's token: it looks missing, and B's token keeps working.
    let r = app
        .api(
            &token_a,
            Method::DELETE,
            &format!("/tokens/{b_token_id}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert_eq!(
        app.api(&token_b, Method::GET, "/tenant", None).await.status,
        StatusCode::OK
    );
    // A cannot remove B's domain through its own API.
    let r = app
        .api(&token_a, Method::DELETE, "/domains/bravo.example", None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // A's audit log holds only A's events.
    let log = app.api(&token_a, Method::GET, "/audit-events", None).await;
    assert!(log.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["tenant_id"] == a.as_str()));
    // Tenant tokens cannot use the operator API, even for their own tenant.
    let r = app
        .call(
            Method::GET,
            &format!("/operator/v1/tenants/{a}"),
            Some(&token_a),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The operator token is not a tenant token.
    let r = app
        .api(&app.operator_token, Method::GET, "/tenant", None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn wrong_missing_and_forged_tokens_are_refused() {
    let app = spawn_app().await;
    let id = app.create_tenant("acme").await;
    let (_, token) = app.tenant_token(&id, &["admin"]).await;

    let r = app.call(Method::GET, "/api/v1/tenant", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    assert_eq!(r.body["status"], 401);

    // Right id, wrong secret (same length).
    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    for bad in [
        forged.as_str(),
        "ght_short",
        "nonsense",
        "gho_00000000000000000000000000000000_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    ] {
        let r = app.api(bad, Method::GET, "/tenant", None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(r.problem(), "unauthenticated");
    }
    let r = app
        .client
        .get(format!("{}/api/v1/tenant", app.url))
        .header("authorization", format!("Basic {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_rotated_token_keeps_working_for_the_overlap_only() {
    let app = spawn_app().await;
    let id = app.create_tenant("rotating").await;
    let (_, admin) = app.tenant_token(&id, &["admin"]).await;
    let r = app
        .api(
            &admin,
            Method::POST,
            "/tokens",
            Some(json!({ "name": "provisioning", "scopes": ["tenant:read"], "expires_in_seconds": 86400 })),
        )
        .await;
    let old = r.body["token"].as_str().unwrap().to_string();
    let old_id = r.body["id"].as_str().unwrap().to_string();
    let rotate = |body: serde_json::Value, token_id: String| {
        let app = &app;
        let admin = admin.clone();
        async move {
            app.api(
                &admin,
                Method::POST,
                &format!("/tokens/{token_id}/rotate"),
                Some(body),
            )
            .await
        }
    };
    let r = rotate(json!({"overlap_seconds": 8 * 24 * 3600}), old_id.clone()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.body["field"], "overlap_seconds");

    let r = rotate(json!({"overlap_seconds": 60}), old_id.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let new = r.body["token"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(r.body["name"], "provisioning");
    assert_eq!(r.body["scopes"], json!(["tenant:read"]));
    let get = |token: String| {
        let app = &app;
        async move { app.api(&token, Method::GET, "/tenant", None).await.status }
    };
    assert_eq!(
        get(old.clone()).await,
        StatusCode::OK,
        "old works in the overlap"
    );
    assert_eq!(get(new.clone()).await, StatusCode::OK);
    app.clock.advance(Duration::from_secs(61));
    assert_eq!(get(old.clone()).await, StatusCode::UNAUTHORIZED, "old ends");
    assert_eq!(
        get(new.clone()).await,
        StatusCode::OK,
        "new keeps the old lifetime"
    );

    // An ended token cannot be rotated back to life.
    let r = rotate(json!({}), old_id.clone()).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let rotated = app.audit_actions(&id).await;
    assert_eq!(
        rotated.iter().filter(|a| *a == "api_token.rotated").count(),
        1
    );
}

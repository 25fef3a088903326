//! The per-tenant SCIM request rate (a Bulk request counts each operation): an IdP's client
//! over it gets 429 in SCIM form with `Retry-After`, other tenants are not slowed, and the
//! allowance comes back with time.

use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::helpers::spawn_app_with;
use crate::scim::scim_tenant;

#[tokio::test]
async fn a_tenant_over_its_scim_rate_gets_429_with_retry_after_and_others_do_not() {
    let app = spawn_app_with(|c| c.throttle.scim_per_tenant_per_minute = 3).await;
    let busy = scim_tenant(&app, "rate-busy").await;
    let quiet = scim_tenant(&app, "rate-quiet").await;
    for _ in 0..3 {
        let r = busy.call(&app, Method::GET, "/Users", None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let r = busy.call(&app, Method::GET, "/Users", None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert_eq!(r.body["status"], "429");
    assert_eq!(
        r.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&wait), "Retry-After {wait}");
    // A write is held to the same rate, and nothing of it is written.
    let user = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "held@rate-busy.example",
    });
    let r = busy
        .call(&app, Method::POST, "/Users", Some(user.clone()))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);

    let r = quiet.call(&app, Method::GET, "/Users", None).await;
    assert_eq!(r.status, StatusCode::OK, "another tenant is not slowed");

    app.clock.advance(Duration::from_secs(60));
    let r = busy.call(&app, Method::POST, "/Users", Some(user)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = busy.call(&app, Method::GET, "/Users", None).await;
    assert_eq!(r.body["totalResults"], 1, "the held write never landed");
}

/// A Bulk request of `n` user creations.
fn bulk(n: usize, tag: &str) -> serde_json::Value {
    let operations: Vec<_> = (0..n)
        .map(|i| {
            serde_json::json!({"method": "POST", "path": "/Users", "bulkId": format!("{tag}{i}"),
                "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                         "userName": format!("{tag}{i}@rate-bulk.example")}})
        })
        .collect();
    serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                       "Operations": operations})
}

#[tokio::test]
async fn a_bulk_request_counts_each_operation_against_the_rate() {
    let app = spawn_app_with(|c| c.throttle.scim_per_tenant_per_minute = 10).await;
    let s = scim_tenant(&app, "rate-bulk").await;
    let r = s
        .call(&app, Method::POST, "/Bulk", Some(bulk(8, "a")))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Two left: a Bulk of four is refused and writes nothing.
    let r = s
        .call(&app, Method::POST, "/Bulk", Some(bulk(4, "b")))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.headers.contains_key("retry-after"));
    let r = s.call(&app, Method::GET, "/Users", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["totalResults"], 8, "only the first Bulk landed");
    let r = s.call(&app, Method::GET, "/Users", None).await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the allowance is spent"
    );
}

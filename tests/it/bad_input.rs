//! Bad input gets a specific problem-details answer with the right status, never a panic.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn malformed_and_misshapen_json_is_explained() {
    let app = spawn_app().await;
    let send = |body: &'static str, ctype: &'static str| {
        app.client
            .post(format!("{}/operator/v1/tenants", app.url))
            .bearer_auth(&app.operator_token)
            .header("content-type", ctype)
            .body(body)
            .send()
    };
    let r = send("{\"slug\": ", "application/json").await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["type"], "urn:gatehouse:problem:malformed-json");
    assert!(body["request_id"].is_string());

    let r = send(
        "{\"slug\": \"acme\", \"name\": \"A\", \"color\": \"red\"}",
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("unknown field `color`"),
        "{body}"
    );

    let r = send("{\"slug\": 5, \"name\": \"A\"}", "application/json")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let r = send("slug=acme", "application/x-www-form-urlencoded")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let r = app
        .op(
            Method::POST,
            "/tenants",
            Some(json!({ "slug": "Not A Slug", "name": "x" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "slug");
    assert!(app.op(Method::GET, "/tenants", None).await.body["tenants"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn oversize_bodies_are_refused() {
    let app = spawn_app().await;
    let huge = "x".repeat(app.config.server.max_body_bytes + 1);
    let r = app
        .op(
            Method::POST,
            "/tenants",
            Some(json!({ "slug": "acme", "name": huge })),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    assert_eq!(r.problem(), "body-too-large");
}

#[tokio::test]
async fn bad_paths_queries_and_methods_get_problem_details() {
    let app = spawn_app().await;
    let id = app.create_tenant("acme").await;
    let r = app
        .op(Method::GET, "/tenants/acme/audit-events?colour=red", None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.problem(), "invalid-query");
    let r = app
        .op(Method::GET, "/tenants/acme/audit-events?limit=100000", None)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .op(
            Method::GET,
            "/tenants/acme/audit-events?from=yesterday",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .op(
            Method::GET,
            "/tenants/acme/audit-events?cursor=forged",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "cursor");
    let r = app
        .op(
            Method::DELETE,
            &format!("/tenants/{id}/tokens/not-a-uuid"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.problem(), "invalid-path");
    let r = app
        .op(
            Method::GET,
            "/tenants/00000000-0000-0000-0000-000000000000",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.call(Method::GET, "/nothing-here", None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.problem(), "no-route");
    let r = app.call(Method::PUT, "/healthz", None, None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.problem(), "method-not-allowed");
}

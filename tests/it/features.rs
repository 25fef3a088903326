//! Per-tenant add-on features: the operator turns parts of Gatehouse on and off per tenant; a
//! feature that is off answers `feature-not-enabled` on every path that reaches it (admin API,
//! SCIM in SCIM form, the IdP-facing sign-in URLs, the decision API), other tenants are not
//! touched, turning one off that the tenant still depends on is refused with what to change
//! first, and every change is audited.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};
use crate::saml::browser;

/// Every feature, in the order Gatehouse lists them.
const ALL: [&str; 7] = [
    "sso",
    "scim",
    "mfa",
    "roles",
    "audit_export",
    "audit_streaming",
    "custom_plugins",
];

async fn set_features(app: &TestApp, tenant: &str, enabled: &[&str]) -> crate::helpers::Resp {
    app.op(
        Method::PUT,
        &format!("/tenants/{tenant}/features"),
        Some(json!({ "enabled": enabled })),
    )
    .await
}

/// A SAML connection of the tenant, enabled.
async fn add_connection(app: &TestApp, admin: &str) -> String {
    let r = app
        .api(
            admin,
            Method::POST,
            "/sso/connections",
            Some(json!({"name": "Corp IdP", "status": "enabled", "saml": {
                "idp_entity_id": "https://idp.example/saml", "sso_url": "https://idp.example/sso",
                "certificates": [crate::node_cache::other_certificate()],
            }})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

fn refused(r: &crate::helpers::Resp, feature: &str, what: &str) {
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{what}: {}", r.body);
    assert_eq!(r.problem(), "feature-not-enabled", "{what}: {}", r.body);
    let detail = r.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(&format!("`{feature}`")), "{what}: {detail}");
}

#[tokio::test]
async fn a_feature_that_is_off_is_refused_on_every_path_and_comes_back_when_turned_on() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("plan").await;
    let other = app.create_tenant("plan-other").await;
    let (_, admin) = app.tenant_token(&tenant, &["admin"]).await;
    let (_, scim) = app.tenant_token(&tenant, &["scim"]).await;
    let (_, other_scim) = app.tenant_token(&other, &["scim"]).await;
    let connection = add_connection(&app, &admin).await;
    let public = app
        .op(Method::GET, &format!("/tenants/{tenant}"), None)
        .await;
    assert_eq!(
        public.body["features"],
        json!(ALL),
        "new tenants get everything"
    );
    let token = public.body["public_token"].as_str().unwrap().to_string();

    let r = set_features(&app, &tenant, &["mfa"]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["enabled"], json!(["mfa"]));
    assert_eq!(r.body["available"], json!(ALL));
    let r = app
        .op(Method::GET, &format!("/tenants/{tenant}/features"), None)
        .await;
    assert_eq!(r.body["enabled"], json!(["mfa"]));

    // The admin API, whoever asks (the operator included).
    let r = app.api(&admin, Method::GET, "/sso/connections", None).await;
    refused(&r, "sso", "connections");
    let r = app.api(&admin, Method::GET, "/catalogue", None).await;
    refused(&r, "roles", "catalogue");
    let r = app.api(&admin, Method::GET, "/audit-streams", None).await;
    refused(&r, "audit_streaming", "streams");
    let r = app
        .api(
            &admin,
            Method::POST,
            "/audit-exports",
            Some(json!({"format": "csv"})),
        )
        .await;
    refused(&r, "audit_export", "export job");
    let r = app
        .op(
            Method::PUT,
            &format!("/tenants/{tenant}/policy"),
            Some(json!({"sso_only": true})),
        )
        .await;
    refused(&r, "sso", "an SSO-only policy set by the operator");
    let r = app
        .upload(
            &admin,
            "/api/v1",
            "name=mine&version=1.0.0",
            b"\0asm".to_vec(),
            "application/wasm",
        )
        .await;
    refused(&r, "custom_plugins", "plugin upload");
    let r = app
        .op(
            Method::POST,
            &format!("/tenants/{tenant}/tokens"),
            Some(json!({"name": "idp", "scopes": ["scim"]})),
        )
        .await;
    refused(&r, "scim", "a SCIM token");
    // The decision API.
    let (_, pep) = app.tenant_token(&tenant, &["access:evaluate"]).await;
    let body = json!({"subject": {"type": "user", "id": "nobody"},
                      "action": {"name": "view"}, "resource": {"type": "gatehouse.users", "id": "x"}});
    let r = app
        .call(
            Method::POST,
            "/access/v1/evaluation",
            Some(&pep),
            Some(body),
        )
        .await;
    refused(&r, "roles", "decision API");

    // The IdP-facing side: SCIM in SCIM form, sign-in URLs as a refusal page.
    let r = app
        .call(Method::GET, "/scim/v2/Users", Some(&scim), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(
        r.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(r.body["status"], "403");
    assert!(
        r.body["detail"].as_str().unwrap().contains("`scim`"),
        "{}",
        r.body
    );
    let start = format!("{}/sso/start/{token}/{connection}", app.url);
    let page = browser().get(&start).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    assert!(page.text().await.unwrap().contains("feature_not_enabled"));
    let metadata = format!("{}/sso/saml/{token}/{connection}/metadata", app.url);
    let r = browser().get(&metadata).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "SP metadata");
    let r = app
        .call(
            Method::GET,
            &format!("/sso/discovery?tenant={token}"),
            None,
            None,
        )
        .await;
    assert_eq!(r.body["single_sign_on"], false, "{}", r.body);
    assert_eq!(r.body["connections"], json!([]));

    // Another tenant is untouched.
    let r = app
        .call(Method::GET, "/scim/v2/Users", Some(&other_scim), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Back on: everything answers again at once.
    let r = set_features(&app, &tenant, &ALL).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .call(Method::GET, "/scim/v2/Users", Some(&scim), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.api(&admin, Method::GET, "/sso/connections", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let page = browser().get(&start).send().await.unwrap();
    assert_eq!(
        page.status(),
        StatusCode::SEE_OTHER,
        "the start link goes to the IdP"
    );

    // Each change is audited with the sets before and after; a repeat is not.
    let r = set_features(&app, &tenant, &ALL).await;
    assert_eq!(r.status, StatusCode::OK);
    let events = app
        .op(
            Method::GET,
            &format!("/tenants/{tenant}/audit-events?action=tenant.features_changed"),
            None,
        )
        .await;
    let items: Vec<&Value> = events.body["events"].as_array().unwrap().iter().collect();
    assert_eq!(items.len(), 2, "{}", events.body);
    let first = items
        .iter()
        .find(|e| e["after"]["features"] == json!(["mfa"]))
        .unwrap();
    assert_eq!(first["before"]["features"], json!(ALL));
    assert_eq!(first["actor"]["type"], "operator");
}

#[tokio::test]
async fn bad_feature_requests_and_features_still_in_use_are_refused_with_what_to_do() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("inuse").await;
    let (_, admin) = app.tenant_token(&tenant, &["admin"]).await;

    let r = set_features(&app, &tenant, &["sso", "billing"]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains("\"billing\""));
    let r = app
        .op(
            Method::PUT,
            &format!("/tenants/{tenant}/features"),
            Some(json!({"on": []})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = app
        .op(
            Method::POST,
            "/tenants",
            Some(json!({"slug": "starter", "name": "Starter", "features": ["sso", "sms"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = app
        .op(
            Method::POST,
            "/tenants",
            Some(json!({"slug": "starter", "name": "Starter", "features": ["sso"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["features"], json!(["sso"]));

    // A policy that requires MFA keeps the MFA feature on until the policy changes.
    let r = app
        .api(
            &admin,
            Method::PUT,
            "/policy",
            Some(json!({"mfa": {"required": "direct"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let without_mfa: Vec<&str> = ALL.iter().copied().filter(|f| *f != "mfa").collect();
    let r = set_features(&app, &tenant, &without_mfa).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(
        r.body["detail"].as_str().unwrap().contains("mfa.required"),
        "{}",
        r.body
    );
    let r = app
        .op(Method::GET, &format!("/tenants/{tenant}/features"), None)
        .await;
    assert_eq!(r.body["enabled"], json!(ALL), "nothing changed");
    let r = app
        .api(
            &admin,
            Method::PUT,
            "/policy",
            Some(json!({"mfa": {"required": "off"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = set_features(&app, &tenant, &without_mfa).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Turning streaming off pauses the tenant's streams; turning it on leaves them paused
    // for the admin to resume.
    let r = app
        .api(
            &admin,
            Method::POST,
            "/audit-streams",
            Some(json!({"name": "siem", "destination":
                {"kind": "syslog", "host": "127.0.0.1", "port": 9, "format": "json"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let without_streams: Vec<&str> = without_mfa
        .iter()
        .copied()
        .filter(|f| *f != "audit_streaming")
        .collect();
    let r = set_features(&app, &tenant, &without_streams).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    set_features(&app, &tenant, &ALL).await;
    let r = app.api(&admin, Method::GET, "/audit-streams", None).await;
    assert_eq!(r.body[0]["status"], "paused", "{}", r.body);
    let changed = app
        .op(
            Method::GET,
            &format!("/tenants/{tenant}/audit-events?action=tenant.features_changed"),
            None,
        )
        .await;
    let paused: Vec<&Value> = changed.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["after"]["audit_streams_paused"] == 1)
        .collect();
    assert_eq!(paused.len(), 1, "{}", changed.body);

    // MFA off: enrolment is refused, as the admin API says.
    let r = set_features(&app, &tenant, &without_mfa).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .api(
            &admin,
            Method::PUT,
            "/policy",
            Some(json!({"mfa": {"required": "everyone"}})),
        )
        .await;
    refused(&r, "mfa", "a policy requiring MFA");
}

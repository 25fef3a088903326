//! Tenant lifecycle through the operator API, and what a tenant admin sees.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn tenant_is_created_given_a_domain_and_a_token_and_every_step_is_audited() {
    let app = spawn_app().await;
    let r = app
        .op(
            Method::POST,
            "/tenants",
            Some(json!({ "slug": "acme", "name": "Acme Corp" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    let public = r.body["public_token"].as_str().unwrap();
    assert!(public.len() >= 32 && !public.contains("acme") && !public.contains(&id));

    let r = app
        .op(
            Method::POST,
            "/tenants/acme/domains",
            Some(json!({ "domain": "Acme.Example" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["domain"], "acme.example");
    assert_eq!(r.body["status"], "verified");

    let (_, token) = app.tenant_token(&id, &["admin"]).await;
    let me = app.api(&token, Method::GET, "/tenant", None).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["slug"], "acme");
    assert_eq!(me.body["domains"][0]["domain"], "acme.example");

    // The tenant admin requests a second domain: pending, with a DNS challenge.
    let r = app
        .api(
            &token,
            Method::POST,
            "/domains",
            Some(json!({ "domain": "acme-corp.example" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["status"], "pending");
    assert!(r.body["txt_record_value"]
        .as_str()
        .unwrap()
        .starts_with("gatehouse-verification="));
    let r = app
        .op(
            Method::POST,
            &format!("/tenants/{id}/domains/acme-corp.example/verify"),
            None,
        )
        .await;
    assert_eq!(r.body["status"], "verified", "{}", r.body);

    // The tenant reads its own audit log with its token.
    let log = app.api(&token, Method::GET, "/audit-events", None).await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    let mut actions: Vec<&str> = log.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    actions.reverse();
    assert_eq!(
        actions,
        [
            "tenant.created",
            "domain.verified",
            "api_token.created",
            "domain.requested",
            "domain.verified"
        ]
    );
    let first = &log.body["events"].as_array().unwrap().last().unwrap();
    assert_eq!(first["actor"]["type"], "operator");
    assert_eq!(first["after"]["slug"], "acme");
    assert!(first["request_id"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(first["ip"], "127.0.0.1");
}

#[tokio::test]
async fn suspend_resume_and_delete_change_what_the_tenant_can_do() {
    let app = spawn_app().await;
    let id = app.create_tenant("globex").await;
    let (_, token) = app.tenant_token(&id, &["admin"]).await;

    let r = app.op(Method::POST, "/tenants/globex/suspend", None).await;
    assert_eq!(r.body["status"], "suspended", "{}", r.body);
    let r = app.api(&token, Method::GET, "/tenant", None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.problem(), "tenant-suspended");

    let r = app.op(Method::POST, "/tenants/globex/resume", None).await;
    assert_eq!(r.body["status"], "active");
    assert_eq!(
        app.api(&token, Method::GET, "/tenant", None).await.status,
        StatusCode::OK
    );

    let r = app.op(Method::DELETE, "/tenants/globex", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "deleted");
    assert_eq!(
        app.api(&token, Method::GET, "/tenant", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The domain is free for another tenant now.
    let other = app.create_tenant("initech").await;
    let r = app
        .op(
            Method::POST,
            &format!("/tenants/{other}/domains"),
            Some(json!({ "domain": "globex.example" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // A deleted tenant cannot be resumed, and its trail survives.
    let r = app.op(Method::POST, "/tenants/globex/resume", None).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        app.audit_actions(&id).await,
        [
            "tenant.created",
            "domain.verified",
            "api_token.created",
            "tenant.suspended",
            "tenant.resumed",
            "tenant.deleted"
        ]
    );
}

#[tokio::test]
async fn deleting_a_tenant_destroys_its_data_key() {
    let app = spawn_app().await;
    let id = app.create_tenant("umbrella").await;
    let tenant: gatehouse::types::TenantId = id.parse().unwrap();
    let sealed = app
        .state
        .secrets
        .seal(&app.state.store, tenant, "test-secret", b"s3cret")
        .await
        .unwrap();
    let opened = app
        .state
        .secrets
        .open(&app.state.store, tenant, "test-secret", &sealed)
        .await
        .unwrap();
    assert_eq!(opened.as_slice(), b"s3cret");
    // Bound to its purpose: the same ciphertext does not open as another field.
    assert!(app
        .state
        .secrets
        .open(&app.state.store, tenant, "other", &sealed)
        .await
        .is_err());
    app.op(Method::DELETE, &format!("/tenants/{id}"), None)
        .await;
    assert!(app
        .state
        .secrets
        .open(&app.state.store, tenant, "test-secret", &sealed)
        .await
        .is_err());
}

#[tokio::test]
async fn verified_domains_and_slugs_are_unique_and_failures_write_nothing() {
    let app = spawn_app().await;
    app.create_tenant("hooli").await;
    let before = app
        .op(Method::GET, "/audit-events?limit=500", None)
        .await
        .body["events"]
        .as_array()
        .unwrap()
        .len();

    let r = app
        .op(
            Method::POST,
            "/tenants",
            Some(json!({ "slug": "hooli", "name": "Again" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    // Another tenant claiming hooli's verified domain fails, and the tenant is not half-created.
    let r = app
        .op(
            Method::POST,
            "/tenants",
            Some(json!({ "slug": "piper", "name": "Piper", "domains": ["hooli.example"] })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(
        app.op(Method::GET, "/tenants/piper", None).await.status,
        StatusCode::NOT_FOUND
    );
    let r = app
        .op(
            Method::POST,
            "/tenants",
            Some(json!({ "slug": "piper", "name": "Piper", "domains": ["not a domain"] })),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "domains");

    let after = app
        .op(Method::GET, "/audit-events?limit=500", None)
        .await
        .body["events"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "failed requests must not leave audit events");
    let list = app.op(Method::GET, "/tenants", None).await;
    assert_eq!(list.body["tenants"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn tenants_are_listed_in_pages_and_by_status() {
    let app = spawn_app().await;
    for slug in ["t-one", "t-two", "t-three"] {
        app.create_tenant(slug).await;
    }
    app.op(Method::POST, "/tenants/t-two/suspend", None).await;
    let page = app.op(Method::GET, "/tenants?limit=2", None).await;
    assert_eq!(page.body["tenants"].as_array().unwrap().len(), 2);
    let after = page.body["next_after"].as_str().unwrap();
    let rest = app
        .op(
            Method::GET,
            &format!("/tenants?limit=2&after={after}"),
            None,
        )
        .await;
    assert_eq!(rest.body["tenants"].as_array().unwrap().len(), 1);
    assert!(rest.body["next_after"].is_null());
    let suspended = app.op(Method::GET, "/tenants?status=suspended", None).await;
    assert_eq!(suspended.body["tenants"][0]["slug"], "t-two");
    let r = app.op(Method::GET, "/tenants?status=zombie", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .op(
            Method::PATCH,
            "/tenants/t-one",
            Some(json!({ "name": "Tenant One" })),
        )
        .await;
    assert_eq!(r.body["name"], "Tenant One", "{}", r.body);
}

#[tokio::test]
async fn the_operator_reads_a_tenants_usage_by_month() {
    let app = spawn_app().await;
    // The owner signs in with a password: one sign-in this month.
    let (tenant, _) = crate::oidc_provider::signed_in(&app, "usage").await;
    let scim = crate::scim::scim_for(&app, tenant.clone()).await;
    let mut ids = Vec::new();
    for name in ["a@usage.example", "b@usage.example"] {
        let r = scim
            .call(
                &app,
                Method::POST,
                "/Users",
                Some(
                    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                            "userName": name, "emails": [{"value": name, "primary": true}]}),
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    let r = scim
        .call(
            &app,
            Method::PATCH,
            &format!("/Users/{}", ids[1]),
            Some(
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "replace", "value": {"active": false}}]}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Reads are not counted.
    scim.call(&app, Method::GET, "/Users", None).await;

    let usage = app
        .op(Method::GET, &format!("/tenants/{tenant}/usage"), None)
        .await;
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.body);
    let now = time::OffsetDateTime::now_utc();
    assert_eq!(
        usage.body["month"],
        format!("{:04}-{:02}", now.year(), now.month() as u8)
    );
    // The owner and one SCIM user are live (active, or pending their first sign-in).
    let users = &usage.body["users"];
    let live = users["active"].as_i64().unwrap_or(0) + users["pending"].as_i64().unwrap_or(0);
    assert_eq!(live, 2, "{}", usage.body);
    assert_eq!(users["deactivated"], 1, "{}", usage.body);
    assert_eq!(usage.body["sign_ins"], 1, "{}", usage.body);
    assert_eq!(usage.body["scim_operations"], 3, "{}", usage.body);

    // The same figures are in /metrics, by tenant id.
    let text = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        format!("gatehouse_tenant_sign_ins_this_month{{tenant=\"{tenant}\"}} 1"),
        format!("gatehouse_tenant_scim_operations_this_month{{tenant=\"{tenant}\"}} 3"),
        format!("gatehouse_tenant_users{{tenant=\"{tenant}\",status=\"deactivated\"}} 1"),
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in {text}");
    }

    // Another month counts its own events; a bad month or parameter is refused.
    let past = app
        .op(Method::GET, "/tenants/usage/usage?month=2020-01", None)
        .await;
    assert_eq!(past.body["sign_ins"], 0, "{}", past.body);
    assert_eq!(past.body["scim_operations"], 0);
    let bad = app
        .op(Method::GET, "/tenants/usage/usage?month=2020-13", None)
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert_eq!(bad.body["field"], "month");
    let odd = app
        .op(Method::GET, "/tenants/usage/usage?from=2020-01", None)
        .await;
    assert_eq!(odd.status, StatusCode::BAD_REQUEST, "{}", odd.body);
    // Only the operator reads it.
    let (_, admin) = app.tenant_token(&tenant, &["admin"]).await;
    let r = app
        .call(
            Method::GET,
            &format!("/operator/v1/tenants/{tenant}/usage"),
            Some(&admin),
            None,
        )
        .await;
    assert!(
        r.status == StatusCode::FORBIDDEN || r.status == StatusCode::UNAUTHORIZED,
        "{}",
        r.status
    );
}

#[tokio::test]
async fn a_rotated_public_token_keeps_the_old_urls_working_for_the_overlap_only() {
    let app = spawn_app().await;
    let scim = crate::scim::scim_tenant(&app, "rotate").await;
    let r = app
        .api(
            &scim.admin,
            Method::POST,
            "/sso/connections",
            Some(json!({"name": "Corp IdP", "status": "enabled", "saml": {
                "idp_entity_id": "https://idp.example/saml", "sso_url": "https://idp.example/sso",
                "certificates": [crate::node_cache::other_certificate()],
            }})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let connection = r.body["id"].as_str().unwrap().to_string();
    let view = app
        .op(Method::GET, &format!("/tenants/{}", scim.tenant), None)
        .await;
    let old = view.body["public_token"].as_str().unwrap().to_string();
    let metadata = |token: &str| {
        let url = format!("{}/sso/saml/{token}/{connection}/metadata", app.url);
        async move {
            let r = crate::saml::browser().get(&url).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let scim_users = |token: &str| {
        let url = format!("/scim/v2/{token}/Users");
        let bearer = scim.token.clone();
        let app = &app;
        async move {
            app.call(Method::GET, &url, Some(&bearer), None)
                .await
                .status
        }
    };

    for bad in [
        json!({"overlap_seconds": -1}),
        json!({"overlap_seconds": 2_592_001}),
        json!({"overlap": 5}),
    ] {
        let r = app
            .api(
                &scim.admin,
                Method::POST,
                "/tenant/public-token/rotate",
                Some(bad.clone()),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.body
        );
    }
    let r = app
        .api(
            &scim.admin,
            Method::POST,
            "/tenant/public-token/rotate",
            Some(json!({"overlap_seconds": 3600})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let new = r.body["public_token"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(new.len(), old.len());

    // Both work during the overlap, each with its own URLs (what each IdP was given).
    let (status, xml) = metadata(&old).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        xml.contains(&format!("/sso/saml/{old}/{connection}/acs")),
        "{xml}"
    );
    let (status, xml) = metadata(&new).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        xml.contains(&format!("/sso/saml/{new}/{connection}/acs")),
        "{xml}"
    );
    assert!(!xml.contains(&old));
    assert_eq!(scim_users(&old).await, StatusCode::OK);
    assert_eq!(scim_users(&new).await, StatusCode::OK);
    let view = app
        .op(Method::GET, &format!("/tenants/{}", scim.tenant), None)
        .await;
    assert_eq!(
        view.body["public_token"],
        new.as_str(),
        "the view shows the new one"
    );
    assert!(
        view.body["previous_public_token_until"].is_string(),
        "{}",
        view.body
    );
    assert!(
        !view.body.to_string().contains(&old),
        "the old token is not shown"
    );

    // After the overlap the old token names nothing.
    app.clock.advance(std::time::Duration::from_secs(3601));
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await; // the node cache's bound
    assert_eq!(metadata(&old).await.0, StatusCode::NOT_FOUND);
    assert_eq!(scim_users(&old).await, StatusCode::NOT_FOUND);
    assert_eq!(scim_users(&new).await, StatusCode::OK);

    // The operator rotates with no overlap: the token before ends at once.
    let r = app
        .op(
            Method::POST,
            &format!("/tenants/{}/public-token/rotate", scim.tenant),
            Some(json!({"overlap_seconds": 0})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let newest = r.body["public_token"].as_str().unwrap().to_string();
    assert_eq!(scim_users(&new).await, StatusCode::NOT_FOUND);
    assert_eq!(scim_users(&newest).await, StatusCode::OK);

    let events = app
        .op(
            Method::GET,
            &format!(
                "/tenants/{}/audit-events?action=tenant.public_token_rotated",
                scim.tenant
            ),
            None,
        )
        .await;
    let events = events.body["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 2);
    let text = serde_json::to_string(&events).unwrap();
    for token in [&old, &new, &newest] {
        assert!(
            !text.contains(token.as_str()),
            "a token in the audit log: {text}"
        );
    }
}

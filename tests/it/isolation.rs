//! The tenant isolation matrix: tenant B's admin and SCIM credentials are used on every route
//! of the admin API, plugins, SSO connections, SCIM and the provider against tenant A's
//! objects (ids taken from A). Each call must be refused (404 for what B cannot see, 401/403
//! for what B may not call), A's objects must be exactly as they were, and nothing of A may
//! show up in B's listings.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::node_cache::other_certificate;
use crate::scim::{scim_tenant, send, Scim};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const TEMPLATE: &[u8] = include_bytes!("../../plugins/dist/plugin-template.wasm");

/// Tenant A's objects, by id.
struct Objects {
    token_id: String,
    plugin: String,
    connection: String,
    key: String,
    user: String,
    group: String,
}

async fn objects_of(app: &TestApp, a: &Scim) -> Objects {
    let r = app
        .api(
            &a.admin,
            Method::POST,
            "/domains",
            Some(json!({"domain": "extra-a.example"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app
        .api(
            &a.admin,
            Method::POST,
            "/tokens",
            Some(json!({"name": "a's", "scopes": ["tenant:read"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let token_id = r.body["id"].as_str().unwrap().to_string();
    let r = app
        .upload(
            &a.admin,
            "/api/v1",
            "name=a-mapper&version=1.0.0",
            TEMPLATE.to_vec(),
            "application/wasm",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let plugin = r.body["id"].as_str().unwrap().to_string();
    let r = app
        .api(
            &a.admin,
            Method::POST,
            "/sso/connections",
            Some(json!({"name": "A's IdP", "saml": {
                "idp_entity_id": "https://idp.a.example", "sso_url": "https://idp.a.example/sso",
                "certificates": [other_certificate()]}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let connection = r.body["id"].as_str().unwrap().to_string();
    let r = app
        .api(
            &a.admin,
            Method::POST,
            &format!("/sso/connections/{connection}/encryption-keys"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let key = r.body["saml"]["sp_encryption_keys"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = a
        .call(
            app,
            Method::POST,
            "/Users",
            Some(json!({"schemas": [USER], "userName": "ada@iso-a.example"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let user = r.body["id"].as_str().unwrap().to_string();
    let r = a
        .call(
            app,
            Method::POST,
            "/Groups",
            Some(
                json!({"schemas": [GROUP], "displayName": "A team", "members": [{"value": user}]}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let group = r.body["id"].as_str().unwrap().to_string();
    Objects {
        token_id,
        plugin,
        connection,
        key,
        user,
        group,
    }
}

/// `v` without the fields that change by reading (a token's last use).
fn without_volatile(mut v: Value) -> Value {
    match &mut v {
        Value::Object(map) => {
            map.remove("last_used_at");
            for value in map.values_mut() {
                *value = without_volatile(value.take());
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                *item = without_volatile(item.take());
            }
        }
        _ => {}
    }
    v
}

/// Everything A's admin can read, to compare before and after.
async fn snapshot(app: &TestApp, a: &Scim, o: &Objects) -> Vec<Value> {
    let mut all = Vec::new();
    for path in [
        "/tenant".to_string(),
        "/domains".into(),
        "/tokens".into(),
        "/plugins".into(),
        "/pipeline".into(),
        "/catalogue".into(),
        "/policy".into(),
        "/sso/connections".into(),
        format!("/users/{}", o.user),
    ] {
        let r = app.api(&a.admin, Method::GET, &path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        all.push(without_volatile(r.body));
    }
    for path in [format!("/Users/{}", o.user), format!("/Groups/{}", o.group)] {
        let r = a.call(app, Method::GET, &path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        all.push(r.body);
    }
    all
}

#[tokio::test]
async fn tenant_b_cannot_see_or_touch_anything_of_tenant_a() {
    let app = crate::helpers::spawn_app().await;
    let a = scim_tenant(&app, "iso-a").await;
    let b = scim_tenant(&app, "iso-b").await;
    let o = objects_of(&app, &a).await;
    let before = snapshot(&app, &a, &o).await;

    // The admin API, plugins and connections, with B's admin token on A's ids.
    let conn = &o.connection;
    let admin_calls: Vec<(Method, String, Option<Value>)> = vec![
        (Method::DELETE, "/domains/extra-a.example".into(), None),
        (Method::DELETE, format!("/tokens/{}", o.token_id), None),
        (
            Method::POST,
            format!("/tokens/{}/rotate", o.token_id),
            Some(json!({})),
        ),
        (Method::GET, format!("/users/{}", o.user), None),
        (Method::GET, format!("/plugins/{}", o.plugin), None),
        (Method::DELETE, format!("/plugins/{}", o.plugin), None),
        (
            Method::POST,
            format!("/plugins/{}/dry-run", o.plugin),
            Some(json!({"input": {}})),
        ),
        (
            Method::PUT,
            "/pipeline/attribute-mapper".into(),
            Some(json!({"plugin_id": o.plugin})),
        ),
        (Method::GET, format!("/sso/connections/{conn}"), None),
        (
            Method::PATCH,
            format!("/sso/connections/{conn}"),
            Some(json!({"name": "B was here"})),
        ),
        (Method::DELETE, format!("/sso/connections/{conn}"), None),
        (Method::POST, format!("/sso/connections/{conn}/test"), None),
        (
            Method::POST,
            format!("/sso/connections/{conn}/encryption-keys"),
            None,
        ),
        (
            Method::DELETE,
            format!("/sso/connections/{conn}/encryption-keys/{}", o.key),
            None,
        ),
    ];
    for (method, path, body) in admin_calls {
        let r = app.api(&b.admin, method.clone(), &path, body).await;
        assert!(
            matches!(
                r.status,
                StatusCode::NOT_FOUND | StatusCode::FORBIDDEN | StatusCode::UNPROCESSABLE_ENTITY
            ),
            "B's {method} {path} answered {}: {}",
            r.status,
            r.body
        );
    }

    // SCIM: B's token on A's base URL, and on A's ids under its own.
    let a_base = a.base.clone();
    let r = send(
        &app,
        Some(&b.token),
        Method::GET,
        &format!("{a_base}/Users"),
        None,
        &[],
    )
    .await;
    assert!(
        matches!(
            r.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
        ),
        "B's token listed A's users: {} {}",
        r.status,
        r.body
    );
    let patch = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "B"}]});
    let replace_user = json!({"schemas": [USER], "userName": "b@iso-b.example"});
    let replace_group = json!({"schemas": [GROUP], "displayName": "B"});
    for (kind, id, replacement) in [
        ("Users", &o.user, replace_user),
        ("Groups", &o.group, replace_group),
    ] {
        for (method, body) in [
            (Method::GET, None),
            (Method::PATCH, Some(patch.clone())),
            (Method::PUT, Some(replacement.clone())),
            (Method::DELETE, None),
        ] {
            let r = b
                .call(&app, method.clone(), &format!("/{kind}/{id}"), body)
                .await;
            assert_eq!(
                r.status,
                StatusCode::NOT_FOUND,
                "B's {method} /{kind}/{id}: {}",
                r.body
            );
            assert_eq!(
                r.body["schemas"][0],
                "urn:ietf:params:scim:api:messages:2.0:Error"
            );
        }
    }
    let bulk = json!({"schemas": [BULK], "Operations": [
        {"method": "PATCH", "path": format!("/Users/{}", o.user), "data": patch},
        {"method": "DELETE", "path": format!("/Groups/{}", o.group)},
    ]});
    let r = b.call(&app, Method::POST, "/Bulk", Some(bulk)).await;
    for op in r.body["Operations"].as_array().cloned().unwrap_or_default() {
        assert_eq!(op["status"], "404", "{op}");
    }
    // B adding A's user to a group of its own is refused too.
    let r = b
        .call(&app, Method::POST, "/Groups", Some(json!({"schemas": [GROUP], "displayName": "B team", "members": [{"value": o.user}]})))
        .await;
    assert!(r.status.is_client_error(), "{}", r.body);

    // Operator routes and the provider do not take a tenant's token.
    for (method, path) in [
        (Method::GET, format!("/operator/v1/tenants/{}", a.tenant)),
        (
            Method::POST,
            format!("/operator/v1/tenants/{}/suspend", a.tenant),
        ),
        (Method::GET, "/operator/v1/apps".to_string()),
        (Method::GET, "/oauth2/userinfo".to_string()),
    ] {
        let r = app.call(method.clone(), &path, Some(&b.admin), None).await;
        assert!(
            matches!(r.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN),
            "B's {method} {path}: {} {}",
            r.status,
            r.body
        );
    }

    // Nothing of A changed, and nothing of A shows in B's listings.
    assert_eq!(snapshot(&app, &a, &o).await, before);
    let a_ids = [
        &o.token_id,
        &o.plugin,
        &o.connection,
        &o.user,
        &o.group,
        &a.tenant,
    ];
    for path in [
        "/tokens",
        "/plugins",
        "/sso/connections",
        "/audit-events?limit=500",
        "/domains",
    ] {
        let r = app.api(&b.admin, Method::GET, path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        let text = r.body.to_string();
        for id in a_ids {
            assert!(!text.contains(id.as_str()), "B's {path} shows A's {id}");
        }
    }
    for path in ["/Users", "/Groups"] {
        let r = b.call(&app, Method::GET, path, None).await;
        let text = r.body.to_string();
        assert!(
            !text.contains(&o.user) && !text.contains(&o.group),
            "B's SCIM {path} shows A's"
        );
    }
}

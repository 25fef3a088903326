//! Directory lifecycle webhooks for the apps: SCIM's and an admin's user and group changes
//! reach every app registered with a webhook URL, signed with the key shown once at
//! registration, each with an id that stays the same across retries; a receiver that is
//! down gets them later; the operator reads the delivery log; nothing else is sent.

use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::app_tokens::register;
use crate::helpers::{spawn_app, until, Receiver, TestApp};
use crate::scim::scim_tenant;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The `n`-th webhook `receiver` got, its signature checked with `key`: the body.
async fn nth_webhook(receiver: &Receiver, key: &str, n: usize) -> Value {
    let (headers, body) = receiver.nth(n).await;
    let header = headers["gatehouse-signature"].to_str().unwrap();
    let (t, v1) = header
        .strip_prefix("t=")
        .and_then(|h| h.split_once(",v1="))
        .expect("t=…,v1=…");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&body);
    mac.verify_slice(&hex::decode(v1).unwrap())
        .expect("a valid signature");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        headers["gatehouse-webhook-id"],
        body["id"].as_str().unwrap()
    );
    body
}

/// The app's delivery log.
async fn log(app: &TestApp, client: &str) -> Vec<Value> {
    let r = app
        .op(Method::GET, &format!("/apps/{client}/deliveries"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["deliveries"].as_array().unwrap().clone()
}

#[tokio::test]
async fn directory_changes_reach_the_app_signed_and_again_after_an_outage() {
    let app = spawn_app().await;
    let (receiver, url) = Receiver::start().await;
    let r = app
        .op(
            Method::POST,
            "/apps",
            Some(
                json!({"name": "Hooked app", "redirect_uris": ["http://127.0.0.1:9/cb"],
                        "webhook_url": url}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let client = r.body["client_id"].as_str().unwrap().to_string();
    let key = r.body["webhook_secret"].as_str().unwrap().to_string();
    assert!(key.starts_with("ghk_"), "{key}");
    // Shown once: the list has the URL, not the key.
    let listed = app.op(Method::GET, "/apps", None).await.body;
    let listed = listed["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["client_id"] == client.as_str())
        .unwrap()
        .clone();
    assert_eq!(listed["webhook_url"], url.as_str());
    assert!(listed.get("webhook_secret").is_none(), "{listed}");
    // An app without a webhook URL gets nothing (and has no key).
    let (quiet, _) = register(&app, json!({})).await;

    let scim = scim_tenant(&app, "hooked").await;
    let r = scim
        .call(
            &app,
            Method::POST,
            "/Users",
            Some(json!({"schemas": [USER], "userName": "ada@hooked.example",
                        "name": {"givenName": "Ada", "familyName": "Lovelace"},
                        "emails": [{"value": "ada@hooked.example", "primary": true}]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let user = r.body["id"].as_str().unwrap().to_string();
    let created = nth_webhook(&receiver, &key, 1).await;
    assert_eq!(created["type"], "user.created");
    assert_eq!(created["tenant_id"], scim.tenant.as_str());
    assert_eq!(created["target"]["id"], user.as_str(), "{created}");
    assert!(
        created["data"]["after"]
            .to_string()
            .contains("ada@hooked.example"),
        "{created}"
    );

    let deactivate = json!({"schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let r = scim
        .call(
            &app,
            Method::PATCH,
            &format!("/Users/{user}"),
            Some(deactivate),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        nth_webhook(&receiver, &key, 2).await["type"],
        "user.deactivated"
    );

    let r = scim
        .call(
            &app,
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "Engineering",
                        "members": [{"value": user}]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let group = nth_webhook(&receiver, &key, 3).await;
    assert_eq!(group["type"], "group.created");

    // The app is down: the next change waits, then arrives with the same id.
    receiver.set_down(true);
    let r = scim
        .call(&app, Method::DELETE, &format!("/Users/{user}"), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    until("the failed attempt in the log", || async {
        log(&app, &client).await[0]["last_error"].is_string()
    })
    .await;
    let failed = log(&app, &client).await[0].clone();
    assert_eq!(failed["type"], "user.deleted", "{failed}");
    assert!(failed["delivered_at"].is_null(), "{failed}");
    receiver.set_down(false);
    let deleted = nth_webhook(&receiver, &key, 4).await;
    assert_eq!(deleted["type"], "user.deleted");
    assert_eq!(deleted["id"], failed["id"]);

    // The log: four deliveries, newest first, each delivered; ids unique.
    until("the log to show the delivery", || async {
        log(&app, &client).await[0]["delivered_at"].is_string()
    })
    .await;
    let all = log(&app, &client).await;
    let kinds: Vec<&str> = all.iter().map(|d| d["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "user.deleted",
            "group.created",
            "user.deactivated",
            "user.created"
        ]
    );
    assert!(all.iter().all(|d| d["delivered_at"].is_string()), "{all:?}");
    assert!(log(&app, &quiet).await.is_empty());

    // An app's own event cannot pose as a directory change: ingest refuses the name.
    let (_, writer) = app.tenant_token(&scim.tenant, &["audit:write"]).await;
    let r = app
        .api(
            &writer,
            Method::POST,
            "/audit-events",
            Some(json!({"action": "scim_user.created",
                        "occurred_at": app.clock.now().to_rfc3339(),
                        "actor": {"type": "user", "id": "u_1"},
                        "targets": [{"type": "user", "id": "u_2"}]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(receiver.count(), 4);
    assert_eq!(log(&app, &client).await.len(), 4);
}

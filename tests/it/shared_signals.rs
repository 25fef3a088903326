//! OpenID Shared Signals: a registered app manages its streams with its client credentials;
//! a verification event, a SCIM deactivation and a deletion reach it as SETs (RFC 8417) that
//! PyJWT verifies against the published keys, by push (RFC 8935) and by poll (RFC 8936); a
//! subject the app removed is not sent; one app cannot see another's streams; bad requests
//! are answered in OAuth form.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::app_tokens::register;
use crate::helpers::{spawn_app, Receiver, Resp, TestApp};
use crate::peers::run_python;
use crate::scim::scim_tenant;

const PUSH: &str = "urn:ietf:rfc:8935";
const POLL: &str = "urn:ietf:rfc:8936";
const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
const DISABLED: &str = "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
const ENABLED: &str = "https://schemas.openid.net/secevent/risc/event-type/account-enabled";
const PURGED: &str = "https://schemas.openid.net/secevent/risc/event-type/account-purged";
const SESSION_REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const CREDENTIAL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A call to the transmitter as the app `(client id, secret)`.
async fn ssf(
    app: &TestApp,
    creds: &(String, String),
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Resp {
    let mut req = app
        .client
        .request(method, format!("{}{path}", app.url))
        .basic_auth(&creds.0, Some(&creds.1));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.json().await.unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
    }
}

/// The claims of `set`, verified by PyJWT as the app `audience`.
async fn verified(app: &TestApp, audience: &str, set: &[u8]) -> Value {
    let config = format!("{}/.well-known/ssf-configuration", app.url);
    let set = String::from_utf8(set.to_vec()).unwrap();
    let out = run_python("ssf_receiver.py", &["verify", &config, audience, &set]).await;
    assert!(out.get("error").is_none(), "PyJWT refused the SET: {out}");
    out[0]["claims"].clone()
}

/// One poll as the app, acknowledging `acks`; the verified SETs by jti.
async fn poll(app: &TestApp, creds: &(String, String), url: &str, acks: &[&str]) -> Value {
    let config = format!("{}/.well-known/ssf-configuration", app.url);
    let acks = acks.join(",");
    let out = run_python(
        "ssf_receiver.py",
        &["poll", &config, &creds.0, &creds.0, &creds.1, url, &acks],
    )
    .await;
    assert!(out.get("error").is_none(), "{out}");
    out
}

async fn set_active(scim: &crate::scim::Scim, app: &TestApp, user: &str, active: bool) {
    let body = json!({"schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "active", "value": active}]});
    let r = scim
        .call(app, Method::PATCH, &format!("/Users/{user}"), Some(body))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

async fn create_user(scim: &crate::scim::Scim, app: &TestApp, name: &str) -> String {
    let r = scim
        .call(
            app,
            Method::POST,
            "/Users",
            Some(json!({"schemas": [USER], "userName": name})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn deprovisioning_reaches_a_subscribed_app_as_verified_sets_by_push_and_poll() {
    let app = spawn_app().await;
    let (receiver, url) = Receiver::start().await;
    let creds = register(&app, json!({})).await;
    let conf = app
        .call(Method::GET, "/.well-known/ssf-configuration", None, None)
        .await;
    assert_eq!(conf.status, StatusCode::OK);
    assert_eq!(conf.body["spec_version"], "1_0");
    assert_eq!(conf.body["issuer"], app.url.as_str());
    assert_eq!(conf.body["delivery_methods_supported"], json!([PUSH, POLL]));

    // A push stream; an event type Gatehouse does not send is not delivered.
    let r = ssf(
        &app,
        &creds,
        Method::POST,
        "/ssf/streams",
        Some(json!({"delivery": {"method": PUSH, "endpoint_url": url,
                                 "authorization_header": "Bearer for-the-receiver"},
                    "events_requested": [DISABLED, ENABLED, SESSION_REVOKED,
                                         "https://example.com/event-type/other"],
                    "description": "the SaaS app"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let stream = r.body["stream_id"].as_str().unwrap().to_string();
    assert_eq!(r.body["aud"], creds.0.as_str());
    assert_eq!(
        r.body["events_delivered"],
        json!([SESSION_REVOKED, DISABLED, ENABLED])
    );
    assert_eq!(r.body["delivery"]["endpoint_url"], url.as_str());
    assert!(
        !r.body.to_string().contains("for-the-receiver"),
        "{}",
        r.body
    );

    // A PATCH keeps the Authorization value for the same URL.
    let r = ssf(
        &app,
        &creds,
        Method::PATCH,
        "/ssf/streams",
        Some(json!({"stream_id": stream, "description": "renamed"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["description"], "renamed");
    assert_eq!(
        r.body["events_delivered"],
        json!([SESSION_REVOKED, DISABLED, ENABLED])
    );

    // Verification, pushed with the receiver's Authorization value.
    let r = ssf(
        &app,
        &creds,
        Method::POST,
        "/ssf/verify",
        Some(json!({"stream_id": stream, "state": "s-1"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let (headers, body) = receiver.nth(1).await;
    assert_eq!(headers["content-type"], "application/secevent+jwt");
    assert_eq!(headers["authorization"], "Bearer for-the-receiver");
    let claims = verified(&app, &creds.0, &body).await;
    assert_eq!(claims["events"][VERIFICATION]["state"], "s-1");
    assert_eq!(claims["sub_id"], json!({"format": "opaque", "id": stream}));

    // A SCIM deactivation: account-disabled about the user as ID tokens name them.
    let scim = scim_tenant(&app, "signals").await;
    let ada = create_user(&scim, &app, "ada@signals.example").await;
    set_active(&scim, &app, &ada, false).await;
    let (_, body) = receiver.nth(2).await;
    let claims = verified(&app, &creds.0, &body).await;
    assert!(claims["events"].get(DISABLED).is_some(), "{claims}");
    assert_eq!(claims["sub_id"]["format"], "complex");
    assert_eq!(
        claims["sub_id"]["user"],
        json!({"format": "iss_sub", "iss": app.url, "sub": ada})
    );
    assert_eq!(claims["sub_id"]["tenant"]["id"], scim.tenant.as_str());
    assert!(claims["events"][DISABLED]["event_timestamp"].is_i64());

    // A subject the app removed is not sent; others still are, and it can be added back.
    let ada_subject = json!({"format": "iss_sub", "iss": app.url, "sub": ada});
    let r = ssf(
        &app,
        &creds,
        Method::POST,
        "/ssf/subjects:remove",
        Some(json!({"stream_id": stream, "subject": ada_subject})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    set_active(&scim, &app, &ada, true).await;
    let bob = create_user(&scim, &app, "bob@signals.example").await;
    set_active(&scim, &app, &bob, false).await;
    let (_, body) = receiver.nth(3).await;
    let claims = verified(&app, &creds.0, &body).await;
    assert_eq!(claims["sub_id"]["user"]["sub"], bob.as_str(), "{claims}");
    let r = ssf(
        &app,
        &creds,
        Method::POST,
        "/ssf/subjects:add",
        Some(json!({"stream_id": stream, "subject": ada_subject, "verified": true})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    set_active(&scim, &app, &ada, false).await;
    let (_, body) = receiver.nth(4).await;
    let claims = verified(&app, &creds.0, &body).await;
    assert_eq!(claims["sub_id"]["user"]["sub"], ada.as_str(), "{claims}");
    assert_eq!(
        receiver.count(),
        4,
        "the removed subject's event was never sent"
    );
    // A subject removed by email (compared without case) is not sent either.
    let r = ssf(
        &app,
        &creds,
        Method::POST,
        "/ssf/subjects:remove",
        Some(json!({"stream_id": stream, "subject": {"format": "email", "email": "Bob@Signals.example"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    set_active(&scim, &app, &bob, true).await;
    let cy = create_user(&scim, &app, "cy@signals.example").await;
    set_active(&scim, &app, &cy, false).await;
    let (_, body) = receiver.nth(5).await;
    let claims = verified(&app, &creds.0, &body).await;
    assert_eq!(claims["sub_id"]["user"]["sub"], cy.as_str(), "{claims}");
    assert_eq!(receiver.count(), 5, "bob's account-enabled was not sent");

    // A poll stream: the deletion waits until the app polls, and goes once acknowledged.
    let r = ssf(
        &app,
        &creds,
        Method::POST,
        "/ssf/streams",
        Some(json!({"delivery": {"method": POLL}, "events_requested": [PURGED]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let polled = r.body["stream_id"].as_str().unwrap().to_string();
    let poll_url = r.body["delivery"]["endpoint_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(poll_url, format!("{}/ssf/poll/{polled}", app.url));
    let r = scim
        .call(&app, Method::DELETE, &format!("/Users/{bob}"), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let got = poll(&app, &creds, &poll_url, &[]).await;
    let sets = got["sets"].as_object().unwrap();
    assert_eq!(sets.len(), 1, "{got}");
    let (jti, claims) = sets.iter().next().unwrap();
    assert!(claims["events"].get(PURGED).is_some(), "{claims}");
    assert_eq!(claims["sub_id"]["user"]["sub"], bob.as_str());
    let again = poll(&app, &creds, &poll_url, &[jti]).await;
    assert_eq!(again["sets"], json!({}), "acknowledged: {again}");
    // A long poll (no `returnImmediately`) waits for the next SET and answers with it.
    let poll_path = format!("/ssf/poll/{polled}");
    let (waited, deleted) = tokio::join!(
        ssf(
            &app,
            &creds,
            Method::POST,
            &poll_path,
            Some(json!({"maxEvents": 5}))
        ),
        async {
            tokio::time::sleep(std::time::Duration::from_millis(800)).await;
            scim.call(&app, Method::DELETE, &format!("/Users/{cy}"), None)
                .await
        }
    );
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(waited.status, StatusCode::OK, "{}", waited.body);
    let sets = waited.body["sets"].as_object().unwrap();
    assert_eq!(
        sets.len(),
        1,
        "the SET made while the poll waited: {}",
        waited.body
    );
    let set = sets.values().next().unwrap().as_str().unwrap();
    let claims = verified(&app, &creds.0, set.as_bytes()).await;
    assert!(claims["events"].get(PURGED).is_some(), "{claims}");
    assert_eq!(claims["sub_id"]["user"]["sub"], cy.as_str());
    let jti = sets.keys().next().unwrap().as_str();
    let acked = poll(&app, &creds, &poll_url, &[jti]).await;
    assert_eq!(acked["sets"], json!({}), "{acked}");
    assert_eq!(
        receiver.count(),
        5,
        "the push stream did not ask for deletions"
    );

    // Reading, status, and the stream list.
    let r = ssf(&app, &creds, Method::GET, "/ssf/streams", None).await;
    assert_eq!(r.body.as_array().unwrap().len(), 2, "{}", r.body);
    let r = ssf(
        &app,
        &creds,
        Method::POST,
        "/ssf/status",
        Some(json!({"stream_id": stream, "status": "paused", "reason": "maintenance"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = ssf(
        &app,
        &creds,
        Method::GET,
        &format!("/ssf/status?stream_id={stream}"),
        None,
    )
    .await;
    assert_eq!(r.body["status"], "paused", "{}", r.body);

    // While paused, events are held (not lost, not counted as failed attempts); enabled
    // again, they go.
    set_active(&scim, &app, &ada, true).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(receiver.count(), 5, "held while paused");
    let r = ssf(
        &app,
        &creds,
        Method::POST,
        "/ssf/status",
        Some(json!({"stream_id": stream, "status": "enabled"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    app.clock.advance(std::time::Duration::from_secs(31));
    let (_, body) = receiver.nth(6).await;
    let claims = verified(&app, &creds.0, &body).await;
    assert!(claims["events"].get(ENABLED).is_some(), "{claims}");
    let attempts = app
        .scalar(&format!(
            "SELECT MAX(attempts) FROM outbox WHERE destination = 'ssf:{stream}'"
        ))
        .await;
    assert_eq!(attempts, 1, "each SET went at its first attempt");

    // The operator suspends the tenant: all its sessions end, in one SET about the tenant.
    let suspend = format!("/tenants/{}/suspend", scim.tenant);
    let r = app.op(Method::POST, &suspend, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (_, body) = receiver.nth(7).await;
    let claims = verified(&app, &creds.0, &body).await;
    assert_eq!(
        claims["sub_id"],
        json!({"format": "complex", "tenant": {"format": "opaque", "id": scim.tenant}}),
        "{claims}"
    );
    assert_eq!(
        claims["events"][SESSION_REVOKED]["initiating_entity"],
        "admin"
    );

    // Moved to another URL by PATCH, the stream does not take the old Authorization along.
    let (moved, moved_url) = Receiver::start().await;
    let r = ssf(
        &app,
        &creds,
        Method::PATCH,
        "/ssf/streams",
        Some(json!({"stream_id": stream, "delivery": {"method": PUSH, "endpoint_url": moved_url}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = ssf(
        &app,
        &creds,
        Method::POST,
        "/ssf/verify",
        Some(json!({"stream_id": stream})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let (headers, _) = moved.nth(1).await;
    assert!(headers.get("authorization").is_none(), "{headers:?}");
}

#[tokio::test]
async fn a_revoked_session_and_a_changed_password_reach_the_app() {
    let app = spawn_app().await;
    let (receiver, url) = Receiver::start().await;
    let creds = register(&app, json!({})).await;
    let r = ssf(
        &app,
        &creds,
        Method::POST,
        "/ssf/streams",
        Some(json!({"delivery": {"method": PUSH, "endpoint_url": url},
                    "events_requested": [SESSION_REVOKED, CREDENTIAL_CHANGE]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // The operator sets the owner's password: a credential change.
    let (tenant, _cookie) = crate::oidc_provider::signed_in(&app, "caep").await;
    let (_, body) = receiver.nth(1).await;
    let claims = verified(&app, &creds.0, &body).await;
    let change = &claims["events"][CREDENTIAL_CHANGE];
    assert_eq!(change["credential_type"], "password", "{claims}");
    assert_eq!(change["change_type"], "update");
    assert_eq!(change["initiating_entity"], "admin");
    let owner = claims["sub_id"]["user"]["sub"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(claims["sub_id"]["tenant"]["id"], tenant.as_str());

    // An admin ends the owner's session: session-revoked naming it as the ID token's `sid`.
    let (_, admin) = app.tenant_token(&tenant, &["admin"]).await;
    let r = app
        .api(
            &admin,
            Method::GET,
            &format!("/users/{owner}/sessions"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let session = r.body[0]["id"].as_str().unwrap().to_string();
    let r = app
        .api(
            &admin,
            Method::DELETE,
            &format!("/users/{owner}/sessions/{session}"),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    let (_, body) = receiver.nth(2).await;
    let claims = verified(&app, &creds.0, &body).await;
    assert_eq!(
        claims["events"][SESSION_REVOKED]["initiating_entity"], "admin",
        "{claims}"
    );
    assert_eq!(
        claims["sub_id"]["session"],
        json!({"format": "opaque", "id": session})
    );
    assert_eq!(claims["sub_id"]["user"]["sub"], owner.as_str());
}

#[tokio::test]
async fn streams_belong_to_their_app_and_bad_requests_are_refused_in_oauth_form() {
    let app = spawn_app().await;
    let creds = register(&app, json!({})).await;
    let other = register(&app, json!({})).await;
    let r = ssf(
        &app,
        &creds,
        Method::POST,
        "/ssf/streams",
        Some(json!({"delivery": {"method": POLL}, "events_requested": [DISABLED]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let stream = r.body["stream_id"].as_str().unwrap().to_string();

    let path = format!("/ssf/streams?stream_id={stream}");
    let r = ssf(&app, &other, Method::GET, &path, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = ssf(&app, &other, Method::DELETE, &path, None).await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "another app cannot delete it"
    );
    let r = ssf(
        &app,
        &other,
        Method::POST,
        &format!("/ssf/poll/{stream}"),
        Some(json!({})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "nor poll it");

    let r = app.call(Method::GET, "/ssf/streams", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["error"], "invalid_client");
    let wrong = (creds.0.clone(), "not-the-secret".to_string());
    let r = ssf(&app, &wrong, Method::GET, "/ssf/streams", None).await;
    assert_eq!(r.body["error"], "invalid_client");

    for (body, says) in [
        (
            json!({"delivery": {"method": "urn:example:smoke-signals"}}),
            "not supported",
        ),
        (json!({"delivery": {"method": PUSH}}), "endpoint_url"),
        (
            json!({"delivery": {"method": PUSH, "endpoint_url": "http://example.com/x"}}),
            "https",
        ),
        (
            json!({"delivery": {"method": POLL}, "colour": "blue"}),
            "colour",
        ),
        (
            json!({"stream_id": "mine", "delivery": {"method": POLL}}),
            "assigns",
        ),
    ] {
        let r = ssf(
            &app,
            &creds,
            Method::POST,
            "/ssf/streams",
            Some(body.clone()),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        assert_eq!(r.body["error"], "invalid_request");
        let d = r.body["error_description"].as_str().unwrap();
        assert!(d.contains(says), "{body}: {d}");
    }
    let r = ssf(
        &app,
        &creds,
        Method::POST,
        "/ssf/subjects:remove",
        Some(json!({"stream_id": stream, "subject": {"format": "phone_number", "phone_number": "+12065550100"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);

    let r = ssf(&app, &creds, Method::DELETE, &path, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = ssf(&app, &creds, Method::GET, &path, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

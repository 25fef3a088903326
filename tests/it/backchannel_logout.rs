//! OpenID Connect Back-Channel Logout 1.0: an app that registered a back-channel URI is sent
//! a signed logout token whenever a session it got tokens in ends, whatever ended it
//! (sign-out, an admin, a timeout, the owner account changing hands, suspension), once per
//! session; each token is checked by a standard library (Authlib) as the spec says an app
//! must. A receiver that is down gets the notice on a later attempt.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::app_tokens::{register, sign_in};
use crate::helpers::{spawn_app, until, Receiver, TestApp};
use crate::oidc_provider::{new_session, rp, sign_out, signed_in, PASSWORD};

/// The `n`-th logout token `receiver` got, checked by the app's library: its claims.
async fn nth_token(
    receiver: &Receiver,
    app: &TestApp,
    creds: &(String, String),
    n: usize,
) -> Value {
    let (headers, body) = receiver.nth(n).await;
    assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
    let token = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .expect("a logout_token");
    let claims = rp(app, creds, "logout-token", &[&token]).await;
    assert!(claims.get("error").is_none(), "{claims}");
    claims
}

/// The session a sign-in's ID token names, and its user.
fn sid_and_sub(done: &Value) -> (String, String) {
    let id = &done["id_token"];
    (
        id["sid"].as_str().unwrap().to_string(),
        id["sub"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn an_app_is_told_once_whenever_a_session_it_signed_in_with_ends() {
    let app = spawn_app().await;
    let (receiver, url) = Receiver::start().await;
    let slug = "backchannel";
    let (tenant, cookie) = signed_in(&app, slug).await;
    let told = register(&app, json!({ "backchannel_logout_uri": url })).await;
    let silent = register(&app, json!({})).await;
    let discovery: Value = reqwest::get(format!("{}/.well-known/openid-configuration", app.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["backchannel_logout_supported"], true);
    assert_eq!(discovery["backchannel_logout_session_supported"], true);

    // Signing out: the app that asked is told once, though it signed in twice; the app
    // without a back-channel URI is not.
    let done = sign_in(&app, &told, &cookie, "openid email").await;
    sign_in(&app, &told, &cookie, "openid").await;
    sign_in(&app, &silent, &cookie, "openid").await;
    sign_out(&app, &done, &cookie).await;
    let claims = nth_token(&receiver, &app, &told, 1).await;
    let (sid, sub) = sid_and_sub(&done);
    assert_eq!(
        (claims["sid"].as_str(), claims["sub"].as_str()),
        (Some(&*sid), Some(&*sub))
    );
    assert_eq!(claims["aud"], told.0.as_str());

    // An admin ends a session.
    let (_, admin) = app.tenant_token(&tenant, &["admin"]).await;
    let email = format!("owner@{slug}.example");
    let cookie = new_session(&app, slug, &email).await;
    let (sid, _) = sid_and_sub(&sign_in(&app, &told, &cookie, "openid").await);
    let r = app
        .api(
            &admin,
            Method::DELETE,
            &format!("/users/{sub}/sessions/{sid}"),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    assert_eq!(
        nth_token(&receiver, &app, &told, 2).await["sid"],
        sid.as_str()
    );

    // A session past its timeout, dropped by housekeeping.
    let cookie = new_session(&app, slug, &email).await;
    let (sid, _) = sid_and_sub(&sign_in(&app, &told, &cookie, "openid").await);
    app.raw_sql(&format!(
        "UPDATE sessions SET idle_expires_at = 0 WHERE id = '{sid}'"
    ))
    .await;
    let mut tx = app.state.store.begin().await.unwrap();
    gatehouse::store::sso::purge_expired(&mut tx, app.clock.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        nth_token(&receiver, &app, &told, 3).await["sid"],
        sid.as_str()
    );

    // The owner account changes hands: the previous owner's sessions end.
    let cookie = new_session(&app, slug, &email).await;
    let (sid, _) = sid_and_sub(&sign_in(&app, &told, &cookie, "openid").await);
    let new_owner = format!("second@{slug}.example");
    let r = app
        .op(
            Method::PUT,
            &format!("/tenants/{tenant}/owner"),
            Some(json!({ "email": new_owner, "password": PASSWORD })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        nth_token(&receiver, &app, &told, 4).await["sid"],
        sid.as_str()
    );

    // The tenant is suspended: every session ends.
    let cookie = new_session(&app, slug, &new_owner).await;
    let (sid, sub) = sid_and_sub(&sign_in(&app, &told, &cookie, "openid").await);
    let r = app
        .op(Method::POST, &format!("/tenants/{tenant}/suspend"), None)
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    let claims = nth_token(&receiver, &app, &told, 5).await;
    assert_eq!(
        (claims["sid"].as_str(), claims["sub"].as_str()),
        (Some(&*sid), Some(&*sub))
    );

    // Nothing more: each session ended once, for the one app that asked.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(receiver.count(), 5);
}

#[tokio::test]
async fn a_notice_the_app_could_not_take_is_sent_again() {
    let app = spawn_app().await;
    let (receiver, url) = Receiver::start().await;
    let (_, cookie) = signed_in(&app, "backchannel-down").await;
    let told = register(&app, json!({ "backchannel_logout_uri": url })).await;
    let done = sign_in(&app, &told, &cookie, "openid").await;
    receiver.set_down(true);
    sign_out(&app, &done, &cookie).await;
    let destination = format!("backchannel-logout:{}", told.0);
    let health = || async {
        let all = app.op(Method::GET, "/deliveries", None).await.body;
        all.as_array()
            .unwrap()
            .iter()
            .find(|d| d["destination"] == destination.as_str())
            .cloned()
            .unwrap_or(Value::Null)
    };
    until("the failed attempt", || async {
        health().await["last_error"].is_string()
    })
    .await;
    let seen = health().await;
    assert!(
        seen["last_error"].as_str().unwrap().contains("503"),
        "{seen}"
    );
    assert_eq!(seen["backlog"], 1, "{seen}");
    assert_eq!(receiver.count(), 0);

    // The app is back; the retry is due ten seconds after the failure (real time: the
    // token's times must hold for the app's library).
    receiver.set_down(false);
    let claims = nth_token(&receiver, &app, &told, 1).await;
    assert_eq!(claims["sid"], done["id_token"]["sid"]);
    until("the delivery to show", || async {
        health().await["last_success_at"].is_string()
    })
    .await;
    assert_eq!(health().await["backlog"], 0);
}

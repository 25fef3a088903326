//! Tokens an app manages, through a standard client library (Authlib): refresh tokens for
//! an app registered for them (rotated on use; a reused one revokes its whole family; ended
//! with the session), revocation (RFC 7009), introspection (RFC 7662), each app's
//! access-token lifetime, and apps that authenticate with signed assertions (RFC 7523).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};
use crate::oidc_provider::{authorize, rp as client, signed_in};
use crate::saml::last_event;

const CALLBACK: &str = "http://127.0.0.1:9/callback";

/// An app registered with `extra` settings; (client id, secret).
pub(crate) async fn register(app: &TestApp, extra: Value) -> (String, String) {
    let mut body = json!({"name": "Tokens app", "redirect_uris": [CALLBACK],
                          "post_logout_redirect_uris": ["http://127.0.0.1:9/bye"]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app.op(Method::POST, "/apps", Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    (
        r.body["client_id"].as_str().unwrap().to_string(),
        r.body["client_secret"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

/// A full sign-in of the browser holding `cookie` with `scope`: the library's tokens.
pub(crate) async fn sign_in(
    app: &TestApp,
    creds: &(String, String),
    cookie: &str,
    scope: &str,
) -> Value {
    let done = sign_in_with(app, creds, cookie, scope, "finish").await;
    assert!(done.get("error").is_none(), "{done}");
    done
}

/// [`sign_in`] ending with the library's step `finish` (`finish`, `finish-dpop`): what it
/// printed, an error included.
pub(crate) async fn sign_in_with(
    app: &TestApp,
    creds: &(String, String),
    cookie: &str,
    scope: &str,
    finish: &str,
) -> Value {
    let start = client(app, creds, "start", &[scope]).await;
    assert!(start.get("error").is_none(), "{start}");
    let callback = authorize(start["url"].as_str().unwrap(), cookie).await;
    client(
        app,
        creds,
        finish,
        &[
            &callback,
            start["state"].as_str().unwrap(),
            start["code_verifier"].as_str().unwrap(),
            start["nonce"].as_str().unwrap(),
        ],
    )
    .await
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_its_family() {
    let app = spawn_app().await;
    let (tenant, cookie) = signed_in(&app, "refreshing").await;
    let creds = register(
        &app,
        json!({"refresh_tokens": true, "access_token_ttl_secs": 300}),
    )
    .await;
    let done = sign_in(&app, &creds, &cookie, "openid email offline_access").await;
    let id = &done["id_token"];
    assert_eq!(
        id["exp"].as_i64().unwrap() - id["iat"].as_i64().unwrap(),
        300,
        "the app's lifetime"
    );
    let first = done["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_string();
    assert!(first.starts_with("ghr_"), "{first}");

    // A refresh rotates the token and keeps the user and the scope.
    let refreshed = client(&app, &creds, "refresh", &[&first]).await;
    assert!(refreshed.get("error").is_none(), "{refreshed}");
    let second = refreshed["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    assert_eq!(refreshed["scope"], "openid email offline_access");
    assert_eq!(refreshed["expires_in"], 300);
    let access = refreshed["access_token"].as_str().unwrap();
    let seen = client(&app, &creds, "introspect", &[access]).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["sub"], id["sub"]);
    assert_eq!(seen["tenant"], tenant.as_str());
    let seen = client(&app, &creds, "introspect", &[&second]).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["token_type"], "refresh_token");
    let seen = client(&app, &creds, "introspect", &[&first]).await;
    assert_eq!(seen["active"], false, "a used token: {seen}");

    // The used token comes back (stolen, or replayed): the family ends, the newest included.
    let reused = client(&app, &creds, "refresh", &[&first]).await;
    assert!(
        reused["error"].as_str().unwrap().contains("invalid_grant"),
        "{reused}"
    );
    let after = client(&app, &creds, "refresh", &[&second]).await;
    assert!(
        after["error"].as_str().unwrap().contains("invalid_grant"),
        "{after}"
    );
    let event = last_event(&app, &tenant, "oauth.refresh_token_reused").await;
    assert_eq!(event["actor"]["type"], "app");
    assert_eq!(event["after"]["revoked"], 2, "{event}");

    // Another app cannot use this app's token, nor ask an app without refresh tokens for one.
    let plain = register(&app, json!({})).await;
    let done = sign_in(&app, &plain, &cookie, "openid email offline_access").await;
    assert_eq!(done["refresh_token"], Value::Null, "{done}");
    let done = sign_in(&app, &creds, &cookie, "openid offline_access").await;
    let third = done["refresh_token"].as_str().unwrap().to_string();
    let stolen = client(&app, &plain, "refresh", &[&third]).await;
    assert!(
        stolen["error"]
            .as_str()
            .unwrap()
            .contains("unauthorized_client"),
        "{stolen}"
    );
    let other = register(&app, json!({"refresh_tokens": true})).await;
    let stolen = client(&app, &other, "refresh", &[&third]).await;
    assert!(
        stolen["error"].as_str().unwrap().contains("invalid_grant"),
        "{stolen}"
    );
    let still = client(&app, &creds, "refresh", &[&third]).await;
    assert!(
        still.get("error").is_none(),
        "not spent by the other app: {still}"
    );

    // Signing out ends the sign-in's refresh tokens with its session.
    let fourth = still["refresh_token"].as_str().unwrap().to_string();
    crate::oidc_provider::sign_out(&app, &done, &cookie).await;
    let ended = client(&app, &creds, "refresh", &[&fourth]).await;
    assert!(
        ended["error"].as_str().unwrap().contains("invalid_grant"),
        "{ended}"
    );
}

#[tokio::test]
async fn apps_revoke_and_introspect_their_own_tokens_only() {
    let app = spawn_app().await;
    let (_, cookie) = signed_in(&app, "revoking").await;
    let creds = register(&app, json!({"refresh_tokens": true})).await;
    let done = sign_in(&app, &creds, &cookie, "openid offline_access").await;
    let access = done["access_token"].as_str().unwrap().to_string();
    let refresh = done["refresh_token"].as_str().unwrap().to_string();

    // Another app sees neither token, and cannot revoke them.
    let other = register(&app, json!({})).await;
    for token in [&access, &refresh] {
        let seen = client(&app, &other, "introspect", &[token]).await;
        assert_eq!(seen, json!({"active": false}));
        let r = client(&app, &other, "revoke", &[token, "access_token"]).await;
        assert_eq!(r["status"], 200);
    }
    // Both are still this app's, live.
    for token in [&access, &refresh] {
        let seen = client(&app, &creds, "introspect", &[token]).await;
        assert_eq!(seen["active"], true, "{seen}");
    }

    // Revoking the access token: introspection and userinfo refuse it from then on.
    let r = client(&app, &creds, "revoke", &[&access, "access_token"]).await;
    assert_eq!(r["status"], 200);
    assert_eq!(
        client(&app, &creds, "introspect", &[&access]).await["active"],
        false
    );
    let info = reqwest::Client::new()
        .get(format!("{}/oauth2/userinfo", app.url))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), StatusCode::UNAUTHORIZED);
    // Revoking the refresh token ends it.
    let r = client(&app, &creds, "revoke", &[&refresh, "refresh_token"]).await;
    assert_eq!(r["status"], 200);
    let refreshed = client(&app, &creds, "refresh", &[&refresh]).await;
    assert!(
        refreshed["error"]
            .as_str()
            .unwrap()
            .contains("invalid_grant"),
        "{refreshed}"
    );
    // An unknown token is revoked all the same (RFC 7009 §2.2).
    let r = client(&app, &creds, "revoke", &["not-a-token", "access_token"]).await;
    assert_eq!(r["status"], 200);

    // Without credentials, or as a public app, introspection is refused in OAuth form.
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/oauth2/introspect", app.url))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    let public = crate::oidc_provider::register_app(&app, true).await;
    let r = http
        .post(format!("{}/oauth2/introspect", app.url))
        .form(&[
            ("token", access.as_str()),
            ("client_id", public["client_id"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = http
        .post(format!("{}/oauth2/revoke", app.url))
        .basic_auth(&creds.0, Some(&creds.1))
        .form(&[("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");

    // The lifetime is bounded at registration.
    for ttl in [59, 3601] {
        let r = app
            .op(
                Method::POST,
                "/apps",
                Some(
                    json!({"name": "x", "redirect_uris": [CALLBACK], "access_token_ttl_secs": ttl}),
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert_eq!(r.body["field"], "access_token_ttl_secs");
    }
    // So are the addresses Gatehouse will post to, and the settings' names.
    for (field, value) in [
        ("backchannel_logout_uri", json!("http://app.example/logout")),
        ("backchannel_logout_uri", json!("not a url")),
        ("webhook_url", json!("ftp://app.example/hook")),
        ("webhook_url", json!("https://app.example/hook#frag")),
    ] {
        let mut body = json!({"name": "x", "redirect_uris": [CALLBACK]});
        body[field] = value.clone();
        let r = app.op(Method::POST, "/apps", Some(body)).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{value}: {}",
            r.body
        );
        assert_eq!(r.body["field"], field, "{}", r.body);
    }
    let r = app
        .op(
            Method::POST,
            "/apps",
            Some(json!({"name": "x", "redirect_uris": [CALLBACK], "token_exchange": "yes"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let listed = app.op(Method::GET, "/apps", None).await;
    assert!(
        listed.body["apps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["name"] != "x"),
        "a refused registration wrote nothing: {}",
        listed.body
    );
}

/// Posts an introspection of `token` authenticated by `form`'s credentials.
async fn introspect_with(app: &TestApp, token: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut all = vec![("token", token)];
    all.extend_from_slice(form);
    crate::helpers::post_form_json(app, "/oauth2/introspect", &all).await
}

#[tokio::test]
async fn an_app_authenticates_with_signed_assertions_each_used_once() {
    const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
    let app = spawn_app().await;
    let (_, cookie) = signed_in(&app, "pk-jwt").await;
    let nobody = ("-".to_string(), "-".to_string());
    let keys = client(&app, &nobody, "keygen", &[]).await;
    let body = |jwks: Value| {
        json!({"name": "Signed app", "redirect_uris": [CALLBACK],
               "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks})
    };
    // Only public keys, and some keys, are taken.
    for jwks in [
        json!({"keys": [keys["private"]]}),
        json!({"keys": []}),
        json!("nope"),
    ] {
        let r = app.op(Method::POST, "/apps", Some(body(jwks))).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert_eq!(r.body["field"], "jwks", "{}", r.body);
    }
    let r = app
        .op(
            Method::POST,
            "/apps",
            Some(json!({"name": "x", "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "private_key_jwt"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = app
        .op(
            Method::POST,
            "/apps",
            Some(body(json!({"keys": [keys["public"]]}))),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.body.get("client_secret").is_none(), "{}", r.body);
    assert_eq!(r.body["token_endpoint_auth_method"], "private_key_jwt");
    let id = r.body["client_id"].as_str().unwrap().to_string();
    let creds = (id.clone(), keys["private"].to_string());

    // The standard library signs in and introspects with assertions.
    let done = sign_in(&app, &creds, &cookie, "openid").await;
    let access = done["access_token"].as_str().unwrap();
    let seen = client(&app, &creds, "introspect", &[access]).await;
    assert_eq!(seen["active"], true, "{seen}");

    // One assertion works once.
    let assertion = client(&app, &creds, "assertion", &[]).await;
    let assertion = assertion["assertion"].as_str().unwrap().to_string();
    let form = [
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion.as_str()),
    ];
    let (status, seen) = introspect_with(&app, access, &form).await;
    assert_eq!(
        (status, &seen["active"]),
        (StatusCode::OK, &json!(true)),
        "{seen}"
    );
    let (status, refused) = introspect_with(&app, access, &form).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused["error"], "invalid_client");
    assert!(
        refused["error_description"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{refused}"
    );

    // Another key's signature, a secret, or nothing: refused.
    let other = client(&app, &nobody, "keygen", &[]).await;
    let forged = client(
        &app,
        &(id.clone(), other["private"].to_string()),
        "assertion",
        &[],
    )
    .await;
    let forged = forged["assertion"].as_str().unwrap().to_string();
    let form = [
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", forged.as_str()),
    ];
    let (status, refused) = introspect_with(&app, access, &form).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert!(
        refused["error_description"]
            .as_str()
            .unwrap()
            .contains("signature"),
        "{refused}"
    );
    for form in [
        vec![("client_id", id.as_str()), ("client_secret", "guess")],
        vec![("client_id", id.as_str())],
    ] {
        let (status, refused) = introspect_with(&app, access, &form).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{form:?}: {refused}");
        assert_eq!(refused["error"], "invalid_client");
    }
    // Discovery says so.
    let meta = app
        .call(Method::GET, "/.well-known/openid-configuration", None, None)
        .await;
    let methods = meta.body["token_endpoint_auth_methods_supported"].to_string();
    assert!(methods.contains("private_key_jwt"), "{methods}");
}

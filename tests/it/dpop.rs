//! DPoP (RFC 9449): an app registered for DPoP-bound tokens gets none without a proof; with
//! one, Authlib's code flow gets a `DPoP` access token bound to its key (`cnf.jkt`, the RFC
//! 7638 thumbprint) that userinfo takes only with a fresh proof by that key; the refresh
//! token refreshes only with that key; introspection says so.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::app_tokens::{register, sign_in_with};
use crate::helpers::spawn_app;
use crate::oidc_provider::{rp, signed_in};

/// The claims of a JWT, unverified (the library has verified it).
fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&B64URL.decode(part).unwrap()).unwrap()
}

#[tokio::test]
async fn a_dpop_bound_app_gets_tokens_only_its_key_can_use() {
    let app = spawn_app().await;
    let (_, cookie) = signed_in(&app, "dpop").await;
    let creds = register(
        &app,
        json!({"refresh_tokens": true, "dpop_bound_access_tokens": true}),
    )
    .await;
    let discovery = app
        .call(
            reqwest::Method::GET,
            "/.well-known/openid-configuration",
            None,
            None,
        )
        .await;
    assert!(discovery.body["dpop_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("ES256")));

    let flow = |finish| sign_in_with(&app, &creds, &cookie, "openid offline_access", finish);
    // Without a proof: refused.
    let plain = flow("finish").await;
    assert!(
        plain["error"].to_string().contains("invalid_dpop_proof"),
        "{plain}"
    );

    let done = flow("finish-dpop").await;
    assert!(done.get("error").is_none(), "{done}");
    let token = &done["token"];
    assert_eq!(token["token_type"], "DPoP", "{token}");
    let access = token["access_token"].as_str().unwrap();
    let jkt = payload(access)["cnf"]["jkt"].as_str().unwrap().to_string();
    assert_eq!(jkt.len(), 43, "a SHA-256 thumbprint");
    assert_eq!(done["userinfo_status"], 200, "{done}");
    assert!(done["userinfo"]["sub"].is_string());
    assert_eq!(
        done["bearer_status"], 401,
        "a bound token is not a bearer token"
    );
    assert_eq!(
        done["replay_statuses"],
        json!([200, 401]),
        "a proof works once"
    );
    // The refusals challenge with the DPoP scheme and the algorithms taken (RFC 9449 §7.1).
    let challenge = |name: &str| done[name].as_str().unwrap_or_default().to_string();
    assert!(
        challenge("bearer_challenge").starts_with("DPoP error=\"invalid_token\""),
        "{done}"
    );
    let replay = challenge("replay_challenge");
    assert!(
        replay.starts_with("DPoP error=\"invalid_dpop_proof\""),
        "{replay}"
    );
    assert!(
        replay.contains("algs=\"") && replay.contains("ES256"),
        "{replay}"
    );
    assert_eq!(done["replay_error"], "invalid_dpop_proof");

    // Introspection says the token is bound, and to which key.
    let (status, body) = crate::helpers::post_form_json(
        &app,
        "/oauth2/introspect",
        &[
            ("token", access),
            ("client_id", &creds.0),
            ("client_secret", &creds.1),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["token_type"], "DPoP", "{body}");
    assert_eq!(body["cnf"]["jkt"], jkt.as_str());

    // The refresh token refreshes with the same key only.
    let key = done["key"].to_string();
    let refresh = token["refresh_token"].as_str().unwrap();
    let renewed = rp(&app, &creds, "refresh-dpop", &[&key, refresh]).await;
    assert_eq!(renewed["status"], 200, "{renewed}");
    assert_eq!(renewed["body"]["token_type"], "DPoP");
    let next = renewed["body"]["refresh_token"].as_str().unwrap();
    let nobody = ("-".to_string(), "-".to_string());
    let other = rp(&app, &nobody, "keygen", &[]).await;
    let stolen = rp(
        &app,
        &creds,
        "refresh-dpop",
        &[&other["private"].to_string(), next],
    )
    .await;
    assert_eq!(stolen["status"], 400, "{stolen}");
    assert_eq!(stolen["body"]["error"], "invalid_dpop_proof");
}

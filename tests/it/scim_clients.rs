//! OAuth client credentials for an IdP's SCIM client: a tenant registers a client with a
//! secret or public keys; Authlib's client-credentials grant (by secret, and by RFC 7523
//! signed assertion) gets a short-lived token that `/scim/v2` takes and nothing else does;
//! revoking the client, its token expiring or the tenant losing SCIM ends it; an app cannot
//! use the grant.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{post_form_json, spawn_app, TestApp};
use crate::oidc_provider::rp;
use crate::scim::scim_tenant;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

async fn scim_get(app: &TestApp, token: &str) -> crate::helpers::Resp {
    app.call(Method::GET, "/scim/v2/Users", Some(token), None)
        .await
}

async fn register(app: &TestApp, admin: &str, body: Value) -> Value {
    let r = app
        .api(admin, Method::POST, "/scim-clients", Some(body))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

#[tokio::test]
async fn an_idps_scim_client_gets_short_lived_scim_tokens_by_secret_or_signed_assertion() {
    let app = spawn_app().await;
    let scim = scim_tenant(&app, "oauth-scim").await;

    // By secret, shown once.
    let created = register(
        &app,
        &scim.admin,
        json!({"name": "Entra ID", "token_ttl_secs": 600}),
    )
    .await;
    let client_id = created["client_id"].as_str().unwrap().to_string();
    let secret = created["client_secret"].as_str().unwrap().to_string();
    assert!(client_id.starts_with("scim_"), "{created}");
    assert!(secret.starts_with("ghc_"), "{created}");
    assert_eq!(
        created["token_endpoint"],
        format!("{}/oauth2/token", app.url)
    );
    let listed = app
        .api(&scim.admin, Method::GET, "/scim-clients", None)
        .await;
    assert_eq!(listed.body[0]["client_id"], client_id.as_str());
    assert!(
        !listed.body.to_string().contains(&secret),
        "{}",
        listed.body
    );

    let by_secret = (client_id.clone(), secret.clone());
    let token = rp(&app, &by_secret, "client-credentials", &["scim"]).await;
    assert!(token.get("error").is_none(), "{token}");
    assert_eq!(token["expires_in"], 600);
    assert_eq!(token["scope"], "scim");
    let access = token["access_token"].as_str().unwrap().to_string();
    let r = app
        .call(
            Method::POST,
            "/scim/v2/Users",
            Some(&access),
            Some(json!({"schemas": [USER], "userName": "ada@oauth-scim.example"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let actions = app.audit_actions(&scim.tenant).await;
    assert!(
        actions.contains(&"scim_client.created".to_string()),
        "{actions:?}"
    );
    assert!(actions.contains(&"scim_user.created".to_string()));
    // The token is for SCIM only, and a changed one is refused.
    let r = app.api(&access, Method::GET, "/users", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    // A changed signature byte (well inside the signature, not its last padding bits).
    let mut forged: Vec<char> = access.chars().collect();
    let at = forged.len() - 20;
    forged[at] = if forged[at] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    assert_eq!(
        scim_get(&app, &forged).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Only the `scim` scope exists; a wrong secret is invalid_client.
    let wrong = rp(&app, &by_secret, "client-credentials", &["openid"]).await;
    assert!(
        wrong["error"].to_string().contains("invalid_scope"),
        "{wrong}"
    );
    let (status, body) = post_form_json(
        &app,
        "/oauth2/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", "ghc_not-the-secret"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_client");

    // By signed assertion (private_key_jwt): no secret is issued.
    let nobody = ("-".to_string(), "-".to_string());
    let keys = rp(&app, &nobody, "keygen", &[]).await;
    let created = register(
        &app,
        &scim.admin,
        json!({"name": "Okta", "jwks": {"keys": [keys["public"]]}}),
    )
    .await;
    assert!(created.get("client_secret").is_none(), "{created}");
    let signed = (
        created["client_id"].as_str().unwrap().to_string(),
        keys["private"].to_string(),
    );
    let token = rp(&app, &signed, "client-credentials", &["scim"]).await;
    assert!(token.get("error").is_none(), "{token}");
    assert_eq!(token["expires_in"], 3600, "an hour by default");
    let signed_access = token["access_token"].as_str().unwrap().to_string();
    let r = scim_get(&app, &signed_access).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["totalResults"], 1);

    // Expiry (by the server's clock), and revocation ends a token at once.
    app.clock.advance(std::time::Duration::from_secs(601));
    let r = scim_get(&app, &access).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert_eq!(
        r.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(scim_get(&app, &signed_access).await.status, StatusCode::OK);
    let id = created["id"].as_str().unwrap();
    let r = app
        .api(
            &scim.admin,
            Method::DELETE,
            &format!("/scim-clients/{id}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(
        scim_get(&app, &signed_access).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = rp(&app, &signed, "client-credentials", &["scim"]).await;
    assert!(
        again["error"].to_string().contains("invalid_client"),
        "{again}"
    );

    // Without the SCIM feature the grant is refused.
    let r = app
        .op(
            Method::PUT,
            &format!("/tenants/{}/features", scim.tenant),
            Some(json!({"enabled": ["sso"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let refused = rp(&app, &by_secret, "client-credentials", &["scim"]).await;
    assert!(
        refused["error"].to_string().contains("unauthorized_client"),
        "{refused}"
    );
}

#[tokio::test]
async fn apps_cannot_use_client_credentials_and_bad_registrations_are_refused() {
    let app = spawn_app().await;
    let scim = scim_tenant(&app, "cc-bad").await;
    let (app_id, app_secret) = crate::app_tokens::register(&app, json!({})).await;
    let (status, body) = post_form_json(
        &app,
        "/oauth2/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &app_id),
            ("client_secret", &app_secret),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(
        body["error"], "invalid_client",
        "an app is not a SCIM client"
    );

    for (bad, field) in [
        (json!({"name": ""}), "name"),
        (
            json!({"name": "x", "token_ttl_secs": 86_400}),
            "token_ttl_secs",
        ),
        (json!({"name": "x", "jwks": {"keys": []}}), "jwks"),
    ] {
        let r = app
            .api(
                &scim.admin,
                Method::POST,
                "/scim-clients",
                Some(bad.clone()),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.body
        );
        assert_eq!(r.body["field"], field, "{}", r.body);
    }
    // A token without `tokens:write` cannot register one.
    let (_, reader) = app.tenant_token(&scim.tenant, &["tenant:read"]).await;
    let r = app
        .api(
            &reader,
            Method::POST,
            "/scim-clients",
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
}

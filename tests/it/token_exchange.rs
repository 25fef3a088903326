//! RFC 8693 token exchange for native apps, end to end with independent peers: Authlib plays
//! a native app that signs in at the OIDC provider (panva's `oidc-provider`) itself with the
//! connection's client, then trades the provider's ID token at Gatehouse's token endpoint and
//! validates what it gets against Gatehouse's JWKS. Refusals come in OAuth form; a token is
//! used once; the signature, the nonce and the audience are checked as the browser flow
//! checks them; the sign-in is audited as one.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::app_tokens::register;
use crate::oidc::{add_account, at_provider, setup, Setup};
use crate::oidc_provider::rp;
use crate::peers::{self, run_python};
use crate::saml::last_event;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";

/// Signs `account` in at the provider as a native app holding the client `(id, secret,
/// redirect URI)`: the provider's ID token, as the library validated it, and its nonce.
async fn native_sign_in(
    s: &Setup,
    client: &(String, String, String),
    account: &str,
) -> (String, String) {
    let discovery = format!("{}/.well-known/openid-configuration", s.issuer);
    let (id, secret, redirect) = client;
    let scope = "openid email profile groups";
    let start = run_python(
        "oidc_client.py",
        &["start", &discovery, id, secret, redirect, scope],
    )
    .await;
    assert!(start.get("error").is_none(), "{start}");
    let back = at_provider(start["url"].as_str().unwrap(), account).await;
    let nonce = start["nonce"].as_str().unwrap().to_string();
    let done = run_python(
        "oidc_client.py",
        &[
            "finish",
            &discovery,
            id,
            secret,
            redirect,
            &back,
            start["state"].as_str().unwrap(),
            start["code_verifier"].as_str().unwrap(),
            &nonce,
        ],
    )
    .await;
    assert!(done.get("error").is_none(), "{done}");
    (done["raw_id_token"].as_str().unwrap().to_string(), nonce)
}

/// The token endpoint's answer to a hand-made exchange form (for what a library won't send).
async fn exchange_raw(s: &Setup, client_id: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut all = vec![("grant_type", GRANT), ("client_id", client_id)];
    all.extend_from_slice(form);
    crate::helpers::post_form_json(&s.app, "/oauth2/token", &all).await
}

/// [`exchange_raw`] of ID token `token` for the setup's tenant, with `more` parameters.
async fn exchange_id_token(
    s: &Setup,
    client_id: &str,
    token: &str,
    more: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form = vec![
        ("subject_token", token),
        ("subject_token_type", ID_TOKEN),
        ("organization", s.tenant.as_str()),
    ];
    form.extend_from_slice(more);
    exchange_raw(s, client_id, &form).await
}

#[tokio::test]
async fn a_native_app_trades_its_idp_id_token_once_for_gatehouse_tokens() {
    let s = setup("tx-native", "enabled").await;
    let email = "ada@tx-native.example";
    add_account(&s, "ada-tx-native", email, &["engineering"]).await;
    let native = register(&s.app, json!({"public": true, "token_exchange": true})).await;

    // The app signs in at the IdP itself, then trades the ID token (with its nonce).
    let (id_token, nonce) = native_sign_in(&s, &s.client, "ada-tx-native").await;
    let nonce_pair = format!("nonce={nonce}");
    let out = rp(
        &s.app,
        &native,
        "exchange",
        &[&id_token, &s.tenant, &nonce_pair],
    )
    .await;
    assert!(out.get("error").is_none(), "{out}");
    assert_eq!(out["id_token"]["email"], email);
    assert_eq!(out["id_token"]["tenant"], s.tenant.as_str());
    assert_eq!(out["userinfo"]["email"], email);
    let ok = last_event(&s.app, &s.tenant, "login.succeeded").await;
    assert_eq!(ok["after"]["method"], "token_exchange");
    assert_eq!(ok["after"]["client_id"], native.0.as_str());
    assert_eq!(ok["after"]["connection"], s.connection.as_str());
    assert_eq!(ok["after"]["outcome"], "provisioned");

    // Used once: the same token again is refused, and the refusal is audited.
    let again = rp(&s.app, &native, "exchange", &[&id_token, &s.tenant]).await;
    let error = again["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("invalid_grant") && error.contains("already exchanged"),
        "{again}"
    );
    let failed = last_event(&s.app, &s.tenant, "login.failed").await;
    assert_eq!(failed["after"]["reason"], "replayed", "{failed}");

    // A nonce the token does not carry is refused (and does not spend the token); the same
    // token then goes through by the tenant's slug and the connection's id, nonce unchecked.
    let (id_token, _) = native_sign_in(&s, &s.client, "ada-tx-native").await;
    let wrong = rp(
        &s.app,
        &native,
        "exchange",
        &[&id_token, &s.tenant, "nonce=not-it"],
    )
    .await;
    assert!(
        wrong["error"]
            .as_str()
            .unwrap_or_default()
            .contains("nonce"),
        "{wrong}"
    );
    let connection_pair = format!("connection={}", s.connection);
    let out = rp(
        &s.app,
        &native,
        "exchange",
        &[&id_token, "tx-native", &connection_pair],
    )
    .await;
    assert!(out.get("error").is_none(), "{out}");
    assert_eq!(out["id_token"]["email"], email);

    // A forged signature is refused (a character well inside it changes: the last one may
    // carry only padding bits).
    let (id_token, _) = native_sign_in(&s, &s.client, "ada-tx-native").await;
    let mut chars: Vec<char> = id_token.chars().collect();
    let at = chars.len() - 10;
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    let forged: String = chars.into_iter().collect();
    let (status, body) = exchange_id_token(&s, &native.0, &forged, &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant", "{body}");

    // An ID token for another client of the same IdP matches no connection of the tenant.
    let (_, _, redirect) = &s.client;
    let (other_id, other_secret) =
        peers::oidc_op_register(&s.issuer, redirect, "client_secret_basic").await;
    let other = (other_id, other_secret, redirect.clone());
    let (foreign, _) = native_sign_in(&s, &other, "ada-tx-native").await;
    let (status, body) = exchange_id_token(&s, &native.0, &foreign, &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant", "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("connection"),
        "{body}"
    );
    // Named explicitly, the connection checks the audience and refuses it, audited.
    let named = [("connection", s.connection.as_str())];
    let with_nonce = [named[0], ("nonce", "x")];
    let (status, body) = exchange_id_token(&s, &native.0, &id_token, &with_nonce).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, body) = exchange_id_token(&s, &native.0, &foreign, &named).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("not meant for"),
        "{body}"
    );
    let failed = last_event(&s.app, &s.tenant, "login.failed").await;
    assert_eq!(failed["after"]["reason"], "audience", "{failed}");
}

#[tokio::test]
async fn an_exchange_is_refused_in_oauth_form_for_what_it_cannot_do() {
    let s = setup("tx-refused", "enabled").await;
    add_account(&s, "ada-tx-refused", "ada@tx-refused.example", &[]).await;
    let native = register(&s.app, json!({"public": true, "token_exchange": true})).await;
    let (id_token, _) = native_sign_in(&s, &s.client, "ada-tx-refused").await;
    let token = id_token.as_str();
    let base = [("subject_token", token), ("subject_token_type", ID_TOKEN)];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut form: Vec<(&str, &str)> = base.to_vec();
        form.extend_from_slice(extra);
        form
    };
    // Each case: the form, the OAuth error, and a word its description must contain.
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (with(&[]), "invalid_request", "organization"),
        (
            with(&[("organization", "no-such-tenant")]),
            "invalid_grant",
            "no active tenant",
        ),
        (
            vec![
                ("subject_token", token),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:saml2",
                ),
                ("organization", "tx-refused"),
            ],
            "invalid_grant",
            "SAML assertion",
        ),
        (
            vec![
                ("subject_token_type", ID_TOKEN),
                ("organization", "tx-refused"),
            ],
            "invalid_request",
            "subject_token",
        ),
        (
            with(&[("organization", "tx-refused"), ("actor_token", "x")]),
            "invalid_request",
            "delegation",
        ),
        (
            with(&[
                ("organization", "tx-refused"),
                ("resource", "https://api.example"),
            ]),
            "invalid_target",
            "resource",
        ),
        (
            with(&[
                ("organization", "tx-refused"),
                ("requested_token_type", ID_TOKEN),
            ]),
            "invalid_request",
            "requested_token_type",
        ),
        (
            with(&[("organization", "tx-refused"), ("scope", "email")]),
            "invalid_scope",
            "openid",
        ),
        (
            vec![
                ("subject_token", "not.a.jwt"),
                ("subject_token_type", ID_TOKEN),
                ("organization", "tx-refused"),
            ],
            "invalid_grant",
            "JWT",
        ),
    ];
    for (form, error, says) in cases {
        let (status, body) = exchange_raw(&s, &native.0, &form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{form:?}: {body}");
        assert_eq!(body["error"], error, "{form:?}: {body}");
        assert!(
            body["error_description"].as_str().unwrap().contains(says),
            "{form:?}: {body}"
        );
    }
    // None of the refusals spent the token: it still trades, once.
    let tenant_pair = s.tenant.clone();
    let out = rp(&s.app, &native, "exchange", &[token, &tenant_pair]).await;
    assert!(out.get("error").is_none(), "{out}");

    // An app not registered for exchange is refused before anything is read.
    let web = register(&s.app, json!({})).await;
    let out = rp(&s.app, &web, "exchange", &[token, &tenant_pair]).await;
    assert!(
        out["error"]
            .as_str()
            .unwrap_or_default()
            .contains("unauthorized_client"),
        "{out}"
    );

    // A suspended tenant trades nothing.
    let (fresh, _) = native_sign_in(&s, &s.client, "ada-tx-refused").await;
    let r = s
        .app
        .op(
            reqwest::Method::POST,
            &format!("/tenants/{}/suspend", s.tenant),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    let out = rp(&s.app, &native, "exchange", &[&fresh, &tenant_pair]).await;
    assert!(
        out["error"]
            .as_str()
            .unwrap_or_default()
            .contains("no active tenant"),
        "{out}"
    );
}

#[tokio::test]
async fn a_native_app_trades_a_signed_saml_assertion_once() {
    use base64::Engine;
    let s = crate::saml::setup("tx-saml", json!({})).await;
    let native = register(&s.app, json!({"public": true, "token_exchange": true})).await;
    // The assertion a native app got from the SAML IdP (pysaml2) for this connection's SP,
    // answering the app's own request.
    let assertion = |name: &str| {
        let body = json!({
            "sp": s.acs_url.replace("/acs", "/metadata"), "acs": s.acs_url, "name_id": name,
            "attributes": {"email": [name]}, "in_response_to": "_the-apps-own-request",
        });
        let idp = s.idp.clone();
        async move {
            let r = reqwest::Client::new()
                .post(format!("{idp}/assertion"))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.text().await.unwrap()
        }
    };
    let encode = |xml: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(xml);
    let xml = assertion("lin@tx-saml.example").await;
    assert!(
        xml.trim_start().starts_with('<') && xml.contains("Signature"),
        "{xml}"
    );
    let token = encode(&xml);
    let saml2 = "subject_token_type=urn:ietf:params:oauth:token-type:saml2";
    // Authlib exchanges it and validates Gatehouse's ID token and userinfo.
    let out = rp(&s.app, &native, "exchange", &[&token, &s.tenant, saml2]).await;
    assert!(out.get("error").is_none(), "{out}");
    assert_eq!(out["id_token"]["email"], "lin@tx-saml.example");
    assert_eq!(out["id_token"]["tenant"], s.tenant.as_str());
    let ok = last_event(&s.app, &s.tenant, "login.succeeded").await;
    assert_eq!(ok["after"]["method"], "token_exchange");
    assert_eq!(ok["after"]["connection"], s.connection.as_str());

    // Used once: the same assertion again is refused, and audited.
    let again = rp(&s.app, &native, "exchange", &[&token, &s.tenant, saml2]).await;
    assert!(
        again["error"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid_grant"),
        "{again}"
    );
    let failed = last_event(&s.app, &s.tenant, "login.failed").await;
    assert_eq!(failed["after"]["reason"], "replayed", "{failed}");

    // A changed assertion fails its signature; an unsigned or non-XML token is refused.
    let other = assertion("max@tx-saml.example").await;
    let forged = other.replace("max@tx-saml.example", "boss@tx-saml.example");
    let form = |token: &str| {
        vec![
            ("grant_type", GRANT.to_string()),
            ("client_id", native.0.clone()),
            ("subject_token", token.to_string()),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:saml2".to_string(),
            ),
            ("organization", s.tenant.clone()),
        ]
    };
    for bad in [encode(&forged), encode("<not-saml/>"), "%%%".to_string()] {
        let fields = form(&bad);
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body) = crate::helpers::post_form_json(&s.app, "/oauth2/token", &pairs).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"], "invalid_grant", "{body}");
    }
    let failed = last_event(&s.app, &s.tenant, "login.failed").await;
    assert!(failed["after"]["reason"].is_string(), "{failed}");
    // The untouched one still goes through: the forgery spent nothing.
    let out = rp(
        &s.app,
        &native,
        "exchange",
        &[&encode(&other), &s.tenant, saml2],
    )
    .await;
    assert!(out.get("error").is_none(), "{out}");
    assert_eq!(out["id_token"]["email"], "max@tx-saml.example");
}

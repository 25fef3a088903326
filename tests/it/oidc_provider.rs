//! Gatehouse as OIDC provider: a standard client library (Authlib) completes the
//! authorization-code flow with PKCE against it, validates the ID token with the JWKS and
//! calls userinfo; and the flow's refusals come back in OAuth form.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};
use crate::peers::run_python;
use crate::saml::browser;

pub(crate) const PASSWORD: &str = "correct horse battery staple";
const CALLBACK: &str = "http://127.0.0.1:9/callback";

/// A tenant whose owner is signed in; returns (tenant id, session cookie).
pub(crate) async fn signed_in(app: &TestApp, slug: &str) -> (String, String) {
    let tenant = app.create_tenant(slug).await;
    let r = app
        .op(
            Method::PUT,
            &format!("/tenants/{tenant}/owner"),
            Some(json!({"email": format!("owner@{slug}.example"), "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let cookie = new_session(app, slug, &format!("owner@{slug}.example")).await;
    (tenant, cookie)
}

/// A further browser session of the tenant's owner `email` (set by [`signed_in`] or the
/// operator with the same password); returns its cookie.
pub(crate) async fn new_session(app: &TestApp, slug: &str, email: &str) -> String {
    let r = crate::local_login::password_login(app, slug, email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

pub(crate) async fn register_app(app: &TestApp, public: bool) -> Value {
    let r = app
        .op(
            Method::POST,
            "/apps",
            Some(json!({"name": "The SaaS app", "redirect_uris": [CALLBACK],
                        "post_logout_redirect_uris": ["http://127.0.0.1:9/bye"], "public": public})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

/// The standard client library's step `step` (see `tests/peers/oidc_client.py`) as the app
/// `(client id, secret)` with `args`.
pub(crate) async fn rp(
    app: &TestApp,
    (id, secret): &(String, String),
    step: &str,
    args: &[&str],
) -> Value {
    let discovery = format!("{}/.well-known/openid-configuration", app.url);
    let mut all = vec![step, discovery.as_str(), id, secret, CALLBACK];
    all.extend_from_slice(args);
    run_python("oidc_client.py", &all).await
}

/// Signs the browser holding `cookie` out at the provider, as an app does with the ID
/// token of its sign-in (`done`, from the library's `finish` step) as the hint.
pub(crate) async fn sign_out(app: &TestApp, done: &Value, cookie: &str) {
    let out = browser()
        .get(format!(
            "{}/oauth2/logout?id_token_hint={}",
            app.url,
            done["raw_id_token"].as_str().unwrap()
        ))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert!(out.status().is_success() || out.status().is_redirection());
}

/// Follows an authorization URL as the signed-in browser; returns the Location.
pub(crate) async fn authorize(url: &str, cookie: &str) -> String {
    let r = browser()
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    r.headers()["location"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn a_standard_client_completes_the_code_flow_and_validates_the_tokens() {
    let app = spawn_app().await;
    let (tenant, cookie) = signed_in(&app, "rp-app").await;
    let registered = register_app(&app, false).await;
    let client_id = registered["client_id"].as_str().unwrap();
    let secret = registered["client_secret"].as_str().unwrap();
    let discovery = format!("{}/.well-known/openid-configuration", app.url);

    // With the `permissions` scope the tokens carry the permission matrix too.
    let start = run_python(
        "oidc_client.py",
        &[
            "start",
            &discovery,
            client_id,
            secret,
            CALLBACK,
            "openid email profile permissions",
        ],
    )
    .await;
    assert!(start.get("error").is_none(), "{start}");
    let callback = authorize(start["url"].as_str().unwrap(), &cookie).await;
    assert!(
        callback.starts_with(CALLBACK) && callback.contains("code="),
        "{callback}"
    );
    let done = run_python(
        "oidc_client.py",
        &[
            "finish",
            &discovery,
            client_id,
            secret,
            CALLBACK,
            &callback,
            start["state"].as_str().unwrap(),
            start["code_verifier"].as_str().unwrap(),
            start["nonce"].as_str().unwrap(),
        ],
    )
    .await;
    assert!(done.get("error").is_none(), "{done}");
    let id = &done["id_token"];
    assert_eq!(id["tenant"], tenant.as_str());
    assert_eq!(id["tenant_slug"], "rp-app");
    assert_eq!(
        id["data_classification"], "Unclassified",
        "the policy's level"
    );
    assert_eq!(id["email"], "owner@rp-app.example");
    assert_eq!(id["aud"], client_id);
    assert!(id["sid"].is_string(), "{id}");
    assert_eq!(id["roles"], json!(["owner"]), "the owner's implicit role");
    // How the user authenticated, and when the session ends at the latest (IPSIE SL1): a
    // password alone, in a session of the default 12-hour absolute lifetime.
    assert_eq!(id["amr"], json!(["pwd"]), "{id}");
    assert_eq!(id["acr"], "urn:gatehouse:acr:single-factor", "{id}");
    let expiry = id["session_expiry"].as_i64().unwrap();
    let iat = id["iat"].as_i64().unwrap();
    assert!(expiry > iat && expiry <= iat + 12 * 3600 + 60, "{id}");
    // The token names the permission version the snapshot has now.
    let (_, pep) = app.tenant_token(&tenant, &["access:evaluate"]).await;
    let sub = id["sub"].as_str().unwrap();
    let snapshot = app
        .call(
            Method::GET,
            &format!("/access/v1/users/{sub}/permissions"),
            Some(&pep),
            None,
        )
        .await;
    assert_eq!(id["permissions_version"], snapshot.body["version"], "{id}");
    assert_eq!(id["permissions"], snapshot.body["permissions"], "{id}");
    assert_eq!(
        id["permissions"]["gatehouse.policy"]["edit"], true,
        "the owner's"
    );
    assert_eq!(done["userinfo"]["sub"], id["sub"]);
    assert_eq!(done["userinfo"]["email"], "owner@rp-app.example");

    // A bare logout link (any site could embed one) asks the user first.
    let access = done["access_token"].as_str().unwrap();
    let bye = "http%3A%2F%2F127.0.0.1%3A9%2Fbye";
    let page = browser()
        .get(format!(
            "{}/oauth2/logout?client_id={client_id}&post_logout_redirect_uri={bye}&state=s1",
            app.url
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Sign out?"));
    assert_eq!(
        account_status(&app, &cookie).await,
        StatusCode::OK,
        "not signed out by a GET"
    );
    // With the ID token as hint, the app signs its user out at once.
    let out = browser()
        .get(format!(
            "{}/oauth2/logout?id_token_hint={}&post_logout_redirect_uri={bye}&state=s1",
            app.url,
            done["raw_id_token"].as_str().unwrap()
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(out.headers()["location"], "http://127.0.0.1:9/bye?state=s1");
    // Signing out ends the app's access: userinfo refuses the same access token.
    let info = reqwest::Client::new()
        .get(format!("{}/oauth2/userinfo", app.url))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), StatusCode::UNAUTHORIZED);
    assert!(info.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
    let body: Value = info.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
}

#[tokio::test]
async fn bad_authorization_and_token_requests_are_refused_in_oauth_form() {
    let app = spawn_app().await;
    let (_, cookie) = signed_in(&app, "rp-bad").await;
    let registered = register_app(&app, false).await;
    let client_id = registered["client_id"].as_str().unwrap().to_string();
    let secret = registered["client_secret"].as_str().unwrap().to_string();
    // BASE64URL(SHA-256(verifier)), computed independently.
    let challenge = "D4Zdtgy1-mk6PiekUxaYrMv6LdOScJ1RWs6FDW189Bg";
    let verifier = "dBjftJeZ4CVP-mJ0OLNwxrhdPm7lE8Q2uNHw9W2Q0ak";
    let authz = |redirect: &str, extra: &str| {
        format!(
            "{}/oauth2/authorize?response_type=code&client_id={client_id}&redirect_uri={}&scope=openid%20email&state=xyz{extra}",
            app.url,
            redirect.replace(':', "%3A").replace('/', "%2F")
        )
    };

    // An unregistered redirect URI is never redirected to.
    let r = browser()
        .get(authz("http://127.0.0.1:9/evil", ""))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    // Without PKCE the app gets an error on its redirect URI, with its state.
    let location = authorize(&authz(CALLBACK, ""), &cookie).await;
    assert!(
        location.contains("error=invalid_request") && location.contains("state=xyz"),
        "{location}"
    );
    // Not signed in: to the login page, which comes back here afterwards.
    let r = browser()
        .get(authz(
            CALLBACK,
            &format!("&code_challenge={challenge}&code_challenge_method=S256"),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login?return_to=%2Foauth2%2Fauthorize"));

    let location = authorize(
        &authz(
            CALLBACK,
            &format!("&code_challenge={challenge}&code_challenge_method=S256"),
        ),
        &cookie,
    )
    .await;
    let code = location
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    let exchange = |secret: &str, verifier: &str| {
        let form = vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.clone()),
            ("redirect_uri", CALLBACK.to_string()),
            ("code_verifier", verifier.to_string()),
        ];
        reqwest::Client::new()
            .post(format!("{}/oauth2/token", app.url))
            .basic_auth(&client_id, Some(secret))
            .form(&form)
            .send()
    };
    let r = exchange("ghs_wrong", verifier).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    let wrong_verifier = "x".repeat(50);
    let r = exchange(&secret, &wrong_verifier).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    // The failed attempt spent the code: it is single-use whatever happened.
    let r = exchange(&secret, verifier).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");

    let r = reqwest::Client::new()
        .get(format!("{}/oauth2/userinfo", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // An ID token is not an access token.
    let location = authorize(
        &authz(
            CALLBACK,
            &format!("&code_challenge={challenge}&code_challenge_method=S256"),
        ),
        &cookie,
    )
    .await;
    let code = location
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    let r = reqwest::Client::new()
        .post(format!("{}/oauth2/token", app.url))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
            ("client_id", &client_id),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    let status = r.status();
    let tokens: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let r = reqwest::Client::new()
        .get(format!("{}/oauth2/userinfo", app.url))
        .bearer_auth(tokens["id_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = reqwest::Client::new()
        .get(format!("{}/oauth2/userinfo", app.url))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn rotated_keys_stay_published_for_the_overlap() {
    let app = spawn_app().await;
    let jwks = || async {
        reqwest::get(format!("{}/oauth2/jwks", app.url))
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let first = jwks().await;
    assert_eq!(first["keys"].as_array().unwrap().len(), 1);
    let r = app.op(Method::POST, "/signing-keys/rotate", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let second = jwks().await;
    let kids: Vec<&str> = second["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2, "old and new key both published");
    assert!(kids.contains(&first["keys"][0]["kid"].as_str().unwrap()));
    assert!(
        second.to_string().find("\"d\"").is_none(),
        "no private parts in the JWKS"
    );
}

/// The code of an authorization URL answered for the signed-in browser.
async fn code_for(app: &TestApp, client_id: &str, cookie: &str) -> String {
    // BASE64URL(SHA-256(verifier)) of PKCE_VERIFIER, computed independently.
    let url = format!(
        "{}/oauth2/authorize?response_type=code&client_id={client_id}&redirect_uri={}&scope=openid&state=s\
         &code_challenge=D4Zdtgy1-mk6PiekUxaYrMv6LdOScJ1RWs6FDW189Bg&code_challenge_method=S256",
        app.url,
        CALLBACK.replace(':', "%3A").replace('/', "%2F")
    );
    let location = authorize(&url, cookie).await;
    location
        .split("code=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .unwrap_or_else(|| panic!("no code in {location}"))
        .to_string()
}

const PKCE_VERIFIER: &str = "dBjftJeZ4CVP-mJ0OLNwxrhdPm7lE8Q2uNHw9W2Q0ak";

async fn exchange(app: &TestApp, client_id: &str, code: &str) -> (StatusCode, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/oauth2/token", app.url))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", PKCE_VERIFIER),
            ("client_id", client_id),
        ])
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn userinfo(app: &TestApp, access: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{}/oauth2/userinfo", app.url))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
}

async fn account_status(app: &TestApp, cookie: &str) -> StatusCode {
    browser()
        .get(format!("{}/account", app.url))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn suspending_or_deleting_a_tenant_ends_its_sessions_codes_and_access_tokens() {
    let app = spawn_app().await;
    let registered = register_app(&app, true).await;
    let client_id = registered["client_id"].as_str().unwrap().to_string();
    for (slug, transition) in [("rp-suspend", "suspend"), ("rp-delete", "delete")] {
        let (tenant, cookie) = signed_in(&app, slug).await;
        // A bystander tenant keeps everything.
        let (_, other_cookie) = signed_in(&app, &format!("{slug}-other")).await;
        let (status, tokens) =
            exchange(&app, &client_id, &code_for(&app, &client_id, &cookie).await).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let access = tokens["access_token"].as_str().unwrap().to_string();
        let pending_code = code_for(&app, &client_id, &cookie).await;
        assert_eq!(account_status(&app, &cookie).await, StatusCode::OK);
        assert_eq!(userinfo(&app, &access).await, StatusCode::OK);

        let r = if transition == "delete" {
            app.op(Method::DELETE, &format!("/tenants/{tenant}"), None)
                .await
        } else {
            app.op(
                Method::POST,
                &format!("/tenants/{tenant}/{transition}"),
                None,
            )
            .await
        };
        assert!(r.status.is_success(), "{}", r.body);

        assert_ne!(
            account_status(&app, &cookie).await,
            StatusCode::OK,
            "{transition}: the browser session lives on"
        );
        assert_eq!(
            userinfo(&app, &access).await,
            StatusCode::UNAUTHORIZED,
            "{transition}: the access token lives on"
        );
        let (status, body) = exchange(&app, &client_id, &pending_code).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
        // Authorize no longer finds a session: the browser is sent to sign in.
        let r = browser()
            .get(format!(
                "{}/oauth2/authorize?response_type=code&client_id={client_id}&redirect_uri={}&scope=openid\
                 &code_challenge=D4Zdtgy1-mk6PiekUxaYrMv6LdOScJ1RWs6FDW189Bg&code_challenge_method=S256",
                app.url,
                CALLBACK.replace(':', "%3A").replace('/', "%2F")
            ))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert!(r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login"));
        assert_eq!(account_status(&app, &other_cookie).await, StatusCode::OK);

        if transition == "suspend" {
            let r = app
                .op(Method::POST, &format!("/tenants/{tenant}/resume"), None)
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            assert_ne!(
                account_status(&app, &cookie).await,
                StatusCode::OK,
                "resuming revived a session"
            );
            assert_eq!(
                userinfo(&app, &access).await,
                StatusCode::UNAUTHORIZED,
                "resuming revived a token"
            );
        }
    }
}

#[tokio::test]
async fn a_logout_without_a_hint_signs_out_only_when_the_user_confirms() {
    let app = spawn_app().await;
    let (_, cookie) = signed_in(&app, "rp-confirm").await;
    let registered = register_app(&app, true).await;
    let client_id = registered["client_id"].as_str().unwrap();
    let query = format!(
        "/oauth2/logout?client_id={client_id}&post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fbye&state=s2"
    );
    // A forged post without the form's token signs nobody out.
    let forged = browser()
        .post(format!("{}/oauth2/logout", app.url))
        .header("cookie", &cookie)
        .form(&[("client_id", client_id), ("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    assert_eq!(account_status(&app, &cookie).await, StatusCode::OK);
    let confirmed = crate::saml::submit_form(
        &app.url,
        &query,
        "/oauth2/logout",
        Some(&cookie),
        &[
            ("client_id", client_id),
            ("post_logout_redirect_uri", "http://127.0.0.1:9/bye"),
            ("state", "s2"),
        ],
    )
    .await;
    assert_eq!(confirmed.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        confirmed.headers()["location"],
        "http://127.0.0.1:9/bye?state=s2"
    );
    assert_ne!(account_status(&app, &cookie).await, StatusCode::OK);
}

#[tokio::test]
async fn authorize_refuses_a_session_the_policy_no_longer_accepts() {
    let app = spawn_app().await;
    let (tenant, cookie) = signed_in(&app, "rp-strict").await;
    let registered = register_app(&app, true).await;
    let client_id = registered["client_id"].as_str().unwrap();
    let (_, token) = app.tenant_token(&tenant, &["admin"]).await;
    let url = format!(
        "{}/oauth2/authorize?response_type=code&client_id={client_id}&redirect_uri={}\
         &scope=openid&state=s1&code_challenge={}&code_challenge_method=S256",
        app.url,
        "http%3A%2F%2F127.0.0.1%3A9%2Fcallback",
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
    assert!(authorize(&url, &cookie).await.contains("code="));

    // MFA becomes required with no grace: the password-only session gets no more codes.
    let r = app
        .api(
            &token,
            Method::PUT,
            "/policy",
            Some(json!({"mfa": {"required": "direct", "grace_days": 0}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let location = authorize(&url, &cookie).await;
    assert!(
        location.starts_with(CALLBACK) && location.contains("error=access_denied"),
        "{location}"
    );
    assert!(location.contains("state=s1"), "{location}");
    assert_eq!(
        crate::saml::last_event(&app, &tenant, "login.failed").await["after"]["reason"],
        "mfa_required"
    );
}

//! OIDC sign-on against an independent OpenID provider (panva's `oidc-provider` on Node):
//! the connection made from the issuer and a dynamically registered client, SP-initiated
//! sign-in through the plugin pipeline into the directory and a session, test mode, and the
//! admin API's refusals of settings that could never work.

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, TestApp};
use crate::peers;
use crate::saml::{browser, events, last_event, login_page, session_cookie};

pub(crate) struct Setup {
    pub app: TestApp,
    pub tenant: String,
    pub token: String,
    pub connection: String,
    pub issuer: String,
    /// The connection's client at the provider: id, secret and redirect URI.
    pub client: (String, String, String),
}

/// A tenant `slug` (domain `slug.example`) with an OIDC connection to the shared provider:
/// created with a placeholder client id, which gives the redirect URI to register; then
/// updated with the registered client.
pub(crate) async fn setup(slug: &str, status: &str) -> Setup {
    setup_with(slug, status, "client_secret_basic", false).await
}

/// [`setup`] with the client registered for `auth_method` at the token endpoint, and
/// userinfo fetched or not.
async fn setup_with(slug: &str, status: &str, auth_method: &str, fetch_userinfo: bool) -> Setup {
    let app = spawn_app().await;
    let tenant = app.create_tenant(slug).await;
    let (_, token) = app.tenant_token(&tenant, &["admin"]).await;
    let issuer = peers::oidc_op();
    let r = app
        .api(
            &token,
            Method::POST,
            "/sso/connections",
            Some(json!({"name": "Node OP", "status": status, "oidc": {
                "issuer": issuer, "client_id": "not-yet-registered",
                "scopes": ["openid", "email", "profile", "groups"],
            }})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["protocol"], "oidc");
    assert_eq!(r.body["oidc"]["client_secret_set"], false);
    let connection = r.body["id"].as_str().unwrap().to_string();
    let redirect_uri = r.body["oidc"]["redirect_uri"].as_str().unwrap().to_string();
    assert!(
        redirect_uri.ends_with(&format!("/{connection}/callback")),
        "{redirect_uri}"
    );
    let (client_id, secret) = peers::oidc_op_register(&issuer, &redirect_uri, auth_method).await;
    let r = app
        .api(
            &token,
            Method::PATCH,
            &format!("/sso/connections/{connection}"),
            Some(json!({"oidc": {"client_id": client_id, "client_secret": secret,
                                 "token_auth_method": auth_method, "fetch_userinfo": fetch_userinfo}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["oidc"]["client_secret_set"], true);
    assert!(
        !r.body.to_string().contains(&secret),
        "the secret came back"
    );
    let updated = last_event(&app, &tenant, "sso_connection.updated").await;
    assert!(
        !updated.to_string().contains(&secret),
        "the secret was audited"
    );
    assert_ne!(
        updated["before"]["sealed_secrets"],
        updated["after"]["sealed_secrets"]
    );
    Setup {
        app,
        tenant,
        token,
        connection,
        issuer,
        client: (client_id, secret, redirect_uri),
    }
}

/// Plays the browser at the provider: follows `location` (its authorization URL), logs in
/// as `account` and returns the URL the provider sends the browser back to.
pub(crate) async fn at_provider(location: &str, account: &str) -> String {
    at_provider_with(location, account, &[]).await
}

/// [`at_provider`], saying more of the login (`amr`, `acr`) in the login form.
pub(crate) async fn at_provider_with(
    location: &str,
    account: &str,
    more: &[(&str, &str)],
) -> String {
    fn hop(jar: &mut HashMap<String, String>, r: &reqwest::Response) -> String {
        for set in r.headers().get_all("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap();
            if let Some((k, v)) = pair.split_once('=') {
                jar.insert(k.to_string(), v.to_string());
            }
        }
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.url());
        let location = r.headers()["location"].to_str().unwrap();
        r.url().join(location).unwrap().to_string()
    }
    fn header(jar: &HashMap<String, String>) -> String {
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
    let mut jar = HashMap::new();
    let r = browser().get(location).send().await.unwrap();
    let interaction = hop(&mut jar, &r);
    assert!(interaction.contains("/interaction/"), "{interaction}");
    let r = browser()
        .post(format!("{interaction}/login"))
        .header("cookie", header(&jar))
        .form(&[&[("login", account)], more].concat())
        .send()
        .await
        .unwrap();
    let resume = hop(&mut jar, &r);
    let r = browser()
        .get(resume)
        .header("cookie", header(&jar))
        .send()
        .await
        .unwrap();
    hop(&mut jar, &r)
}

/// The browser's sign-in as `account` (email `email`) from the login page through the
/// provider, saying `more` of the login there; the final answer.
pub(crate) async fn sign_in_via_provider(
    s: &Setup,
    account: &str,
    email: &str,
    more: &[(&str, &str)],
) -> reqwest::Response {
    let (location, binding) = login_page(&s.app, email).await;
    let back = at_provider_with(&location, account, more).await;
    browser()
        .get(&back)
        .header("cookie", &binding)
        .send()
        .await
        .unwrap()
}

pub(crate) async fn add_account(s: &Setup, id: &str, email: &str, groups: &[&str]) {
    peers::oidc_op_account(
        &s.issuer,
        id,
        json!({"email": email, "email_verified": true, "name": "Ada Lovelace",
               "given_name": "Ada", "family_name": "Lovelace", "groups": groups}),
    )
    .await;
}

#[tokio::test]
async fn sp_initiated_sign_in_provisions_the_user_and_opens_a_session() {
    let s = setup("oidc-sp", "enabled").await;
    let email = "ada@oidc-sp.example";
    add_account(&s, "ada-oidc-sp", email, &["engineering", "admins"]).await;

    let (location, binding) = login_page(&s.app, email).await;
    assert!(location.starts_with(&s.issuer), "{location}");
    let back = at_provider(&location, "ada-oidc-sp").await;
    assert!(back.contains("code=") && back.contains("iss="), "{back}");
    // The answer is refused in another browser (no binding cookie) ...
    let elsewhere = browser().get(&back).send().await.unwrap();
    assert_eq!(elsewhere.status(), StatusCode::FORBIDDEN);
    assert!(elsewhere
        .text()
        .await
        .unwrap()
        .contains("data-code=\"browser_mismatch\""));
    // ... and that spent the sign-in: start again, in this browser.
    let (location, _) = login_page(&s.app, email).await;
    let back = at_provider(&location, "ada-oidc-sp").await;
    let wrong_browser = browser()
        .get(&back)
        .header("cookie", &binding)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_browser.status(), StatusCode::FORBIDDEN);

    let (location, binding) = login_page(&s.app, email).await;
    let back = at_provider(&location, "ada-oidc-sp").await;
    let done = browser()
        .get(&back)
        .header("cookie", &binding)
        .send()
        .await
        .unwrap();
    assert_eq!(
        done.status(),
        StatusCode::SEE_OTHER,
        "{}",
        done.text().await.unwrap()
    );
    assert_eq!(done.headers()["location"], "/account");
    let session = session_cookie(&done);
    let page = browser()
        .get(format!("{}/account", s.app.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(email) && html.contains("Ada Lovelace"),
        "{html}"
    );

    let provisioned = last_event(&s.app, &s.tenant, "user.provisioned").await;
    assert_eq!(provisioned["after"]["email"], email);
    assert_eq!(
        provisioned["after"]["groups"],
        json!(["admins", "engineering"])
    );
    assert_eq!(provisioned["after"]["family_name"], "Lovelace");
    let succeeded = last_event(&s.app, &s.tenant, "login.succeeded").await;
    assert_eq!(succeeded["after"]["outcome"], "provisioned");
    assert_eq!(succeeded["after"]["subject"], "ada-oidc-sp");
    assert_eq!(succeeded["after"]["connection"], s.connection.as_str());
    let failed = events(&s.app, &s.tenant, "login.failed").await;
    let reasons: Vec<&str> = failed
        .iter()
        .map(|e| e["after"]["reason"].as_str().unwrap())
        .collect();
    // The second mismatch within the minute is counted into the first's kind, not written.
    assert_eq!(reasons, ["browser_mismatch"]);
}

#[tokio::test]
async fn a_test_sign_in_shows_the_claims_and_each_stage() {
    let s = setup("oidc-test", "test").await;
    add_account(&s, "grace-oidc-test", "grace@oidc-test.example", &["ops"]).await;
    let r = s
        .app
        .api(
            &s.token,
            Method::POST,
            &format!("/sso/connections/{}/test", s.connection),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let url = r.body["redirect_url"].as_str().unwrap();
    assert!(url.contains("prompt=login"), "{url}");
    let back = at_provider(url, "grace-oidc-test").await;
    let report = browser().get(&back).send().await.unwrap();
    assert_eq!(report.status(), StatusCode::OK);
    let report: Value = report.json().await.unwrap();
    assert_eq!(report["raw_identity"]["protocol"], "oidc");
    assert_eq!(report["raw_identity"]["issuer"], s.issuer.as_str());
    assert_eq!(report["raw_identity"]["subject"], "grace-oidc-test");
    let attributes = report["raw_identity"]["attributes"].as_array().unwrap();
    assert!(
        attributes.contains(&json!({"name": "groups", "values": ["ops"]})),
        "{attributes:?}"
    );
    assert!(
        !attributes.iter().any(|a| a["name"] == "nonce"),
        "{attributes:?}"
    );
    let stages = report["pipeline"]["stages"].as_array().unwrap();
    assert_eq!(report["pipeline"]["ok"], true, "{report}");
    assert_eq!(stages.len(), 3, "{report}");
    assert_eq!(stages[0]["output"]["email"], "grace@oidc-test.example");
    assert_eq!(stages[0]["output"]["groups"], json!(["ops"]), "{report}");
    // Nobody was signed in or created, and users cannot sign in through a test connection.
    assert!(events(&s.app, &s.tenant, "user.provisioned")
        .await
        .is_empty());
}

#[tokio::test]
async fn settings_that_cannot_work_are_refused() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("oidc-bad").await;
    let (_, token) = app.tenant_token(&tenant, &["admin"]).await;
    let issuer = peers::oidc_op();
    let create = |oidc: Value| {
        let app = &app;
        let token = &token;
        async move {
            app.api(
                token,
                Method::POST,
                "/sso/connections",
                Some(json!({"name": "Bad", "oidc": oidc})),
            )
            .await
        }
    };
    for (oidc, field, says) in [
        (
            json!({"issuer": format!("{}/nothing-here", app.url), "client_id": "c"}),
            "oidc.issuer",
            "discovery",
        ),
        (
            json!({"issuer": issuer, "client_id": "c", "allowed_algs": ["ES256"]}),
            "oidc.allowed_algs",
            "RS256",
        ),
        (
            json!({"issuer": issuer, "client_id": "c", "allowed_algs": ["none"]}),
            "oidc.allowed_algs",
            "refused",
        ),
        (
            json!({"issuer": "http://idp.example", "client_id": "c"}),
            "oidc.issuer",
            "https",
        ),
        (json!({"issuer": issuer}), "oidc.client_id", "required"),
        (
            json!({"issuer": issuer, "client_id": "c", "client_secret": ""}),
            "oidc.client_secret",
            "characters",
        ),
    ] {
        let r = create(oidc.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{oidc}: {}",
            r.body
        );
        assert_eq!(r.body["field"], field, "{oidc}: {}", r.body);
        assert!(
            r.body["detail"].as_str().unwrap().contains(says),
            "{oidc}: {}",
            r.body
        );
    }
    let r = app
        .api(
            &token,
            Method::POST,
            "/sso/connections",
            Some(json!({"name": "Both", "saml": {}, "oidc": {"issuer": issuer, "client_id": "c"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    // Nothing was written: no connection, no audit event.
    let r = app.api(&token, Method::GET, "/sso/connections", None).await;
    assert_eq!(r.body["connections"], json!([]));
    assert!(events(&app, &tenant, "sso_connection.created")
        .await
        .is_empty());

    // The protocol of a connection cannot change.
    let r = create(json!({"issuer": issuer, "client_id": "c", "client_secret": "s3cret"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let created = last_event(&app, &tenant, "sso_connection.created").await;
    assert!(!created.to_string().contains("s3cret"), "{created}");
    let id = r.body["id"].as_str().unwrap();
    let r = app
        .api(
            &token,
            Method::PATCH,
            &format!("/sso/connections/{id}"),
            Some(json!({"saml": {"sso_url": "https://idp.example/sso"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.body["field"], "protocol");
}

#[tokio::test]
async fn idps_on_internal_addresses_are_refused_unless_the_operator_allows_them() {
    let app = spawn_app_with(|c| c.sso.allow_private_networks = false).await;
    let tenant = app.create_tenant("oidc-ssrf").await;
    let (_, token) = app.tenant_token(&tenant, &["admin"]).await;
    let issuer = peers::oidc_op();
    let idp = peers::saml_idp();
    for (body, field) in [
        (
            json!({"name": "Internal OP", "oidc": {"issuer": issuer, "client_id": "c"}}),
            "oidc.issuer",
        ),
        (
            json!({"name": "Internal IdP", "saml": {"metadata_url": format!("{idp}/metadata")}}),
            "saml.metadata_url",
        ),
    ] {
        let r = app
            .api(&token, Method::POST, "/sso/connections", Some(body.clone()))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.body
        );
        assert_eq!(r.body["field"], field, "{}", r.body);
        assert!(
            r.body["detail"]
                .as_str()
                .unwrap()
                .contains("internal address"),
            "{}",
            r.body
        );
    }
    assert!(events(&app, &tenant, "sso_connection.created")
        .await
        .is_empty());
}

#[tokio::test]
async fn client_secret_post_and_userinfo_work_with_the_provider() {
    let s = setup_with("oidc-post", "enabled", "client_secret_post", true).await;
    let email = "lin@oidc-post.example";
    add_account(&s, "lin-oidc-post", email, &["support"]).await;
    let (location, binding) = login_page(&s.app, email).await;
    let back = at_provider(&location, "lin-oidc-post").await;
    let done = browser()
        .get(&back)
        .header("cookie", &binding)
        .send()
        .await
        .unwrap();
    assert_eq!(
        done.status(),
        StatusCode::SEE_OTHER,
        "{}",
        done.text().await.unwrap()
    );
    let provisioned = last_event(&s.app, &s.tenant, "user.provisioned").await;
    assert_eq!(provisioned["after"]["email"], email);
    assert_eq!(provisioned["after"]["groups"], json!(["support"]));
}

#[tokio::test]
async fn what_the_idp_said_of_the_authentication_reaches_the_apps_id_token() {
    let s = setup("oidc-ipsie", "enabled").await;
    let email = "ada@oidc-ipsie.example";
    // The IdP's session ends in half an hour: Gatehouse's must not outlive it.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let idp_session_ends = now + 1800;
    peers::oidc_op_account(
        &s.issuer,
        "ada-oidc-ipsie",
        json!({"email": email, "email_verified": true, "session_expiry": idp_session_ends}),
    )
    .await;
    let more = [("amr", "pwd,otp"), ("acr", "urn:example:loa:2")];
    let done = sign_in_via_provider(&s, "ada-oidc-ipsie", email, &more).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let cookie = session_cookie(&done);
    let app = crate::app_tokens::register(&s.app, json!({})).await;
    let tokens = crate::app_tokens::sign_in(&s.app, &app, &cookie, "openid email").await;
    let id = &tokens["id_token"];
    assert_eq!(id["amr"], json!(["pwd", "otp", "mfa"]), "{id}");
    assert_eq!(id["acr"], "urn:example:loa:2", "{id}");
    assert_eq!(id["session_expiry"], idp_session_ends, "{id}");
    // Gatehouse's session ends with the IdP's.
    s.app.clock.advance(std::time::Duration::from_secs(1801));
    let page = browser()
        .get(format!("{}/account", s.app.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_ne!(
        page.status(),
        StatusCode::OK,
        "the session outlived the IdP's"
    );
}

//! The admin console in a real browser (headless Chromium): the owner signs in with a
//! password, reads the overview, sets up an Okta-preset SAML connection through the wizard
//! against the SAML IdP peer (metadata by URL), runs a test sign-in and reads its report,
//! then enables the connection. Also: the console sends a signed-out visitor to the sign-in
//! page, refuses a form without the CSRF token, and a user without the permission gets the
//! API's own refusal as a page. Screenshots land in `docs/console/` when
//! `GATEHOUSE_SCREENSHOTS=1`.

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};
use crate::peers;

pub(crate) const PASSWORD: &str = "a long enough secret phrase";

/// The steps that sign the owner of `slug` in, ending on the account page.
pub(crate) fn sign_in(app: &TestApp, slug: &str) -> Vec<Value> {
    vec![
        json!({"goto": format!("{}/login/password", app.url)}),
        json!({"fill": "#organisation", "value": slug}),
        json!({"fill": "#email", "value": format!("owner@{slug}.example")}),
        json!({"fill": "#password", "value": PASSWORD}),
        json!({"click": "button[type=submit]"}),
        json!({"wait_url": "/account"}),
    ]
}

/// A screenshot step when screenshots are asked for (the README's pages), else nothing.
pub(crate) fn screenshot(name: &str) -> Vec<Value> {
    if std::env::var("GATEHOUSE_SCREENSHOTS").as_deref() != Ok("1") {
        return vec![];
    }
    let path = format!("{}/../docs/console/{name}.png", env!("CARGO_MANIFEST_DIR"));
    vec![json!({"screenshot": path})]
}

pub(crate) async fn tenant_with_owner(app: &TestApp, slug: &str) -> String {
    let tenant = app.create_tenant(slug).await;
    let r = app
        .op(
            Method::PUT,
            &format!("/tenants/{tenant}/owner"),
            Some(json!({"email": format!("owner@{slug}.example"), "password": PASSWORD})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    tenant
}

pub(crate) fn ok(page: &Value) -> &Value {
    assert!(page.get("error").is_none(), "the browser failed: {page:#}");
    page
}

#[tokio::test]
async fn the_saml_wizard_creates_tests_and_enables_an_okta_connection_in_a_browser() {
    let app = spawn_app().await;
    let slug = "console-okta";
    let tenant = tenant_with_owner(&app, slug).await;
    let idp = peers::saml_idp();

    // Signed out, the console sends the browser to sign in; then the overview, the
    // preset chooser and the Okta wizard, which creates the connection in test mode.
    let mut steps = vec![
        json!({"goto": format!("{}/console", app.url)}),
        json!({"snapshot": true}),
    ];
    steps.extend(sign_in(&app, slug));
    steps.extend([
        json!({"goto": format!("{}/console", app.url)}),
        json!({"snapshot": true}),
    ]);
    steps.extend(screenshot("overview"));
    steps.extend([
        json!({"goto": format!("{}/console/sso/new", app.url)}),
        json!({"click": "#preset-okta"}),
        json!({"wait_url": "/console/sso/new/okta"}),
        json!({"remember": "acs", "text_of": "dt"}),
        json!({"snapshot": true}),
    ]);
    steps.extend(screenshot("sso-wizard-okta"));
    steps.extend([
        json!({"fill": "#name", "value": "Okta"}),
        json!({"fill": "#metadata_url", "value": format!("{idp}/metadata")}),
        json!({"click": "#create"}),
        json!({"snapshot": true}),
    ]);
    steps.extend(screenshot("sso-connection"));
    let page = peers::browser(Value::Array(steps)).await;
    let page = ok(&page);
    let signed_out = &page["snapshots"][0];
    assert!(
        signed_out["url"]
            .as_str()
            .unwrap()
            .contains("/login?return_to=%2Fconsole"),
        "{page:#}"
    );
    let overview = page["snapshots"][1]["text"].as_str().unwrap();
    assert!(overview.contains("Setup checklist"), "{overview}");
    assert!(
        overview.contains("SSO connection tested and enabled"),
        "{overview}"
    );
    assert!(overview.contains("Sign-ins per day"), "{overview}");
    let wizard = page["snapshots"][2]["text"].as_str().unwrap();
    assert!(wizard.contains("Okta Admin Console"), "{wizard}");
    let created = &page["snapshots"][3];
    let url = created["url"].as_str().unwrap();
    let connection = url.rsplit('/').next().unwrap().to_string();
    let text = created["text"].as_str().unwrap();
    assert!(text.contains(&format!("{idp}/sso/redirect")), "{text}");
    assert!(text.contains("test"), "{text}");

    // What the console made is what the API shows: the Okta adapter, test mode, the
    // metadata URL; and the audit event names the signed-in owner.
    let (_, token) = app.tenant_token(&tenant, &["admin"]).await;
    let r = app
        .api(
            &token,
            Method::GET,
            &format!("/sso/connections/{connection}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "test");
    assert_eq!(r.body["adapter"]["name"], "okta-adapter");
    assert_eq!(r.body["saml"]["metadata_url"], format!("{idp}/metadata"));
    // An id already taken is refused, and the connection keeps its settings.
    let taken = app
        .api(
            &token,
            Method::POST,
            "/sso/connections",
            Some(json!({"id": connection, "name": "Again", "saml": {"metadata_url": format!("{idp}/metadata")}})),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.body);
    let bad = app
        .api(
            &token,
            Method::POST,
            "/sso/connections",
            Some(json!({"id": "not-an-id", "name": "Bad", "saml": {"metadata_url": format!("{idp}/metadata")}})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    let created_event = crate::saml::last_event(&app, &tenant, "sso_connection.created").await;
    assert_eq!(created_event["actor"]["type"], "user", "{created_event:#}");

    // The IdP admin registers the SP (the wizard's values, as SP metadata).
    let sp_metadata = reqwest::get(
        r.body["saml"]["service_provider"]["metadata_url"]
            .as_str()
            .unwrap(),
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let registered = reqwest::Client::new()
        .post(format!("{idp}/sp"))
        .body(sp_metadata)
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), StatusCode::NO_CONTENT);

    // A test sign-in from the connection's page: the report page, then enable.
    let email = "ada@console-okta.example";
    let who = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(crate::saml::user(email, &["engineering"]).to_string());
    let mut steps = sign_in(&app, slug);
    steps.extend([
        json!({"goto": format!("{}/console/sso/{connection}", app.url)}),
        json!({"click": "#test-sign-in"}),
        json!({"wait_url": "/sso/redirect"}),
        json!({"goto_append": format!("&as={who}")}),
        json!({"wait_url": "/acs"}),
        json!({"snapshot": true}),
    ]);
    steps.extend(screenshot("sso-test-report"));
    steps.extend([
        json!({"goto": format!("{}/console/sso/{connection}", app.url)}),
        json!({"click": "#enable"}),
        json!({"snapshot": true}),
    ]);
    let page = peers::browser(Value::Array(steps)).await;
    let page = ok(&page);
    let report = page["snapshots"][0]["text"].as_str().unwrap();
    assert!(report.contains("passed every SAML check"), "{report}");
    assert!(report.contains("engineering"), "{report}");
    assert!(report.contains("idp-adapter · okta-adapter"), "{report}");
    assert!(report.contains(email), "{report}");
    let enabled = page["snapshots"][1]["text"].as_str().unwrap();
    assert!(enabled.contains("Status enabled"), "{enabled}");
    let r = app
        .api(
            &token,
            Method::GET,
            &format!("/sso/connections/{connection}"),
            None,
        )
        .await;
    assert_eq!(r.body["status"], "enabled", "{}", r.body);
    // The test sign-in created nobody.
    let users = app
        .api(
            &token,
            Method::GET,
            &format!("/users?filter=email eq \"{email}\""),
            None,
        )
        .await;
    assert!(!users.body.to_string().contains(email), "{}", users.body);
}

#[tokio::test]
async fn the_console_holds_to_the_apis_checks() {
    let app = spawn_app().await;
    let client = crate::saml::browser();
    // Signed out: to the sign-in page, coming back.
    let r = client
        .get(format!("{}/console/sso", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/login?return_to=%2Fconsole%2Fsso");
    // A form posted with no session is not acted on: to the sign-in page.
    let r = client
        .post(format!("{}/console/sso/new/saml", app.url))
        .form(&[("csrf", "x"), ("name", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login?return_to="));
    // Signed in, a page carries the strict CSP; a form without the CSRF token is refused
    // with the API's own reason, and changes nothing.
    let slug = "console-checks";
    let tenant = tenant_with_owner(&app, slug).await;
    let r =
        crate::local_login::password_login(&app, slug, &format!("owner@{slug}.example"), PASSWORD)
            .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = crate::saml::cookie(&r);
    let page = client
        .get(format!("{}/console", app.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    let before = app.audit_actions(&tenant).await.len();
    let r = client
        .post(format!("{}/console/sso/new/saml", app.url))
        .header("cookie", &cookie)
        .form(&[
            ("id", "00000000-0000-4000-8000-000000000000"),
            ("name", "x"),
            ("metadata_url", "https://idp.example/m"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("X-CSRF-Token"));
    assert_eq!(app.audit_actions(&tenant).await.len(), before);
    // The other pages allow no script at all.
    let login = client
        .get(format!("{}/login", app.url))
        .send()
        .await
        .unwrap();
    let csp = login.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    // The stylesheet is served.
    let css = client
        .get(format!("{}/static/gatehouse.css", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert!(css.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
}

#[tokio::test]
async fn the_oidc_wizard_creates_tests_and_enables_a_connection_in_a_browser() {
    let app = spawn_app().await;
    let slug = "console-oidc";
    let tenant = tenant_with_owner(&app, slug).await;
    let issuer = peers::oidc_op();

    // The wizard keeps its connection id in the URL: the admin reads the redirect URI,
    // registers it at the provider, and comes back to the same values.
    let mut steps = sign_in(&app, slug);
    steps.extend([
        json!({"goto": format!("{}/console/sso/new/oidc", app.url)}),
        json!({"wait_url": "?id="}),
        json!({"remember": "redirect_uri", "value_of": "#sp-redirect-uri"}),
    ]);
    steps.extend(screenshot("sso-wizard-oidc"));
    let page = peers::browser(Value::Array(steps)).await;
    let page = ok(&page);
    let wizard = page["url"].as_str().unwrap().to_string();
    let redirect_uri = page["remembered"]["redirect_uri"].as_str().unwrap();
    let connection = wizard.rsplit("id=").next().unwrap().to_string();
    assert!(
        redirect_uri.ends_with(&format!("/{connection}/callback")),
        "{redirect_uri}"
    );
    let (client_id, secret) =
        peers::oidc_op_register(&issuer, redirect_uri, "client_secret_basic").await;
    let email = "ada@console-oidc.example";
    peers::oidc_op_account(
        &issuer,
        "ada-console",
        json!({"email": email, "email_verified": true, "name": "Ada Lovelace",
               "given_name": "Ada", "family_name": "Lovelace", "groups": ["engineering"]}),
    )
    .await;

    let mut steps = sign_in(&app, slug);
    steps.extend([
        json!({"goto": wizard}),
        json!({"fill": "#name", "value": "Node OP"}),
        json!({"fill": "#issuer", "value": issuer}),
        json!({"fill": "#client_id", "value": client_id}),
        json!({"fill": "#client_secret", "value": secret}),
        json!({"fill": "#scopes", "value": "openid email profile groups"}),
        json!({"click": "#create"}),
        json!({"snapshot": true}),
        json!({"click": "#test-sign-in"}),
        json!({"wait_url": "/interaction/"}),
        json!({"fill": "input[name=login]", "value": "ada-console"}),
        json!({"click": "button[type=submit]"}),
        json!({"wait_url": "/callback"}),
        json!({"snapshot": true}),
        json!({"goto": format!("{}/console/sso/{connection}", app.url)}),
        json!({"click": "#enable"}),
        json!({"snapshot": true}),
        // Disabling asks first (the console's script, allowed by the CSP); the harness
        // accepts, and the connection is disabled.
        json!({"click": "#disable"}),
        json!({"snapshot": true}),
    ]);
    let page = peers::browser(Value::Array(steps)).await;
    let page = ok(&page);
    let disabled = page["snapshots"][3]["text"].as_str().unwrap();
    assert!(disabled.contains("Status disabled"), "{disabled}");
    // The question came from the console's script: it loads under the CSP.
    assert!(
        page["dialogs"][0]
            .as_str()
            .is_some_and(|m| m.starts_with("Disable this connection?")),
        "{page:#}"
    );
    let created = page["snapshots"][0]["text"].as_str().unwrap();
    assert!(created.contains(&issuer), "{created}");
    assert!(created.contains("stored"), "{created}");
    assert!(
        !created.contains(&secret),
        "the secret was shown: {created}"
    );
    let report = page["snapshots"][1]["text"].as_str().unwrap();
    assert!(report.contains("passed every OIDC check"), "{report}");
    assert!(
        report.contains(email) && report.contains("engineering"),
        "{report}"
    );
    let enabled = page["snapshots"][2]["text"].as_str().unwrap();
    assert!(enabled.contains("Status enabled"), "{enabled}");
    let (_, token) = app.tenant_token(&tenant, &["admin"]).await;
    let r = app
        .api(
            &token,
            Method::GET,
            &format!("/sso/connections/{connection}"),
            None,
        )
        .await;
    assert_eq!(r.body["status"], "disabled", "{}", r.body);
    assert_eq!(r.body["oidc"]["client_secret_set"], true, "{}", r.body);
    let actions = app.audit_actions(&tenant).await;
    assert!(
        actions
            .iter()
            .filter(|a| *a == "sso_connection.updated")
            .count()
            >= 2,
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_user_without_the_permission_gets_the_apis_refusal_as_a_page() {
    use crate::saml::{at_idp, login_page, post_bound, session_cookie, setup, user};
    let s = setup("console-member", json!({})).await;
    let email = "bob@console-member.example";
    let (location, binding) = login_page(&s.app, email).await;
    let (action, fields) = at_idp(&location, &user(email, &[])).await;
    let done = post_bound(&action, &fields, &binding).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let session = session_cookie(&done);
    let client = crate::saml::browser();
    let api = client
        .get(format!("{}/api/v1/sso/connections", s.app.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::FORBIDDEN);
    let api: Value = api.json().await.unwrap();
    let reason = api["detail"].as_str().unwrap().to_string();
    let page = client
        .get(format!("{}/console/sso", s.app.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    let html = page.text().await.unwrap();
    // The page says what the API says (as escaped HTML).
    let escaped = reason
        .replace('&', "&#38;")
        .replace('`', "&#96;")
        .replace('\'', "&#39;")
        .replace('"', "&#34;")
        .replace('<', "&#60;")
        .replace('>', "&#62;");
    assert!(
        html.contains(&escaped) || html.contains(&reason),
        "{reason} not in {html}"
    );
    assert!(!html.contains("/console/sso/new"), "{html}");
    // A form post with a good CSRF token is refused on the permission, and changes nothing.
    let csrf = "c".repeat(43);
    let r = client
        .post(format!("{}/console/sso/{}/status", s.app.url, s.connection))
        .header("cookie", format!("{session}; gatehouse_csrf={csrf}"))
        .form(&[("csrf", csrf.as_str()), ("status", "disabled")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("Not allowed"));
    let connection = s
        .app
        .api(
            &s.token,
            Method::GET,
            &format!("/sso/connections/{}", s.connection),
            None,
        )
        .await;
    assert_eq!(connection.body["status"], "enabled");
}

#[tokio::test]
async fn scim_tokens_are_created_shown_once_rotated_and_revoked_in_a_browser() {
    let app = spawn_app().await;
    let slug = "console-scim";
    let tenant = tenant_with_owner(&app, slug).await;
    let mut steps = sign_in(&app, slug);
    steps.extend([
        json!({"goto": format!("{}/console/scim", app.url)}),
        json!({"fill": "#token-name", "value": "Okta provisioning"}),
        json!({"click": "#create-token"}),
        json!({"remember": "first", "value_of": "#new-token"}),
        json!({"remember": "base", "value_of": "#scim-base"}),
        json!({"goto": format!("{}/console/scim", app.url)}),
        json!({"snapshot": true}),
        json!({"click": "button.rotate"}),
        json!({"remember": "second", "value_of": "#new-token"}),
    ]);
    steps.extend(screenshot("scim"));
    let page = peers::browser(Value::Array(steps)).await;
    let page = ok(&page);
    let first = page["remembered"]["first"].as_str().unwrap().to_string();
    let second = page["remembered"]["second"].as_str().unwrap().to_string();
    let base = page["remembered"]["base"].as_str().unwrap().to_string();
    assert_eq!(base, format!("{}/scim/v2", app.url));
    assert_ne!(first, second);
    // Shown once: the page reloaded afterwards does not carry it.
    let listed = page["snapshots"][0]["text"].as_str().unwrap();
    assert!(
        listed.contains("Okta provisioning") && !listed.contains(&first),
        "{listed}"
    );
    // The rotation asked first, naming the overlap.
    assert!(
        page["dialogs"][0]
            .as_str()
            .unwrap()
            .contains("keeps working for 24 hours"),
        "{page:#}"
    );
    let users = |token: String| {
        let url = format!("{base}/Users");
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // Both work during the overlap; the new one is a SCIM token.
    assert_eq!(users(first.clone()).await, StatusCode::OK);
    assert_eq!(users(second.clone()).await, StatusCode::OK);

    // Revoking the new one (after the confirmation) stops it at once.
    let mut steps = sign_in(&app, slug);
    steps.extend([
        json!({"goto": format!("{}/console/scim", app.url)}),
        json!({"click": "tr:last-child button.revoke"}),
        json!({"snapshot": true}),
    ]);
    let page = peers::browser(Value::Array(steps)).await;
    let page = ok(&page);
    assert!(
        page["snapshots"][0]["text"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{page:#}"
    );
    let revoked = [users(first).await, users(second).await];
    assert!(revoked.contains(&StatusCode::UNAUTHORIZED), "{revoked:?}");
    let actions = app.audit_actions(&tenant).await;
    for action in [
        "api_token.created",
        "api_token.rotated",
        "api_token.revoked",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} not in {actions:?}"
        );
    }
}

#[tokio::test]
async fn on_https_the_browser_cookies_are_host_prefixed_and_only_those_count() {
    // Behind a TLS-terminating proxy: the public URL is https, the test talks plain HTTP.
    let app = crate::helpers::spawn_app_with(|c| {
        c.server.public_url = Some("https://gatehouse.example".into());
    })
    .await;
    let slug = "console-https";
    tenant_with_owner(&app, slug).await;
    let email = format!("owner@{slug}.example");
    let signed_in = crate::local_login::password_login(&app, slug, &email, PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let set: Vec<String> = signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let session = set
        .iter()
        .find(|c| c.starts_with("__Host-gatehouse_session="))
        .unwrap_or_else(|| panic!("{set:?}"));
    assert!(
        session.contains("; Secure") && session.contains("Path=/") && !session.contains("Domain"),
        "{session}"
    );
    let value = session
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string();
    let console = |cookie: String| {
        let url = format!("{}/console", app.url);
        async move {
            crate::saml::browser()
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(
        console(format!("__Host-gatehouse_session={value}")).await,
        StatusCode::OK
    );
    // The same value under the plain name (what a sibling subdomain could plant) is nobody.
    assert_eq!(
        console(format!("gatehouse_session={value}")).await,
        StatusCode::SEE_OTHER
    );
}

//! Gatehouse's pages in a real browser (headless Chromium): the login page routing a work
//! email through an OIDC provider and through a SAML IdP's auto-posting form back to the
//! account page, the session cookie as the browser stores it, sign-out, and the owner's
//! password form. These prove what HTTP-level tests cannot: that the forms, CSRF tokens,
//! redirects and cookie attributes work together in a browser.

use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};

use crate::peers;
use crate::saml;

fn ok(page: &Value) -> &Value {
    assert!(page.get("error").is_none(), "the browser failed: {page:#}");
    page
}

fn cookie<'a>(page: &'a Value, name: &str) -> &'a Value {
    page["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} cookie: {page:#}"))
}

#[tokio::test]
async fn oidc_sign_in_and_sign_out_in_a_browser() {
    let s = crate::oidc::setup("browser-oidc", "enabled").await;
    let email = "ada@browser-oidc.example";
    crate::oidc::add_account(&s, "ada-browser", email, &["engineering"]).await;
    let page = peers::browser(json!([
        {"goto": format!("{}/login", s.app.url)},
        {"fill": "#email", "value": email},
        {"click": "button[type=submit]"},
        {"wait_url": "/interaction/"},
        {"fill": "input[name=login]", "value": "ada-browser"},
        {"click": "button[type=submit]"},
        {"wait_url": "/account"},
        {"snapshot": true},
        {"click": "form[action='/logout'] button"},
        {"wait_url": "/login"},
    ]))
    .await;
    let page = ok(&page);
    let signed_in = &page["snapshots"][0];
    assert_eq!(
        signed_in["url"],
        format!("{}/account", s.app.url),
        "{page:#}"
    );
    let text = signed_in["text"].as_str().unwrap();
    assert!(
        text.contains("Signed in as Ada Lovelace") && text.contains(email),
        "{text}"
    );
    let session = cookie(signed_in, "gatehouse_session");
    assert_eq!(session["httpOnly"], true);
    assert_eq!(session["sameSite"], "Lax");
    assert_eq!(session["path"], "/");
    // Signed out: back on the login page, the session revoked.
    assert_eq!(page["url"], format!("{}/login", s.app.url));
    assert!(page["text"].as_str().unwrap().contains("Work email"));
    let logout = saml::last_event(&s.app, &s.tenant, "logout").await;
    assert_eq!(logout["target"]["type"], "session", "{logout}");
    let logins = saml::events(&s.app, &s.tenant, "login.succeeded").await;
    assert_eq!(logins.len(), 1);
}

#[tokio::test]
async fn saml_sign_in_in_a_browser() {
    let s = saml::setup("browser-saml", json!({})).await;
    let email = "ada@browser-saml.example";
    let who = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(saml::user(email, &["admins"]).to_string());
    let page = peers::browser(json!([
        {"goto": format!("{}/login?return_to=/account", s.app.url)},
        {"fill": "#email", "value": email},
        {"click": "button[type=submit]"},
        {"wait_url": "/sso/redirect"},
        // The test IdP signs in whoever `as` names, then auto-posts the response.
        {"goto_append": format!("&as={who}")},
        {"wait_url": "/account"},
    ]))
    .await;
    let page = ok(&page);
    assert_eq!(page["url"], format!("{}/account", s.app.url), "{page:#}");
    assert!(page["text"].as_str().unwrap().contains(email), "{page:#}");
    let succeeded = saml::last_event(&s.app, &s.tenant, "login.succeeded").await;
    assert_eq!(succeeded["after"]["outcome"], "provisioned");
}

#[tokio::test]
async fn the_owner_signs_in_with_a_password_in_a_browser() {
    let app = crate::helpers::spawn_app().await;
    let tenant = app.create_tenant("browser-pw").await;
    let email = "owner@browser-pw.example";
    let password = "a long enough secret phrase";
    let r = app
        .op(
            Method::PUT,
            &format!("/tenants/{tenant}/owner"),
            Some(json!({"email": email, "password": password})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    let page = peers::browser(json!([
        {"goto": format!("{}/login", app.url)},
        {"click": "a[href='/login/password']"},
        {"fill": "#email", "value": email},
        {"fill": "#password", "value": "not the password"},
        {"click": "button[type=submit]"},
        {"snapshot": true},
        {"fill": "#organisation", "value": "browser-pw"},
        {"fill": "#email", "value": email},
        {"fill": "#password", "value": password},
        {"click": "button[type=submit]"},
        {"wait_url": "/account"},
    ]))
    .await;
    let page = ok(&page);
    let refused = &page["snapshots"][0];
    assert_eq!(refused["status"], 401, "{page:#}");
    assert!(
        refused["text"]
            .as_str()
            .unwrap()
            .contains("Sign in with a password"),
        "{page:#}"
    );
    assert_eq!(page["url"], format!("{}/account", app.url), "{page:#}");
    assert!(page["text"].as_str().unwrap().contains(email), "{page:#}");
}

#[tokio::test]
async fn an_invited_user_sets_a_password_enrols_totp_and_signs_in_with_a_code_or_a_recovery_code() {
    let app = crate::helpers::spawn_app().await;
    let tenant = app.create_tenant("browser-mfa").await;
    let (_, token) = app.tenant_token(&tenant, &["admin"]).await;
    let r = app
        .api(
            &token,
            Method::PUT,
            "/policy",
            Some(json!({"mfa": {"required": "direct", "grace_days": 0}})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    let email = "grace@browser-mfa.example";
    let r = app
        .api(
            &token,
            Method::POST,
            "/invitations",
            Some(json!({"email": email, "display_name": "Grace Hopper"})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    let link = r.body["link"].as_str().unwrap();
    let password = "compiler harbour lantern nebula";
    let shots = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = |name: &str| shots.join(name).to_string_lossy().to_string();
    let sign_in = json!([
        {"goto": format!("{}/login/password", app.url)},
        {"fill": "#organisation", "value": "browser-mfa"},
        {"fill": "#email", "value": email},
        {"fill": "#password", "value": password},
        {"click": "button[type=submit]"},
        {"wait_url": "/login/mfa"},
    ]);
    let mut first = vec![
        json!({"goto": link}),
        json!({"fill": "#password", "value": password}),
        json!({"click": "button[type=submit]"}),
        json!({"snapshot": true}),
    ];
    first.extend(sign_in.as_array().unwrap().iter().cloned());
    first.extend([
        json!({"screenshot": shot("mfa-enrol.png")}),
        json!({"remember": "secret", "text_of": "#secret"}),
        json!({"fill_totp": "#code", "secret": "secret"}),
        json!({"click": "button[type=submit]"}),
        json!({"remember": "recovery", "text_of": "#recovery-codes li code"}),
        json!({"snapshot": true}),
        json!({"click": "a[href='/account']"}),
    ]);
    let page = peers::browser(json!(first)).await;
    let page = ok(&page);
    assert!(
        page["snapshots"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Your password is set"),
        "{page:#}"
    );
    let codes = page["snapshots"][1]["text"].as_str().unwrap();
    assert!(codes.contains("Your recovery codes"), "{codes}");
    assert_eq!(page["url"], format!("{}/account", app.url), "{page:#}");
    assert!(page["text"].as_str().unwrap().contains("Grace Hopper"));
    let secret = page["remembered"]["secret"].as_str().unwrap().to_string();
    let recovery = page["remembered"]["recovery"].as_str().unwrap().to_string();

    // The next sign-in asks for a code; the step used to enrol is spent, so the server's
    // clock moves on a minute and the browser computes the code for then.
    app.clock.advance(std::time::Duration::from_secs(60));
    let mut second = sign_in.as_array().unwrap().clone();
    second.extend([
        json!({"screenshot": shot("mfa-code.png")}),
        json!({"fill_totp": "#code", "secret_value": secret, "offset_secs": 60}),
        json!({"click": "button[type=submit]"}),
        json!({"wait_url": "/account"}),
    ]);
    let page = peers::browser(json!(second)).await;
    assert_eq!(ok(&page)["url"], format!("{}/account", app.url), "{page:#}");
    let ok_event = saml::last_event(&app, &tenant, "login.succeeded").await;
    assert_eq!(ok_event["after"]["method"], "password+totp");

    let mut third = sign_in.as_array().unwrap().clone();
    third.extend([
        json!({"fill": "#code", "value": recovery}),
        json!({"click": "button[type=submit]"}),
        json!({"wait_url": "/account"}),
    ]);
    let page = peers::browser(json!(third)).await;
    let page = ok(&page);
    assert!(
        page["text"]
            .as_str()
            .unwrap()
            .contains("Recovery codes left: 9"),
        "{page:#}"
    );
    let ok_event = saml::last_event(&app, &tenant, "login.succeeded").await;
    assert_eq!(ok_event["after"]["method"], "password+recovery_code");
    for name in ["mfa-enrol.png", "mfa-code.png"] {
        let png = std::fs::read(shots.join(name)).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{name} is a screenshot");
    }
}

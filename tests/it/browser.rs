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
    let password = "a long enough owner password";
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

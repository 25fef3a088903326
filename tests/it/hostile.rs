//! Hostile input on every protocol surface anyone can reach: each case is answered with its
//! status in its protocol's error form (an HTML page with a reason code for browsers, OAuth
//! errors for the app's endpoints, problem details for the API), nothing is written but the
//! counted failure event, and the server still answers afterwards.

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::saml::{browser, setup};

/// Rows that hostile requests must not add: users, sessions, login states, codes, audit.
async fn footprint(app: &TestApp) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in [
        "users",
        "sessions",
        "sso_login_states",
        "oauth_codes",
        "group_members",
    ] {
        counts.push(app.scalar(&format!("SELECT COUNT(*) FROM {table}")).await);
    }
    counts
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn hostile_requests_get_their_protocols_error_and_write_nothing() {
    // IdP-initiated allowed, so unsolicited responses reach the parser.
    let s = setup("hostile", json!({"allow_idp_initiated": true})).await;
    let app = &s.app;
    let before = footprint(app).await;
    let audit_before = app.scalar("SELECT COUNT(*) FROM audit_events").await;

    // The ACS: not base64, not UTF-8, not XML, a DOCTYPE (entity expansion), a billion
    // laughs, oversize, two assertions, an empty form.
    let doctype = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]><samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\">&b;</samlp:Response>";
    let xxe = "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>";
    let two = "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\"><saml:Assertion/><saml:Assertion/></samlp:Response>";
    let cases: Vec<(String, &str)> = vec![
        ("%%%not base64%%%".into(), "malformed"),
        (
            base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe, 0x00]),
            "malformed",
        ),
        (b64("just text"), "assertion_count"),
        (b64(doctype), "forbidden_xml"),
        (b64(xxe), "forbidden_xml"),
        (b64(two), "assertion_count"),
        ("A".repeat(2 * 1024 * 1024 / 3), "malformed"),
    ];
    for (response, code) in &cases {
        let r = browser()
            .post(&s.acs_url)
            .form(&[("SAMLResponse", response.as_str())])
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        // An oversize form is refused by the body limit before the ACS sees it.
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            continue;
        }
        assert_eq!(status, StatusCode::FORBIDDEN, "{code}: {body}");
        assert!(
            body.contains(&format!("data-code=\"{code}\"")),
            "{code}: {body}"
        );
    }
    let r = browser()
        .post(&s.acs_url)
        .form(&[("nothing", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // The token endpoint: every refusal in OAuth form.
    for form in [
        vec![
            ("grant_type", "password"),
            ("username", "a"),
            ("password", "b"),
        ],
        vec![("grant_type", "authorization_code")],
        vec![
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("client_id", "nope"),
            ("redirect_uri", "http://x"),
            ("code_verifier", "v"),
        ],
    ] {
        let r = reqwest::Client::new()
            .post(format!("{}/oauth2/token", app.url))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{form:?}");
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].is_string(), "{form:?}: {body}");
    }
    let r = reqwest::Client::new()
        .post(format!("{}/oauth2/token", app.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("%%%=%%%&&&==")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());

    // Authorize with junk: shown, never redirected to an unregistered URI.
    let r = browser()
        .get(format!(
            "{}/oauth2/authorize?client_id={}&redirect_uri=javascript:alert(1)&response_type=code",
            app.url,
            "x".repeat(5000)
        ))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    assert!(r.headers().get("location").is_none());

    // The sign-in forms without their CSRF token, and with absurd fields.
    for (path, form) in [
        ("/login", vec![("email", "a@hostile.example")]),
        (
            "/login/password",
            vec![("email", "a@hostile.example"), ("password", "x")],
        ),
    ] {
        let r = browser()
            .post(format!("{}{path}", app.url))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(r.text().await.unwrap().contains("data-code=\"csrf\""));
    }

    // The OIDC callback of a SAML connection, and of a connection that does not exist.
    let callback = s
        .acs_url
        .replace("/sso/saml/", "/sso/oidc/")
        .replace("/acs", "/callback");
    let r = browser()
        .get(format!("{callback}?code=x&state=y"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());

    // The admin API and a plugin upload with garbage: problem details.
    let r = app
        .upload(
            &s.token,
            "/api/v1",
            "name=junk&version=1",
            b"\0asm garbage".to_vec(),
            "application/wasm",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body["type"]
        .as_str()
        .unwrap()
        .starts_with("urn:gatehouse:problem:"));
    let r = app
        .call(
            Method::GET,
            "/api/v1/users/not-a-uuid",
            Some(&s.token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);

    // Nothing was written but failure events, and those collapse per kind.
    assert_eq!(footprint(app).await, before);
    let audit_after = app.scalar("SELECT COUNT(*) FROM audit_events").await;
    assert!(
        audit_after - audit_before <= 6,
        "{} audit events for {} hostile requests",
        audit_after - audit_before,
        cases.len() + 1
    );
    let r = reqwest::get(format!("{}/healthz", app.url)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

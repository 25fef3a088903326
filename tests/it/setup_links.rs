//! Setup links: the operator issues a one-time link; a customer's IT admin opens it in a real
//! browser, starts the setup session, reaches only the SSO and SCIM pages, makes a SCIM
//! token that provisions; the link is refused the second time. Over plain HTTP: opening the
//! page spends nothing, the session cannot reach anything else nor mint a wider token nor
//! revoke the app's token, revoking the link ends its session, and a forged link is gone.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};
use crate::peers;

async fn issue(app: &TestApp, tenant: &str, label: &str) -> Value {
    let r = app
        .op(
            Method::POST,
            &format!("/tenants/{tenant}/setup-links"),
            Some(json!({"label": label, "expires_in_seconds": 3600})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

/// Starts the setup session of link `url` over HTTP; the `Cookie` header it gives.
async fn start(url: &str) -> reqwest::Response {
    let csrf = "s".repeat(43);
    crate::saml::browser()
        .post(url)
        .header("cookie", format!("gatehouse_csrf={csrf}"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap()
}

fn setup_cookie(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("gatehouse_setup="))
        .and_then(|v| v.split(';').next())
        .expect("a setup cookie")
        .to_string()
}

#[tokio::test]
async fn a_setup_link_opens_sso_and_scim_set_up_once_in_a_browser() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("setup-acme").await;
    let link = issue(&app, &tenant, "Acme IT (Dana)").await;
    let url = link["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("{}/setup/ghs_", app.url)), "{url}");

    let mut steps = vec![json!({"goto": url}), json!({"snapshot": true})];
    steps.extend(crate::console::screenshot("setup-link"));
    steps.extend([
        json!({"click": "#start"}),
        json!({"wait_url": "/console/sso"}),
        json!({"snapshot": true}),
    ]);
    steps.extend(crate::console::screenshot("setup-session"));
    steps.extend([
        json!({"goto": format!("{}/console/scim", app.url)}),
        json!({"fill": "#token-name", "value": "Okta provisioning"}),
        json!({"click": "#create-token"}),
        json!({"remember": "scim", "value_of": "#new-token"}),
        json!({"goto": format!("{}/console", app.url)}),
        json!({"snapshot": true}),
        json!({"goto": url}),
        json!({"snapshot": true}),
    ]);
    let page = peers::browser(Value::Array(steps)).await;
    assert!(page.get("error").is_none(), "the browser failed: {page:#}");
    let landing = page["snapshots"][0]["text"].as_str().unwrap();
    assert!(
        landing.contains("Acme IT (Dana)") && landing.contains("setup-acme"),
        "{landing}"
    );
    let sso = &page["snapshots"][1];
    let text = sso["text"].as_str().unwrap();
    assert!(text.contains("setup link: Acme IT (Dana)"), "{text}");
    assert!(
        text.contains("Single sign-on") && text.contains("SCIM provisioning"),
        "{text}"
    );
    assert!(!text.contains("Overview"), "the nav offers more: {text}");
    // The overview is not part of the set-up: refused with the reason, as a page.
    let overview = &page["snapshots"][2];
    assert_eq!(overview["status"], 403, "{overview:#}");
    assert!(overview["text"]
        .as_str()
        .unwrap()
        .contains("a setup link opens the SSO and SCIM set-up only"));
    // Used once: the second visit is refused.
    let again = &page["snapshots"][3];
    assert_eq!(again["status"], 410, "{again:#}");
    assert!(again["text"].as_str().unwrap().contains("already used"));

    // The SCIM token made in the setup session provisions.
    let scim = page["remembered"]["scim"].as_str().unwrap();
    let r = reqwest::Client::new()
        .get(format!("{}/scim/v2/Users", app.url))
        .bearer_auth(scim)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .op(
            Method::GET,
            &format!("/tenants/{tenant}/audit-events?action=api_token.created"),
            None,
        )
        .await;
    let actor = &r.body["events"][0]["actor"];
    assert_eq!(actor["type"], "setup_link", "{}", r.body);
    assert_eq!(actor["label"], "setup link: Acme IT (Dana)");
    let actions = app.audit_actions(&tenant).await;
    for action in ["setup_link.issued", "setup_link.used", "api_token.created"] {
        assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
    }
    let r = app
        .op(Method::GET, &format!("/tenants/{tenant}/setup-links"), None)
        .await;
    assert!(r.body[0]["used_at"].is_string(), "{}", r.body);
    assert!(r.body[0].get("token_hash").is_none(), "{}", r.body);
}

#[tokio::test]
async fn a_setup_session_is_held_to_sso_and_scim_and_ends_when_its_link_is_revoked() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("setup-limits").await;
    let (app_token_id, _) = app.tenant_token(&tenant, &["admin"]).await;
    let link = issue(&app, &tenant, "Globex IT").await;
    let url = link["url"].as_str().unwrap();
    let client = crate::saml::browser();

    // Opening the page spends nothing (a mail scanner may fetch it first).
    for _ in 0..2 {
        let r = client.get(url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    }
    // Without the form's CSRF token the link is not spent.
    let r = client.post(url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let started = start(url).await;
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    assert_eq!(started.headers()["location"], "/console/sso");
    let cookie = setup_cookie(&started);
    let set = started.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    // Twice is once too many, and a forged link is gone the same way.
    assert_eq!(start(url).await.status(), StatusCode::GONE);
    let forged = format!(
        "{}/setup/ghs_{}_{}",
        app.url,
        "0".repeat(32),
        "A".repeat(43)
    );
    assert_eq!(start(&forged).await.status(), StatusCode::GONE);
    assert_eq!(
        client.get(&forged).send().await.unwrap().status(),
        StatusCode::GONE
    );

    let csrf = "t".repeat(43);
    let call = |method: Method, path: &str, body: Option<Value>| {
        let mut req = client
            .request(method, format!("{}/api/v1{path}", app.url))
            .header("cookie", format!("{cookie}; gatehouse_csrf={csrf}"))
            .header("x-csrf-token", &csrf);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send()
    };
    assert_eq!(
        call(Method::GET, "/sso/connections", None)
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    for path in [
        "/users",
        "/policy",
        "/audit-events",
        "/catalogue",
        "/plugins",
    ] {
        let r = call(Method::GET, path, None).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    // A SCIM token, yes; a wider one, no; the app's own token cannot be revoked from here.
    let scim = call(
        Method::POST,
        "/tokens",
        Some(json!({"name": "Okta SCIM", "scopes": ["scim"]})),
    )
    .await
    .unwrap();
    assert_eq!(scim.status(), StatusCode::CREATED);
    let wider = call(
        Method::POST,
        "/tokens",
        Some(json!({"name": "more", "scopes": ["scim", "sso:write"]})),
    )
    .await
    .unwrap();
    assert_eq!(wider.status(), StatusCode::FORBIDDEN);
    let r = call(Method::DELETE, &format!("/tokens/{app_token_id}"), None)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Revoked by the operator: the session ends at once.
    let id = link["id"].as_str().unwrap();
    let r = app
        .op(
            Method::DELETE,
            &format!("/tenants/{tenant}/setup-links/{id}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["revoked_at"].is_string());
    let r = call(Method::GET, "/sso/connections", None).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let page = client
        .get(format!("{}/console/sso", app.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("Ask for a new setup link"));
    let actions = app.audit_actions(&tenant).await;
    assert!(
        actions.iter().any(|a| a == "setup_link.revoked"),
        "{actions:?}"
    );

    // Bad requests are refused with the field at fault.
    let r = app
        .op(
            Method::POST,
            &format!("/tenants/{tenant}/setup-links"),
            Some(json!({"label": "", "expires_in_seconds": 3600})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = app
        .op(
            Method::POST,
            &format!("/tenants/{tenant}/setup-links"),
            Some(json!({"label": "x", "expires_in_seconds": 99999999})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    // Only the operator issues them.
    let (_, admin) = app.tenant_token(&tenant, &["admin"]).await;
    let r = reqwest::Client::new()
        .post(format!(
            "{}/operator/v1/tenants/{tenant}/setup-links",
            app.url
        ))
        .bearer_auth(admin)
        .json(&json!({"label": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

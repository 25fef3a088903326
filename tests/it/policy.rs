//! The tenant security policy: one document read and replaced through the API (bounds checked,
//! every change audited with before and after), presets, IP allow-lists matched on the client
//! address behind a trusted proxy with the lock-out guard, the session cap in both modes
//! across password and SAML sign-ins, lifetimes applied to sessions already open, password
//! rules, the grace period and forced enrolment, and IdP proof of MFA.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, TestApp};
use crate::saml::{browser, cookie, events, last_event, page_html, submit_form_with};

const PASSWORD: &str = "correct horse battery staple";

/// A tenant `slug` with owner `root@{slug}.example` and an admin token: (tenant, token).
async fn tenant_with_owner(app: &TestApp, slug: &str) -> (String, String) {
    let tenant = app.create_tenant(slug).await;
    let (_, token) = app.tenant_token(&tenant, &["admin"]).await;
    let r = app
        .op(
            Method::PUT,
            &format!("/tenants/{tenant}/owner"),
            Some(json!({"email": format!("root@{slug}.example"), "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    (tenant, token)
}

/// A password sign-in of `slug`'s owner from client address `ip` (none: the TCP peer).
async fn owner_sign_in(app: &TestApp, slug: &str, ip: Option<&str>) -> reqwest::Response {
    let email = format!("root@{slug}.example");
    let headers: Vec<(&str, &str)> = ip.map(|ip| ("x-forwarded-for", ip)).into_iter().collect();
    crate::local_login::password_login_with(app, slug, &email, PASSWORD, &headers).await
}

/// Whether the session `cookie` still opens the account page.
async fn works(app: &TestApp, cookie: &str) -> bool {
    let r = browser()
        .get(format!("{}/account", app.url))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    r.status() == StatusCode::OK
}

async fn put_policy(app: &TestApp, token: &str, policy: Value) -> crate::helpers::Resp {
    app.api(token, Method::PUT, "/policy", Some(policy)).await
}

#[tokio::test]
async fn the_policy_is_one_document_checked_against_its_bounds_and_audited() {
    let app = spawn_app().await;
    let (tenant, token) = tenant_with_owner(&app, "doc").await;
    let r = app.api(&token, Method::GET, "/policy", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["mfa"]["required"], "off");
    assert_eq!(r.body["passwords"]["max_length"], 256);
    assert_eq!(r.body["classification"]["level"], "Unclassified");
    assert_eq!(r.body["sessions"]["when_full"], "revoke_oldest");

    for (bad, field) in [
        (json!({"mfa": {"grace_days": 31}}), "mfa.grace_days"),
        (
            json!({"sessions": {"idle_minutes": 100000}}),
            "sessions.idle_minutes",
        ),
        (
            json!({"sessions": {"max_per_user": 0}}),
            "sessions.max_per_user",
        ),
        (
            json!({"passwords": {"max_length": 64}}),
            "passwords.max_length",
        ),
        (
            json!({"passwords": {"min_length": 8}}),
            "passwords.min_length",
        ),
        (
            json!({"classification": {"level": "Secret"}}),
            "classification.level",
        ),
    ] {
        let r = put_policy(&app, &token, bad.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.body
        );
        assert!(r.body.to_string().contains(field), "{bad}: {}", r.body);
    }
    let r = put_policy(&app, &token, json!({"mfa": {"requried": "direct"}})).await;
    assert!(r.status.is_client_error(), "unknown fields are refused");
    let r = put_policy(
        &app,
        &token,
        json!({"networks": {"sign_in": ["10.0.0.0/33"]}}),
    )
    .await;
    assert!(r.status.is_client_error(), "not a CIDR: {}", r.body);
    assert!(
        events(&app, &tenant, "policy.updated").await.is_empty(),
        "nothing refused was saved"
    );

    let r = put_policy(
        &app,
        &token,
        json!({"mfa": {"required": "direct"}, "passwords": {"min_length": 8},
               "classification": {"labels": ["Public", "Internal", "Restricted"], "level": "Internal"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let event = last_event(&app, &tenant, "policy.updated").await;
    assert_eq!(event["before"]["mfa"]["required"], "off");
    assert_eq!(event["after"]["policy"]["mfa"]["required"], "direct");
    assert_eq!(
        event["after"]["policy"]["classification"]["level"],
        "Internal"
    );

    // A preset fills the policy and keeps what only the tenant knows.
    let r = app
        .api(&token, Method::POST, "/policy/presets/government-cui", None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["mfa"]["required"], "everyone");
    assert_eq!(r.body["mfa"]["grace_days"], 0);
    assert_eq!(r.body["sessions"]["idle_minutes"], 15);
    assert_eq!(r.body["sessions"]["when_full"], "deny_new");
    assert_eq!(r.body["classification"]["level"], "CUI");
    assert_eq!(
        r.body["classification"]["labels"],
        json!(["Public", "Internal", "Restricted", "CUI"])
    );
    assert_eq!(
        app.api(&token, Method::GET, "/policy", None).await.body,
        r.body,
        "the result is the plain policy"
    );
    assert_eq!(
        last_event(&app, &tenant, "policy.updated").await["after"]["preset"],
        "government-cui"
    );
    let r = app
        .api(&token, Method::POST, "/policy/presets/nist", None)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn allow_lists_use_the_address_behind_trusted_proxies_and_guard_against_lockout() {
    let app = spawn_app_with(|c| {
        c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let (tenant, token) = tenant_with_owner(&app, "nets").await;
    let office = "203.0.113.0/24";
    let outside = "198.51.100.7";
    let inside = "203.0.113.40";

    // Saving a list that leaves the admin's own address out needs a confirmation.
    let policy = json!({"networks": {"admin_api": [office], "sign_in": [office]}});
    let path = "/policy";
    let r = app
        .api_from(outside, &token, Method::PUT, path, Some(policy.clone()))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body.to_string().contains("confirm_lockout"), "{}", r.body);
    assert!(r.body.to_string().contains(outside), "{}", r.body);
    let r = app
        .api_from(inside, &token, Method::PUT, path, Some(policy.clone()))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // The admin API: the client is the right-most address the proxy did not vouch for; what
    // the client put to its left is not believed.
    let r = app
        .api_from(inside, &token, Method::GET, "/tenant", None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    for spoofed in [outside, &format!("{inside}, {outside}")] {
        let r = app
            .api_from(spoofed, &token, Method::GET, "/tenant", None)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{spoofed}: {}", r.body);
    }
    let denied = last_event(&app, &tenant, "access.denied").await;
    assert_eq!(denied["after"]["reason"], "network_not_allowed");
    assert_eq!(denied["target"]["type"], "api_token");

    // Sign-in: refused outside with a clear page and an audited reason; fine inside.
    let r = owner_sign_in(&app, "nets", Some(outside)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("does not allow sign-in from this network"));
    let failed = last_event(&app, &tenant, "login.failed").await;
    assert_eq!(failed["after"]["reason"], "network_not_allowed");
    let r = owner_sign_in(&app, "nets", Some(inside)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Confirmed lock-out, undone by the operator (held to no list).
    let r = app
        .api_from(
            inside,
            &token,
            Method::PUT,
            &format!("{path}?confirm_lockout=true"),
            Some(json!({"networks": {"admin_api": ["192.0.2.0/24"]}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        last_event(&app, &tenant, "policy.updated").await["after"]["lockout_confirmed"],
        true
    );
    let r = app
        .api_from(inside, &token, Method::GET, "/tenant", None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .op(
            Method::PUT,
            &format!("/tenants/{tenant}/policy"),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .api_from(outside, &token, Method::GET, "/tenant", None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn the_session_cap_denies_new_sessions_or_revokes_the_oldest() {
    let app = spawn_app().await;
    let (tenant, token) = tenant_with_owner(&app, "cap").await;
    let r = put_policy(
        &app,
        &token,
        json!({"sessions": {"max_per_user": 2, "when_full": "deny_new"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let first = cookie(&owner_sign_in(&app, "cap", None).await);
    let second = cookie(&owner_sign_in(&app, "cap", None).await);
    let third = owner_sign_in(&app, "cap", None).await;
    assert_eq!(third.status(), StatusCode::FORBIDDEN);
    assert!(third.text().await.unwrap().contains("2 active sessions"));
    assert_eq!(
        last_event(&app, &tenant, "login.failed").await["after"]["reason"],
        "session_limit"
    );
    assert!(works(&app, &first).await && works(&app, &second).await);

    // The user ends one from the account page; the seat is free again.
    let page = page_html(&format!("{}/account", app.url), &second).await;
    let first_id = page
        .split("data-session=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let r = crate::saml::submit_form(
        &app.url,
        "/account",
        &format!("/account/sessions/{first_id}/revoke"),
        Some(&second),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!works(&app, &first).await && works(&app, &second).await);
    let third = cookie(&owner_sign_in(&app, "cap", None).await);

    // revoke_oldest: a new sign-in ends the oldest session.
    let r = put_policy(
        &app,
        &token,
        json!({"sessions": {"max_per_user": 2, "when_full": "revoke_oldest"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let fourth = cookie(&owner_sign_in(&app, "cap", None).await);
    assert!(!works(&app, &second).await, "the oldest went");
    assert!(works(&app, &third).await && works(&app, &fourth).await);
    let revoked = last_event(&app, &tenant, "session.revoked").await;
    assert_eq!(revoked["after"]["reason"], "session_limit");

    // An admin lists the user's sessions and ends one.
    let owner = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM users WHERE tenant_id = '{tenant}' AND is_owner = 1"
        ))
        .await;
    assert_eq!(owner, 1);
    let user_id = last_event(&app, &tenant, "owner.set").await["target"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .api(
            &token,
            Method::GET,
            &format!("/users/{user_id}/sessions"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let listed = r.body.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{}", r.body);
    assert_eq!(listed[0]["method"], "password");
    let id = listed[0]["id"].as_str().unwrap();
    let r = app
        .api(
            &token,
            Method::DELETE,
            &format!("/users/{user_id}/sessions/{id}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(!works(&app, &third).await && works(&app, &fourth).await);
}

#[tokio::test]
async fn tenant_lifetimes_apply_to_sessions_already_open() {
    let app = spawn_app().await;
    let (_, token) = tenant_with_owner(&app, "life").await;
    let session = cookie(&owner_sign_in(&app, "life", None).await);
    app.clock.advance(std::time::Duration::from_secs(20 * 60));
    assert!(
        works(&app, &session).await,
        "within the deployment's idle time"
    );
    let r = put_policy(&app, &token, json!({"sessions": {"absolute_minutes": 15}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!works(&app, &session).await, "ended at its next request");
    // Loosened again, a session that ended stays ended.
    let r = put_policy(&app, &token, json!({})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!works(&app, &session).await);

    let r = put_policy(&app, &token, json!({"sessions": {"idle_minutes": 5}})).await;
    assert_eq!(r.status, StatusCode::OK);
    let fresh = cookie(&owner_sign_in(&app, "life", None).await);
    app.clock.advance(std::time::Duration::from_secs(4 * 60));
    assert!(works(&app, &fresh).await);
    app.clock.advance(std::time::Duration::from_secs(4 * 60));
    assert!(
        works(&app, &fresh).await,
        "each request slides the idle time"
    );
    app.clock.advance(std::time::Duration::from_secs(6 * 60));
    assert!(!works(&app, &fresh).await, "idle for 6 minutes");
}

#[tokio::test]
async fn passwords_follow_the_tenant_rules() {
    let app = spawn_app().await;
    let (tenant, token) = tenant_with_owner(&app, "words").await;
    let set = |password: &'static str| {
        let app = &app;
        let tenant = tenant.clone();
        async move {
            app.op(
                Method::PUT,
                &format!("/tenants/{tenant}/owner"),
                Some(json!({"email": "root@words.example", "password": password})),
            )
            .await
        }
    };
    // The detail names the rule: a common password, or a word of the organisation or email.
    for (weak, why) in [
        ("password1234567890", "too easy to guess"),
        ("Words Inc words inc", r#"contains \"words\""#),
        ("r00t passphrase long enough", r#"contains \"root\""#),
    ] {
        let r = set(weak).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{weak}: {}",
            r.body
        );
        assert!(r.body.to_string().contains(why), "{weak}: {}", r.body);
    }
    assert_eq!(
        set("fourteen chars").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        set("violet staple kayak thunder").await.status,
        StatusCode::OK
    );
    let r = put_policy(
        &app,
        &token,
        json!({"passwords": {"composition": {"digit": true}, "blocked_words": ["thunder"]}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let warning = r.headers["warning"].to_str().unwrap();
    assert!(
        warning.starts_with("299 - \"passwords.composition"),
        "composition rules are allowed, with a warning: {warning}"
    );
    let r = set("violet staple kayak thunder").await;
    assert!(
        r.body.to_string().contains("must contain a digit"),
        "{}",
        r.body
    );
    let r = set("thunderthunder thunder 7").await;
    assert!(r.body.to_string().contains("thunder"), "{}", r.body);
    assert_eq!(
        set("violet staple kayak 7 pylons").await.status,
        StatusCode::OK
    );

    // Expiry: a password older than the policy allows no longer signs in.
    let r = put_policy(&app, &token, json!({"passwords": {"expiry_days": 30}})).await;
    assert_eq!(r.status, StatusCode::OK);
    app.clock
        .advance(std::time::Duration::from_secs(31 * 86_400));
    let email = "root@words.example";
    let r = submit_form_with(
        &app.url,
        "/login/password",
        "/login/password",
        None,
        &[
            ("organisation", "words"),
            ("email", email),
            ("password", "violet staple kayak 7 pylons"),
        ],
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("expired"));
    assert_eq!(
        last_event(&app, &tenant, "login.failed").await["after"]["reason"],
        "password_expired"
    );
}

#[tokio::test]
async fn after_the_grace_period_an_unenrolled_user_enrols_before_getting_a_session() {
    let app = spawn_app().await;
    let (tenant, token) = tenant_with_owner(&app, "grace").await;
    let r = put_policy(
        &app,
        &token,
        json!({"mfa": {"required": "direct", "grace_days": 3}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = owner_sign_in(&app, "grace", None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()["location"],
        "/account",
        "within the grace period"
    );
    let page = page_html(&format!("{}/account", app.url), &cookie(&r)).await;
    assert!(
        page.contains("id=\"enrol-by\""),
        "the deadline shows: {page}"
    );

    app.clock
        .advance(std::time::Duration::from_secs(3 * 86_400 + 60));
    let r = owner_sign_in(&app, "grace", None).await;
    assert_eq!(r.headers()["location"], "/login/mfa");
    let challenge = cookie(&r);
    assert!(challenge.starts_with("gatehouse_mfa="), "{challenge}");
    let page = page_html(&format!("{}/login/mfa", app.url), &challenge).await;
    assert!(page.contains("id=\"forced\""), "{page}");
    let secret = page
        .split("id=\"secret\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap()
        .to_string();
    let enrol = |code: String| {
        let (app, challenge) = (&app, challenge.clone());
        async move {
            crate::saml::submit_form(
                &app.url,
                "/login/mfa",
                "/login/mfa/enrol",
                Some(&challenge),
                &[("code", &code)],
            )
            .await
        }
    };
    let r = enrol("000000".into()).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let now = app.clock.now().as_micros() / 1_000_000;
    let r = enrol(crate::peers::pyotp_code(&secret, now)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let session = crate::saml::session_cookie(&r);
    let html = r.text().await.unwrap();
    assert_eq!(
        html.matches("<li><code>").count(),
        10,
        "recovery codes: {html}"
    );
    assert!(works(&app, &session).await);
    let events = app.audit_actions(&tenant).await;
    assert!(events.iter().any(|a| a == "mfa.enrolled"), "{events:?}");
    let ok = last_event(&app, &tenant, "login.succeeded").await;
    assert_eq!(ok["after"]["method"], "password+totp");

    // From now on the code page, as for anyone enrolled.
    let r = owner_sign_in(&app, "grace", None).await;
    assert_eq!(r.headers()["location"], "/login/mfa");
    let page = page_html(&format!("{}/login/mfa", app.url), &cookie(&r)).await;
    assert!(!page.contains("id=\"forced\""), "{page}");
}

#[tokio::test]
async fn sso_sign_ins_prove_idp_mfa_where_required_and_take_a_seat() {
    let s = crate::saml::setup("proof", json!({})).await;
    let app = &s.app;
    let email = "ada@proof.example";
    let sign_in = |authn_class: Option<&'static str>| async move {
        let (location, binding) = crate::saml::login_page(app, email).await;
        let mut who = crate::saml::user(email, &[]);
        if let Some(class) = authn_class {
            who["authn_class"] = json!(class);
        }
        let (action, fields) = crate::saml::at_idp(&location, &who).await;
        crate::saml::post_bound(&action, &fields, &binding).await
    };
    let r = put_policy(
        app,
        &s.token,
        json!({"mfa": {"required": "everyone", "require_idp_proof": [s.connection]},
               "sessions": {"max_per_user": 1, "when_full": "deny_new"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let r = sign_in(None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("data-code=\"idp_mfa_missing\""));
    let failed = last_event(app, &s.tenant, "login.failed").await;
    assert_eq!(failed["after"]["reason"], "idp_mfa_missing");

    let mfa = Some("http://schemas.microsoft.com/claims/multipleauthn");
    let first = sign_in(mfa).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let first = cookie(&first);
    let second = sign_in(mfa).await;
    assert_eq!(second.status(), StatusCode::FORBIDDEN);
    assert!(second
        .text()
        .await
        .unwrap()
        .contains("data-code=\"session_limit\""));

    let r = put_policy(
        app,
        &s.token,
        json!({"mfa": {"required": "everyone", "require_idp_proof": [s.connection]},
               "sessions": {"max_per_user": 1, "when_full": "revoke_oldest"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let second = sign_in(mfa).await;
    assert_eq!(second.status(), StatusCode::SEE_OTHER);
    assert!(!works(app, &first).await && works(app, &cookie(&second)).await);
}

#[tokio::test]
async fn parallel_sign_ins_cannot_both_take_the_last_seat() {
    let app = spawn_app().await;
    let (tenant, token) = tenant_with_owner(&app, "race").await;
    let r = put_policy(
        &app,
        &token,
        json!({"sessions": {"max_per_user": 1, "when_full": "deny_new"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let attempts = (0..6).map(|_| owner_sign_in(&app, "race", None));
    let answers = futures::future::join_all(attempts).await;
    let seated = answers
        .iter()
        .filter(|r| r.status() == StatusCode::SEE_OTHER)
        .count();
    assert_eq!(
        seated, 1,
        "exactly one of six parallel sign-ins gets the seat"
    );
    let live = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM sessions WHERE tenant_id = '{tenant}' AND revoked_at IS NULL"
        ))
        .await;
    assert_eq!(live, 1);
}

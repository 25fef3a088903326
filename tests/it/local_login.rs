//! The break-glass owner: set by the operator, signs in with a password (Argon2id) even when
//! the tenant is SSO-only; other local passwords stop working in SSO-only mode. Failures
//! give one message whatever the cause, and the audit log records the real reason.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{spawn_app, TestApp};
use crate::saml::{browser, last_event};

const PASSWORD: &str = "correct horse battery staple";

async fn set_owner(app: &TestApp, tenant: &str, email: &str) -> StatusCode {
    app.op(
        Method::PUT,
        &format!("/tenants/{tenant}/owner"),
        Some(json!({"email": email, "password": PASSWORD})),
    )
    .await
    .status
}

/// A password sign-in on the password page, as a browser makes it.
pub(crate) async fn password_login(
    app: &TestApp,
    organisation: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    password_login_with(app, organisation, email, password, &[]).await
}

/// [`password_login`] with extra request `headers` (`X-Forwarded-For`, say).
pub(crate) async fn password_login_with(
    app: &TestApp,
    organisation: &str,
    email: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    crate::saml::submit_form_with(
        &app.url,
        "/login/password",
        "/login/password",
        None,
        &[
            ("organisation", organisation),
            ("email", email),
            ("password", password),
        ],
        headers,
    )
    .await
}

#[tokio::test]
async fn the_owner_signs_in_with_a_password_and_failures_do_not_say_why() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("owned").await;
    let short = app
        .op(
            Method::PUT,
            &format!("/tenants/{tenant}/owner"),
            Some(json!({"email": "root@owned.example", "password": "short"})),
        )
        .await;
    assert_eq!(
        short.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        short.body
    );
    assert_eq!(
        set_owner(&app, &tenant, "root@owned.example").await,
        StatusCode::OK
    );
    let set = last_event(&app, &tenant, "owner.set").await;
    assert_eq!(set["after"]["email"], "root@owned.example");
    assert!(
        !set.to_string().contains(PASSWORD),
        "the password is never recorded"
    );

    // A post from another site (no CSRF cookie or token) is refused before anything else.
    let forged = browser()
        .post(format!("{}/login/password", app.url))
        .form(&[
            ("organisation", "owned"),
            ("email", "root@owned.example"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(forged.text().await.unwrap().contains("data-code=\"csrf\""));

    let wrong = password_login(
        &app,
        "owned",
        "root@owned.example",
        "not the password at all",
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong_text = wrong.text().await.unwrap();
    let huge = "p".repeat(10_000);
    let too_long = password_login(&app, "owned", "root@owned.example", &huge).await;
    assert_eq!(too_long.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        last_event(&app, &tenant, "login.failed").await["after"]["reason"],
        "wrong_password"
    );
    let unknown = password_login(&app, "owned", "nobody@owned.example", PASSWORD).await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    // The same answer for both (the pages differ only in their fresh CSRF token).
    let message = |html: &str| {
        html.split("<p id=\"error\"")
            .nth(1)
            .and_then(|rest| rest.split("</p>").next())
            .unwrap_or_default()
            .to_string()
    };
    let unknown_text = unknown.text().await.unwrap();
    assert!(!message(&wrong_text).is_empty(), "{wrong_text}");
    assert_eq!(message(&wrong_text), message(&unknown_text));
    assert_eq!(
        last_event(&app, &tenant, "login.failed").await["after"]["reason"],
        "unknown_email"
    );

    // By organisation slug, or (left empty) by the email's verified domain.
    for organisation in ["owned", ""] {
        let ok = password_login(&app, organisation, "root@owned.example", PASSWORD).await;
        assert_eq!(
            ok.status(),
            StatusCode::SEE_OTHER,
            "{}",
            ok.text().await.unwrap()
        );
        let cookie = ok.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let page = browser()
            .get(format!("{}/account", app.url))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert!(page.text().await.unwrap().contains("root@owned.example"));
    }
    let ok = last_event(&app, &tenant, "login.succeeded").await;
    assert_eq!(ok["after"]["method"], "password");
    assert_eq!(ok["after"]["owner"], true);
}

#[tokio::test]
async fn sso_only_never_locks_the_owner_out() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("strict").await;
    let (_, token) = app.tenant_token(&tenant, &["admin"]).await;
    assert_eq!(
        set_owner(&app, &tenant, "new@strict.example").await,
        StatusCode::OK
    );

    let r = app
        .api(
            &token,
            Method::PUT,
            "/policy",
            Some(json!({"sso_only": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let updated = last_event(&app, &tenant, "policy.updated").await;
    assert_eq!(updated["before"]["sso_only"], false);
    assert_eq!(updated["after"]["policy"]["sso_only"], true);
    let r = app.api(&token, Method::GET, "/policy", None).await;
    assert_eq!(r.body["sso_only"], true);

    // (Accounts other than the owner have no password yet; `sso_only` is checked for them
    // in the sign-in itself.)
    let owner = password_login(&app, "strict", "new@strict.example", PASSWORD).await;
    assert_eq!(
        owner.status(),
        StatusCode::SEE_OTHER,
        "the owner is never locked out"
    );
}

#[tokio::test]
async fn a_new_owner_takes_the_old_owners_password_and_sessions_away() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("handover").await;
    assert_eq!(
        set_owner(&app, &tenant, "first@handover.example").await,
        StatusCode::OK
    );
    let r = password_login(&app, "handover", "first@handover.example", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let old_session = crate::saml::cookie(&r);
    let account = |cookie: String| {
        let url = format!("{}/account", app.url);
        async move {
            browser()
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(account(old_session.clone()).await, StatusCode::OK);

    assert_eq!(
        set_owner(&app, &tenant, "second@handover.example").await,
        StatusCode::OK
    );
    assert_ne!(
        account(old_session).await,
        StatusCode::OK,
        "the old owner's session lives on"
    );
    let r = password_login(&app, "handover", "first@handover.example", PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the old owner's password still works"
    );
    let r = password_login(&app, "handover", "second@handover.example", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let event = last_event(&app, &tenant, "owner.set").await;
    assert_eq!(
        event["after"]["previous_owners"].as_array().map(Vec::len),
        Some(1),
        "{event}"
    );
}

#[tokio::test]
async fn password_attempts_are_limited_per_account_and_per_address() {
    let app = crate::helpers::spawn_app_with(|c| {
        c.throttle.password_per_account_per_hour = 3;
        c.throttle.per_ip_per_minute = 6;
    })
    .await;
    let tenant = app.create_tenant("limits").await;
    assert_eq!(
        set_owner(&app, &tenant, "owner@limits.example").await,
        StatusCode::OK
    );
    for _ in 0..3 {
        let r = password_login(&app, "limits", "owner@limits.example", "wrong password!").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // The account's allowance is spent: even the right password waits, with a clear 429.
    let r = password_login(&app, "limits", "owner@limits.example", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("data-code=\"rate_limited\""));
    // Other accounts from this address share its allowance (6 a minute): two more, then 429.
    for _ in 0..2 {
        let r = password_login(&app, "limits", "someone@limits.example", "x-password-x").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = password_login(&app, "limits", "other@limits.example", "x-password-x").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // The five refused attempts of two kinds wrote one event per kind; the rest are counted.
    let failed = crate::saml::events(&app, &tenant, "login.failed").await;
    assert_eq!(failed.len(), 2, "{failed:?}");
}

#[tokio::test]
async fn expired_sessions_are_purged_by_housekeeping() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("purge").await;
    assert_eq!(
        set_owner(&app, &tenant, "owner@purge.example").await,
        StatusCode::OK
    );
    let r = password_login(&app, "purge", "owner@purge.example", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let sessions = || app.scalar("SELECT COUNT(*) FROM sessions");
    assert_eq!(sessions().await, 1);
    let purge = || async {
        let mut tx = app.state.store.begin().await.unwrap();
        gatehouse::store::sso::purge_expired(&mut tx, app.clock.now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
    };
    // A live session stays…
    purge().await;
    assert_eq!(sessions().await, 1);
    // …one past its absolute timeout goes.
    app.clock.advance(std::time::Duration::from_secs(
        app.config.sessions.absolute_timeout_secs + 60,
    ));
    purge().await;
    assert_eq!(sessions().await, 0);
}

//! Local accounts: an admin invites a user by email (the link shown once and sent through the
//! outbox to a real SMTP receiver, aiosmtpd), the user sets a password checked against the
//! tenant's rules and signs in; an admin-issued reset works the same way and ends the user's
//! sessions; links work once and expire; SSO-only turns local passwords off; mail that cannot
//! be delivered is retried and shows in the destination's health.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, TestApp};
use crate::local_login::password_login;
use crate::peers::{smtp_messages, smtp_sink};
use crate::saml::{browser, cookie, last_event, submit_form};

pub(crate) const PASSWORD: &str = "lantern orchard velvet canyon";

/// Opens `link` and posts `password` on its form; returns the answer (the page's own, when
/// it has no form: the link is gone).
pub(crate) async fn set_password(app: &TestApp, link: &str, password: &str) -> reqwest::Response {
    let probe = browser().get(link).send().await.unwrap();
    if probe.status() != StatusCode::OK {
        return probe;
    }
    let page = link.strip_prefix(&app.url).expect("a link of ours");
    let token = page.split("token=").nth(1).unwrap().to_string();
    submit_form(
        &app.url,
        page,
        "/account/password",
        None,
        &[("token", &token), ("password", password)],
    )
    .await
}

pub(crate) async fn invite(app: &TestApp, token: &str, email: &str) -> crate::helpers::Resp {
    app.api(
        token,
        Method::POST,
        "/invitations",
        Some(json!({"email": email, "display_name": "New Hire"})),
    )
    .await
}

#[tokio::test]
async fn an_invited_user_sets_a_password_from_the_emailed_link_and_signs_in() {
    let (smtp_port, listing) = smtp_sink();
    let app = spawn_app_with(|c| {
        c.smtp.url = Some(format!("smtp://127.0.0.1:{smtp_port}").into());
        c.smtp.from = "Gatehouse <no-reply@gatehouse.test>".into();
    })
    .await;
    let tenant = app.create_tenant("invites").await;
    let (_, token) = app.tenant_token(&tenant, &["admin"]).await;
    let email = "new.hire@invites.example";

    let r = invite(&app, &token, "not an email").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = app
        .api(
            &token,
            Method::POST,
            "/invitations",
            Some(json!({"email": "ansi@invites.example", "display_name": "Evil\u{1b}[31m"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.body["field"], "display_name");
    let r = invite(&app, &token, email).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["emailed"], true);
    let link = r.body["link"].as_str().unwrap().to_string();
    assert!(
        link.starts_with(&format!("{}/account/password?token=", app.url)),
        "{link}"
    );
    let user = r.body["user_id"].as_str().unwrap().to_string();
    let invited = last_event(&app, &tenant, "user.invited").await;
    assert_eq!(invited["after"]["email"], email);
    let secret = link.split("token=").nth(1).unwrap();
    assert!(
        !invited.to_string().contains(secret),
        "the link is never recorded"
    );
    let view = app
        .api(&token, Method::GET, &format!("/users/{user}"), None)
        .await;
    assert_eq!(view.body["status"], "pending", "{}", view.body);
    assert_eq!(view.body["source"], "local");

    // The same link arrives by email, once, from the configured sender.
    let mail = smtp_messages(&listing, email, 1).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(
        mail[0]["body"].as_str().unwrap().contains(&link),
        "{}",
        mail[0]
    );
    assert!(mail[0]["subject"].as_str().unwrap().contains("invites Inc"));
    assert_eq!(mail[0]["mail_from"], "no-reply@gatehouse.test");

    // The password must pass the tenant's rules; the page says which failed.
    let weak = set_password(&app, &link, "invites inc 2024 rocks").await;
    assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(weak.text().await.unwrap().contains("The password contains"));
    let done = set_password(&app, &link, PASSWORD).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert_eq!(done.headers()["referrer-policy"], "no-referrer");
    assert!(done.text().await.unwrap().contains("id=\"done\""));
    let again = set_password(&app, &link, "another fine passphrase here").await;
    assert_eq!(again.status(), StatusCode::FORBIDDEN, "a link works once");
    assert!(again
        .text()
        .await
        .unwrap()
        .contains("data-code=\"link_gone\""));
    // Posted directly (a form loaded before it was spent), the spent token is refused too.
    let spent = link.split("token=").nth(1).unwrap();
    let posted = submit_form(
        &app.url,
        "/login/password",
        "/account/password",
        None,
        &[
            ("token", spent),
            ("password", "another fine passphrase here"),
        ],
    )
    .await;
    assert_eq!(posted.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        last_event(&app, &tenant, "password.set").await["after"]["link"],
        "invite"
    );

    let r = password_login(&app, "invites", email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let session = cookie(&r);
    let view = app
        .api(&token, Method::GET, &format!("/users/{user}"), None)
        .await;
    assert_eq!(view.body["status"], "active");
    let r = invite(&app, &token, email).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "already a user: {}", r.body);

    // A reset link sets a new password and ends the user's sessions.
    let r = app
        .api(
            &token,
            Method::POST,
            &format!("/users/{user}/password-reset"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let reset = r.body["link"].as_str().unwrap().to_string();
    assert_eq!(smtp_messages(&listing, email, 2).await.len(), 2);
    let new_password = "harbor quilt meadow saffron";
    assert_eq!(
        set_password(&app, &reset, new_password).await.status(),
        StatusCode::OK
    );
    let page = browser()
        .get(format!("{}/account", app.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_ne!(page.status(), StatusCode::OK, "the old session ended");
    let old = password_login(&app, "invites", email, PASSWORD).await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let new = password_login(&app, "invites", email, new_password).await;
    assert_eq!(new.status(), StatusCode::SEE_OTHER);
    let session = cookie(&new);

    // Deactivated by an admin: the session ends and the password stops working; reactivated,
    // it works again.
    let deactivate = format!("/users/{user}/deactivate");
    let r = app.api(&token, Method::POST, &deactivate, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(
        last_event(&app, &tenant, "user.deactivated").await["before"]["status"],
        "active"
    );
    let page = browser()
        .get(format!("{}/account", app.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_ne!(page.status(), StatusCode::OK);
    let refused = password_login(&app, "invites", email, new_password).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let r = app.api(&token, Method::POST, &deactivate, None).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let reactivate = format!("/users/{user}/reactivate");
    let r = app.api(&token, Method::POST, &reactivate, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let back = password_login(&app, "invites", email, new_password).await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn links_expire_are_voided_by_newer_ones_and_sso_only_turns_passwords_off() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("expiry").await;
    let (_, token) = app.tenant_token(&tenant, &["admin"]).await;
    let email = "temp@expiry.example";
    let first = invite(&app, &token, email).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["emailed"], false, "no SMTP configured");
    let first = first.body["link"].as_str().unwrap().to_string();
    app.clock
        .advance(std::time::Duration::from_secs(7 * 86_400 + 1));
    assert_eq!(
        set_password(&app, &first, PASSWORD).await.status(),
        StatusCode::FORBIDDEN,
        "expired"
    );
    let second = invite(&app, &token, email).await.body["link"]
        .as_str()
        .unwrap()
        .to_string();
    let third = invite(&app, &token, email).await.body["link"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        set_password(&app, &second, PASSWORD).await.status(),
        StatusCode::FORBIDDEN,
        "voided by the newer link"
    );
    assert_eq!(
        set_password(&app, &third, PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        password_login(&app, "expiry", email, PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );

    let r = app
        .api(
            &token,
            Method::PUT,
            "/policy",
            Some(json!({"sso_only": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = password_login(&app, "expiry", email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("single sign-on only"));
    assert_eq!(
        last_event(&app, &tenant, "login.failed").await["after"]["reason"],
        "sso_only"
    );
    let r = invite(&app, &token, "late@expiry.example").await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
}

#[tokio::test]
async fn undeliverable_mail_is_retried_and_shows_in_the_destination_health() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let app =
        spawn_app_with(|c| c.smtp.url = Some(format!("smtp://127.0.0.1:{port}").into())).await;
    let tenant = app.create_tenant("bounce").await;
    let (_, token) = app.tenant_token(&tenant, &["admin"]).await;
    let r = invite(&app, &token, "nobody@bounce.example").await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["emailed"], true);
    let mut health = Value::Null;
    for _ in 0..100 {
        health = app.op(Method::GET, "/deliveries", None).await.body;
        if health[0]["last_error"].is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(health[0]["destination"], "smtp", "{health}");
    assert_eq!(health[0]["backlog"], 1, "waiting for its retry: {health}");
    assert!(health[0]["last_success_at"].is_null(), "{health}");
    let queued = app
        .scalar("SELECT COUNT(*) FROM outbox WHERE attempts = 1 AND delivered_at IS NULL")
        .await;
    assert_eq!(queued, 1);
}

//! TOTP multi-factor sign-in. A user enrols from their account page with codes computed by
//! independent implementations (PyPI `pyotp`, Debian `oathtool`); a password sign-in then
//! asks for a code, which works once; recovery codes work once each and regenerating voids
//! the old set; wrong codes wait and then lock until an administrator unlocks; two requests
//! with the same code sign in once; the administrator lists, resets and unlocks.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with, TestApp};
use crate::peers::{oathtool_code, pyotp_code};
use crate::saml::{browser, cookie, last_event, submit_form};

const PASSWORD: &str = "correct horse battery staple";

/// A tenant `slug` with owner `root@{slug}.example`, signed in: (tenant id, session cookie).
async fn signed_in_owner(app: &TestApp, slug: &str) -> (String, String) {
    let tenant = app.create_tenant(slug).await;
    let r = app
        .op(
            Method::PUT,
            &format!("/tenants/{tenant}/owner"),
            Some(json!({"email": email(slug), "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = password(app, slug).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/account");
    (tenant, cookie(&r))
}

fn email(slug: &str) -> String {
    format!("root@{slug}.example")
}

async fn password(app: &TestApp, slug: &str) -> reqwest::Response {
    crate::local_login::password_login(app, slug, &email(slug), PASSWORD).await
}

/// The text of the element with `id` in `html`.
fn by_id(html: &str, id: &str) -> String {
    html.split(&format!("id=\"{id}\""))
        .nth(1)
        .and_then(|rest| rest.split_once('>'))
        .and_then(|(_, rest)| rest.split('<').next())
        .unwrap_or_else(|| panic!("no #{id} in {html}"))
        .to_string()
}

/// The server's clock, in Unix seconds.
fn now(app: &TestApp) -> i64 {
    app.clock.now().as_micros() / 1_000_000
}

/// Moves the clock to the first second of the next 30-second step, so the wall time that
/// passes while a test runs cannot carry a code into the next step.
fn to_next_step(app: &TestApp) {
    let into = now(app).rem_euclid(30);
    let by = u64::try_from(31 - into).unwrap_or(30);
    app.clock.advance(Duration::from_secs(by));
}

/// Enrols the signed-in `session`'s user; returns the base32 secret and the recovery codes.
async fn enrol(app: &TestApp, session: &str) -> (String, Vec<String>) {
    let r = submit_form(
        &app.url,
        "/account",
        "/account/mfa/totp",
        Some(session),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("<svg"), "the page shows a QR code: {html}");
    let secret = by_id(&html, "secret");
    assert_eq!(secret.len(), 32, "a 160-bit secret: {secret}");
    assert!(html.contains("otpauth://totp/"), "{html}");

    // A wrong first code keeps the enrolment pending and shows the same secret again.
    let r = submit_form(
        &app.url,
        "/account",
        "/account/mfa/totp/confirm",
        Some(session),
        &[("code", "000000")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(by_id(&r.text().await.unwrap(), "secret"), secret);

    let code = pyotp_code(&secret, now(app));
    let r = submit_form(
        &app.url,
        "/account",
        "/account/mfa/totp/confirm",
        Some(session),
        &[("code", &code)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    let codes: Vec<String> = html
        .split("<li><code>")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10, "{html}");
    (secret, codes)
}

/// A password sign-in that stops at the code page; returns the challenge cookie.
async fn challenge(app: &TestApp, slug: &str) -> String {
    let r = password(app, slug).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/login/mfa");
    let c = cookie(&r);
    assert!(c.starts_with("gatehouse_mfa="), "{c}");
    c
}

/// Posts `code` for `challenge` (the CSRF token comes from the password page, which is there
/// whether or not the challenge still is).
async fn code(app: &TestApp, challenge: &str, code: &str) -> reqwest::Response {
    submit_form(
        &app.url,
        "/login/password",
        "/login/mfa",
        Some(challenge),
        &[("code", code)],
    )
    .await
}

/// Six digits that are not a valid code at `at` (for this step or the one before).
fn wrong_code(secret: &str, at: i64) -> String {
    let valid = [pyotp_code(secret, at), pyotp_code(secret, at - 30)];
    (0..3)
        .map(|d| d.to_string().repeat(6))
        .find(|c| !valid.contains(c))
        .expect("two codes cannot block three candidates")
}

fn error_of(html: &str) -> String {
    by_id(html, "error")
}

#[tokio::test]
async fn a_user_enrols_with_an_authenticator_and_each_code_signs_in_once() {
    let app = spawn_app().await;
    let (tenant, session) = signed_in_owner(&app, "totp").await;
    let page = browser()
        .get(format!("{}/account", app.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("data-state=\"none\""), "{page}");

    let (secret, _codes) = enrol(&app, &session).await;
    let enrolled = last_event(&app, &tenant, "mfa.enrolled").await;
    assert_eq!(enrolled["actor"]["type"], "user");
    assert!(
        !enrolled.to_string().contains(&secret),
        "no secret in the log"
    );

    // The password alone no longer opens a session: the code page comes next.
    let pending = challenge(&app, "totp").await;
    let page = browser()
        .get(format!("{}/login/mfa", app.url))
        .header("cookie", &pending)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    // Without a challenge the code page sends the browser back to the password.
    let none = browser()
        .get(format!("{}/login/mfa", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), StatusCode::SEE_OTHER);

    // Advance a step: the confirming code's step is used up.
    to_next_step(&app);
    let at = now(&app);
    let by_oathtool = oathtool_code(&secret, at);
    assert_eq!(by_oathtool, pyotp_code(&secret, at), "two peers agree");
    let r = code(&app, &pending, &by_oathtool).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    assert_eq!(r.headers()["location"], "/account");
    let set: Vec<_> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(
        set.iter().any(|c| c.starts_with("gatehouse_session=")),
        "{set:?}"
    );
    assert!(
        set.iter().any(|c| c.starts_with("gatehouse_mfa=;")),
        "{set:?}"
    );
    let ok = last_event(&app, &tenant, "login.succeeded").await;
    assert_eq!(ok["after"]["method"], "password+totp");

    // The same code again, on a new sign-in: refused (each step once).
    let again = challenge(&app, "totp").await;
    let r = code(&app, &again, &by_oathtool).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(error_of(&r.text().await.unwrap()).contains("already used"));
    // A code for a future step never passes (t and t−1 only: the unit tests cover t−1).
    let future = pyotp_code(&secret, at + 30);
    let r = code(&app, &again, &future).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The spent challenge cannot be replayed even with a good code.
    app.clock.advance(Duration::from_secs(30));
    let good = pyotp_code(&secret, now(&app));
    let r = code(&app, &again, &good).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = code(&app, &again, &pyotp_code(&secret, now(&app) + 30)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "the challenge is spent");

    // A challenge expires after five minutes.
    let stale = challenge(&app, "totp").await;
    app.clock.advance(Duration::from_secs(301));
    let r = code(&app, &stale, &pyotp_code(&secret, now(&app))).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("data-code=\"sign_in_expired\""));
}

#[tokio::test]
async fn recovery_codes_work_once_and_new_ones_void_the_old_set() {
    let app = spawn_app().await;
    let (tenant, session) = signed_in_owner(&app, "recover").await;
    let (_, codes) = enrol(&app, &session).await;

    let pending = challenge(&app, "recover").await;
    // Typed loosely: upper case, spaces for dashes.
    let typed = codes[0].to_uppercase().replace('-', " ");
    let r = code(&app, &pending, &typed).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let session = cookie(&r);
    let used = last_event(&app, &tenant, "mfa.recovery_code_used").await;
    assert_eq!(used["after"]["recovery_codes_left"], 9);
    assert_eq!(
        last_event(&app, &tenant, "login.succeeded").await["after"]["method"],
        "password+recovery_code"
    );
    let page = browser()
        .get(format!("{}/account", app.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(by_id(&page, "recovery-left"), "9", "the user sees it");

    let again = challenge(&app, "recover").await;
    let r = code(&app, &again, &codes[0]).await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "a recovery code works once"
    );

    // New codes: the old unspent ones stop working, the new ones work.
    let r = submit_form(
        &app.url,
        "/account",
        "/account/mfa/recovery-codes",
        Some(&session),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    let fresh: Vec<String> = html
        .split("<li><code>")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().to_string())
        .collect();
    assert_eq!(fresh.len(), 10);
    assert_eq!(
        last_event(&app, &tenant, "mfa.recovery_codes_regenerated").await["actor"]["type"],
        "user"
    );
    let r = code(&app, &again, &codes[1]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the old set is void");
    let r = code(&app, &again, &fresh[0]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_same_code_in_parallel_signs_in_exactly_once() {
    let app = spawn_app().await;
    let (_, session) = signed_in_owner(&app, "race").await;
    let (secret, _) = enrol(&app, &session).await;
    app.clock.advance(Duration::from_secs(30));
    for round in 0..3 {
        let a = challenge(&app, "race").await;
        let b = challenge(&app, "race").await;
        let value = pyotp_code(&secret, now(&app));
        let (ra, rb) = tokio::join!(code(&app, &a, &value), code(&app, &b, &value));
        let wins = [ra.status(), rb.status()]
            .iter()
            .filter(|s| **s == StatusCode::SEE_OTHER)
            .count();
        assert_eq!(
            wins,
            1,
            "round {round}: {} and {}",
            ra.status(),
            rb.status()
        );
        app.clock.advance(Duration::from_secs(30));
    }
}

#[tokio::test]
async fn wrong_codes_wait_then_lock_until_an_administrator_unlocks() {
    let app = spawn_app_with(|c| c.throttle.per_ip_per_minute = 10_000).await;
    let (tenant, session) = signed_in_owner(&app, "lock").await;
    let (secret, _) = enrol(&app, &session).await;
    let (_, admin) = app.tenant_token(&tenant, &["admin"]).await;

    // Nine wrong codes at once: three are checked, the rest wait, the count stays exact.
    let pending = challenge(&app, "lock").await;
    let bad = wrong_code(&secret, now(&app));
    let attempts = (0..9).map(|_| code(&app, &pending, &bad));
    let answers = futures::future::join_all(attempts).await;
    let mut wrong = 0;
    let mut waiting = 0;
    for r in answers {
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let message = error_of(&r.text().await.unwrap());
        if message.contains("Try again in") {
            waiting += 1;
        } else {
            wrong += 1;
        }
    }
    assert_eq!((wrong, waiting), (3, 6));
    assert_eq!(
        app.scalar("SELECT failures FROM mfa_totp").await,
        3,
        "attempts are counted atomically"
    );
    // While waiting even the right code is not checked.
    let r = code(&app, &pending, &pyotp_code(&secret, now(&app))).await;
    assert!(error_of(&r.text().await.unwrap()).contains("Try again in"));

    // Growing waits, then the lock at the tenth failure.
    // (A challenge lasts five minutes: each wait outlives it, so each try signs in again.)
    for _ in 3..10 {
        app.clock.advance(Duration::from_secs(901));
        let pending = challenge(&app, "lock").await;
        let r = code(&app, &pending, &wrong_code(&secret, now(&app))).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let listed = app.api(&admin, Method::GET, "/mfa/enrolments", None).await;
    assert_eq!(listed.body[0]["state"], "locked", "{}", listed.body);
    let locked = last_event(&app, &tenant, "mfa.locked").await;
    assert_eq!(locked["after"]["failures"], 10);
    app.clock.advance(Duration::from_secs(3600));
    let pending = challenge(&app, "lock").await;
    let r = code(&app, &pending, &pyotp_code(&secret, now(&app))).await;
    assert!(
        error_of(&r.text().await.unwrap()).contains("locked"),
        "the user sees the lock"
    );

    // The administrator unlocks (audited); the right code works again.
    let user = listed.body[0]["user_id"].as_str().unwrap().to_string();
    let r = app
        .api(
            &admin,
            Method::POST,
            &format!("/users/{user}/mfa/unlock"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(
        last_event(&app, &tenant, "mfa.unlocked").await["target"]["id"],
        user
    );
    let r = code(&app, &pending, &pyotp_code(&secret, now(&app))).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app
        .api(
            &admin,
            Method::POST,
            &format!("/users/{user}/mfa/unlock"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "nothing to unlock");
}

#[tokio::test]
async fn an_administrator_lists_and_resets_with_the_right_scope() {
    let app = spawn_app().await;
    let (tenant, session) = signed_in_owner(&app, "reset").await;
    let (_, reader) = app.tenant_token(&tenant, &["tenant:read"]).await;
    let (_, writer) = app.tenant_token(&tenant, &["users:write"]).await;

    let empty = app.api(&reader, Method::GET, "/mfa/enrolments", None).await;
    assert_eq!(empty.body, json!([]));
    enrol(&app, &session).await;
    let listed = app.api(&reader, Method::GET, "/mfa/enrolments", None).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body[0]["email"], email("reset"));
    assert_eq!(listed.body[0]["state"], "enrolled");
    assert_eq!(listed.body[0]["recovery_codes_left"], 10);
    let bad = app
        .api(&reader, Method::GET, "/mfa/enrolments?limit=0", None)
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);

    let user = listed.body[0]["user_id"].as_str().unwrap().to_string();
    let path = format!("/users/{user}/mfa");
    let r = app.api(&reader, Method::DELETE, &path, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "reading is not resetting");
    let r = app.api(&writer, Method::DELETE, &path, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(
        last_event(&app, &tenant, "mfa.reset").await["target"]["id"],
        user
    );
    let r = app.api(&writer, Method::DELETE, &path, None).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = app
        .api(
            &writer,
            Method::DELETE,
            "/users/00000000-0000-0000-0000-000000000000/mfa",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // After the reset the password signs in alone, and the user can enrol again.
    let r = password(&app, "reset").await;
    assert_eq!(r.headers()["location"], "/account");
    enrol(&app, &cookie(&r)).await;
}

//! Password + TOTP sign-ins per second, end to end over HTTP on loopback, as a browser makes
//! them: the password page (CSRF cookie and token), the password (Argon2id verification on the
//! blocking pool, the policy's checks, a second-factor challenge), then the code (the atomic
//! step update, the session cap's seat, a new session and the audit event), on SQLite. Local
//! users are invited and enrol first; a user's code serves once per 30 s step, so every
//! measured sign-in is a different user, after the step their enrolment used. Run with
//! `cargo bench -p gatehouse --bench password_totp`.

mod common;

use std::sync::Arc;

use serde_json::{json, Value};
use totp_rs::Totp;

const USERS: usize = 600;
const WARMUP: usize = 100;
const CONCURRENCY: usize = 8;

/// A browser of one: a client without redirects, and the cookies it was given.
struct Browser {
    http: reqwest::Client,
    base: String,
}

/// The CSRF cookie and form token of a page of ours.
async fn csrf(b: &Browser, path: &str, cookie: &str) -> (String, String) {
    let r = b
        .http
        .get(format!("{}{path}", b.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let set = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("gatehouse_csrf="))
        .map(|v| v.split(';').next().unwrap().to_string())
        .unwrap_or_default();
    let html = r.text().await.unwrap();
    let token = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("no CSRF token on {path}: {html}"))
        .to_string();
    (set, token)
}

/// Posts `fields` to `action` with the CSRF of `page`; returns the answer.
async fn submit(
    b: &Browser,
    page: &str,
    action: &str,
    cookie: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let (csrf_cookie, token) = csrf(b, page, cookie).await;
    let mut form = fields.to_vec();
    form.push(("csrf", &token));
    let cookies = [cookie, &csrf_cookie].join("; ");
    b.http
        .post(format!("{}{action}", b.base))
        .header("cookie", cookies)
        .form(&form)
        .send()
        .await
        .unwrap()
}

fn set_cookie(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

fn email(i: usize) -> String {
    format!("user{i:04}@signin.example")
}

fn password(i: usize) -> String {
    format!("violet staple kayak {i:04} thunder")
}

/// The current code of the authenticator an `otpauth://` URI describes.
fn code(uri: &str) -> String {
    Totp::from_url_unchecked(uri)
        .expect("an otpauth URI")
        .generate_current()
        .to_string()
}

/// The password step: the challenge cookie.
async fn password_step(b: &Browser, i: usize) -> String {
    let r = submit(
        b,
        "/login/password",
        "/login/password",
        "",
        &[
            ("organisation", "signin"),
            ("email", &email(i)),
            ("password", &password(i)),
        ],
    )
    .await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    set_cookie(&r, "gatehouse_mfa")
}

/// Invites user `i`, sets its password, signs in and enrols; returns its `otpauth://` URI.
async fn prepare(b: &Browser, token: &str, i: usize) -> String {
    let invited: Value = b
        .http
        .post(format!("{}/api/v1/invitations", b.base))
        .bearer_auth(token)
        .json(&json!({"email": email(i)}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = invited["link"].as_str().expect("a link");
    let page = link.strip_prefix(&b.base).unwrap();
    let link_token = page.split("token=").nth(1).unwrap();
    let r = submit(
        b,
        page,
        "/account/password",
        "",
        &[("token", link_token), ("password", &password(i))],
    )
    .await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    // The policy requires MFA with no grace: the first sign-in enrols.
    let challenge = password_step(b, i).await;
    let html = b
        .http
        .get(format!("{}/login/mfa", b.base))
        .header("cookie", &challenge)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let secret = html
        .split("id=\"otpauth\" href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#x3D;", "=");
    let r = submit(
        b,
        "/login/mfa",
        "/login/mfa/enrol",
        &challenge,
        &[("code", &code(&secret))],
    )
    .await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    secret
}

/// One measured sign-in of user `i`: password page, password, code.
async fn sign_in(b: &Browser, secret: &str, i: usize) {
    let challenge = password_step(b, i).await;
    let r = submit(
        b,
        "/login/mfa",
        "/login/mfa",
        &challenge,
        &[("code", &code(secret))],
    )
    .await;
    assert_eq!(
        r.status(),
        reqwest::StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let server = common::Server::start(None).await;
    let b = Arc::new(Browser {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(CONCURRENCY)
            .build()
            .unwrap(),
        base: server.base.clone(),
    });
    let tenant = server.tenant(&b.http, "signin").await;
    let token = server
        .token(&b.http, tenant["id"].as_str().unwrap(), &["admin"])
        .await;
    let r = b
        .http
        .put(format!("{}/api/v1/policy", b.base))
        .bearer_auth(&token)
        .json(&json!({"mfa": {"required": "direct", "grace_days": 0},
                      "sessions": {"max_per_user": 5, "when_full": "revoke_oldest"}}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());

    let started = std::time::Instant::now();
    let mut secrets = Vec::with_capacity(USERS);
    for chunk in (0..USERS).collect::<Vec<_>>().chunks(CONCURRENCY) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|&i| {
                let (b, token) = (b.clone(), token.clone());
                tokio::spawn(async move { prepare(&b, &token, i).await })
            })
            .collect();
        for t in tasks {
            secrets.push(t.await.unwrap());
        }
    }
    println!(
        "{USERS} users invited, passwords set and authenticators enrolled in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Every enrolment spent its step: start the sign-ins in the next one.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let into_step = now.as_secs_f64() % 30.0;
    tokio::time::sleep(std::time::Duration::from_secs_f64(30.0 - into_step + 0.5)).await;

    let secrets = Arc::new(secrets);
    common::measure(
        "password + TOTP sign-in",
        common::Load {
            warmup: WARMUP,
            runs: USERS - WARMUP,
            concurrency: CONCURRENCY,
        },
        move |i| {
            let (b, secrets) = (b.clone(), secrets.clone());
            async move { sign_in(&b, &secrets[i], i).await }
        },
    )
    .await;
}

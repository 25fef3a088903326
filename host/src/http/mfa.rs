//! Two-step sign-in in the browser: the code page of a sign-in whose password passed
//! (`/login/mfa`), and a signed-in user's own enrolment (`/account/mfa/…`): a new
//! authenticator with its QR code, the first code that confirms it, and new recovery codes.
//! Every form carries a CSRF token; the code page is rate-limited per client address and per
//! challenge, on top of the code throttle in `mfa::verify`.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use secrecy::SecretString;
use serde::Deserialize;

use super::account::signed_in;
use super::csrf::Csrf;
use super::extract::{own_cookie, Ctx};
use super::pages::{expired_form, failure_page, render, secure, MfaCode, MfaCodes, MfaEnrol};
use super::sign_in_limits::over_limit;
use super::state::AppState;
use crate::mfa::challenge::{self, COOKIE};
use crate::mfa::enrol::{self, Enrollee};
use crate::sessions::browser;
use crate::sso::failure::Failure;
use crate::sso::pipeline::DEFAULT_LANDING;
use crate::store;
use crate::store::mfa_challenges::ChallengeRow;
use crate::throttle::Rate;

/// Code attempts per challenge per minute (the per-user throttle is stricter still).
const PER_CHALLENGE_PER_MINUTE: u32 = 10;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login/mfa", get(code_page).post(code_submit))
        .route("/login/mfa/enrol", post(forced_enrol_submit))
        .route("/account/mfa/totp", post(enrol_start))
        .route("/account/mfa/totp/confirm", post(enrol_confirm))
        .route("/account/mfa/recovery-codes", post(new_recovery_codes))
}

fn challenge_cookie(state: &AppState, headers: &HeaderMap) -> Option<SecretString> {
    own_cookie(headers, COOKIE, secure(state)).map(|value| SecretString::from(value.to_string()))
}

/// The challenge a code post answers, within its rate limits and with a valid CSRF token;
/// otherwise the response to give.
fn challenge_post(
    state: &AppState,
    ctx: &crate::audit::RequestContext,
    csrf: &Csrf,
    headers: &HeaderMap,
    presented: Option<&str>,
) -> Result<SecretString, Box<Response>> {
    let Some(token) = challenge_cookie(state, headers) else {
        return Err(Box::new(Redirect::to("/login/password").into_response()));
    };
    if let Some(refused) = over_limit(state, ctx, &[per_challenge(&token)]) {
        return Err(Box::new(refused));
    }
    if !csrf.verify(presented) {
        return Err(Box::new(expired_form(state, csrf)));
    }
    Ok(token)
}

/// The rate-limit key and rate of one challenge's code attempts.
fn per_challenge(token: &SecretString) -> (String, Option<Rate>) {
    use secrecy::ExposeSecret;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(token.expose_secret().as_bytes());
    let key = format!("mfa:{}", hex::encode(&digest[..12]));
    (key, Rate::per_minute(PER_CHALLENGE_PER_MINUTE))
}

/// Where each enrolment page posts its first code.
const ACCOUNT_ENROL: &str = "/account/mfa/totp/confirm";
const LOGIN_ENROL: &str = "/login/mfa/enrol";

fn code_form(state: &AppState, csrf: &Csrf, status: StatusCode, error: Option<&str>) -> Response {
    let page = MfaCode {
        csrf: csrf.token(),
        error,
    };
    csrf.apply(render(status, &page), secure(state))
}

async fn code_page(State(state): State<AppState>, csrf: Csrf, headers: HeaderMap) -> Response {
    let live = match challenge_cookie(&state, &headers) {
        Some(token) => challenge::current(&state, &token).await,
        None => Ok(None),
    };
    let challenge = match live {
        Ok(Some(c)) => c,
        Ok(None) => return Redirect::to("/login/password").into_response(),
        Err(e) => return failure_page(Failure::Internal(e)),
    };
    match challenge::required(&state, challenge.tenant_id, challenge.user_id).await {
        Ok(true) => code_form(&state, &csrf, StatusCode::OK, None),
        Ok(false) => forced_enrol_page(&state, &csrf, &challenge, StatusCode::OK, None).await,
        Err(e) => failure_page(Failure::Internal(e)),
    }
}

/// The enrolment page of a sign-in that must enrol first: the pending authenticator, or a
/// new one.
async fn forced_enrol_page(
    state: &AppState,
    csrf: &Csrf,
    c: &ChallengeRow,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let shown = async {
        let who = challenge::enrollee(state, c).await?;
        match enrol::pending(state, &who).await? {
            Some(started) => Ok(started),
            None => enrol::start(state, &who).await,
        }
    };
    match shown.await {
        Ok(started) => enrol_page(state, csrf, &started, LOGIN_ENROL, status, error),
        Err(e) => error_page(e),
    }
}

async fn forced_enrol_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    csrf: Csrf,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let token = match challenge_post(&state, &ctx, &csrf, &headers, form.csrf.as_deref()) {
        Ok(token) => token,
        Err(response) => return *response,
    };
    match challenge::complete_enrolment(&state, &token, &form.code, &ctx).await {
        Ok((set_cookie, codes)) => with_session(&state, codes_page(&codes, false), set_cookie),
        Err(crate::Error::Invalid { detail, .. }) => match challenge::current(&state, &token).await
        {
            Ok(Some(c)) => {
                let status = StatusCode::UNPROCESSABLE_ENTITY;
                forced_enrol_page(&state, &csrf, &c, status, Some(&detail)).await
            }
            Ok(None) => Redirect::to("/login/password").into_response(),
            Err(e) => failure_page(Failure::Internal(e)),
        },
        Err(e) => error_page(e),
    }
}

/// `response` with the new session's cookie, and the spent challenge's cookie cleared.
fn with_session(state: &AppState, mut response: Response, set_cookie: String) -> Response {
    let clear = browser::cookie(state, COOKIE, "", 0);
    let headers = response.headers_mut();
    for value in [set_cookie, clear] {
        if let Ok(v) = value.parse() {
            headers.append(header::SET_COOKIE, v);
        }
    }
    response
}

/// The page for an error of a sign-in's second step: an expired challenge says so.
fn error_page(e: crate::Error) -> Response {
    match e {
        crate::Error::Unauthenticated(message) => failure_page(Failure::Refused {
            code: "sign_in_expired",
            message,
            detail: None,
        }),
        other => failure_page(Failure::from(other)),
    }
}

#[derive(Deserialize)]
struct CodeForm {
    code: String,
    csrf: Option<String>,
}

async fn code_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    csrf: Csrf,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let token = match challenge_post(&state, &ctx, &csrf, &headers, form.csrf.as_deref()) {
        Ok(token) => token,
        Err(response) => return *response,
    };
    if form.code.len() > 64 {
        return code_form(
            &state,
            &csrf,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("That is not a code."),
        );
    }
    match challenge::complete(&state, &token, &form.code, &ctx).await {
        Ok(set_cookie) => {
            let mut response = Redirect::to(DEFAULT_LANDING).into_response();
            *response.status_mut() = StatusCode::SEE_OTHER;
            let mut response = with_session(&state, response, set_cookie);
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, "no-store".parse().expect("static"));
            response
        }
        Err(crate::Error::Unauthenticated(message)) if message == challenge::EXPIRED => {
            failure_page(Failure::Refused {
                code: "sign_in_expired",
                message,
                detail: None,
            })
        }
        Err(crate::Error::Unauthenticated(message)) => {
            code_form(&state, &csrf, StatusCode::UNAUTHORIZED, Some(&message))
        }
        Err(e) => failure_page(Failure::from(e)),
    }
}

/// The signed-in user posting a form with a valid CSRF token, as an enrollee (the
/// organisation's name is the app's issuer label); otherwise the response to give.
async fn enrollee(
    state: &AppState,
    csrf: &Csrf,
    presented: Option<&str>,
    headers: &HeaderMap,
) -> Result<Enrollee, Response> {
    if !csrf.verify(presented) {
        return Err(expired_form(state, csrf));
    }
    let (row, user) = signed_in(state, headers, "/account").await?;
    let issuer = match store::tenants::get(&state.store, row.tenant_id).await {
        Ok(Some(t)) => t.name,
        Ok(None) => return Err(Redirect::to("/login").into_response()),
        Err(e) => return Err(failure_page(Failure::Internal(e.into()))),
    };
    Ok(Enrollee {
        tenant: row.tenant_id,
        user: row.user_id,
        email: user.email,
        issuer,
    })
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf: Option<String>,
}

async fn enrol_start(
    State(state): State<AppState>,
    csrf: Csrf,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let who = match enrollee(&state, &csrf, form.csrf.as_deref(), &headers).await {
        Ok(who) => who,
        Err(response) => return response,
    };
    match enrol::start(&state, &who).await {
        Ok(started) => enrol_page(&state, &csrf, &started, ACCOUNT_ENROL, StatusCode::OK, None),
        Err(crate::Error::Conflict(_)) => Redirect::to("/account").into_response(),
        Err(e) => failure_page(Failure::Internal(e)),
    }
}

fn enrol_page(
    state: &AppState,
    csrf: &Csrf,
    started: &enrol::Started,
    action: &str,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let page = MfaEnrol {
        csrf: csrf.token(),
        action,
        forced: action == LOGIN_ENROL,
        secret: &started.secret,
        uri: &started.uri,
        qr_svg: &started.qr_svg,
        error,
    };
    csrf.apply(render(status, &page), secure(state))
}

#[derive(Deserialize)]
struct ConfirmForm {
    code: String,
    csrf: Option<String>,
}

async fn enrol_confirm(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    csrf: Csrf,
    headers: HeaderMap,
    Form(form): Form<ConfirmForm>,
) -> Response {
    let who = match enrollee(&state, &csrf, form.csrf.as_deref(), &headers).await {
        Ok(who) => who,
        Err(response) => return response,
    };
    match enrol::confirm(&state, &who, &form.code, &ctx).await {
        Ok(codes) => codes_page(&codes, false),
        Err(crate::Error::Invalid { detail, .. }) => {
            // The pending secret stays; show it again with the error.
            match enrol::pending(&state, &who).await {
                Ok(Some(started)) => enrol_page(
                    &state,
                    &csrf,
                    &started,
                    ACCOUNT_ENROL,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some(&detail),
                ),
                Ok(None) => Redirect::to("/account").into_response(),
                Err(e) => failure_page(Failure::Internal(e)),
            }
        }
        Err(crate::Error::Conflict(_)) => Redirect::to("/account").into_response(),
        Err(e) => failure_page(Failure::Internal(e)),
    }
}

async fn new_recovery_codes(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    csrf: Csrf,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let who = match enrollee(&state, &csrf, form.csrf.as_deref(), &headers).await {
        Ok(who) => who,
        Err(response) => return response,
    };
    match enrol::regenerate_codes(&state, &who, &ctx).await {
        Ok(codes) => codes_page(&codes, true),
        Err(crate::Error::Conflict(_)) => Redirect::to("/account").into_response(),
        Err(e) => failure_page(Failure::Internal(e)),
    }
}

fn codes_page(codes: &[String], replaced: bool) -> Response {
    render(StatusCode::OK, &MfaCodes { codes, replaced })
}

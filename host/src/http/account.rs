//! The browser's own account: password sign-in for organisation owners (`/login/password`,
//! which hands over to `/login/mfa` when the user has an authenticator), the signed-in
//! landing page (`/account`) and sign-out (`/logout`).

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use secrecy::SecretString;
use serde::Deserialize;

use super::csrf::Csrf;
use super::extract::{cookies, own_cookie, Ctx};
use super::pages::{expired_form, failure_page, render, secure, Account, Password};
use super::sign_in_limits::over_limit;
use super::state::AppState;
use crate::sessions::password::SignedIn;
use crate::sessions::{browser, manage};
use crate::sso::failure::Failure;
use crate::sso::pipeline::DEFAULT_LANDING;
use crate::store;
use crate::store::sessions::SessionRow;
use crate::store::users::UserRow;
use crate::throttle::Rate;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login/password", get(password_page).post(password_submit))
        .route("/account", get(account))
        .route("/logout", post(logout))
        .route("/account/sessions/{id}/revoke", post(revoke_session))
}

/// The session cookie's value, if the request carries one.
pub(super) fn session_cookie(state: &AppState, headers: &HeaderMap) -> Option<SecretString> {
    own_cookie(headers, browser::COOKIE, secure(state)).map(|v| SecretString::from(v.to_string()))
}

/// The setup-session cookie's value (see [`crate::sessions::setup_links`]), if the request
/// carries one.
pub(super) fn setup_cookie(state: &AppState, headers: &HeaderMap) -> Option<SecretString> {
    let name = crate::sessions::setup_links::COOKIE;
    own_cookie(headers, name, secure(state)).map(|v| SecretString::from(v.to_string()))
}

/// Whether the request carries a session or setup cookie under either name: for deciding
/// whether a form body is worth reading before the caller is checked, never for trusting it.
pub(super) fn may_be_signed_in(headers: &HeaderMap) -> bool {
    let bases = [browser::COOKIE, crate::sessions::setup_links::COOKIE];
    cookies(headers).any(|(name, _)| {
        bases
            .iter()
            .any(|b| name == *b || name.strip_prefix("__Host-") == Some(*b))
    })
}

/// The signed-in browser's session and user; otherwise the response to give instead (to
/// the sign-in page, coming back to `return_to`).
pub(super) async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    return_to: &str,
) -> Result<(SessionRow, UserRow), Response> {
    let session = match session_cookie(state, headers) {
        Some(token) => browser::current(state, &token).await,
        None => Ok(None),
    };
    let row = match session {
        Ok(Some(row)) => row,
        Ok(None) => {
            return Err(Redirect::to(&format!("/login?return_to={return_to}")).into_response())
        }
        Err(e) => return Err(failure_page(Failure::Internal(e))),
    };
    match store::user_reads::user(&state.store, row.tenant_id, row.user_id).await {
        Ok(Some(user)) => Ok((row, user)),
        Ok(None) => Err(Redirect::to("/login").into_response()),
        Err(e) => Err(failure_page(Failure::Internal(e.into()))),
    }
}

async fn account(State(state): State<AppState>, csrf: Csrf, headers: HeaderMap) -> Response {
    let (row, user) = match signed_in(&state, &headers, "/account").await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let mfa = match crate::mfa::enrol::status(&state, row.tenant_id, row.user_id).await {
        Ok(status) => status,
        Err(e) => return failure_page(Failure::Internal(e)),
    };
    let enrol_by = match crate::policy::load(&state.store, row.tenant_id).await {
        Ok(policy) if !mfa.enrolled => {
            crate::policy::admit::enrol_by(&policy, user.created_at).map(|t| t.to_rfc3339())
        }
        Ok(_) => None,
        Err(e) => return failure_page(Failure::Internal(e)),
    };
    let sessions = match manage::list(&state, row.tenant_id, row.user_id).await {
        Ok(sessions) => sessions,
        Err(e) => return failure_page(Failure::Internal(e)),
    };
    let name = user
        .display_name
        .clone()
        .unwrap_or_else(|| user.email.clone());
    let page = Account {
        csrf: csrf.token(),
        name: &name,
        email: &user.email,
        mfa,
        sessions: &sessions,
        current: row.id,
        enrol_by: enrol_by.as_deref(),
    };
    csrf.apply(render(StatusCode::OK, &page), secure(&state))
}

/// The signed-in user ends one of their other sessions.
async fn revoke_session(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    csrf: Csrf,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<LogoutForm>,
) -> Response {
    if !csrf.verify(form.csrf.as_deref()) {
        return expired_form(&state, &csrf);
    }
    let (row, user) = match signed_in(&state, &headers, "/account").await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Ok(id) = id.parse() else {
        return failure_page(Failure::NotFound);
    };
    let actor = crate::audit::Actor::user(row.user_id, &user.email);
    match manage::revoke(&state, row.tenant_id, row.user_id, id, actor, &ctx).await {
        Ok(()) => Redirect::to("/account").into_response(),
        Err(crate::Error::NotFound(_)) => failure_page(Failure::NotFound),
        Err(e) => failure_page(Failure::Internal(e)),
    }
}

#[derive(Deserialize)]
struct LogoutForm {
    csrf: Option<String>,
}

async fn logout(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    csrf: Csrf,
    headers: HeaderMap,
    form: Result<Form<LogoutForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let presented = form.ok().and_then(|Form(f)| f.csrf);
    if !csrf.verify(presented.as_deref()) {
        return expired_form(&state, &csrf);
    }
    if let Some(token) = session_cookie(&state, &headers) {
        match browser::current(&state, &token).await {
            Ok(Some(row)) => {
                if let Err(e) = browser::revoke(&state, &row, &ctx).await {
                    return failure_page(Failure::Internal(e));
                }
            }
            Ok(None) => {}
            Err(e) => return failure_page(Failure::Internal(e)),
        }
    }
    if let Some(token) = setup_cookie(&state, &headers) {
        if let Err(e) = crate::sessions::setup_links::end(&state, &token).await {
            return failure_page(Failure::Internal(e));
        }
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, browser::clear_cookie(&state)),
            (
                header::SET_COOKIE,
                crate::sessions::setup_links::clear_cookie(&state),
            ),
            (header::LOCATION, "/login".to_string()),
        ],
    )
        .into_response()
}

async fn password_page(State(state): State<AppState>, csrf: Csrf) -> Response {
    csrf.apply(
        render(
            StatusCode::OK,
            &Password {
                csrf: csrf.token(),
                error: None,
            },
        ),
        secure(&state),
    )
}

#[derive(Deserialize)]
struct PasswordForm {
    /// The organisation's slug; when empty, the email's verified domain decides.
    organisation: Option<String>,
    email: String,
    password: SecretString,
    csrf: Option<String>,
}

async fn password_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    csrf: Csrf,
    Form(form): Form<PasswordForm>,
) -> Response {
    let account = format!("password:{}", form.email.trim().to_lowercase());
    let per_account = Rate::per_hour(state.config.throttle.password_per_account_per_hour);
    if let Some(refused) = over_limit(&state, &ctx, &[(account, per_account)]) {
        return refused;
    }
    if !csrf.verify(form.csrf.as_deref()) {
        return expired_form(&state, &csrf);
    }
    let refused = |message: &str| {
        render(
            StatusCode::UNAUTHORIZED,
            &Password {
                csrf: csrf.token(),
                error: Some(message),
            },
        )
    };
    let tenant = match form
        .organisation
        .as_deref()
        .map(str::trim)
        .filter(|o| !o.is_empty())
    {
        Some(slug) => match slug.parse::<crate::types::Slug>() {
            Ok(slug) => store::tenants::find_by_slug(&state.store, &slug).await,
            Err(_) => Ok(None),
        },
        None => {
            let domain = form
                .email
                .rsplit_once('@')
                .map(|(_, d)| d.trim().to_lowercase());
            match domain {
                Some(d) => store::tenants::find_by_verified_domain(&state.store, &d).await,
                None => Ok(None),
            }
        }
    };
    let tenant = match tenant {
        Ok(found) => found,
        Err(e) => return failure_page(Failure::Internal(e.into())),
    };
    match crate::sessions::password::sign_in(
        &state,
        tenant.as_ref(),
        &form.email,
        form.password,
        &ctx,
    )
    .await
    {
        Ok(SignedIn::Session(set_cookie)) => (
            StatusCode::SEE_OTHER,
            [
                (header::SET_COOKIE, set_cookie),
                (header::LOCATION, DEFAULT_LANDING.to_string()),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
        )
            .into_response(),
        Ok(SignedIn::SecondFactor(set_cookie)) => (
            StatusCode::SEE_OTHER,
            [
                (header::SET_COOKIE, set_cookie),
                (header::LOCATION, "/login/mfa".to_string()),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
        )
            .into_response(),
        Err(crate::Error::Unauthenticated(message)) => refused(&message),
        Err(e) => failure_page(Failure::from(e)),
    }
}

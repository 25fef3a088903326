//! The page a one-time password link opens (`/account/password?token=…`): the form for the
//! new password, then a confirmation that sends the user to sign in (where MFA enrolment
//! follows if the policy requires it). Anonymous, so rate-limited per client address; the
//! token is in the URL, so the page is never cached and sends no referrer.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};
use secrecy::SecretString;
use serde::Deserialize;

use super::csrf::Csrf;
use super::extract::Ctx;
use super::pages::{expired_form, failure_page, private, render, secure, SetPassword};
use super::sign_in_limits::over_limit;
use super::state::AppState;
use crate::sessions::links::{self, GONE, PAGE};
use crate::sso::failure::Failure;

pub fn router() -> Router<AppState> {
    Router::new().route(PAGE, get(page).post(submit))
}

#[derive(Deserialize)]
struct LinkQuery {
    token: Option<String>,
}

/// The form for the link's user, or the "link gone" page.
async fn form(
    state: &AppState,
    csrf: &Csrf,
    token: &str,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let found = match links::open(state, token).await {
        Ok(found) => found,
        Err(e) => return failure_page(Failure::Internal(e)),
    };
    let Some((link, user)) = found else {
        return gone();
    };
    let min_length = match crate::policy::load(&state.store, link.tenant_id).await {
        Ok(p) => p.policy.min_password(),
        Err(e) => return failure_page(Failure::Internal(e)),
    };
    let page = SetPassword {
        csrf: csrf.token(),
        token,
        email: &user.email,
        min_length,
        error,
        done: false,
    };
    private(csrf.apply(render(status, &page), secure(state)))
}

fn gone() -> Response {
    private(failure_page(Failure::Refused {
        code: "link_gone",
        message: GONE.into(),
        detail: None,
    }))
}

async fn page(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    csrf: Csrf,
    Query(q): Query<LinkQuery>,
) -> Response {
    if let Some(refused) = over_limit(&state, &ctx, &[]) {
        return refused;
    }
    let token = q.token.unwrap_or_default();
    form(&state, &csrf, &token, StatusCode::OK, None).await
}

#[derive(Deserialize)]
struct SetForm {
    token: String,
    password: SecretString,
    csrf: Option<String>,
}

async fn submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    csrf: Csrf,
    Form(f): Form<SetForm>,
) -> Response {
    if let Some(refused) = over_limit(&state, &ctx, &[]) {
        return refused;
    }
    if !csrf.verify(f.csrf.as_deref()) {
        return expired_form(&state, &csrf);
    }
    match links::redeem(&state, &f.token, f.password, &ctx).await {
        Ok(()) => {
            let page = SetPassword {
                csrf: csrf.token(),
                token: "",
                email: "",
                min_length: 0,
                error: None,
                done: true,
            };
            private(render(StatusCode::OK, &page))
        }
        Err(crate::Error::Invalid { detail, .. }) => {
            let message = format!("The password {detail}.");
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            form(&state, &csrf, &f.token, status, Some(&message)).await
        }
        Err(crate::Error::Unauthenticated(_)) => gone(),
        Err(e) => failure_page(Failure::from(e)),
    }
}

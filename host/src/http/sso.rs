//! The browser-facing SSO routes: the login page (a work email routes to its organisation's
//! connection), each SAML connection's SP metadata and ACS, and each OIDC connection's
//! redirect URI. Failures render a plain HTML page naming the reason; the reason code is in
//! the audit log. The password sign-in, the account page and sign-out are in
//! [`super::account`].

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;

use super::csrf::Csrf;
use super::extract::{cookies, Ctx};
use super::pages::{expired_form, failure_page, render, secure, Login};
use super::sign_in_limits::{over_limit, over_limit_connection};
use super::state::AppState;
use crate::sso::callback::{self, CallbackParams};
use crate::sso::failure::Failure;
use crate::sso::pipeline::Finished;
use crate::sso::saml::metadata::sp_metadata;
use crate::sso::{acs, login_state, start};
use crate::sso::{Connection, Settings, SpEndpoints};
use crate::store::tenants::TenantRecord;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login_submit))
        .route("/sso/saml/{tenant}/{connection}/metadata", get(metadata))
        .route("/sso/saml/{tenant}/{connection}/acs", post(acs))
        .route(
            "/sso/oidc/{tenant}/{connection}/callback",
            get(oidc_callback),
        )
}

#[derive(Deserialize, Default)]
struct LoginQuery {
    return_to: Option<String>,
}

async fn login_page(
    State(state): State<AppState>,
    csrf: Csrf,
    Query(q): Query<LoginQuery>,
) -> Response {
    let return_to = login_state::safe_return_to(q.return_to.as_deref());
    csrf.apply(
        render(
            StatusCode::OK,
            &Login {
                csrf: csrf.token(),
                return_to: return_to.as_deref(),
                error: None,
            },
        ),
        secure(&state),
    )
}

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    return_to: Option<String>,
    csrf: Option<String>,
}

async fn login_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    csrf: Csrf,
    Form(form): Form<LoginForm>,
) -> Response {
    if let Some(refused) = over_limit(&state, &ctx, &[]) {
        return refused;
    }
    if !csrf.verify(form.csrf.as_deref()) {
        return expired_form(&state, &csrf);
    }
    let return_to = login_state::safe_return_to(form.return_to.as_deref());
    let routed = start::route(&state, &form.email).await;
    let (tenant, connection) = match routed {
        Ok(found) => found,
        Err(Failure::Refused { message, .. }) => {
            return render(
                StatusCode::BAD_REQUEST,
                &Login {
                    csrf: csrf.token(),
                    return_to: return_to.as_deref(),
                    error: Some(&message),
                },
            )
        }
        Err(other) => return failure_page(other),
    };
    if let Some(refused) = over_limit_connection(&state, &connection) {
        return refused;
    }
    match start::start(&state, &tenant, &connection, return_to, false).await {
        Ok(started) => {
            let mut response = Redirect::to(&started.redirect_url).into_response();
            if let Some(value) = started
                .binding_cookie
                .and_then(|c| axum::http::HeaderValue::from_str(&c).ok())
            {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            response
        }
        Err(e) => failure_page(Failure::from(e)),
    }
}

async fn metadata(
    State(state): State<AppState>,
    Path((tenant, connection)): Path<(String, String)>,
) -> Response {
    let (tenant, connection) = match start::resolve(&state, &tenant, &connection).await {
        Ok(found) => found,
        Err(f) => return failure_page(f),
    };
    let Settings::Saml(saml) = &connection.settings else {
        return failure_page(Failure::NotFound);
    };
    let sp = SpEndpoints::new(
        &state.config.public_url(),
        &tenant.public_token,
        connection.id,
    );
    (
        [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
        sp_metadata(&sp.entity_id, &sp.acs_url, saml),
    )
        .into_response()
}

#[derive(Deserialize)]
struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// The tenant and connection an IdP's answer is posted or redirected to, counted against the
/// client's, the connection's and the tenant's rates; the page to answer with otherwise.
async fn answered_at(
    state: &AppState,
    ctx: &crate::audit::RequestContext,
    tenant: &str,
    connection: &str,
) -> Result<(TenantRecord, Arc<Connection>), Response> {
    if let Some(refused) = over_limit(state, ctx, &[]) {
        return Err(refused);
    }
    let (tenant, connection) = start::resolve(state, tenant, connection)
        .await
        .map_err(failure_page)?;
    match over_limit_connection(state, &connection) {
        Some(refused) => Err(refused),
        None => Ok((tenant, connection)),
    }
}

/// The sign-in binding cookies the browser sent.
fn binding_cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    cookies(headers)
        .filter(|(name, _)| name.starts_with(login_state::BINDING_COOKIE_PREFIX))
        .take(32)
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

async fn acs(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Path((tenant, connection)): Path<(String, String)>,
    form: Result<Form<AcsForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let (tenant, connection) = match answered_at(&state, &ctx, &tenant, &connection).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let Ok(Form(form)) = form else {
        return failure_page(Failure::Refused {
            code: "malformed",
            message: "the identity provider posted no SAMLResponse".into(),
            detail: None,
        });
    };
    let finished = acs::saml_acs(
        &state,
        &tenant,
        &connection,
        &form.saml_response,
        form.relay_state.as_deref(),
        &binding_cookies(&headers),
        &ctx,
    )
    .await;
    finished_response(finished, form.relay_state.as_deref())
}

/// The browser's answer to a finished sign-in: the session cookie and a redirect (clearing
/// the binding cookie of the login state `state_id`), a test report, or the failure page.
fn finished_response(finished: Result<Finished, Failure>, state_id: Option<&str>) -> Response {
    let clear = state_id
        .filter(|r| !r.is_empty() && r.len() <= 80)
        .map(login_state::clear_binding_cookie);
    match finished {
        Ok(Finished::SignedIn {
            set_cookie,
            redirect,
        }) => {
            let mut response = (
                StatusCode::SEE_OTHER,
                [
                    (header::SET_COOKIE, set_cookie),
                    (header::LOCATION, redirect),
                    (header::CACHE_CONTROL, "no-store".to_string()),
                ],
            )
                .into_response();
            if let Some(value) = clear.and_then(|c| axum::http::HeaderValue::from_str(&c).ok()) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            response
        }
        Ok(Finished::Test(report)) => Json(report).into_response(),
        Err(f) => failure_page(f),
    }
}

async fn oidc_callback(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Path((tenant, connection)): Path<(String, String)>,
    query: Result<Query<CallbackParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (tenant, connection) = match answered_at(&state, &ctx, &tenant, &connection).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let Ok(Query(params)) = query else {
        return failure_page(Failure::Refused {
            code: "malformed",
            message: "the identity provider's answer is not a valid query string".into(),
            detail: None,
        });
    };
    let finished = callback::oidc_callback(
        &state,
        &tenant,
        &connection,
        &params,
        &binding_cookies(&headers),
        &ctx,
    )
    .await;
    finished_response(finished, params.state.as_deref())
}

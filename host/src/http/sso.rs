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
use super::pages::{expired_form, failure_page, render, secure, Choose, Login};
use super::sign_in_limits::{over_limit, over_limit_connection};
use super::state::AppState;
use crate::sso::callback::{self, CallbackParams};
use crate::sso::failure::Failure;
use crate::sso::pipeline::Finished;
use crate::sso::route::{self, Route};
use crate::sso::saml::metadata::sp_metadata;
use crate::sso::{acs, login_state, start};
use crate::sso::{start_url, Connection, ConnectionStatus, Settings, SpEndpoints};
use crate::store::tenants::TenantRecord;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login_submit))
        .route("/sso/start/{tenant}/{connection}", get(start_link))
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
    /// An address to fill in (an app's `login_hint`).
    login_hint: Option<String>,
    /// A tenant's public token: show the choice of its connections.
    tenant: Option<String>,
}

async fn login_page(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    csrf: Csrf,
    Query(q): Query<LoginQuery>,
) -> Response {
    let return_to = login_state::safe_return_to(q.return_to.as_deref());
    if let Some(token) = q.tenant.as_deref() {
        if let Some(refused) = over_limit(&state, &ctx, &[]) {
            return refused;
        }
        return match start::resolve_tenant(&state, token).await {
            Ok(tenant) => match route::enabled_connections(&state, &tenant).await {
                Ok(enabled) if !enabled.is_empty() => {
                    choose_page(&tenant, &enabled, return_to.as_deref())
                }
                Ok(_) => failure_page(Failure::NotFound),
                Err(e) => failure_page(Failure::from(e)),
            },
            Err(f) => failure_page(f),
        };
    }
    let email = q.login_hint.filter(|h| h.len() <= route::MAX_HINT);
    csrf.apply(
        render(
            StatusCode::OK,
            &Login {
                csrf: csrf.token(),
                return_to: return_to.as_deref(),
                email: email.as_deref(),
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
    match route::by_email(&state, &form.email).await {
        Ok(Route::Start(tenant, connection)) => {
            go_to_idp(&state, &tenant, &connection, return_to, Some(&form.email)).await
        }
        Ok(Route::Choose(tenant, enabled)) => choose_page(&tenant, &enabled, return_to.as_deref()),
        Ok(Route::Ask { .. }) => failure_page(Failure::NotFound),
        Err(Failure::Refused { message, .. }) => render(
            StatusCode::BAD_REQUEST,
            &Login {
                csrf: csrf.token(),
                return_to: return_to.as_deref(),
                email: Some(&form.email),
                error: Some(&message),
            },
        ),
        Err(other) => failure_page(other),
    }
}

/// Starts a sign-in at `connection` (counted against its rates) and sends the browser to the
/// IdP, bound to this browser by a cookie.
pub(super) async fn go_to_idp(
    state: &AppState,
    tenant: &TenantRecord,
    connection: &Connection,
    return_to: Option<String>,
    login_hint: Option<&str>,
) -> Response {
    if let Some(refused) = over_limit_connection(state, connection) {
        return refused;
    }
    match start::start(state, tenant, connection, return_to, login_hint, false).await {
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

/// The page to choose one of a tenant's enabled connections: each is its start link, coming
/// back to `return_to`.
fn choose_page(tenant: &TenantRecord, enabled: &[Connection], return_to: Option<&str>) -> Response {
    let choices = enabled
        .iter()
        .map(|c| {
            let path = start_url("", &tenant.public_token, c.id);
            let href = match return_to {
                Some(back) => {
                    let query: String = url::form_urlencoded::Serializer::new(String::new())
                        .append_pair("return_to", back)
                        .finish();
                    format!("{path}?{query}")
                }
                None => path,
            };
            (c.name.as_str(), href)
        })
        .collect();
    render(
        StatusCode::OK,
        &Choose {
            tenant: &tenant.name,
            choices,
        },
    )
}

#[derive(Deserialize, Default)]
struct StartQuery {
    return_to: Option<String>,
}

/// `GET /sso/start/{tenant}/{connection}`: a "Sign in with …" link. Only an enabled
/// connection of an active tenant starts; anything else is not found.
async fn start_link(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    Path((tenant, connection)): Path<(String, String)>,
    Query(q): Query<StartQuery>,
) -> Response {
    if let Some(refused) = over_limit(&state, &ctx, &[]) {
        return refused;
    }
    let (tenant, connection) = match start::resolve(&state, &tenant, &connection).await {
        Ok(found) => found,
        Err(f) => return failure_page(f),
    };
    if connection.status != ConnectionStatus::Enabled {
        return failure_page(Failure::NotFound);
    }
    let return_to = login_state::safe_return_to(q.return_to.as_deref());
    go_to_idp(&state, &tenant, &connection, return_to, None).await
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
    finished_response(finished, form.relay_state.as_deref(), &headers)
}

/// The browser's answer to a finished sign-in: the session cookie and a redirect (clearing
/// the binding cookie of the login state `state_id`), a test report (a page for a browser,
/// JSON for a client that does not ask for HTML), or the failure page.
fn finished_response(
    finished: Result<Finished, Failure>,
    state_id: Option<&str>,
    headers: &HeaderMap,
) -> Response {
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
        Ok(Finished::Test(report)) if wants_html(headers) => super::pages::test_report(&report),
        Ok(Finished::Test(report)) => Json(report).into_response(),
        Err(f) => failure_page(f),
    }
}

/// A browser navigating: its `Accept` names HTML.
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"))
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
    finished_response(finished, params.state.as_deref(), &headers)
}

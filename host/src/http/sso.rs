//! The browser-facing sign-in routes: the login page (a work email routes to its
//! organisation's connection), each SAML connection's SP metadata and ACS, each OIDC
//! connection's redirect URI, the signed-in landing page and sign-out. Failures render a plain HTML page naming the reason; the
//! reason code is in the audit log.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use secrecy::SecretString;
use serde::Deserialize;

use super::csrf::Csrf;
use super::extract::{cookies, Ctx};
use super::pages::{render, Account, Login, Notice, Password};
use super::state::AppState;
use crate::sessions::browser;
use crate::sso::callback::{self, CallbackParams};
use crate::sso::failure::Failure;
use crate::sso::pipeline::{Finished, DEFAULT_LANDING};
use crate::sso::saml::metadata::sp_metadata;
use crate::sso::{acs, login_state, start};
use crate::sso::{Connection, Settings, SpEndpoints};
use crate::store;
use crate::store::tenants::TenantRecord;
use crate::throttle::{Limited, Rate};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login_submit))
        .route("/login/password", get(password_page).post(password_submit))
        .route("/sso/saml/{tenant}/{connection}/metadata", get(metadata))
        .route("/sso/saml/{tenant}/{connection}/acs", post(acs))
        .route(
            "/sso/oidc/{tenant}/{connection}/callback",
            get(oidc_callback),
        )
        .route("/account", get(account))
        .route("/logout", post(logout))
}

fn failure_page(failure: Failure) -> Response {
    match failure {
        Failure::NotFound => notice(
            StatusCode::NOT_FOUND,
            "Not found",
            None,
            "No such sign-in endpoint.",
        ),
        Failure::Refused { code, message, .. } => render(
            StatusCode::FORBIDDEN,
            &Notice {
                title: "Sign-in refused",
                code: Some(code),
                message: &message,
                try_again: true,
            },
        ),
        Failure::Internal(e) => {
            tracing::error!(error = ?e, "sign-in failed");
            notice(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                None,
                "Sign-in failed on our side; try again later.",
            )
        }
    }
}

/// A one-message page.
fn notice(status: StatusCode, title: &str, code: Option<&str>, message: &str) -> Response {
    render(
        status,
        &Notice {
            title,
            code,
            message,
            try_again: false,
        },
    )
}

/// Counts an anonymous sign-in request against its client IP's rate and the `more` keys
/// given; the 429 page when any of them is over its rate.
fn over_limit(
    state: &AppState,
    ctx: &crate::audit::RequestContext,
    more: &[(String, Option<Rate>)],
) -> Option<Response> {
    let ip = format!("ip:{}", ctx.ip.as_deref().unwrap_or("unknown"));
    let per_ip = Rate::per_minute(state.config.throttle.per_ip_per_minute);
    std::iter::once((ip, per_ip))
        .chain(more.iter().cloned())
        .find_map(|(key, rate)| state.throttle.check(&state.clock, &key, rate).err())
        .map(too_many)
}

fn too_many(limited: Limited) -> Response {
    let secs = limited.retry_after_secs();
    let mut response = notice(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        Some("rate_limited"),
        &format!("Too many sign-in attempts. Try again in {secs} seconds."),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
    response
}

/// Counts a sign-in started at, or answered to, `connection` against its own and its
/// tenant's rate.
fn over_limit_connection(
    state: &AppState,
    connection: &crate::sso::Connection,
) -> Option<Response> {
    let limits = &state.config.throttle;
    [
        (
            format!("tenant:{}", connection.tenant_id),
            Rate::per_minute(limits.per_tenant_per_minute),
        ),
        (
            format!("connection:{}", connection.id),
            Rate::per_minute(limits.per_connection_per_minute),
        ),
    ]
    .into_iter()
    .find_map(|(key, rate)| state.throttle.check(&state.clock, &key, rate).err())
    .map(too_many)
}

#[derive(Deserialize, Default)]
struct LoginQuery {
    return_to: Option<String>,
}

fn secure(state: &AppState) -> bool {
    state.config.is_https()
}

fn expired_form(state: &AppState, csrf: &Csrf) -> Response {
    csrf.apply(
        notice(
            StatusCode::FORBIDDEN,
            "Form expired",
            Some("csrf"),
            "This form was not sent from this site, or it expired. Go back, reload and try again.",
        ),
        secure(state),
    )
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

/// The session cookie's value, if the request carries one.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<SecretString> {
    cookies(headers)
        .find(|(name, _)| *name == browser::COOKIE)
        .map(|(_, value)| SecretString::from(value.to_string()))
}

async fn account(State(state): State<AppState>, csrf: Csrf, headers: HeaderMap) -> Response {
    let session = match session_cookie(&headers) {
        Some(token) => browser::current(&state, &token).await,
        None => Ok(None),
    };
    let row = match session {
        Ok(Some(row)) => row,
        Ok(None) => return Redirect::to("/login?return_to=/account").into_response(),
        Err(e) => return failure_page(Failure::Internal(e)),
    };
    let user = match store::user_reads::user(&state.store, row.tenant_id, row.user_id).await {
        Ok(Some(user)) => user,
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(e) => return failure_page(Failure::Internal(e.into())),
    };
    let name = user
        .display_name
        .clone()
        .unwrap_or_else(|| user.email.clone());
    let page = Account {
        csrf: csrf.token(),
        name: &name,
        email: &user.email,
    };
    csrf.apply(render(StatusCode::OK, &page), secure(&state))
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
    if let Some(token) = session_cookie(&headers) {
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
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, browser::clear_cookie(&state)),
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
        Ok(set_cookie) => (
            StatusCode::SEE_OTHER,
            [
                (header::SET_COOKIE, set_cookie),
                (header::LOCATION, DEFAULT_LANDING.to_string()),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
        )
            .into_response(),
        Err(crate::Error::Unauthenticated(message)) => refused(&message),
        Err(e) => failure_page(Failure::Internal(e)),
    }
}

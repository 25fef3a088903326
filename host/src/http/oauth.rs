//! Gatehouse as OIDC provider, over HTTP: discovery, JWKS, authorize, token, userinfo,
//! revocation, introspection and logout for the SaaS app, opening an app for a signed-in
//! user (`/oauth2/launch/{app}`, login initiated by a third party), and the operator's app
//! registration and key rotation. Errors on the token, revocation, introspection and
//! userinfo endpoints are in OAuth form (`{error, error_description}`), with
//! `WWW-Authenticate` where RFC 6749 / RFC 6750 ask for it.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::account::session_cookie;
use super::csrf::Csrf;
use super::error::ApiError;
use super::extract::{ApiJson, Ctx};
use super::pages::{render, LogoutConfirm};
use super::require::Require;
use super::sign_in_limits::over_limit;
use super::sso::go_to_idp;
use super::state::AppState;
use crate::provider::clients::{self, ClientView, RegisterClient};
use crate::provider::flow::{self, Authorize, AuthorizeParams, LogoutParams};
use crate::provider::revocation::{self, TokenForm};
use crate::provider::tokens::{self, TokenParams};
use crate::provider::{self, keys, OAuthError, OAuthErrorBody};
use crate::rbac::OperateInstance;
use crate::sessions::browser;
use crate::sso::login_state::safe_return_to;
use crate::sso::route::Route;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/oauth2/jwks", get(jwks))
        .route("/oauth2/authorize", get(authorize))
        .route("/oauth2/token", post(token))
        .route("/oauth2/revoke", post(revoke))
        .route("/oauth2/introspect", post(introspect))
        .route("/oauth2/userinfo", get(userinfo).post(userinfo))
        .route("/oauth2/logout", get(logout).post(logout_confirmed))
        .route("/oauth2/launch/{app}", get(launch))
}

/// Sends the signed-in browser to the app's `initiate_login_uri` (with `iss` and the user's
/// email as `login_hint`), so that the app starts its sign-in; a browser that is not signed
/// in signs in first and comes back. 404 for an app that cannot be opened this way.
async fn launch(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(app): Path<String>,
) -> Response {
    let app: String = app
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(100)
        .collect();
    let here = format!("/oauth2/launch/{app}");
    let (_, user) = match super::account::signed_in(&state, &headers, &here).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    match clients::launch_url(&state, &app, &user.email).await {
        Ok(Some(url)) => Redirect::to(&url).into_response(),
        Ok(None) => super::pages::failure_page(crate::sso::failure::Failure::NotFound),
        Err(e) => super::pages::failure_page(crate::sso::failure::Failure::Internal(e)),
    }
}

pub fn operator_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register_app, list_apps))
        .routes(routes!(revoke_app))
        .routes(routes!(app_deliveries))
        .routes(routes!(rotate_key))
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let body = Json(OAuthErrorBody {
            error: self.error,
            error_description: &self.description,
        });
        let mut response = (status, [(header::CACHE_CONTROL, "no-store")], body).into_response();
        let challenge = match self.error {
            _ if self.challenge.is_some() => self.challenge.clone(),
            "invalid_client" => Some("Basic realm=\"gatehouse\"".to_string()),
            "invalid_token" => Some(format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                self.description.replace('"', "'")
            )),
            _ => None,
        };
        if let Some(value) = challenge.and_then(|c| c.parse().ok()) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

async fn discovery(State(state): State<AppState>) -> Response {
    Json(provider::discovery(&state.config.public_url())).into_response()
}

async fn jwks(State(state): State<AppState>) -> Result<Response, OAuthError> {
    let doc = keys::jwks(&state).await?;
    Ok(([(header::CACHE_CONTROL, "max-age=300")], Json(doc)).into_response())
}

async fn current_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<crate::store::sessions::SessionRow>, OAuthError> {
    match session_cookie(state, headers) {
        Some(token) => Ok(browser::current(state, &token).await?),
        None => Ok(None),
    }
}

async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Ctx(ctx): Ctx,
    Query(params): Query<AuthorizeParams>,
) -> Result<Response, OAuthError> {
    let session = current_session(&state, &headers).await?;
    Ok(
        match flow::authorize(&state, &params, session.as_ref(), &ctx).await? {
            Authorize::Redirect(url) => Redirect::to(&url).into_response(),
            Authorize::SignIn(route) => {
                let back = uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/oauth2/authorize");
                // Only a well-formed email goes on to the IdP.
                let hint = params.hints().email().map(|e| e.to_string());
                sign_in(&state, &ctx, *route, back, hint.as_deref()).await
            }
            Authorize::Show(e) => e.into_response(),
        },
    )
}

/// Where an authorization request without a (fitting) session goes: straight to the IdP the
/// hints decide, to the choice of the tenant's connections, or to the email page; each comes
/// back to the request (`back`) once signed in.
async fn sign_in(
    state: &AppState,
    ctx: &crate::audit::RequestContext,
    route: Route,
    back: &str,
    login_hint: Option<&str>,
) -> Response {
    let mut login = url::Url::parse("http://x/login").expect("static URL");
    login.query_pairs_mut().append_pair("return_to", back);
    match route {
        Route::Start(tenant, connection) => {
            if let Some(refused) = over_limit(state, ctx, &[]) {
                return refused;
            }
            let back = safe_return_to(Some(back));
            return go_to_idp(state, &tenant, &connection, back, login_hint).await;
        }
        Route::Choose(tenant, _) => {
            login
                .query_pairs_mut()
                .append_pair("tenant", &tenant.public_token);
        }
        Route::Ask { email: Some(email) } => {
            login.query_pairs_mut().append_pair("login_hint", &email);
        }
        Route::Ask { email: None } => {}
    }
    let target = format!("/login?{}", login.query().unwrap_or_default());
    Redirect::to(&target).into_response()
}

/// Client credentials from `Authorization: Basic` (RFC 6749 §2.3.1: form-encoded parts).
pub(super) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

/// A form body, or the OAuth error that says how to send one.
fn form_of<T>(
    form: Result<Form<T>, axum::extract::rejection::FormRejection>,
) -> Result<T, OAuthError> {
    form.map(|Form(f)| f).map_err(|_| {
        OAuthError::invalid_request("send the parameters as application/x-www-form-urlencoded")
    })
}

async fn token(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    form: Result<Form<TokenParams>, axum::extract::rejection::FormRejection>,
) -> Result<Response, OAuthError> {
    let params = form_of(form)?;
    let no_store = [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ];
    // Client credentials are for tenants' SCIM clients only (apps act for a signed-in user).
    if params.grant_type.as_deref() == Some("client_credentials") {
        let credentials = tokens::credentials_of(basic_credentials(&headers), &params);
        let issued =
            crate::sessions::scim_clients::issue(&state, credentials, params.scope.as_deref())
                .await?;
        return Ok((no_store, Json(issued)).into_response());
    }
    let dpop = headers
        .get(crate::provider::dpop::HEADER)
        .and_then(|v| v.to_str().ok());
    let tokens = tokens::token(&state, &ctx, basic_credentials(&headers), params, dpop).await?;
    Ok((no_store, Json(tokens)).into_response())
}

async fn userinfo(
    State(state): State<AppState>,
    method: axum::http::Method,
    headers: HeaderMap,
) -> Result<Response, OAuthError> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let claims = tokens::userinfo(
        &state,
        text(header::AUTHORIZATION.as_str()),
        text(crate::provider::dpop::HEADER),
        method.as_str(),
    )
    .await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(claims)).into_response())
}

/// RFC 7009: 200 with an empty body whether or not the token was known.
async fn revoke(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, OAuthError> {
    let form = form_of(form)?;
    revocation::revoke(&state, &ctx, basic_credentials(&headers), form).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], "").into_response())
}

async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, OAuthError> {
    let form = form_of(form)?;
    let answer = revocation::introspect(&state, basic_credentials(&headers), form).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(answer)).into_response())
}

/// RP-initiated logout. With an ID token hint for the browser's own session, the user is
/// signed out at once; otherwise (a bare link any site could embed) Gatehouse asks first.
async fn logout(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    csrf: Csrf,
    headers: HeaderMap,
    Query(params): Query<LogoutParams>,
) -> Result<Response, OAuthError> {
    let target = flow::logout_target(&state, &params).await?;
    let Some(row) = current_session(&state, &headers).await? else {
        return Ok(signed_out(&state, target.redirect));
    };
    if target.hinted_session.as_deref() == Some(row.id.to_string().as_str()) {
        browser::revoke(&state, &row, &ctx).await?;
        return Ok(signed_out(&state, target.redirect));
    }
    let hidden = [
        ("client_id", &params.client_id),
        ("post_logout_redirect_uri", &params.post_logout_redirect_uri),
        ("state", &params.state),
        ("id_token_hint", &params.id_token_hint),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.as_deref().map(|v| (name, v)))
    .collect();
    let page = LogoutConfirm {
        csrf: csrf.token(),
        hidden,
    };
    Ok(csrf.apply(render(StatusCode::OK, &page), state.config.is_https()))
}

/// The confirmation form of [`logout`].
async fn logout_confirmed(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    csrf: Csrf,
    headers: HeaderMap,
    Form(params): Form<LogoutParams>,
) -> Result<Response, OAuthError> {
    if !csrf.verify(params.csrf.as_deref()) {
        return Err(OAuthError::invalid_request(
            "the sign-out form expired or was not sent from this site",
        ));
    }
    let target = flow::logout_target(&state, &params).await?;
    if let Some(row) = current_session(&state, &headers).await? {
        browser::revoke(&state, &row, &ctx).await?;
    }
    Ok(signed_out(&state, target.redirect))
}

fn signed_out(state: &AppState, redirect: Option<String>) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, browser::clear_cookie(state)),
            (
                header::LOCATION,
                redirect.unwrap_or_else(|| "/login".to_string()),
            ),
        ],
    )
        .into_response()
}

/// The registered apps.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct AppList {
    apps: Vec<ClientView>,
}

/// Registers an app (an OAuth client of Gatehouse as OIDC provider); its secrets, if any,
/// are shown only now.
#[utoipa::path(post, path = "/apps", tag = "operator", operation_id = "register_app",
    request_body = RegisterClient, responses((status = 201, body = ClientView)))]
async fn register_app(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<RegisterClient>,
) -> Result<(StatusCode, Json<ClientView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(clients::register(&state, &auth, &ctx, body).await?),
    ))
}

/// Lists the registered apps (revoked ones included), without secrets.
#[utoipa::path(get, path = "/apps", tag = "operator", operation_id = "list_apps",
    responses((status = 200, body = AppList)))]
async fn list_apps(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
) -> Result<Json<AppList>, ApiError> {
    Ok(Json(AppList {
        apps: clients::list(&state, &auth).await?,
    }))
}

/// Revokes a registered app.
#[utoipa::path(delete, path = "/apps/{id}", tag = "operator", operation_id = "revoke_app",
    params(("id" = String, Path, description = "The app's client id")),
    responses((status = 204)))]
async fn revoke_app(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    clients::revoke(&state, &auth, &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An app's webhook deliveries, newest first.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = AppDeliveries)]
struct Deliveries {
    deliveries: Vec<crate::store::outbox::Delivery>,
}

/// The app's webhook delivery log, newest first.
#[utoipa::path(get, path = "/apps/{id}/deliveries", tag = "operator",
    operation_id = "list_app_deliveries",
    params(("id" = String, Path, description = "The app's client id")),
    responses((status = 200, body = Deliveries)))]
async fn app_deliveries(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
    Path(id): Path<String>,
) -> Result<Json<Deliveries>, ApiError> {
    Ok(Json(Deliveries {
        deliveries: clients::deliveries(&state, &auth, &id).await?,
    }))
}

/// The new signing key.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = RotatedSigningKey)]
struct Rotated {
    /// The key id (`kid`) the tokens signed from now on carry.
    kid: String,
}

/// Makes a new signing key for the tokens Gatehouse issues and retires the current one.
#[utoipa::path(post, path = "/signing-keys/rotate", tag = "operator",
    operation_id = "rotate_signing_key", responses((status = 200, body = Rotated)))]
async fn rotate_key(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
) -> Result<Json<Rotated>, ApiError> {
    Ok(Json(Rotated {
        kid: keys::rotate(&state, &auth).await?,
    }))
}

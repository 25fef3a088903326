//! SSO connection routes for tenant admins (`/api/v1/sso/connections`): create, list, get,
//! update, delete, start a test sign-in (which returns the IdP URL to open), manage SP
//! encryption keys; and the tenant's sign-in policy (`/api/v1/policy`, SSO-only).

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

use super::error::ApiError;
use super::extract::{path_param, ApiJson, Ctx};
use super::require::Require;
use super::state::AppState;
use crate::policy::{self, Policy};
use crate::rbac::{ReadPolicy, ReadSso, WritePolicy, WriteSso};
use crate::sso::connection_view::ConnectionView;
use crate::sso::connections::{self, CreateConnection, UpdateConnection};
use crate::sso::start;
use crate::store;
use crate::types::ConnectionId;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sso/connections", get(list).post(create))
        .route(
            "/sso/connections/{id}",
            get(get_one).patch(update).delete(delete),
        )
        .route("/sso/connections/{id}/test", post(test))
        .route("/policy", get(get_policy).put(put_policy))
        .route("/policy/presets/{name}", post(apply_preset))
        .route("/sso/connections/{id}/encryption-keys", post(add_key))
        .route(
            "/sso/connections/{id}/encryption-keys/{key}",
            axum::routing::delete(remove_key),
        )
}

#[derive(Serialize)]
struct ConnectionList {
    connections: Vec<ConnectionView>,
}

async fn create(
    State(state): State<AppState>,
    Require(auth): Require<WriteSso>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<CreateConnection>,
) -> Result<(StatusCode, Json<ConnectionView>), ApiError> {
    let view = connections::create(&state, &auth, &ctx, body).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn list(
    State(state): State<AppState>,
    Require(auth): Require<ReadSso>,
) -> Result<Json<ConnectionList>, ApiError> {
    Ok(Json(ConnectionList {
        connections: connections::list(&state, &auth).await?,
    }))
}

async fn get_one(
    State(state): State<AppState>,
    Require(auth): Require<ReadSso>,
    Path(id): Path<String>,
) -> Result<Json<ConnectionView>, ApiError> {
    let id: ConnectionId = path_param(&id)?;
    Ok(Json(connections::get(&state, &auth, id).await?))
}

async fn update(
    State(state): State<AppState>,
    Require(auth): Require<WriteSso>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateConnection>,
) -> Result<Json<ConnectionView>, ApiError> {
    let id: ConnectionId = path_param(&id)?;
    Ok(Json(
        connections::update(&state, &auth, &ctx, id, body).await?,
    ))
}

async fn delete(
    State(state): State<AppState>,
    Require(auth): Require<WriteSso>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: ConnectionId = path_param(&id)?;
    connections::delete(&state, &auth, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
struct TestStarted {
    /// Open this in a browser to sign in at the IdP; the ACS then shows the report.
    redirect_url: String,
}

async fn test(
    State(state): State<AppState>,
    Require(auth): Require<WriteSso>,
    Path(id): Path<String>,
) -> Result<Json<TestStarted>, ApiError> {
    let id: ConnectionId = path_param(&id)?;
    let connection = connections::load(&state, auth.tenant(), id).await?;
    let tenant = store::tenants::get(&state.store, auth.tenant())
        .await
        .map_err(crate::Error::from)?
        .ok_or(crate::Error::NotFound("tenant"))?;
    let started = start::start(&state, &tenant, &connection, None, None, true).await?;
    Ok(Json(TestStarted {
        redirect_url: started.redirect_url,
    }))
}

async fn add_key(
    State(state): State<AppState>,
    Require(auth): Require<WriteSso>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<ConnectionView>), ApiError> {
    let id: ConnectionId = path_param(&id)?;
    let view = connections::change_key(&state, &auth, &ctx, id, None).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn remove_key(
    State(state): State<AppState>,
    Require(auth): Require<WriteSso>,
    Ctx(ctx): Ctx,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<ConnectionView>, ApiError> {
    let id: ConnectionId = path_param(&id)?;
    Ok(Json(
        connections::change_key(&state, &auth, &ctx, id, Some(&key)).await?,
    ))
}

/// The operator's door to a tenant's policy (to undo a lock-out, say): the same handlers.
pub fn operator_policy_router() -> Router<AppState> {
    Router::new()
        .route("/tenants/{tenant}/policy", get(get_policy).put(put_policy))
        .route(
            "/tenants/{tenant}/policy/presets/{name}",
            post(apply_preset),
        )
}

async fn get_policy(
    State(state): State<AppState>,
    Require(auth): Require<ReadPolicy>,
) -> Result<Json<Policy>, ApiError> {
    Ok(Json(policy::get(&state, &auth).await?))
}

/// `?confirm_lockout=true` saves an allow-list that leaves out the caller's own address.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PolicyQuery {
    #[serde(default)]
    confirm_lockout: bool,
}

async fn put_policy(
    State(state): State<AppState>,
    Require(auth): Require<WritePolicy>,
    Ctx(ctx): Ctx,
    Query(q): Query<PolicyQuery>,
    ApiJson(body): ApiJson<Policy>,
) -> Result<Response, ApiError> {
    let saved = policy::set(&state, &auth, &ctx, body, q.confirm_lockout).await?;
    Ok(with_warnings(saved))
}

/// The saved policy, with a `Warning: 299` header (as Kubernetes gives them) for each choice
/// that is allowed but weakens it.
fn with_warnings(saved: Policy) -> Response {
    let warnings: Vec<HeaderValue> = saved
        .warnings()
        .into_iter()
        .filter_map(|w| HeaderValue::from_str(&format!("299 - \"{w}\"")).ok())
        .collect();
    let mut response = Json(saved).into_response();
    for w in warnings {
        response.headers_mut().append(header::WARNING, w);
    }
    response
}

async fn apply_preset(
    State(state): State<AppState>,
    Require(auth): Require<WritePolicy>,
    Ctx(ctx): Ctx,
    Path(name): Path<String>,
) -> Result<Json<Policy>, ApiError> {
    Ok(Json(
        policy::apply_preset(&state, &auth, &ctx, &name).await?,
    ))
}

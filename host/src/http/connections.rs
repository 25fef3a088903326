//! SSO connection routes for tenant admins (`/api/v1/sso/connections`): create, list, get,
//! update, delete, start a test sign-in (which returns the IdP URL to open), manage SP
//! encryption keys, refresh IdP metadata from its URL; and the tenant's sign-in policy (`/api/v1/policy`, SSO-only).

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{path_param, ApiJson, Ctx};
use super::require::Require;
use super::state::AppState;
use crate::policy::{self, Policy};
use crate::rbac::{ReadPolicy, ReadSso, WritePolicy, WriteSso};
use crate::sso::connection_view::ConnectionView;
use crate::sso::connections::{self, CreateConnection, UpdateConnection};
use crate::sso::start;
use crate::types::ConnectionId;

/// The preset names.
const PRESET: &str = "The preset: `government-cui` or `enterprise`";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(test))
        .routes(routes!(get_policy, put_policy))
        .routes(routes!(apply_preset))
        .routes(routes!(add_key))
        .routes(routes!(remove_key))
        .routes(routes!(refresh_metadata))
}

/// The tenant's SSO connections.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = SsoConnectionList)]
struct ConnectionList {
    connections: Vec<ConnectionView>,
}

/// Creates an SSO connection (SAML or OIDC); it serves only test sign-ins until enabled.
#[utoipa::path(post, path = "/sso/connections", tag = "connections",
    operation_id = "create_sso_connection", request_body = CreateConnection,
    responses((status = 201, body = ConnectionView)))]
async fn create(
    State(state): State<AppState>,
    Require(auth): Require<WriteSso>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<CreateConnection>,
) -> Result<(StatusCode, Json<ConnectionView>), ApiError> {
    let view = connections::create(&state, &auth, &ctx, body).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Lists the tenant's SSO connections.
#[utoipa::path(get, path = "/sso/connections", tag = "connections",
    operation_id = "list_sso_connections", responses((status = 200, body = ConnectionList)))]
async fn list(
    State(state): State<AppState>,
    Require(auth): Require<ReadSso>,
) -> Result<Json<ConnectionList>, ApiError> {
    Ok(Json(ConnectionList {
        connections: connections::list(&state, &auth).await?,
    }))
}

/// Reads an SSO connection, with what to give the IdP.
#[utoipa::path(get, path = "/sso/connections/{id}", tag = "connections",
    operation_id = "get_sso_connection", params(("id" = ConnectionId, Path)),
    responses((status = 200, body = ConnectionView)))]
async fn get_one(
    State(state): State<AppState>,
    Require(auth): Require<ReadSso>,
    Path(id): Path<String>,
) -> Result<Json<ConnectionView>, ApiError> {
    let id: ConnectionId = path_param(&id)?;
    Ok(Json(connections::get(&state, &auth, id).await?))
}

/// Changes an SSO connection; absent members keep their value.
#[utoipa::path(patch, path = "/sso/connections/{id}", tag = "connections",
    operation_id = "update_sso_connection", params(("id" = ConnectionId, Path)),
    request_body = UpdateConnection, responses((status = 200, body = ConnectionView)))]
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

/// Deletes an SSO connection.
#[utoipa::path(delete, path = "/sso/connections/{id}", tag = "connections",
    operation_id = "delete_sso_connection", params(("id" = ConnectionId, Path)),
    responses((status = 204)))]
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

/// Where a test sign-in starts.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = SsoTestStarted)]
struct TestStarted {
    /// Open this in a browser to sign in at the IdP; the ACS then shows the report.
    redirect_url: String,
}

/// Starts a test sign-in through a connection: it shows what the IdP sent and what the
/// pipeline made of it, without creating users or sessions.
#[utoipa::path(post, path = "/sso/connections/{id}/test", tag = "connections",
    operation_id = "test_sso_connection", params(("id" = ConnectionId, Path)),
    responses((status = 200, body = TestStarted)))]
async fn test(
    State(state): State<AppState>,
    Require(auth): Require<WriteSso>,
    Path(id): Path<String>,
) -> Result<Json<TestStarted>, ApiError> {
    let id: ConnectionId = path_param(&id)?;
    let redirect_url = start::test(&state, &auth, id).await?;
    Ok(Json(TestStarted { redirect_url }))
}

/// Fetches a SAML connection's metadata URL again now and adopts what changed (entity id, SSO
/// URL, signing certificates); a failed fetch changes nothing and shows in `health`.
#[utoipa::path(post, path = "/sso/connections/{id}/metadata/refresh", tag = "connections",
    operation_id = "refresh_sso_metadata", params(("id" = ConnectionId, Path)),
    responses((status = 200, body = ConnectionView)))]
async fn refresh_metadata(
    State(state): State<AppState>,
    Require(auth): Require<WriteSso>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Json<ConnectionView>, ApiError> {
    let id: ConnectionId = path_param(&id)?;
    Ok(Json(
        crate::sso::metadata_refresh::refresh_now(&state, &auth, &ctx, id).await?,
    ))
}

/// Adds a freshly generated SP decryption key to a SAML connection; IdPs encrypt to its
/// certificate (published in the SP metadata).
#[utoipa::path(post, path = "/sso/connections/{id}/encryption-keys", tag = "connections",
    operation_id = "add_sso_encryption_key", params(("id" = ConnectionId, Path)),
    responses((status = 201, body = ConnectionView)))]
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

/// Removes one of a SAML connection's SP decryption keys.
#[utoipa::path(delete, path = "/sso/connections/{id}/encryption-keys/{key}", tag = "connections",
    operation_id = "remove_sso_encryption_key",
    params(("id" = ConnectionId, Path), ("key" = String, Path, description = "The key's id")),
    responses((status = 200, body = ConnectionView)))]
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

/// The operator's door to a tenant's policy (to undo a lock-out, say): the same rules.
pub fn operator_policy_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_tenant_policy, put_tenant_policy))
        .routes(routes!(apply_tenant_preset))
}

/// Reads the tenant's security policy.
#[utoipa::path(get, path = "/policy", tag = "admin", operation_id = "get_policy",
    responses((status = 200, body = Policy)))]
async fn get_policy(
    State(state): State<AppState>,
    Require(auth): Require<ReadPolicy>,
) -> Result<Json<Policy>, ApiError> {
    Ok(Json(policy::get(&state, &auth).await?))
}

/// Reads a tenant's security policy.
#[utoipa::path(get, path = "/tenants/{tenant}/policy", tag = "operator",
    operation_id = "get_tenant_policy",
    params(("tenant" = String, Path, description = "The tenant's id or slug")),
    responses((status = 200, body = Policy)))]
async fn get_tenant_policy(
    state: State<AppState>,
    auth: Require<ReadPolicy>,
) -> Result<Json<Policy>, ApiError> {
    get_policy(state, auth).await
}

/// `?confirm_lockout=true` saves an allow-list that leaves out the caller's own address.
#[derive(serde::Deserialize, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PolicyQuery {
    /// Save an admin-API allow-list that leaves out the caller's own address.
    #[serde(default)]
    confirm_lockout: bool,
}

/// Replaces the tenant's security policy (absent members take their defaults).
#[utoipa::path(put, path = "/policy", tag = "admin", operation_id = "set_policy",
    params(PolicyQuery), request_body = Policy,
    responses((status = 200, body = Policy,
        headers(("Warning" = String,
            description = "`299 - \"…\"` for each choice that is allowed but weakens \
                           the policy")))))]
async fn put_policy(
    state: State<AppState>,
    auth: Require<WritePolicy>,
    ctx: Ctx,
    q: Query<PolicyQuery>,
    body: ApiJson<Policy>,
) -> Result<Response, ApiError> {
    save_policy(state, auth, ctx, q, body).await
}

/// Replaces a tenant's security policy (absent members take their defaults); the operator
/// is held to neither allow-list.
#[utoipa::path(put, path = "/tenants/{tenant}/policy", tag = "operator",
    operation_id = "set_tenant_policy",
    params(("tenant" = String, Path, description = "The tenant's id or slug"), PolicyQuery),
    request_body = Policy,
    responses((status = 200, body = Policy,
        headers(("Warning" = String,
            description = "`299 - \"…\"` for each choice that is allowed but weakens \
                           the policy")))))]
async fn put_tenant_policy(
    state: State<AppState>,
    auth: Require<WritePolicy>,
    ctx: Ctx,
    q: Query<PolicyQuery>,
    body: ApiJson<Policy>,
) -> Result<Response, ApiError> {
    save_policy(state, auth, ctx, q, body).await
}

/// Saves the policy: the body of both routes.
async fn save_policy(
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

/// Applies a preset to the tenant's security policy (the members it sets; others stay).
#[utoipa::path(post, path = "/policy/presets/{name}", tag = "admin",
    operation_id = "apply_policy_preset",
    params(("name" = String, Path, description = PRESET)),
    responses((status = 200, body = Policy)))]
async fn apply_preset(
    state: State<AppState>,
    auth: Require<WritePolicy>,
    ctx: Ctx,
    Path(name): Path<String>,
) -> Result<Json<Policy>, ApiError> {
    preset(state, auth, ctx, name).await
}

/// Applies a preset to a tenant's security policy (the members it sets; others stay).
#[utoipa::path(post, path = "/tenants/{tenant}/policy/presets/{name}", tag = "operator",
    operation_id = "apply_tenant_policy_preset",
    params(("tenant" = String, Path, description = "The tenant's id or slug"),
        ("name" = String, Path, description = PRESET)),
    responses((status = 200, body = Policy)))]
async fn apply_tenant_preset(
    state: State<AppState>,
    auth: Require<WritePolicy>,
    ctx: Ctx,
    Path((_tenant, name)): Path<(String, String)>,
) -> Result<Json<Policy>, ApiError> {
    preset(state, auth, ctx, name).await
}

/// Applies preset `name`: the body of both routes.
async fn preset(
    State(state): State<AppState>,
    Require(auth): Require<WritePolicy>,
    Ctx(ctx): Ctx,
    name: String,
) -> Result<Json<Policy>, ApiError> {
    Ok(Json(
        policy::apply_preset(&state, &auth, &ctx, &name).await?,
    ))
}

//! `/api/v1/audit-streams`: a tenant's SIEM streams (list with health, create, change or
//! pause, delete). Reading needs `audit:read`; changing them is security policy
//! (`sso:write`, policy.edit).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{path_param, ApiJson, Ctx};
use super::require::Require;
use super::state::AppState;
use crate::audit::stream::{self, NewStream, StreamChange, StreamStatus, StreamView};
use crate::rbac::{ReadAuditStreams, WriteAuditStreams};
use crate::types::StreamId;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(change, remove))
}

/// Lists the tenant's audit streams with their health and backlog.
#[utoipa::path(get, path = "/audit-streams", tag = "audit", operation_id = "list_audit_streams",
    responses((status = 200, body = Vec<StreamStatus>)))]
async fn list(
    State(state): State<AppState>,
    Require(auth): Require<ReadAuditStreams>,
) -> Result<Json<Vec<StreamStatus>>, ApiError> {
    Ok(Json(stream::list(&state, &auth).await?))
}

/// Creates an audit stream to a SIEM (webhook, syslog or S3 bucket).
#[utoipa::path(post, path = "/audit-streams", tag = "audit", operation_id = "create_audit_stream",
    request_body = NewStream, responses((status = 201, body = StreamView)))]
async fn create(
    State(state): State<AppState>,
    Require(auth): Require<WriteAuditStreams>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<NewStream>,
) -> Result<(StatusCode, Json<StreamView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(stream::create(&state, &auth, &ctx, body).await?),
    ))
}

/// Changes, pauses or resumes an audit stream.
#[utoipa::path(patch, path = "/audit-streams/{stream}", tag = "audit",
    operation_id = "update_audit_stream", params(("stream" = StreamId, Path)),
    request_body = StreamChange, responses((status = 200, body = StreamView)))]
async fn change(
    State(state): State<AppState>,
    Require(auth): Require<WriteAuditStreams>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<StreamChange>,
) -> Result<Json<StreamView>, ApiError> {
    Ok(Json(
        stream::change(&state, &auth, &ctx, path_param(&id)?, body).await?,
    ))
}

/// Deletes an audit stream.
#[utoipa::path(delete, path = "/audit-streams/{stream}", tag = "audit",
    operation_id = "delete_audit_stream", params(("stream" = StreamId, Path)),
    responses((status = 204)))]
async fn remove(
    State(state): State<AppState>,
    Require(auth): Require<WriteAuditStreams>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    stream::delete(&state, &auth, &ctx, path_param(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

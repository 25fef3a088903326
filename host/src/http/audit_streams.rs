//! `/api/v1/audit-streams`: a tenant's SIEM streams (list with health, create, change or
//! pause, delete). Reading needs `audit:read`; changing them is security policy
//! (`sso:write`, policy.edit).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch};
use axum::{Json, Router};

use super::error::ApiError;
use super::extract::{path_param, ApiJson, Ctx};
use super::require::Require;
use super::state::AppState;
use crate::audit::stream::{self, NewStream, StreamChange, StreamStatus, StreamView};
use crate::rbac::{ReadAuditStreams, WriteAuditStreams};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/audit-streams", get(list).post(create))
        .route("/audit-streams/{stream}", patch(change).delete(remove))
}

async fn list(
    State(state): State<AppState>,
    Require(auth): Require<ReadAuditStreams>,
) -> Result<Json<Vec<StreamStatus>>, ApiError> {
    Ok(Json(stream::list(&state, &auth).await?))
}

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

async fn remove(
    State(state): State<AppState>,
    Require(auth): Require<WriteAuditStreams>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    stream::delete(&state, &auth, &ctx, path_param(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

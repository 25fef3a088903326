//! Export jobs over HTTP: `POST /api/v1/audit-exports` starts one (the search filters and
//! `format` as JSON), `GET /api/v1/audit-exports[/{id}]` shows progress and, when done, a
//! fresh short-lived download link, and `GET /audit-downloads/{tenant}/{id}?token=` serves
//! the file to whoever holds the link (counted against the caller's address, as every
//! anonymous path is).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audit::AuditParams;
use super::error::ApiError;
use super::extract::{path_param, ApiJson, Ctx};
use super::require::Require;
use super::state::AppState;
use crate::audit::export::Format;
use crate::audit::export_job::{self, ExportJob};
use crate::rbac::ExportAudit;
use crate::types::SessionId;

/// `/api/v1` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, start))
        .routes(routes!(read))
}

/// Routes at the root.
pub fn public_router() -> Router<AppState> {
    Router::new().route("/audit-downloads/{tenant}/{export}", get(download))
}

/// Starts an export job over the events the filters select (`format` as for a streamed export).
#[utoipa::path(post, path = "/audit-exports", tag = "audit", operation_id = "start_audit_export",
    request_body = AuditParams, responses((status = 202, body = ExportJob)))]
async fn start(
    State(state): State<AppState>,
    Require(auth): Require<ExportAudit>,
    Ctx(ctx): Ctx,
    ApiJson(params): ApiJson<AuditParams>,
) -> Result<(StatusCode, Json<ExportJob>), ApiError> {
    if params.chain.is_some() || params.limit.is_some() || params.cursor.is_some() {
        return Err(ApiError::InvalidBody(
            "an export takes the search filters and `format`, not `chain`, `limit` or `cursor`"
                .into(),
        ));
    }
    let format = params.format.unwrap_or(Format::Jsonl);
    let job = export_job::start(&state, &auth, &ctx, format, params.filters()).await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

/// Lists the tenant's 20 newest export jobs (without download links).
#[utoipa::path(get, path = "/audit-exports", tag = "audit", operation_id = "list_audit_exports",
    responses((status = 200, body = Vec<ExportJob>)))]
async fn list(
    State(state): State<AppState>,
    Require(auth): Require<ExportAudit>,
) -> Result<Json<Vec<ExportJob>>, ApiError> {
    Ok(Json(export_job::list(&state, &auth).await?))
}

/// Reads an export job: its progress and, when done, a fresh short-lived download link.
#[utoipa::path(get, path = "/audit-exports/{export}", tag = "audit",
    operation_id = "get_audit_export", params(("export" = SessionId, Path)),
    responses((status = 200, body = ExportJob)))]
async fn read(
    State(state): State<AppState>,
    Require(auth): Require<ExportAudit>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = export_job::get(&state, &auth, path_param(&id)?).await?;
    // The answer may carry a working link: no cache may keep it.
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(job)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Token {
    token: String,
}

async fn download(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    Path((tenant, id)): Path<(String, String)>,
    Query(Token { token }): Query<Token>,
) -> Result<Response, ApiError> {
    super::sign_in_limits::per_ip(&state, &ctx)?;
    let file = export_job::download(&state, path_param(&tenant)?, path_param(&id)?, &token).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/gzip".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", file.filename),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        Body::from_stream(file.body),
    )
        .into_response())
}

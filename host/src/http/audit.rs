//! The audit trail over HTTP: search (`GET /api/v1/audit-events`), the app's events
//! (`POST /api/v1/audit-events`, `…/batch`), export
//! (`GET /api/v1/audit-events/export`), the tenant's signed checkpoints, the public
//! checkpoint keys (`/.well-known/gatehouse-audit-keys`), the tenant's retention, and the
//! operator's "sign checkpoints now" and "purge now". The search parameters are shared with
//! the operator's listings.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, Ctx};
use super::require::Require;
use super::state::AppState;
use crate::audit::checkpoint::{self, Checkpoint};
use crate::audit::export::{self, Format};
use crate::audit::ingest::{self, AppEvent, Batch, Written};
use crate::audit::query::{self, AuditQuery, Filters, Page};
use crate::audit::retention::{self, Retention, SetRetention};
use crate::rbac::{ExportAudit, IngestAudit, OperateInstance, ReadAudit, WritePolicy};
use crate::types::Timestamp;

/// Most checkpoints in one listing.
const MAX_CHECKPOINTS: usize = 1000;

/// `/api/v1` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/audit-events", get(search).post(ingest_one))
        .route("/audit-events/batch", post(ingest_batch))
        .route("/audit-events/export", get(export))
        .route("/audit-checkpoints", get(checkpoints))
        .route("/audit-retention", get(get_retention).put(set_retention))
}

/// Routes at the root.
pub fn public_router() -> Router<AppState> {
    Router::new().route("/.well-known/gatehouse-audit-keys", get(keys))
}

/// `/operator/v1` routes.
pub fn operator_router() -> Router<AppState> {
    Router::new()
        .route("/audit/checkpoints", post(sign_now))
        .route("/audit/purge", post(purge_now))
}

/// Search and export parameters, shared with the operator API.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditParams {
    /// Operator-wide listing only: `operator`, or a tenant id or slug.
    pub chain: Option<String>,
    /// Events at or after this RFC 3339 instant.
    pub from: Option<Timestamp>,
    /// Events before this RFC 3339 instant.
    pub to: Option<Timestamp>,
    /// Actor id.
    pub actor: Option<String>,
    /// The actor's label (a user's email).
    pub actor_email: Option<String>,
    pub actor_type: Option<String>,
    /// Exact actions separated by commas, or a prefix ending in `*`.
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// An address or a CIDR block.
    pub ip: Option<String>,
    pub outcome: Option<String>,
    pub request_id: Option<String>,
    /// Free text.
    pub q: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// Export only: `jsonl` (default), `csv` or `ocsf`.
    pub format: Option<Format>,
}

impl AuditParams {
    /// The search filters (everything but the page, chain and format).
    pub(super) fn filters(self) -> Filters {
        Filters {
            from: self.from,
            to: self.to,
            actor: self.actor,
            actor_email: self.actor_email,
            actor_type: self.actor_type,
            action: self.action,
            target_type: self.target_type,
            target_id: self.target_id,
            ip: self.ip,
            outcome: self.outcome,
            request_id: self.request_id,
            q: self.q,
        }
    }

    /// A search's parameters (`chain` is taken out first by the operator's listing).
    pub fn into_query(self) -> Result<AuditQuery, ApiError> {
        if self.chain.is_some() {
            return Err(ApiError::InvalidQuery(
                "`chain` is only accepted by GET /operator/v1/audit-events".into(),
            ));
        }
        if self.format.is_some() {
            return Err(ApiError::InvalidQuery(
                "`format` is only accepted by GET /api/v1/audit-events/export".into(),
            ));
        }
        let (limit, cursor) = (self.limit, self.cursor.clone());
        Ok(AuditQuery {
            filters: self.filters(),
            limit,
            cursor,
        })
    }
}

async fn search(
    State(state): State<AppState>,
    Require(auth): Require<ReadAudit>,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<Page>, ApiError> {
    Ok(Json(
        query::list_for_tenant(&state.store, &auth, params.into_query()?).await?,
    ))
}

async fn export(
    State(state): State<AppState>,
    Require(auth): Require<ExportAudit>,
    Ctx(ctx): Ctx,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Response, ApiError> {
    if params.chain.is_some() || params.limit.is_some() || params.cursor.is_some() {
        return Err(ApiError::InvalidQuery(
            "an export takes the search filters and `format`, not `chain`, `limit` or `cursor`"
                .into(),
        ));
    }
    let format = params.format.unwrap_or(Format::Jsonl);
    let export = export::start(&state, &auth, &ctx, format, params.filters()).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                export.format.content_type().to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", export.filename),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        Body::from_stream(export.body),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointParams {
    /// Only checkpoints numbered above this.
    after: Option<i64>,
}

async fn checkpoints(
    State(state): State<AppState>,
    Require(auth): Require<ReadAudit>,
    ApiQuery(params): ApiQuery<CheckpointParams>,
) -> Result<Json<Value>, ApiError> {
    let all = checkpoint::of_chain(&state.store, &auth.tenant().to_string()).await?;
    let after = params.after.unwrap_or(0);
    let page: Vec<&Checkpoint> = all
        .iter()
        .filter(|c| c.number > after)
        .take(MAX_CHECKPOINTS)
        .collect();
    Ok(Json(serde_json::json!({ "checkpoints": page })))
}

async fn keys(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(checkpoint::jwks(&state.store, &state.secrets).await?))
}

async fn sign_now(
    State(state): State<AppState>,
    Require(_auth): Require<OperateInstance>,
) -> Result<Json<Value>, ApiError> {
    let written = checkpoint::write_due(&state.store, &state.secrets, &state.clock, 0).await?;
    Ok(Json(serde_json::json!({ "written": written })))
}

async fn get_retention(
    State(state): State<AppState>,
    Require(auth): Require<ReadAudit>,
) -> Result<Json<Retention>, ApiError> {
    Ok(Json(retention::get(&state, &auth).await?))
}

async fn set_retention(
    State(state): State<AppState>,
    Require(auth): Require<WritePolicy>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<SetRetention>,
) -> Result<Json<Retention>, ApiError> {
    Ok(Json(retention::set(&state, &auth, &ctx, body).await?))
}

/// Runs the retention purge now (housekeeping runs it every few minutes).
async fn purge_now(
    State(state): State<AppState>,
    Require(_auth): Require<OperateInstance>,
) -> Result<Json<Value>, ApiError> {
    let purged = retention::purge_due(&state.store, &state.clock, &state.config.audit).await?;
    Ok(Json(serde_json::json!({ "purged": purged })))
}

/// The request's `Idempotency-Key`, if any (a value that is not text is refused).
fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str().map_err(|_| {
                ApiError::from(crate::Error::invalid(
                    "Idempotency-Key",
                    "the Idempotency-Key header must be printable ASCII",
                ))
            })
        })
        .transpose()
}

async fn ingest_one(
    State(state): State<AppState>,
    Require(auth): Require<IngestAudit>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    ApiJson(event): ApiJson<AppEvent>,
) -> Result<(StatusCode, Json<Written>), ApiError> {
    let key = idempotency_key(&headers)?;
    let written = ingest::write(&state, &auth, &ctx, key, vec![event]).await?;
    Ok((StatusCode::CREATED, Json(written)))
}

async fn ingest_batch(
    State(state): State<AppState>,
    Require(auth): Require<IngestAudit>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    ApiJson(batch): ApiJson<Batch>,
) -> Result<(StatusCode, Json<Written>), ApiError> {
    let key = idempotency_key(&headers)?;
    let written = ingest::write(&state, &auth, &ctx, key, batch.events).await?;
    Ok((StatusCode::CREATED, Json(written)))
}

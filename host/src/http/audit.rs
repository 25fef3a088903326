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
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search, ingest_one))
        .routes(routes!(ingest_batch))
        .routes(routes!(export))
        .routes(routes!(checkpoints))
        .routes(routes!(get_retention, set_retention))
}

/// Routes at the root.
pub fn public_router() -> Router<AppState> {
    Router::new().route("/.well-known/gatehouse-audit-keys", get(keys))
}

/// `/operator/v1` routes.
pub fn operator_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_now))
        .routes(routes!(purge_now))
}

/// Search and export parameters, shared with the operator API: a search's query string, an
/// export's query string, or an export job's JSON body. Each route refuses the members that
/// are not its own (the docs below say whose they are).
#[derive(Debug, Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditParams {
    /// Operator-wide listing only: `operator`, or a tenant id or slug.
    pub chain: Option<String>,
    /// Events at or after this RFC 3339 instant.
    pub from: Option<Timestamp>,
    /// Events before this RFC 3339 instant.
    pub to: Option<Timestamp>,
    /// Actor id (a user, token or client id).
    pub actor: Option<String>,
    /// The actor's label (a user's email).
    pub actor_email: Option<String>,
    /// `user`, `api_token`, `operator`, `scim`, `system`, `app`…
    pub actor_type: Option<String>,
    /// Exact actions separated by commas, or a prefix ending in `*`.
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// An address or a CIDR block.
    pub ip: Option<String>,
    /// `success` or `failure`.
    pub outcome: Option<String>,
    pub request_id: Option<String>,
    /// Free text: every word must occur in the event; `word*` matches a prefix.
    pub q: Option<String>,
    /// Searches only: events per page, 1–500 (default 50).
    pub limit: Option<u32>,
    /// Searches only: the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Exports only: `jsonl` (default), `csv` or `ocsf`.
    #[param(inline)]
    #[schema(inline)]
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

/// Searches the tenant's audit log, newest first, a page at a time.
#[utoipa::path(get, path = "/audit-events", tag = "audit", operation_id = "search_audit_events",
    params(AuditParams), responses((status = 200, body = Page)))]
async fn search(
    State(state): State<AppState>,
    Require(auth): Require<ReadAudit>,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<Page>, ApiError> {
    Ok(Json(
        query::list_for_tenant(&state.store, &auth, params.into_query()?).await?,
    ))
}

/// Exports the events the filters select, streamed as a file (`format`: JSON Lines, CSV or OCSF).
#[utoipa::path(get, path = "/audit-events/export", tag = "audit",
    operation_id = "export_audit_events", params(AuditParams),
    responses((status = 200,
        description = "The events as an attachment: JSON Lines for `jsonl` (one event each, \
                       as a search shows it) and `ocsf`, CSV for `csv`",
        content(("application/x-ndjson"), ("text/csv")))))]
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
    Ok(attachment(export))
}

/// An export as a download, streamed (the API's and the console's).
pub(super) fn attachment(export: export::Export) -> Response {
    (
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
        .into_response()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct CheckpointParams {
    /// Only checkpoints numbered above this.
    after: Option<i64>,
}

/// The tenant's signed checkpoints, oldest first.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AuditCheckpoints)]
struct Checkpoints {
    /// At most 1000; ask again with `after` the last one's `number` for more.
    checkpoints: Vec<Checkpoint>,
}

/// Lists the tenant's signed checkpoints, with which its events are checked offline.
#[utoipa::path(get, path = "/audit-checkpoints", tag = "audit",
    operation_id = "list_audit_checkpoints", params(CheckpointParams),
    responses((status = 200, body = Checkpoints)))]
async fn checkpoints(
    State(state): State<AppState>,
    Require(auth): Require<ReadAudit>,
    ApiQuery(params): ApiQuery<CheckpointParams>,
) -> Result<Json<Checkpoints>, ApiError> {
    let all = checkpoint::of_chain(&state.store, &auth.tenant().to_string()).await?;
    let after = params.after.unwrap_or(0);
    let checkpoints = all
        .into_iter()
        .filter(|c| c.number > after)
        .take(MAX_CHECKPOINTS)
        .collect();
    Ok(Json(Checkpoints { checkpoints }))
}

async fn keys(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(checkpoint::jwks(&state.store, &state.secrets).await?))
}

/// What "sign checkpoints now" did.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AuditCheckpointsSigned)]
struct Signed {
    /// Checkpoints written: one per chain with events since its last checkpoint.
    written: usize,
}

/// Signs a checkpoint of every chain with new events now (housekeeping does it on a schedule).
#[utoipa::path(post, path = "/audit/checkpoints", tag = "audit",
    operation_id = "operator_sign_audit_checkpoints", responses((status = 200, body = Signed)))]
async fn sign_now(
    State(state): State<AppState>,
    Require(_auth): Require<OperateInstance>,
) -> Result<Json<Signed>, ApiError> {
    let written = checkpoint::write_due(&state.store, &state.secrets, &state.clock, 0).await?;
    Ok(Json(Signed { written }))
}

/// Reads the tenant's audit retention.
#[utoipa::path(get, path = "/audit-retention", tag = "audit", operation_id = "get_audit_retention",
    responses((status = 200, body = Retention)))]
async fn get_retention(
    State(state): State<AppState>,
    Require(auth): Require<ReadAudit>,
) -> Result<Json<Retention>, ApiError> {
    Ok(Json(retention::get(&state, &auth).await?))
}

/// Sets how many days the tenant's events are kept (`days: null`: the deployment's default).
#[utoipa::path(put, path = "/audit-retention", tag = "audit", operation_id = "set_audit_retention",
    request_body = SetRetention, responses((status = 200, body = Retention)))]
async fn set_retention(
    State(state): State<AppState>,
    Require(auth): Require<WritePolicy>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<SetRetention>,
) -> Result<Json<Retention>, ApiError> {
    Ok(Json(retention::set(&state, &auth, &ctx, body).await?))
}

/// What a purge did.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AuditPurged)]
struct Purged {
    /// Events deleted, past their chain's retention.
    purged: u64,
}

/// Runs the retention purge now (housekeeping runs it every few minutes).
#[utoipa::path(post, path = "/audit/purge", tag = "audit", operation_id = "operator_purge_audit_events",
    responses((status = 200, body = Purged)))]
async fn purge_now(
    State(state): State<AppState>,
    Require(_auth): Require<OperateInstance>,
) -> Result<Json<Purged>, ApiError> {
    let purged = retention::purge_due(&state.store, &state.clock, &state.config.audit).await?;
    Ok(Json(Purged { purged }))
}

/// The ingest routes' description of the `Idempotency-Key` header.
const IDEMPOTENCY_KEY: &str = "1-255 printable ASCII characters: a retry with the same key \
    and body gets the first answer (with `replayed: true`) for 24 hours instead of writing twice";

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

/// Records one of the app's own events in the tenant's chain.
#[utoipa::path(post, path = "/audit-events", tag = "audit", operation_id = "ingest_audit_event",
    params(("Idempotency-Key" = Option<String>, Header, description = IDEMPOTENCY_KEY)), request_body = AppEvent, responses((status = 201, body = Written)))]
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

/// Records a batch of the app's events, all or none.
#[utoipa::path(post, path = "/audit-events/batch", tag = "audit",
    operation_id = "ingest_audit_events", params(("Idempotency-Key" = Option<String>, Header, description = IDEMPOTENCY_KEY)), request_body = Batch,
    responses((status = 201, body = Written)))]
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

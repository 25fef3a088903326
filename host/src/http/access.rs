//! The decision API for the app (OpenID AuthZEN 1.0 shapes; the rules are in
//! `rbac::authzen`): evaluation, batch evaluations, action and resource search, the PDP
//! metadata, and the permission snapshot with its ETag. The caller (the PEP) is the app with
//! its OAuth client credentials (`Authorization: Basic`), or a tenant's API token with the
//! `access:evaluate` scope (or a signed-in user whose roles may view roles).

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::ApiJson;
use super::require::Require;
use super::state::AppState;
use crate::error::Error;
use crate::rbac::authzen::{self, Evaluation, Pep, Semantic, MAX_EVALUATIONS};
use crate::rbac::EvaluateAccess;
use crate::types::{TenantId, UserId};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/authzen-configuration", get(metadata))
        .route("/access/v1/evaluation", post(evaluation))
        .route("/access/v1/evaluations", post(evaluations))
        .route("/access/v1/search/subject", post(search_subject))
        .route("/access/v1/search/action", post(search_action))
        .route("/access/v1/search/resource", post(search_resource))
        .route("/access/v1/users/{user}/permissions", get(snapshot))
}

/// A JSON body; every way it can be malformed is a 400, as AuthZEN's HTTPS binding asks
/// (an oversized one stays 413).
struct Body<T>(T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match ApiJson::<T>::from_request(req, state).await {
            Ok(ApiJson(v)) => Ok(Body(v)),
            Err(ApiError::MalformedJson(detail) | ApiError::InvalidBody(detail)) => {
                Err(ApiError::BadRequest(detail))
            }
            Err(ApiError::UnsupportedMediaType { expected }) => Err(ApiError::BadRequest(format!(
                "send the body as JSON with Content-Type: {expected}"
            ))),
            Err(other) => Err(other),
        }
    }
}

/// The policy enforcement point calling.
struct Caller(Pep);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some((id, secret)) = super::oauth::basic_credentials(&parts.headers) {
            let client = crate::provider::clients::find(&state.services, &id).await?;
            return match client {
                Some(c) if !c.is_public() && c.secret_matches(&secret) => Ok(Caller(Pep::App)),
                _ => Err(Error::Unauthenticated("client authentication failed".into()).into()),
            };
        }
        let Require(auth) = Require::<EvaluateAccess>::from_request_parts(parts, state).await?;
        Ok(Caller(Pep::Tenant(auth.tenant())))
    }
}

async fn metadata(State(state): State<AppState>) -> Json<Value> {
    let base = state.config.public_url();
    Json(json!({
        "policy_decision_point": base,
        "access_evaluation_endpoint": format!("{base}/access/v1/evaluation"),
        "access_evaluations_endpoint": format!("{base}/access/v1/evaluations"),
        "search_subject_endpoint": format!("{base}/access/v1/search/subject"),
        "search_action_endpoint": format!("{base}/access/v1/search/action"),
        "search_resource_endpoint": format!("{base}/access/v1/search/resource"),
    }))
}

fn bad_request(message: String) -> ApiError {
    ApiError::BadRequest(message)
}

async fn evaluation(
    State(state): State<AppState>,
    Caller(pep): Caller,
    Body(req): Body<Evaluation>,
) -> Result<Json<Value>, ApiError> {
    let mut subjects = authzen::Subjects::default();
    match authzen::evaluate(&state, pep, &mut subjects, &req).await? {
        Ok(answer) => Ok(Json(answer)),
        Err(message) => Err(bad_request(message)),
    }
}

/// A batch: the defaults, the items and the options.
#[derive(Deserialize)]
struct Batch {
    #[serde(flatten)]
    defaults: Evaluation,
    #[serde(default)]
    evaluations: Vec<Evaluation>,
    options: Option<Value>,
}

async fn evaluations(
    State(state): State<AppState>,
    Caller(pep): Caller,
    Body(batch): Body<Batch>,
) -> Result<Json<Value>, ApiError> {
    if batch.evaluations.is_empty() {
        return evaluation(State(state), Caller(pep), Body(batch.defaults)).await;
    }
    if batch.evaluations.len() > MAX_EVALUATIONS {
        return Err(bad_request(format!(
            "at most {MAX_EVALUATIONS} evaluations per request"
        )));
    }
    let semantic = Semantic::parse(batch.options.as_ref()).map_err(bad_request)?;
    let answers =
        authzen::evaluate_all(&state, pep, &batch.defaults, &batch.evaluations, semantic).await?;
    Ok(Json(json!({ "evaluations": answers })))
}

/// A search request: the question and the page wanted.
#[derive(Deserialize)]
struct SearchRequest {
    #[serde(flatten)]
    question: Evaluation,
    page: Option<PageRequest>,
}

#[derive(Deserialize)]
struct PageRequest {
    token: Option<String>,
    limit: Option<usize>,
}

async fn search_subject(
    State(state): State<AppState>,
    Caller(pep): Caller,
    Body(req): Body<SearchRequest>,
) -> Result<Json<Value>, ApiError> {
    let page = req.page.as_ref();
    let found = authzen::search_subjects(
        &state,
        pep,
        &req.question,
        page.and_then(|p| p.token.as_deref()),
        page.and_then(|p| p.limit),
    )
    .await?
    .map_err(bad_request)?;
    Ok(Json(json!({
        "page": {"next_token": found.next_token, "count": found.results.len()},
        "results": found.results,
    })))
}

async fn search_action(
    State(state): State<AppState>,
    Caller(pep): Caller,
    Body(req): Body<Evaluation>,
) -> Result<Json<Value>, ApiError> {
    let results = authzen::search_actions(&state, pep, &req)
        .await?
        .map_err(bad_request)?;
    Ok(Json(
        json!({"page": {"next_token": ""}, "results": results}),
    ))
}

/// Gatehouse does not know the app's records: no results, and the condition they meet.
async fn search_resource(
    State(state): State<AppState>,
    Caller(pep): Caller,
    Body(req): Body<Evaluation>,
) -> Result<Json<Value>, ApiError> {
    let filter = authzen::filter_for(&state, pep, &req)
        .await?
        .map_err(bad_request)?;
    Ok(Json(json!({
        "page": {"next_token": ""},
        "context": {"filter": filter},
        "results": [],
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotQuery {
    /// The user's tenant; required when the app asks with its client credentials.
    tenant: Option<String>,
}

/// The user's compiled permissions with their version as a strong ETag; `If-None-Match` with
/// the current version gets 304.
async fn snapshot(
    State(state): State<AppState>,
    Caller(pep): Caller,
    Path(user): Path<String>,
    Query(q): Query<SnapshotQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = match (pep, q.tenant.as_deref().map(str::parse::<TenantId>)) {
        (Pep::Tenant(own), None) => own,
        (Pep::Tenant(own), Some(Ok(t))) if t == own => own,
        (Pep::App, Some(Ok(t))) => t,
        (Pep::App, None) => {
            return Err(bad_request(
                "add ?tenant=<the user's tenant claim> when asking with client credentials".into(),
            ))
        }
        _ => return Err(Error::NotFound("user").into()),
    };
    let user: UserId = user.parse().map_err(|_| Error::NotFound("user"))?;
    let record = crate::store::tenants::get(&state.store, tenant)
        .await
        .map_err(Error::from)?
        .ok_or(Error::NotFound("user"))?;
    crate::tenancy::features::check(&record, crate::store::tenants::Feature::Roles)?;
    let live = record.status == crate::store::tenants::TenantStatus::Active;
    let effective = match live {
        true => crate::rbac::effective::load(&state, tenant, user).await?,
        false => None,
    }
    .filter(|e| e.user.status != crate::store::users::UserStatus::Deactivated)
    .ok_or(Error::NotFound("user"))?;
    let body = effective.snapshot(tenant);
    let etag = format!("\"{}\"", body["version"].as_str().unwrap_or_default());
    let etag_value = HeaderValue::from_str(&etag).map_err(|e| Error::Internal(e.into()))?;
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let cache = (
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    if matches {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag_value), cache],
        )
            .into_response());
    }
    Ok(([(header::ETAG, etag_value), cache], Json(body)).into_response())
}

//! The decision API for the app (OpenID AuthZEN 1.0 shapes; the rules are in
//! `rbac::authzen`): evaluation, batch evaluations, action and resource search, the PDP
//! metadata, and the permission snapshot with its ETag. The caller (the PEP) is the app with
//! its OAuth client credentials (`Authorization: Basic`), or a tenant's API token with the
//! `access:evaluate` scope (or a signed-in user whose roles may view roles).

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::ApiJson;
use super::require::Require;
use super::state::AppState;
use crate::error::Error;
use crate::rbac::answers::{ActionFound, Decision, SubjectFound};
use crate::rbac::authzen::{self, Evaluation, Pep, Semantic, MAX_EVALUATIONS};
use crate::rbac::EvaluateAccess;
use crate::types::{TenantId, UserId};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        // The PDP metadata is AuthZEN's own description, not a route of the document.
        .route("/.well-known/authzen-configuration", get(metadata))
        .routes(routes!(evaluation))
        .routes(routes!(evaluations))
        .routes(routes!(search_subject))
        .routes(routes!(search_action))
        .routes(routes!(search_resource))
        .routes(routes!(snapshot))
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

/// Decides one question: may the subject perform the action on the resource?
#[utoipa::path(post, path = "/access/v1/evaluation", tag = "access",
    operation_id = "evaluate_access", request_body = Evaluation,
    responses((status = 200, body = Decision,
        description = "The decision: `decision`, true when allowed, and \
                       `context.reason_admin.en`, why")))]
async fn evaluation(
    State(state): State<AppState>,
    Caller(pep): Caller,
    Body(req): Body<Evaluation>,
) -> Result<Json<Decision>, ApiError> {
    let mut subjects = authzen::Subjects::default();
    match authzen::evaluate(&state, pep, &mut subjects, &req).await? {
        Ok(answer) => Ok(Json(answer)),
        Err(message) => Err(bad_request(message)),
    }
}

/// A batch: the defaults, the items and the options.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = AccessEvaluationsRequest)]
struct Batch {
    /// The top-level members: the defaults of every item (an item's own member replaces one
    /// whole), or, without `evaluations`, the one question.
    #[serde(flatten)]
    defaults: Evaluation,
    /// The questions, answered in order (at most 10,000).
    #[serde(default)]
    evaluations: Vec<Evaluation>,
    /// `evaluations_semantic`: `execute_all` (default), `deny_on_first_deny` or
    /// `permit_on_first_permit`.
    options: Option<Value>,
}

/// A batch's answers, or, for a request without `evaluations`, the one decision.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[schema(as = AccessEvaluationsAnswer)]
enum BatchAnswer {
    One(Decision),
    Each {
        /// One decision per item, up to the one where the batch stopped.
        evaluations: Vec<Decision>,
    },
}

/// Decides a batch of questions, in order, stopping where `options` says.
#[utoipa::path(post, path = "/access/v1/evaluations", tag = "access",
    operation_id = "evaluate_access_batch", request_body = Batch,
    responses((status = 200, body = BatchAnswer,
        description = "`evaluations`: one decision per item, as `/access/v1/evaluation` \
                       answers, up to the one where the batch stopped (a malformed item is a \
                       denial with `context.error`); a request without `evaluations` gets the \
                       one decision instead")))]
async fn evaluations(
    State(state): State<AppState>,
    Caller(pep): Caller,
    Body(batch): Body<Batch>,
) -> Result<Json<BatchAnswer>, ApiError> {
    if batch.evaluations.is_empty() {
        let Json(one) = evaluation(State(state), Caller(pep), Body(batch.defaults)).await?;
        return Ok(Json(BatchAnswer::One(one)));
    }
    if batch.evaluations.len() > MAX_EVALUATIONS {
        return Err(bad_request(format!(
            "at most {MAX_EVALUATIONS} evaluations per request"
        )));
    }
    let semantic = Semantic::parse(batch.options.as_ref()).map_err(bad_request)?;
    let answers =
        authzen::evaluate_all(&state, pep, &batch.defaults, &batch.evaluations, semantic).await?;
    Ok(Json(BatchAnswer::Each {
        evaluations: answers,
    }))
}

/// A search request: the question and the page wanted.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = AccessSubjectSearchRequest)]
struct SearchRequest {
    /// The question, with the subject's `type` (and, for the app, its `tenant` property) but
    /// no `id`.
    #[serde(flatten)]
    question: Evaluation,
    page: Option<PageRequest>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = AccessPageRequest)]
struct PageRequest {
    /// The previous page's `next_token`.
    token: Option<String>,
    /// Users read for this page, 1–100 (default 100).
    limit: Option<usize>,
}

/// A page of a subject search.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AccessSubjectSearchAnswer)]
struct SubjectsFound {
    page: SubjectsPage,
    /// The users allowed.
    results: Vec<SubjectFound>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AccessSubjectSearchPage)]
struct SubjectsPage {
    /// Where the next page starts; empty on the last.
    next_token: String,
    /// The results on this page.
    count: usize,
}

/// The page of a search answered whole.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AccessLastPage)]
struct LastPage {
    /// Always empty: there is no next page.
    next_token: &'static str,
}

const LAST_PAGE: LastPage = LastPage { next_token: "" };

/// Lists the tenant's users who may perform the action on the resource, a page at a time.
#[utoipa::path(post, path = "/access/v1/search/subject", tag = "access",
    operation_id = "search_access_subjects", request_body = SearchRequest,
    responses((status = 200, body = SubjectsFound)))]
async fn search_subject(
    State(state): State<AppState>,
    Caller(pep): Caller,
    Body(req): Body<SearchRequest>,
) -> Result<Json<SubjectsFound>, ApiError> {
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
    Ok(Json(SubjectsFound {
        page: SubjectsPage {
            next_token: found.next_token,
            count: found.results.len(),
        },
        results: found.results,
    }))
}

/// The actions found, on one page.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AccessActionSearchAnswer)]
struct ActionsFound {
    page: LastPage,
    /// The actions allowed.
    results: Vec<ActionFound>,
}

/// Lists the actions the subject may perform on the resource.
#[utoipa::path(post, path = "/access/v1/search/action", tag = "access",
    operation_id = "search_access_actions", request_body = Evaluation,
    responses((status = 200, body = ActionsFound)))]
async fn search_action(
    State(state): State<AppState>,
    Caller(pep): Caller,
    Body(req): Body<Evaluation>,
) -> Result<Json<ActionsFound>, ApiError> {
    let results = authzen::search_actions(&state, pep, &req)
        .await?
        .map_err(bad_request)?;
    Ok(Json(ActionsFound {
        page: LAST_PAGE,
        results,
    }))
}

/// A resource search's answer: no records, and the condition the allowed ones meet.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AccessResourceSearchAnswer)]
struct ResourcesFound {
    page: LastPage,
    context: FilterContext,
    /// Always empty: Gatehouse does not know the app's records.
    #[schema(max_items = 0)]
    results: [Value; 0],
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AccessResourceSearchContext)]
struct FilterContext {
    /// The condition every record the subject may perform the action on meets, as the
    /// `filter` extension writes it (`false`: none).
    filter: Value,
}

/// Searches resources: the condition the allowed ones meet, and no results.
///
/// Gatehouse does not know the app's records.
#[utoipa::path(post, path = "/access/v1/search/resource", tag = "access",
    operation_id = "search_access_resources", request_body = Evaluation,
    responses((status = 200, body = ResourcesFound)))]
async fn search_resource(
    State(state): State<AppState>,
    Caller(pep): Caller,
    Body(req): Body<Evaluation>,
) -> Result<Json<ResourcesFound>, ApiError> {
    let filter = authzen::filter_for(&state, pep, &req)
        .await?
        .map_err(bad_request)?;
    Ok(Json(ResourcesFound {
        page: LAST_PAGE,
        context: FilterContext { filter },
        results: [],
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct SnapshotQuery {
    /// The user's tenant; required when the app asks with its client credentials.
    #[param(value_type = Option<TenantId>)]
    tenant: Option<String>,
}

/// Reads a user's compiled permissions, with their version as a strong ETag.
///
/// `If-None-Match` with the current version gets 304.
#[utoipa::path(get, path = "/access/v1/users/{user}/permissions", tag = "access",
    operation_id = "get_user_permissions_snapshot",
    params(("user" = UserId, Path), SnapshotQuery,
        ("If-None-Match" = Option<String>, Header,
            description = "The `ETag` of a snapshot held: unchanged, the answer is 304")),
    responses(
        (status = 200, body = Value,
            description = "The snapshot: `subject` (`type`, `id`), `tenant`, `version`, \
                           `permissions` (module → action → the filter of the records allowed) \
                           and `assignments` (`role`, `source`, and `scope` when scoped)",
            headers(("ETag" = String, description = "`version`, quoted"))),
        (status = 304, description = "The snapshot held is current",
            headers(("ETag" = String, description = "`version`, quoted")))))]
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

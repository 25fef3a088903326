//! `/api/v1`: the tenant admin API. The tenant is the one the bearer token belongs to; a
//! token can never name another tenant's resources (they look missing). The operator's
//! routes for a tenant's domains and tokens reuse these handlers (see [`super::require`]). The admin web UI
//! will be a client of exactly these routes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{path_param, ApiJson, ApiQuery, Ctx};
use super::require::Require;
use super::state::AppState;
use crate::identity::ScopeRef;
use crate::mfa::admin::{self as mfa, Enrolment};
use crate::rbac::assign;
use crate::rbac::catalogue::Assignment;
use crate::rbac::effective::Source;
use crate::rbac::{
    ManageScimClients, ReadTenant, ReadUsers, RotatePublicToken, WriteDomains, WriteRoles,
    WriteTokens, WriteUsers,
};
use crate::sessions::api_tokens::{self, CreateApiToken, CreatedApiToken, RotateApiToken};
use crate::sessions::manage::{self, SessionView};
use crate::sessions::{links, local_users, scim_clients};
use crate::store::tokens::ApiTokenRecord;
use crate::tenancy::domains::{self, DomainChallenge};
use crate::tenancy::{self, public_token, TenantView};
use crate::types::{DomainName, SessionId, TenantId, TokenId, UserId};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_tenant))
        .routes(routes!(list_domains, request_domain))
        .routes(routes!(remove_domain))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(rotate_token))
        .routes(routes!(rotate_public_token))
        .routes(routes!(list_scim_clients, create_scim_client))
        .routes(routes!(revoke_scim_client))
        .routes(routes!(list_users))
        .routes(routes!(get_user))
        .routes(routes!(set_roles))
        .routes(routes!(user_permissions))
        .routes(routes!(mfa_enrolments))
        .routes(routes!(reset_mfa))
        .routes(routes!(unlock_mfa))
        .routes(routes!(user_sessions))
        .routes(routes!(invite))
        .routes(routes!(password_reset))
        .routes(routes!(deactivate_user))
        .routes(routes!(reactivate_user))
        .routes(routes!(revoke_session))
}

/// Reads one user: profile, status, source and effective roles.
#[utoipa::path(get, path = "/users/{user}", tag = "admin", operation_id = "get_user",
    params(("user" = UserId, Path)), responses((status = 200, body = crate::directory::UserView)))]
async fn get_user(
    State(state): State<AppState>,
    Require(auth): Require<ReadUsers>,
    Path(user): Path<String>,
) -> Result<Json<crate::directory::UserView>, ApiError> {
    let id = path_param(&user)?;
    Ok(Json(crate::directory::view(&state.store, &auth, id).await?))
}

/// Searches the tenant's users, a page at a time.
#[utoipa::path(get, path = "/users", tag = "admin", operation_id = "list_users",
    params(crate::directory::view::Search),
    responses((status = 200, body = crate::directory::view::Page)))]
async fn list_users(
    State(state): State<AppState>,
    Require(auth): Require<ReadUsers>,
    ApiQuery(search): ApiQuery<crate::directory::view::Search>,
) -> Result<Json<crate::directory::view::Page>, ApiError> {
    Ok(Json(
        crate::directory::view::search(&state.store, &auth, search).await?,
    ))
}

/// The user's manual role assignments, as stored.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ManualAssignments)]
struct ManualAssignments {
    assignments: Vec<Assignment>,
}

/// Replaces the user's manual role assignments.
#[utoipa::path(put, path = "/users/{user}/roles", tag = "admin", operation_id = "set_user_roles",
    params(("user" = UserId, Path)), request_body = assign::ManualRoles,
    responses((status = 200, body = ManualAssignments)))]
async fn set_roles(
    State(state): State<AppState>,
    Require(auth): Require<WriteRoles>,
    Ctx(ctx): Ctx,
    Path(user): Path<String>,
    ApiJson(body): ApiJson<assign::ManualRoles>,
) -> Result<Json<ManualAssignments>, ApiError> {
    let assignments = assign::set_manual(&state, &auth, &ctx, path_param(&user)?, body).await?;
    Ok(Json(ManualAssignments { assignments }))
}

/// A user's effective permissions: the snapshot the app fetches (made by
/// [`crate::rbac::effective::Effective::snapshot`], so the two cannot differ) and every rule
/// with its source.
#[derive(Serialize)]
struct UserPermissions<'a> {
    #[serde(flatten)]
    snapshot: serde_json::Value,
    sources: Vec<Source<'a>>,
}

/// Described by hand, since the snapshot is JSON that `rbac::effective` makes: this is its shape.
impl utoipa::PartialSchema for UserPermissions<'_> {
    fn schema() -> RefOr<Schema> {
        let text = |doc: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(doc))
        };
        let subject = ObjectBuilder::new()
            .property(
                "type",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["user"])),
            )
            .property("id", Ref::from_schema_name(UserId::name()))
            .required("type")
            .required("id");
        let filter = ObjectBuilder::new()
            .schema_type(SchemaType::AnyValue)
            .description(Some("which records: `true`, `false` or a condition"));
        let matrix = ObjectBuilder::new()
            .description(Some(
                "module → action → filter, for every action the user has a rule for",
            ))
            .additional_properties(Some(
                ObjectBuilder::new().additional_properties(Some(filter)),
            ));
        let assignment = ObjectBuilder::new()
            .property("role", text("the role"))
            .property(
                "source",
                text("where it came from: `sso`, `scim`, `manual`, `group` or `default`"),
            )
            .property("scope", Ref::from_schema_name(ScopeRef::name()))
            .required("role")
            .required("source");
        ObjectBuilder::new()
            .property("subject", subject)
            .property("tenant", Ref::from_schema_name(TenantId::name()))
            .property(
                "version",
                text("changes whenever the permissions or the assignments do"),
            )
            .property("permissions", matrix)
            .property("assignments", ArrayBuilder::new().items(assignment))
            .property(
                "sources",
                ArrayBuilder::new().items(Ref::from_schema_name(Source::name())),
            )
            .required("subject")
            .required("tenant")
            .required("version")
            .required("permissions")
            .required("assignments")
            .required("sources")
            .into()
    }
}

impl utoipa::ToSchema for UserPermissions<'_> {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((UserId::name().into(), UserId::schema()));
        schemas.push((TenantId::name().into(), TenantId::schema()));
        schemas.push((ScopeRef::name().into(), ScopeRef::schema()));
        schemas.push((Source::name().into(), Source::schema()));
        Source::schemas(schemas);
    }
}

/// The user's effective permissions: every assignment, the matrix, and each rule's source.
#[utoipa::path(get, path = "/users/{user}/permissions", tag = "admin",
    operation_id = "get_user_permissions", params(("user" = UserId, Path)),
    responses((status = 200, body = UserPermissions)))]
async fn user_permissions(
    State(state): State<AppState>,
    Require(auth): Require<ReadUsers>,
    Path(user): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = auth.tenant();
    let effective = crate::rbac::effective::load(&state, tenant, path_param(&user)?)
        .await?
        .ok_or(crate::Error::NotFound("user"))?;
    // Serialized here: the answer borrows from `effective`.
    Ok(Json(UserPermissions {
        snapshot: effective.snapshot(tenant),
        sources: effective.sources(),
    })
    .into_response())
}

/// Reads the caller's tenant with its domains.
#[utoipa::path(get, path = "/tenant", tag = "admin", operation_id = "get_own_tenant",
    responses((status = 200, body = TenantView)))]
async fn get_tenant(
    State(state): State<AppState>,
    Require(auth): Require<ReadTenant>,
) -> Result<Json<TenantView>, ApiError> {
    Ok(Json(tenancy::get_own(&state, &auth).await?))
}

/// Lists the tenant's domains, each with its DNS challenge.
#[utoipa::path(get, path = "/domains", tag = "admin", operation_id = "list_domains",
    responses((status = 200, body = Vec<DomainChallenge>)))]
pub(super) async fn list_domains(
    State(state): State<AppState>,
    Require(auth): Require<ReadTenant>,
) -> Result<Json<Vec<DomainChallenge>>, ApiError> {
    Ok(Json(domains::list(&state, auth.tenant()).await?))
}

/// Claims a domain: it stays pending, with a DNS TXT challenge, until the operator verifies it.
#[utoipa::path(post, path = "/domains", tag = "admin", operation_id = "request_domain",
    request_body = DomainBody, responses((status = 201, body = DomainChallenge)))]
async fn request_domain(
    State(state): State<AppState>,
    Require(auth): Require<WriteDomains>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<DomainBody>,
) -> Result<(StatusCode, Json<DomainChallenge>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(domains::request(&state, &auth, &ctx, &body.domain).await?),
    ))
}

/// Removes one of the tenant's domains.
#[utoipa::path(delete, path = "/domains/{domain}", tag = "admin", operation_id = "remove_domain",
    params(("domain" = DomainName, Path)), responses((status = 204)))]
pub(super) async fn remove_domain(
    State(state): State<AppState>,
    Require(auth): Require<WriteDomains>,
    Ctx(ctx): Ctx,
    Path(DomainPath { domain }): Path<DomainPath>,
) -> Result<StatusCode, ApiError> {
    domains::remove(&state, &auth, &ctx, &domain).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The `{domain}` of a path (the operator's paths name the tenant too).
#[derive(Debug, Deserialize)]
pub(super) struct DomainPath {
    domain: String,
}

/// The `{token}` of a path.
#[derive(Debug, Deserialize)]
pub(super) struct TokenPath {
    token: String,
}

/// A domain to claim or verify.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DomainBody {
    /// The email domain, e.g. `example.com`.
    pub domain: String,
}

/// The tenant's API tokens, without their secrets.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ApiTokenList)]
pub(super) struct TokenList {
    pub tokens: Vec<ApiTokenRecord>,
}

/// Lists the tenant's API tokens (revoked and expired ones included), without secrets.
#[utoipa::path(get, path = "/tokens", tag = "admin", operation_id = "list_api_tokens",
    responses((status = 200, body = TokenList)))]
pub(super) async fn list_tokens(
    State(state): State<AppState>,
    Require(auth): Require<WriteTokens>,
) -> Result<Json<TokenList>, ApiError> {
    Ok(Json(TokenList {
        tokens: api_tokens::list(&state, &auth).await?,
    }))
}

/// Creates an API token; the answer is the only time its secret is shown.
#[utoipa::path(post, path = "/tokens", tag = "admin", operation_id = "create_api_token",
    request_body = CreateApiToken, responses((status = 201, body = CreatedApiToken)))]
pub(super) async fn create_token(
    State(state): State<AppState>,
    Require(auth): Require<WriteTokens>,
    Ctx(ctx): Ctx,
    ApiJson(req): ApiJson<CreateApiToken>,
) -> Result<(StatusCode, Json<CreatedApiToken>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(api_tokens::create(&state, &auth, &ctx, req).await?),
    ))
}

/// Revokes an API token at once.
#[utoipa::path(delete, path = "/tokens/{token}", tag = "admin", operation_id = "revoke_api_token",
    params(("token" = TokenId, Path)), responses((status = 200, body = ApiTokenRecord)))]
pub(super) async fn revoke_token(
    State(state): State<AppState>,
    Require(auth): Require<WriteTokens>,
    Ctx(ctx): Ctx,
    Path(TokenPath { token }): Path<TokenPath>,
) -> Result<Json<ApiTokenRecord>, ApiError> {
    let token: TokenId = path_param(&token)?;
    Ok(Json(api_tokens::revoke(&state, &auth, &ctx, token).await?))
}

/// Replaces an API token with a new one; the old one keeps working for the overlap.
#[utoipa::path(post, path = "/tokens/{token}/rotate", tag = "admin",
    operation_id = "rotate_api_token", params(("token" = TokenId, Path)),
    request_body = RotateApiToken, responses((status = 201, body = CreatedApiToken)))]
async fn rotate_token(
    State(state): State<AppState>,
    Require(auth): Require<WriteTokens>,
    Ctx(ctx): Ctx,
    Path(token): Path<String>,
    ApiJson(req): ApiJson<RotateApiToken>,
) -> Result<(StatusCode, Json<CreatedApiToken>), ApiError> {
    let token: TokenId = path_param(&token)?;
    Ok((
        StatusCode::CREATED,
        Json(api_tokens::rotate(&state, &auth, &ctx, token, req).await?),
    ))
}

/// A new public token for the tenant's IdP-facing URLs; the old one works for the overlap.
#[utoipa::path(post, path = "/tenant/public-token/rotate", tag = "admin",
    operation_id = "rotate_public_token", request_body = public_token::Rotate,
    responses((status = 200, body = public_token::Rotated)))]
pub(super) async fn rotate_public_token(
    State(state): State<AppState>,
    Require(auth): Require<RotatePublicToken>,
    Ctx(ctx): Ctx,
    ApiJson(req): ApiJson<public_token::Rotate>,
) -> Result<Json<public_token::Rotated>, ApiError> {
    Ok(Json(public_token::rotate(&state, &auth, &ctx, req).await?))
}

/// Registers a SCIM client (OAuth client credentials); a secret, if any, is shown only now.
#[utoipa::path(post, path = "/scim-clients", tag = "admin", operation_id = "create_scim_client",
    request_body = scim_clients::NewScimClient,
    responses((status = 201, body = scim_clients::CreatedScimClient)))]
async fn create_scim_client(
    State(state): State<AppState>,
    Require(auth): Require<ManageScimClients>,
    Ctx(ctx): Ctx,
    ApiJson(req): ApiJson<scim_clients::NewScimClient>,
) -> Result<(StatusCode, Json<scim_clients::CreatedScimClient>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(scim_clients::create(&state, &auth, &ctx, req).await?),
    ))
}

/// Lists the tenant's SCIM clients, without secrets.
#[utoipa::path(get, path = "/scim-clients", tag = "admin", operation_id = "list_scim_clients",
    responses((status = 200, body = Vec<scim_clients::ScimClientView>)))]
async fn list_scim_clients(
    State(state): State<AppState>,
    Require(auth): Require<ManageScimClients>,
) -> Result<Json<Vec<scim_clients::ScimClientView>>, ApiError> {
    Ok(Json(scim_clients::list(&state, &auth).await?))
}

/// Revokes a SCIM client.
#[utoipa::path(delete, path = "/scim-clients/{id}", tag = "admin",
    operation_id = "revoke_scim_client", params(("id" = TokenId, Path)),
    responses((status = 204)))]
async fn revoke_scim_client(
    State(state): State<AppState>,
    Require(auth): Require<ManageScimClients>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: TokenId = path_param(&id)?;
    scim_clients::revoke(&state, &auth, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists the users' authenticators (enrolled, pending or locked), by email.
#[utoipa::path(get, path = "/mfa/enrolments", tag = "admin", operation_id = "list_mfa_enrolments",
    params(mfa::Page), responses((status = 200, body = Vec<Enrolment>)))]
async fn mfa_enrolments(
    State(state): State<AppState>,
    Require(auth): Require<ReadUsers>,
    ApiQuery(page): ApiQuery<mfa::Page>,
) -> Result<Json<Vec<Enrolment>>, ApiError> {
    Ok(Json(mfa::list(&state, &auth, page).await?))
}

/// Invites someone as a local user: the answer carries the link to set a password.
#[utoipa::path(post, path = "/invitations", tag = "admin", operation_id = "invite_user",
    request_body = links::Invite, responses((status = 201, body = links::Issued)))]
async fn invite(
    State(state): State<AppState>,
    Require(auth): Require<WriteUsers>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<links::Invite>,
) -> Result<(StatusCode, Json<links::Issued>), ApiError> {
    let issued = links::invite(&state, &auth, &ctx, body).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Issues a password-reset link for a local user.
#[utoipa::path(post, path = "/users/{user}/password-reset", tag = "admin",
    operation_id = "issue_password_reset", params(("user" = UserId, Path)),
    responses((status = 201, body = links::Issued)))]
async fn password_reset(
    State(state): State<AppState>,
    Require(auth): Require<WriteUsers>,
    Ctx(ctx): Ctx,
    Path(user): Path<String>,
) -> Result<(StatusCode, Json<links::Issued>), ApiError> {
    let issued = links::reset(&state, &auth, &ctx, path_param(&user)?).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Deactivates a local user: they can no longer sign in.
#[utoipa::path(post, path = "/users/{user}/deactivate", tag = "admin",
    operation_id = "deactivate_user", params(("user" = UserId, Path)),
    responses((status = 204)))]
async fn deactivate_user(
    State(state): State<AppState>,
    Require(auth): Require<WriteUsers>,
    Ctx(ctx): Ctx,
    Path(user): Path<String>,
) -> Result<StatusCode, ApiError> {
    local_users::set_active(&state, &auth, &ctx, path_param(&user)?, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reactivates a deactivated local user.
#[utoipa::path(post, path = "/users/{user}/reactivate", tag = "admin",
    operation_id = "reactivate_user", params(("user" = UserId, Path)),
    responses((status = 204)))]
async fn reactivate_user(
    State(state): State<AppState>,
    Require(auth): Require<WriteUsers>,
    Ctx(ctx): Ctx,
    Path(user): Path<String>,
) -> Result<StatusCode, ApiError> {
    local_users::set_active(&state, &auth, &ctx, path_param(&user)?, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists a user's live sessions.
#[utoipa::path(get, path = "/users/{user}/sessions", tag = "admin",
    operation_id = "list_user_sessions", params(("user" = UserId, Path)),
    responses((status = 200, body = Vec<SessionView>)))]
async fn user_sessions(
    State(state): State<AppState>,
    Require(auth): Require<ReadUsers>,
    Path(user): Path<String>,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let user = path_param(&user)?;
    Ok(Json(manage::list_for_admin(&state, &auth, user).await?))
}

/// Ends one of a user's sessions.
#[utoipa::path(delete, path = "/users/{user}/sessions/{session}", tag = "admin",
    operation_id = "revoke_user_session",
    params(("user" = UserId, Path), ("session" = SessionId, Path)),
    responses((status = 204)))]
async fn revoke_session(
    State(state): State<AppState>,
    Require(auth): Require<WriteUsers>,
    Ctx(ctx): Ctx,
    Path((user, session)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (user, session) = (path_param(&user)?, path_param(&session)?);
    manage::revoke_for_admin(&state, &auth, &ctx, user, session).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Resets a user's MFA: the authenticator and recovery codes go, and the user enrols again.
#[utoipa::path(delete, path = "/users/{user}/mfa", tag = "admin", operation_id = "reset_user_mfa",
    params(("user" = UserId, Path)), responses((status = 204)))]
async fn reset_mfa(
    State(state): State<AppState>,
    Require(auth): Require<WriteUsers>,
    Ctx(ctx): Ctx,
    Path(user): Path<String>,
) -> Result<StatusCode, ApiError> {
    mfa::reset(&state, &auth, &ctx, path_param(&user)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lifts the lock on a user's MFA after too many failed codes.
#[utoipa::path(post, path = "/users/{user}/mfa/unlock", tag = "admin",
    operation_id = "unlock_user_mfa", params(("user" = UserId, Path)),
    responses((status = 204)))]
async fn unlock_mfa(
    State(state): State<AppState>,
    Require(auth): Require<WriteUsers>,
    Ctx(ctx): Ctx,
    Path(user): Path<String>,
) -> Result<StatusCode, ApiError> {
    mfa::unlock(&state, &auth, &ctx, path_param(&user)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

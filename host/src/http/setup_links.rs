//! Setup links over HTTP. The operator's routes (`/operator/v1/tenants/{tenant}/setup-links`)
//! issue, list and revoke them; the page a link opens (`/setup/{token}`) says what it is for
//! and, on the button, spends it and starts the setup session in the console's SSO section.
//! Opening the page spends nothing, so a mail scanner that fetches the link does not use it
//! up. The page is anonymous: rate-limited per client address, never cached, no referrer.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Json, Router};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::csrf::Csrf;
use super::error::ApiError;
use super::extract::{path_param, ApiJson, Ctx};
use super::pages::{expired_form, failure_page, notice, private, render, secure, Setup};
use super::require::Require;
use super::sign_in_limits::over_limit;
use super::state::AppState;
use crate::error::Error;
use crate::rbac::OperateInstance;
use crate::sessions::setup_links::{self, IssuedSetupLink, NewSetupLink, GONE, SESSION_SECS};
use crate::sso::failure::Failure;
use crate::store::setup_links::SetupLinkRecord;
use crate::tenancy;
use crate::types::TokenId;

/// The operator's routes, under `/operator/v1`.
pub fn operator_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, issue))
        .routes(routes!(revoke))
}

/// The page a link opens.
pub fn router() -> Router<AppState> {
    Router::new().route(
        &format!("{}/{{token}}", setup_links::PAGE),
        get(page).post(start),
    )
}

/// The setup links of a tenant, newest first (never their tokens).
#[utoipa::path(get, path = "/tenants/{tenant}/setup-links", tag = "operator",
    operation_id = "list_setup_links",
    params(("tenant" = String, Path, description = "The tenant's id or slug")),
    responses((status = 200, body = Vec<SetupLinkRecord>)))]
async fn list(
    State(state): State<AppState>,
    Require(_auth): Require<OperateInstance>,
    Path(tenant): Path<String>,
) -> Result<Json<Vec<SetupLinkRecord>>, ApiError> {
    let tenant = tenancy::resolve(&state.store, &tenant).await?;
    Ok(Json(setup_links::list(&state, tenant.id).await?))
}

/// Issues a one-time setup link: it lets a customer's IT admin set up SSO and SCIM for the
/// tenant without an account. The answer is the only time the link is shown.
#[utoipa::path(post, path = "/tenants/{tenant}/setup-links", tag = "operator",
    operation_id = "issue_setup_link",
    params(("tenant" = String, Path, description = "The tenant's id or slug")),
    request_body = NewSetupLink, responses((status = 201, body = IssuedSetupLink)))]
async fn issue(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
    Ctx(ctx): Ctx,
    Path(tenant): Path<String>,
    ApiJson(req): ApiJson<NewSetupLink>,
) -> Result<(StatusCode, Json<IssuedSetupLink>), ApiError> {
    let tenant = tenancy::resolve(&state.store, &tenant).await?;
    let issued = setup_links::issue(&state, &auth, &tenant, &ctx, req).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

#[derive(Deserialize)]
struct LinkPath {
    tenant: String,
    link: String,
}

/// Revokes a setup link: unused, it opens nothing; used, its setup session ends at once.
#[utoipa::path(delete, path = "/tenants/{tenant}/setup-links/{link}", tag = "operator",
    operation_id = "revoke_setup_link",
    params(("tenant" = String, Path, description = "The tenant's id or slug"),
        ("link" = TokenId, Path)),
    responses((status = 200, body = SetupLinkRecord)))]
async fn revoke(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
    Ctx(ctx): Ctx,
    Path(p): Path<LinkPath>,
) -> Result<Json<SetupLinkRecord>, ApiError> {
    let tenant = tenancy::resolve(&state.store, &p.tenant).await?;
    let id = path_param::<TokenId>(&p.link).map_err(|_| Error::NotFound("setup link"))?;
    Ok(Json(
        setup_links::revoke(&state, &auth, tenant.id, id, &ctx).await?,
    ))
}

fn gone() -> Response {
    private(notice(
        StatusCode::GONE,
        "Setup link not usable",
        Some("link_gone"),
        GONE,
    ))
}

async fn page(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    csrf: Csrf,
    Path(token): Path<String>,
) -> Response {
    if let Some(refused) = over_limit(&state, &ctx, &[]) {
        return refused;
    }
    let (link, tenant) = match setup_links::open(&state, &token).await {
        Ok(Some(found)) => found,
        Ok(None) => return gone(),
        Err(e) => return failure_page(Failure::Internal(e)),
    };
    let page = Setup {
        csrf: csrf.token(),
        token: &token,
        tenant: &tenant,
        label: &link.label,
        hours: SESSION_SECS / 3600,
    };
    private(csrf.apply(render(StatusCode::OK, &page), secure(&state)))
}

#[derive(Deserialize)]
struct StartForm {
    csrf: Option<String>,
}

async fn start(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    csrf: Csrf,
    Path(token): Path<String>,
    form: Result<Form<StartForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    if let Some(refused) = over_limit(&state, &ctx, &[]) {
        return refused;
    }
    let presented = form.ok().and_then(|Form(f)| f.csrf);
    if !csrf.verify(presented.as_deref()) {
        return expired_form(&state, &csrf);
    }
    match setup_links::redeem(&state, &token, &ctx).await {
        Ok(session) => private(
            (
                StatusCode::SEE_OTHER,
                [
                    (
                        header::SET_COOKIE,
                        setup_links::set_cookie(&state, &session),
                    ),
                    (header::LOCATION, "/console/sso".to_string()),
                ],
            )
                .into_response(),
        ),
        Err(Error::Unauthenticated(_)) => gone(),
        Err(e) => failure_page(Failure::from(e)),
    }
}

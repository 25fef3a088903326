//! [`Require<P>`]: the caller's proof of a permission, as an extractor, so handlers start
//! with what they may do rather than a preamble. On the tenant API (`/api/v1`) the tenant is
//! the one the caller's token (or signed-in user) belongs to; on the operator's tenant routes
//! (`/operator/v1/tenants/{tenant}/…`) it is the tenant the path names, and only the operator
//! may call them. The operator and tenant routes of the same action share one handler. A
//! tenant's API token and signed-in user are also held to the tenant policy's admin-API
//! allow-list (the operator, who can undo a lock-out, is not). A permission that belongs to
//! an add-on feature is refused (`feature-not-enabled`) when the tenant does not have it,
//! whoever asks.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;

use super::error::ApiError;
use super::extract::{Caller, Ctx};
use super::state::AppState;
use crate::error::Error;
use crate::rbac::{self, Authorized, OperateInstance, Principal, TenantPermission};
use crate::tenancy;

/// The caller may exercise `P` (on the request's tenant, for a tenant permission).
pub struct Require<P>(pub Authorized<P>);

impl<P: TenantPermission> FromRequestParts<AppState> for Require<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Caller(caller) = Caller::from_request_parts(parts, state).await?;
        let named = RawPathParams::from_request_parts(parts, state)
            .await
            .ok()
            .and_then(|params| {
                params
                    .iter()
                    .find(|(name, _)| *name == "tenant")
                    .map(|(_, value)| value.to_string())
            });
        let mut resolved = None;
        let tenant = match (named, &caller) {
            (Some(named), _) => {
                rbac::operator(&caller)?;
                let record = tenancy::resolve(&state.store, &named).await?;
                let id = record.id;
                resolved = Some(record);
                id
            }
            (
                None,
                Principal::ApiToken {
                    tenant, token_id, ..
                },
            ) => {
                let Ctx(ctx) = Ctx::from_request_parts(parts, state).await?;
                crate::policy::admit::admin_api(state, *tenant, &token_id.to_string(), &ctx)
                    .await?;
                *tenant
            }
            (
                None,
                Principal::User {
                    tenant, session, ..
                },
            ) => {
                let Ctx(ctx) = Ctx::from_request_parts(parts, state).await?;
                crate::policy::admit::admin_api(state, *tenant, &session.to_string(), &ctx).await?;
                *tenant
            }
            (None, Principal::SetupLink { tenant, link, .. }) => {
                let Ctx(ctx) = Ctx::from_request_parts(parts, state).await?;
                crate::policy::admit::admin_api(state, *tenant, &link.to_string(), &ctx).await?;
                *tenant
            }
            (None, Principal::Operator { .. }) => {
                return Err(Error::Forbidden(
                    "the operator token acts on tenants through /operator/v1/tenants/{tenant}/…"
                        .into(),
                )
                .into())
            }
        };
        match (&resolved, P::FEATURE) {
            (Some(record), Some(feature)) => tenancy::features::check(record, feature)?,
            (None, _) => tenancy::features::require_for::<P>(state, tenant).await?,
            (Some(_), None) => {}
        }
        Ok(Require(rbac::for_tenant::<P>(&caller, tenant)?))
    }
}

impl FromRequestParts<AppState> for Require<OperateInstance> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Caller(caller) = Caller::from_request_parts(parts, state).await?;
        Ok(Require(rbac::operator(&caller)?))
    }
}

//! Rotating a tenant's public token, the opaque id in its IdP-facing URLs (SAML entity id,
//! ACS and metadata, the OIDC redirect URI, the SCIM base URL, start links): a new token is
//! issued and the old one keeps working for an overlap, so the admin can give the IdPs the
//! new URLs without a sign-in or provisioning outage. A request that arrives by the old
//! token is served with the old URLs (what that IdP was configured with). Only the last
//! rotation's token overlaps: rotating again ends the one before at once. Audited as
//! `tenant.public_token_rotated` (the token values are not in the audit log).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::action::Action;
use crate::audit::{self, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::rbac::{Authorized, RotatePublicToken};
use crate::services::Services;
use crate::store::{self, tenants::TenantStatus};
use crate::types::Timestamp;

/// How long the old token works when the request names no overlap: a week to update IdPs.
pub const DEFAULT_OVERLAP_SECONDS: i64 = 7 * 24 * 3600;
/// Longest overlap: a rotation is meant to retire the old URLs.
pub const MAX_OVERLAP_SECONDS: i64 = 30 * 24 * 3600;

/// The request: how long the old token overlaps.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RotatePublicToken)]
pub struct Rotate {
    /// Seconds the old token keeps working (0 to 30 days; a week when absent).
    pub overlap_seconds: Option<i64>,
}

/// The answer: the new token and until when the old one works.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = RotatedPublicToken)]
pub struct Rotated {
    pub public_token: String,
    pub previous_token_valid_until: Timestamp,
}

pub async fn rotate(
    state: &Services,
    auth: &Authorized<RotatePublicToken>,
    ctx: &RequestContext,
    req: Rotate,
) -> Result<Rotated, Error> {
    let overlap = req.overlap_seconds.unwrap_or(DEFAULT_OVERLAP_SECONDS);
    if !(0..=MAX_OVERLAP_SECONDS).contains(&overlap) {
        return Err(Error::invalid(
            "overlap_seconds",
            format!("overlap_seconds must be between 0 and {MAX_OVERLAP_SECONDS}"),
        ));
    }
    let tenant = auth.tenant();
    let now = state.clock.now();
    let until = now.plus_seconds(overlap);
    let token = super::public_token();
    let mut tx = state.store.begin().await?;
    let before = store::tenants::get_for_update(&mut tx, tenant)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    if before.status == TenantStatus::Deleted {
        return Err(Error::NotFound("tenant"));
    }
    store::tenants::rotate_public_token(&mut tx, tenant, &token, until, now).await?;
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor: auth.actor(),
            action: Action::TenantPublicTokenRotated,
            target: Target::new("tenant", tenant),
            before: None,
            after: Some(json!({ "overlap_seconds": overlap, "previous_token_valid_until": until })),
        },
    )
    .await?;
    tx.commit().await?;
    state.cache.invalidate_tenant(tenant);
    Ok(Rotated {
        public_token: token,
        previous_token_valid_until: until,
    })
}

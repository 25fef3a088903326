//! Tenant security policy. Today: SSO-only mode, which turns local passwords off for everyone
//! but the break-glass owner. Changes are audited as `policy.updated`.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::action::Action;
use crate::audit::{self, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::rbac::{Authorized, ReadTenant, WriteSso};
use crate::services::Services;
use crate::store;

/// A tenant's policy as the admin API shows and takes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Only SSO signs users in; the owner's password still works.
    pub sso_only: bool,
}

pub async fn get(state: &Services, auth: &Authorized<ReadTenant>) -> Result<Policy, Error> {
    Ok(Policy {
        sso_only: store::tenants::sso_only(&state.store, auth.tenant()).await?,
    })
}

pub async fn set(
    state: &Services,
    auth: &Authorized<WriteSso>,
    ctx: &RequestContext,
    policy: Policy,
) -> Result<Policy, Error> {
    let tenant = auth.tenant();
    let before = store::tenants::sso_only(&state.store, tenant).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    store::tenants::set_sso_only(&mut tx, tenant, policy.sso_only, now).await?;
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor: auth.actor(),
            action: Action::PolicyUpdated,
            target: Target::new("tenant", tenant),
            before: Some(json!({"sso_only": before})),
            after: Some(json!({"sso_only": policy.sso_only})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(policy)
}

//! The tenant security policy: one document ([`Policy`]) that an admin reads and replaces
//! through the API, fills from a preset, and that [`admit`] enforces on every path that makes a
//! session or a token. Every change is audited as `policy.updated` with the whole policy
//! before and after. This module owns the meaning and the enforcement; the SQL is in
//! `store::tenants`, the sessions it limits in `sessions::browser`.

pub mod admit;
pub mod document;
pub mod idp_mfa;
pub mod networks;
pub mod passwords;
pub mod presets;

use serde_json::json;

pub use document::{MfaRequired, Policy};

use crate::audit::action::Action;
use crate::audit::{self, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::rbac::{Authorized, ReadPolicy, WritePolicy};
use crate::services::Services;
use crate::store::tenants::Feature;
use crate::store::{self, sessions::SessionRow, tenants::PolicyRow, Store};
use crate::types::{TenantId, Timestamp};

/// A tenant's policy in force, and when MFA last became required (the grace period's start).
#[derive(Debug, Clone, Default)]
pub struct InForce {
    pub policy: Policy,
    pub mfa_required_since: Option<Timestamp>,
}

/// Whether session `s` is still live at `now` under `lifetimes` (idle, absolute seconds, from
/// [`Policy::session_lifetimes`]): the tenant's current lifetimes apply to every session at its
/// next request, whatever they were when it opened.
pub fn live(s: &SessionRow, (idle, absolute): (i64, i64), now: Timestamp) -> bool {
    s.revoked_at.is_none()
        && now < s.idle_expires_at
        && now < s.absolute_expires_at
        && now < s.created_at.plus_seconds(absolute)
        && now < s.last_seen_at.plus_seconds(idle)
}

/// The policy of `tenant` (the default when it never saved one).
pub async fn load(store: &Store, tenant: TenantId) -> Result<InForce, Error> {
    let Some(row) = store::tenants::policy(store, tenant).await? else {
        return Ok(InForce::default());
    };
    let policy = serde_json::from_str(&row.document).map_err(|e| {
        Error::Internal(anyhow::anyhow!(
            "the stored policy of {tenant} does not parse: {e}"
        ))
    })?;
    Ok(InForce {
        policy,
        mfa_required_since: row.mfa_required_since,
    })
}

pub async fn get(state: &Services, auth: &Authorized<ReadPolicy>) -> Result<Policy, Error> {
    Ok(load(&state.store, auth.tenant()).await?.policy)
}

/// Replaces the policy. A change that would keep the caller's own address out of an
/// allow-list is refused unless `confirm_lockout` says the admin means it.
pub async fn set(
    state: &Services,
    auth: &Authorized<WritePolicy>,
    ctx: &RequestContext,
    policy: Policy,
    confirm_lockout: bool,
) -> Result<Policy, Error> {
    save(state, auth, ctx, policy, confirm_lockout, None).await
}

/// Applies the preset `name` to the current policy and saves the result.
pub async fn apply_preset(
    state: &Services,
    auth: &Authorized<WritePolicy>,
    ctx: &RequestContext,
    name: &str,
) -> Result<Policy, Error> {
    let current = load(&state.store, auth.tenant()).await?.policy;
    let policy = presets::apply(name, &current, &state.config.sessions)?;
    save(state, auth, ctx, policy, false, Some(name)).await
}

async fn save(
    state: &Services,
    auth: &Authorized<WritePolicy>,
    ctx: &RequestContext,
    policy: Policy,
    confirm_lockout: bool,
    preset: Option<&str>,
) -> Result<Policy, Error> {
    let tenant = auth.tenant();
    policy.validate(&state.config.sessions)?;
    // The operator is held to neither list, and is the one who can undo a lock-out.
    let operator = matches!(auth.principal(), crate::rbac::Principal::Operator { .. });
    if !confirm_lockout && !operator {
        lockout_guard(&policy, ctx)?;
    }
    let before = load(&state.store, tenant).await?;
    let now = state.clock.now();
    let mfa_required_since = match (before.policy.mfa.required, policy.mfa.required) {
        (_, MfaRequired::Off) => None,
        (MfaRequired::Off, _) => Some(now),
        _ => before.mfa_required_since,
    };
    let row = PolicyRow {
        document: serde_json::to_string(&policy).map_err(|e| Error::Internal(e.into()))?,
        mfa_required_since,
    };
    let mut tx = state.store.begin().await?;
    // Requiring MFA or SSO-only sign-in needs the tenant to have that feature (checked with
    // the tenant row locked, so the operator cannot turn it off in between).
    if policy.mfa.required != MfaRequired::Off {
        crate::tenancy::features::live_with(&mut tx, tenant, Feature::Mfa).await?;
    }
    if policy.sso_only {
        crate::tenancy::features::live_with(&mut tx, tenant, Feature::Sso).await?;
    }
    store::tenants::put_policy(&mut tx, tenant, &row, now).await?;
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor: auth.actor(),
            action: Action::PolicyUpdated,
            target: Target::new("tenant", tenant),
            before: Some(json!(before.policy)),
            after: Some(json!({
                "policy": policy,
                "preset": preset,
                "lockout_confirmed": confirm_lockout,
            })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(policy)
}

/// Refuses an allow-list that does not hold the address of the admin saving it.
fn lockout_guard(policy: &Policy, ctx: &RequestContext) -> Result<(), Error> {
    for (field, list) in [
        ("networks.admin_api", &policy.networks.admin_api),
        ("networks.sign_in", &policy.networks.sign_in),
    ] {
        if !networks::allows(list, ctx.ip.as_deref()) {
            return Err(Error::Conflict(format!(
                "{field} does not include your address ({}), so saving it would lock you out; \
                 send the same request with ?confirm_lockout=true to save it anyway",
                ctx.ip.as_deref().unwrap_or("unknown")
            )));
        }
    }
    Ok(())
}

//! Per-tenant add-on entitlements: which parts of Gatehouse the operator has enabled for a
//! tenant ([`Feature`]), as the SaaS vendor sells them per customer. A disabled feature answers
//! `feature-not-enabled` (403; in SCIM form on `/scim/v2`, as a refusal page on sign-in
//! pages, in OAuth form on the token endpoint) wherever it is reached:
//!
//! | feature | refused while off |
//! |---|---|
//! | `sso` | connection admin API; every IdP-facing URL of a connection (start, SAML metadata and ACS, OIDC callback); sign-in routing by email or hint; token exchange; a policy with `sso_only` |
//! | `scim` | `/scim/v2` (the IdP's SCIM client); API tokens with the `scim` scope |
//! | `mfa` | TOTP enrolment; a policy that requires MFA. Authenticators already enrolled are still asked for at sign-in: turning a paid feature off never weakens sign-in |
//! | `roles` | the role catalogue, manual role assignment, the decision (AuthZEN) API |
//! | `audit_export` | export downloads and export jobs |
//! | `audit_streaming` | the stream admin API; turning it off pauses the tenant's streams |
//! | `custom_plugins` | uploading plugins and putting one of the tenant's own in the pipeline (built-in and operator-published plugins stay available) |
//!
//! Permissions carry their feature ([`crate::rbac::TenantPermission::FEATURE`]), so the admin
//! API checks it in the same extractor as the permission; the IdP-facing paths call
//! [`check`] on the tenant they resolved. Turning a feature off is refused while the tenant
//! still depends on it in a way that would lock users out or leave a half state (a policy
//! requiring MFA or SSO-only, a custom plugin in the pipeline): the refusal says what to
//! change first. Every change is audited as `tenant.features_changed`.

use serde::Deserialize;
use serde_json::json;

use crate::audit::action::Action;
use crate::audit::{self, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::rbac::{Authorized, OperateInstance, TenantPermission};
use crate::services::Services;
use crate::store::plugins::Owner;
use crate::store::tenants::{Feature, Features, TenantRecord, TenantStatus};
use crate::store::{self, Tx};
use crate::types::TenantId;

/// The message a refusal carries: what is off and who can turn it on.
pub fn refusal(feature: Feature) -> String {
    let what = match feature {
        Feature::Sso => "single sign-on",
        Feature::Scim => "SCIM provisioning",
        Feature::Mfa => "multi-factor authentication",
        Feature::Roles => "roles and the decision API",
        Feature::AuditExport => "audit export",
        Feature::AuditStreaming => "audit streaming",
        Feature::CustomPlugins => "custom plugins",
    };
    format!(
        "{what} (`{feature}`) is not enabled for this tenant; the operator enables it with \
         PUT /operator/v1/tenants/{{tenant}}/features"
    )
}

/// Ok when `tenant` has `feature`.
pub fn check(tenant: &TenantRecord, feature: Feature) -> Result<(), Error> {
    if tenant.features.contains(feature) {
        Ok(())
    } else {
        Err(Error::FeatureNotEnabled(feature))
    }
}

/// Ok when the tenant with id `tenant` has `feature` (read through the node cache).
pub async fn require(state: &Services, tenant: TenantId, feature: Feature) -> Result<(), Error> {
    let record = state
        .cache
        .tenant_by_id(tenant, || store::tenants::get(&state.store, tenant))
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    check(&record, feature)
}

/// Ok when the tenant with id `tenant` has the feature permission `P` belongs to, if any.
pub async fn require_for<P: TenantPermission>(
    state: &Services,
    tenant: TenantId,
) -> Result<(), Error> {
    match P::FEATURE {
        Some(feature) => require(state, tenant, feature).await,
        None => Ok(()),
    }
}

/// Locks the tenant's row inside `tx` and checks it is not deleted and has `feature`, so a
/// change that needs the feature and the operator turning it off cannot interleave.
pub(crate) async fn live_with(
    tx: &mut Tx,
    tenant: TenantId,
    feature: Feature,
) -> Result<(), Error> {
    match store::tenants::get_for_update(tx, tenant).await? {
        Some(t) if t.status != TenantStatus::Deleted => check(&t, feature),
        _ => Err(Error::NotFound("tenant")),
    }
}

/// The operator's request: the complete set of features the tenant has from now on.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SetTenantFeatures)]
pub struct SetFeatures {
    #[schema(value_type = Vec<Feature>)]
    pub enabled: Vec<String>,
}

/// Parses feature names, naming the first unknown one and the known ones.
pub fn parse(names: &[String], field: &'static str) -> Result<Features, Error> {
    names
        .iter()
        .map(|n| {
            n.parse::<Feature>().map_err(|_| {
                let known: Vec<&str> = Feature::ALL.iter().map(|f| f.as_str()).collect();
                Error::invalid(
                    field,
                    format!("unknown feature {n:?}; known: {}", known.join(", ")),
                )
            })
        })
        .collect()
}

/// Replaces the tenant's features. A repeat of the current set is a no-op without an event.
pub async fn set(
    state: &Services,
    auth: &Authorized<OperateInstance>,
    ctx: &RequestContext,
    id: TenantId,
    req: SetFeatures,
) -> Result<TenantRecord, Error> {
    let wanted = parse(&req.enabled, "enabled")?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let before = store::tenants::get_for_update(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    if before.status == TenantStatus::Deleted {
        return Err(Error::Conflict("the tenant has been deleted".into()));
    }
    if before.features == wanted {
        return Ok(before);
    }
    let removed: Vec<Feature> = before
        .features
        .iter()
        .filter(|f| !wanted.contains(*f))
        .collect();
    for feature in &removed {
        still_needed(&state.store, id, *feature).await?;
    }
    store::tenants::set_features(&mut tx, id, &wanted, now).await?;
    let streams_paused = if removed.contains(&Feature::AuditStreaming) {
        store::audit_streams::pause_all(&mut tx, id, now).await?
    } else {
        0
    };
    let mut after = before.clone();
    after.features = wanted;
    after.updated_at = now;
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(id),
            actor: auth.actor(),
            action: Action::TenantFeaturesChanged,
            target: Target::new("tenant", id),
            before: Some(json!({ "features": before.features })),
            after: Some(json!({
                "features": after.features,
                "audit_streams_paused": streams_paused,
            })),
        },
    )
    .await?;
    tx.commit().await?;
    state.cache.invalidate_tenant(id);
    Ok(after)
}

/// Refuses to turn `feature` off while the tenant depends on it, saying what to change first.
async fn still_needed(
    store: &store::Store,
    tenant: TenantId,
    feature: Feature,
) -> Result<(), Error> {
    match feature {
        Feature::Mfa | Feature::Sso => {
            let policy = crate::policy::load(store, tenant).await?.policy;
            if feature == Feature::Mfa && policy.mfa.required != crate::policy::MfaRequired::Off {
                return Err(Error::Conflict(
                    "the tenant's policy requires MFA; set `mfa.required` to `off` first \
                     (PUT /operator/v1/tenants/{tenant}/policy)"
                        .into(),
                ));
            }
            if feature == Feature::Sso && policy.sso_only {
                return Err(Error::Conflict(
                    "the tenant's policy allows sign-in only through SSO; set `sso_only` to \
                     false first (PUT /operator/v1/tenants/{tenant}/policy)"
                        .into(),
                ));
            }
        }
        Feature::CustomPlugins => {
            let own = |id| async move {
                let plugin = store::plugins::get(store, Owner::Tenant(tenant), id).await?;
                Ok::<_, Error>(plugin.is_some_and(|p| p.owner == Owner::Tenant(tenant)))
            };
            for stage in store::plugins::stages(store, tenant).await? {
                if own(stage.plugin_id).await? {
                    return Err(Error::Conflict(format!(
                        "the tenant's `{}` stage runs one of its own plugins; reset it first \
                         (DELETE /api/v1/pipeline/{})",
                        stage.stage, stage.stage
                    )));
                }
            }
            for (connection, adapter) in
                store::plugin_slots::connection_adapters(store, tenant).await?
            {
                if own(adapter.plugin_id).await? {
                    return Err(Error::Conflict(format!(
                        "connection {connection} runs one of the tenant's own plugins as its \
                         adapter; reset it first (DELETE /api/v1/sso/connections/{connection}/adapter)"
                    )));
                }
            }
        }
        Feature::Scim | Feature::Roles | Feature::AuditExport | Feature::AuditStreaming => {}
    }
    Ok(())
}

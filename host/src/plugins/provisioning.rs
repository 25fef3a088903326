//! The plugin hooks of SCIM provisioning: the tenant's `scim-adapter` rewrites each request
//! before the SCIM server reads it (no adapter: the request passes unchanged), and the
//! tenant's `role-mapper` turns a user's SCIM group memberships into role assignments. Both
//! run the cached pipeline on the blocking pool and fail closed, audited as `plugin.failed`.

use super::convert;
use super::dry_run::{blocking, PluginRef};
use super::recording;
use super::sign_in::{audit_failure, cached_pipeline, Failed};
use super::world::World;
use crate::audit::RequestContext;
use crate::error::Error;
use crate::identity::{Identity, RoleGrant};
use crate::scim::request::Sent;
use crate::services::Services;
use crate::types::TenantId;

/// The request the SCIM server should process: the adapter's rewrite, or `request` itself.
pub async fn normalize_scim(
    state: &Services,
    tenant: TenantId,
    ctx: &RequestContext,
    sent: Sent,
) -> Result<Sent, Error> {
    let pipeline = cached_pipeline(state, tenant).await?;
    recording::scim(state, tenant, pipeline.recording, &sent).await;
    if pipeline.scim.is_none() {
        return Ok(sent);
    }
    let request = convert::scim_request_to_wit(&sent);
    let registry = state.plugins.clone();
    let run = pipeline.clone();
    let path = request.path.clone();
    let outcome = blocking(move || {
        let stage = run.scim.as_ref().expect("checked above");
        registry
            .host()
            .normalize(&stage.loaded, &stage.config.merged(), &request)
    })
    .await?;
    match outcome.result {
        Ok(rewritten) => Ok(convert::scim_request_of(rewritten)),
        Err(error) => {
            let stage = pipeline.scim.as_ref().expect("checked above");
            let plugin = PluginRef::of(&stage.record);
            let failed = Failed {
                what: "scim",
                plugin: &plugin,
                stage: World::ScimAdapter,
                error: &error,
                subject: &path,
            };
            audit_failure(state, tenant, ctx, failed).await?;
            Err(Error::PluginFailed {
                stage: World::ScimAdapter.as_str(),
                detail: error.to_string(),
            })
        }
    }
}

/// The role assignments the tenant's role mapper gives each identity (whose `groups` are the
/// user's SCIM groups), in order. One failure fails them all.
pub async fn map_roles(
    state: &Services,
    tenant: TenantId,
    ctx: &RequestContext,
    identities: Vec<Identity>,
) -> Result<Vec<Vec<RoleGrant>>, Error> {
    if identities.is_empty() {
        return Ok(Vec::new());
    }
    let pipeline = cached_pipeline(state, tenant).await?;
    let registry = state.plugins.clone();
    let run = pipeline.clone();
    let results = blocking(move || {
        let stage = run.role_stage();
        let config = stage.config.merged();
        let mut out = Vec::with_capacity(identities.len());
        for identity in identities.iter().map(convert::identity_to_wit) {
            let outcome =
                registry
                    .host()
                    .map_roles(&stage.loaded, &config, &identity, &run.catalogue);
            match outcome.result {
                Ok(roles) => out.push(convert::grants_of(roles)),
                Err(e) => return Err((identity.subject.clone(), e)),
            }
        }
        Ok(out)
    })
    .await?;
    match results {
        Ok(roles) => Ok(roles),
        Err((subject, error)) => {
            let plugin = PluginRef::of(&pipeline.role_stage().record);
            let failed = Failed {
                what: "scim",
                plugin: &plugin,
                stage: World::RoleMapper,
                error: &error,
                subject: &subject,
            };
            audit_failure(state, tenant, ctx, failed).await?;
            Err(Error::PluginFailed {
                stage: World::RoleMapper.as_str(),
                detail: error.to_string(),
            })
        }
    }
}

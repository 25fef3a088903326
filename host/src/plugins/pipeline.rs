//! A tenant's pipeline: which plugin version runs at each stage (idp-adapter →
//! attribute-mapper → role-mapper for sign-in, scim-adapter for SCIM), with each stage's
//! configuration sealed by the tenant's data key. Unassigned stages use the built-in default
//! (no SCIM adapter: requests pass unchanged). Dry-runs are in `dry_run`; a real run fails
//! closed and audits the failing stage (`sign_in`, `provisioning`).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::config::MAX_KEY_BYTES;
use super::limits::PluginConfig;
use super::registry::PluginView;
use super::runtime::Loaded;
use super::world::World;
use crate::audit::action::Action;
use crate::audit::{self, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::rbac::{Authorized, ReadPlugins, WritePlugins};
use crate::services::Services;
use crate::store::plugins::{Owner, PluginRecord, StageRecord};
use crate::store::tenants::Feature;
use crate::store::{self};
use crate::types::{PluginId, TenantId, Timestamp};

/// Most configuration entries (values and secrets together) one stage may have.
pub const MAX_CONFIG_ENTRIES: usize = 64;
/// Longest configuration value; configuration is settings, not data.
pub const MAX_CONFIG_VALUE_BYTES: usize = 4096;

/// A stage's configuration as stored (sealed) and as the plugin reads it (merged).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(super) struct StageConfig {
    pub(super) values: BTreeMap<String, String>,
    pub(super) secrets: BTreeMap<String, String>,
}

impl StageConfig {
    pub(super) fn check(&self) -> Result<(), Error> {
        if self.values.len() + self.secrets.len() > MAX_CONFIG_ENTRIES {
            return Err(Error::invalid(
                "config",
                format!("at most {MAX_CONFIG_ENTRIES} entries (values and secrets together)"),
            ));
        }
        for (key, value) in self.values.iter().chain(&self.secrets) {
            let key_ok = !key.is_empty()
                && key.len() <= MAX_KEY_BYTES
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
            if !key_ok {
                return Err(Error::invalid(
                    "config",
                    format!(
                        "key `{}` must be 1–{MAX_KEY_BYTES} letters, digits, `_`, `.` or `-`",
                        crate::types::truncate(key, 40)
                    ),
                ));
            }
            if value.len() > MAX_CONFIG_VALUE_BYTES {
                return Err(Error::invalid(
                    "config",
                    format!("the value of `{key}` is longer than {MAX_CONFIG_VALUE_BYTES} bytes"),
                ));
            }
        }
        if let Some(key) = self.values.keys().find(|k| self.secrets.contains_key(*k)) {
            return Err(Error::invalid(
                "config",
                format!("`{key}` is given both as a value and as a secret"),
            ));
        }
        Ok(())
    }

    /// What the plugin's `config` import serves: values and secrets in one map.
    pub(super) fn merged(&self) -> PluginConfig {
        let mut all = self.values.clone();
        all.extend(self.secrets.clone());
        Arc::new(all)
    }
}

fn purpose(stage: World) -> String {
    format!("plugin-config:{stage}")
}

pub(super) async fn open_config(
    state: &Services,
    tenant: TenantId,
    stage: World,
    sealed: Option<&[u8]>,
) -> Result<StageConfig, Error> {
    let Some(sealed) = sealed else {
        return Ok(StageConfig::default());
    };
    let plain = state
        .secrets
        .open(&state.store, tenant, &purpose(stage), sealed)
        .await?;
    serde_json::from_slice(&plain)
        .map_err(|e| Error::Internal(anyhow::anyhow!("stored stage config does not parse: {e}")))
}

/// A stage ready to run.
pub(super) struct Stage {
    pub(super) record: PluginRecord,
    pub(super) loaded: Loaded,
    pub(super) config: StageConfig,
}

/// The tenant's stored stages by world.
pub(super) async fn stored_stages(
    state: &Services,
    tenant: TenantId,
) -> Result<BTreeMap<World, StageRecord>, Error> {
    let mut map = BTreeMap::new();
    for s in store::plugins::stages(&state.store, tenant).await? {
        let world = World::parse(&s.stage)
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("unknown stage {}", s.stage)))?;
        map.insert(world, s);
    }
    Ok(map)
}

/// The plugin and configuration a stage runs: the assigned one, else the built-in default.
pub(super) async fn resolve(
    state: &Services,
    tenant: TenantId,
    world: World,
    stored: Option<&StageRecord>,
) -> Result<Option<Stage>, Error> {
    let viewer = Owner::Tenant(tenant);
    let (id, config) = match stored {
        Some(s) => (
            s.plugin_id,
            open_config(state, tenant, world, s.config_sealed.as_deref()).await?,
        ),
        None => match state.plugins.default_for(world) {
            Some(id) => (id, StageConfig::default()),
            None => return Ok(None),
        },
    };
    let (record, loaded) = state.plugins.load(&state.store, viewer, id).await?;
    Ok(Some(Stage {
        record,
        loaded,
        config,
    }))
}

/// One stage of the pipeline as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StageView {
    pub stage: World,
    /// The plugin that runs; none for an unassigned SCIM stage (requests pass unchanged).
    pub plugin: Option<PluginView>,
    /// False when the built-in default runs because nothing is assigned.
    pub assigned: bool,
    pub config: BTreeMap<String, String>,
    /// Names of the secret entries; their values are never shown.
    pub secret_keys: Vec<String>,
    pub updated_at: Option<Timestamp>,
}

/// The tenant's pipeline, every stage in order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PipelineView {
    pub stages: Vec<StageView>,
}

pub async fn get(state: &Services, auth: &Authorized<ReadPlugins>) -> Result<PipelineView, Error> {
    let tenant = auth.tenant();
    let stored = stored_stages(state, tenant).await?;
    let mut stages = Vec::new();
    for world in World::ALL {
        let s = stored.get(&world);
        let (plugin, config) = match s {
            Some(s) => {
                let record = store::plugins::get(&state.store, Owner::Tenant(tenant), s.plugin_id)
                    .await?
                    .ok_or(Error::NotFound("plugin"))?;
                let config = open_config(state, tenant, world, s.config_sealed.as_deref()).await?;
                (Some(PluginView::of(&record)), config)
            }
            None => {
                let plugin = match state.plugins.default_for(world) {
                    Some(id) => store::plugins::get(&state.store, Owner::Tenant(tenant), id)
                        .await?
                        .as_ref()
                        .map(PluginView::of),
                    None => None,
                };
                (plugin, StageConfig::default())
            }
        };
        stages.push(StageView {
            stage: world,
            plugin,
            assigned: s.is_some(),
            config: config.values,
            secret_keys: config.secrets.into_keys().collect(),
            updated_at: s.map(|s| s.updated_at),
        });
    }
    Ok(PipelineView { stages })
}

/// A stage assignment: the plugin version and its whole configuration (secrets are
/// write-only, so an update resends them).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignStage {
    pub plugin_id: PluginId,
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
}

fn stage_summary(record: &PluginRecord, config: &StageConfig) -> Value {
    json!({
        "plugin_id": record.id,
        "name": record.name,
        "version": record.version,
        "config": config.values,
        "secret_keys": config.secrets.keys().collect::<Vec<_>>(),
    })
}

async fn current_summary(
    state: &Services,
    tenant: TenantId,
    world: World,
) -> Result<Option<Value>, Error> {
    let stored = stored_stages(state, tenant).await?;
    match stored.get(&world) {
        None => Ok(None),
        Some(s) => match resolve(state, tenant, world, Some(s)).await? {
            Some(stage) => Ok(Some(stage_summary(&stage.record, &stage.config))),
            None => Ok(None),
        },
    }
}

/// Assigns a plugin version (and its configuration) to a stage of the tenant's pipeline.
pub async fn assign(
    state: &Services,
    auth: &Authorized<WritePlugins>,
    ctx: &RequestContext,
    world: World,
    body: AssignStage,
) -> Result<StageView, Error> {
    let tenant = auth.tenant();
    let config = StageConfig {
        values: body.config,
        secrets: body.secrets,
    };
    config.check()?;
    let (record, _) = state
        .plugins
        .load(&state.store, Owner::Tenant(tenant), body.plugin_id)
        .await?;
    if record.world != world.as_str() {
        return Err(Error::invalid(
            "plugin_id",
            format!(
                "`{}` {} is a {} plugin and cannot run at the {world} stage",
                record.name, record.version, record.world
            ),
        ));
    }
    if record.owner == Owner::Tenant(tenant) {
        crate::tenancy::features::require(state, tenant, Feature::CustomPlugins).await?;
    }
    let before = current_summary(state, tenant, world).await?;
    let plain = serde_json::to_vec(&config).map_err(|e| Error::Internal(e.into()))?;
    let sealed = state
        .secrets
        .seal(&state.store, tenant, &purpose(world), &plain)
        .await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    if record.owner == Owner::Tenant(tenant) {
        crate::tenancy::features::live_with(&mut tx, tenant, Feature::CustomPlugins).await?;
    } else {
        crate::tenancy::domains::live_tenant(&mut tx, tenant).await?;
    }
    store::plugins::put_stage(
        &mut tx,
        tenant,
        &StageRecord {
            stage: world.as_str().to_string(),
            plugin_id: record.id,
            config_sealed: Some(sealed),
            updated_at: now,
        },
    )
    .await?;
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor: auth.actor(),
            action: Action::PipelineStageAssigned,
            target: Target::new("pipeline_stage", world),
            before,
            after: Some(stage_summary(&record, &config)),
        },
    )
    .await?;
    tx.commit().await?;
    state.cache.invalidate_tenant(tenant);
    Ok(StageView {
        stage: world,
        plugin: Some(PluginView::of(&record)),
        assigned: true,
        config: config.values,
        secret_keys: config.secrets.into_keys().collect(),
        updated_at: Some(now),
    })
}

/// Returns a stage to its built-in default (rollback to "nothing custom").
pub async fn reset(
    state: &Services,
    auth: &Authorized<WritePlugins>,
    ctx: &RequestContext,
    world: World,
) -> Result<(), Error> {
    let tenant = auth.tenant();
    let before = current_summary(state, tenant, world).await?;
    let mut tx = state.store.begin().await?;
    if !store::plugins::delete_stage(&mut tx, tenant, world.as_str()).await? {
        return Err(Error::NotFound("pipeline stage assignment"));
    }
    audit::record(
        &mut tx,
        state.clock.now(),
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor: auth.actor(),
            action: Action::PipelineStageReset,
            target: Target::new("pipeline_stage", world),
            before,
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    state.cache.invalidate_tenant(tenant);
    Ok(())
}

//! A tenant's pipeline: which plugin version runs at each stage (idp-adapter →
//! attribute-mapper → role-mapper for sign-in, scim-adapter for SCIM) and as each connection's
//! own adapter, with each slot's configuration sealed by the tenant's data key. Unassigned
//! stages use the built-in default (no SCIM adapter: requests pass unchanged); a connection
//! without its own adapter uses the idp-adapter stage. Changing a slot is `activation`'s;
//! dry-runs are in `dry_run`; a real run fails closed and audits the failing stage
//! (`sign_in`, `provisioning`).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::config::MAX_KEY_BYTES;
use super::limits::PluginConfig;
use super::registry::PluginView;
use super::runtime::Loaded;
use super::slot::Slot;
use super::world::World;
use crate::error::Error;
use crate::rbac::{Authorized, ReadPlugins};
use crate::services::Services;
use crate::store::plugins::{Owner, PluginRecord, StageRecord};
use crate::store::{self};
use crate::types::{ConnectionId, PluginId, TenantId, Timestamp};

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

pub(super) async fn open_config(
    state: &Services,
    tenant: TenantId,
    slot: Slot,
    sealed: Option<&[u8]>,
) -> Result<StageConfig, Error> {
    let Some(sealed) = sealed else {
        return Ok(StageConfig::default());
    };
    let plain = state
        .secrets
        .open(&state.store, tenant, &slot.purpose(), sealed)
        .await?;
    serde_json::from_slice(&plain)
        .map_err(|e| Error::Internal(anyhow::anyhow!("stored stage config does not parse: {e}")))
}

/// A stage ready to run.
#[derive(Clone)]
pub(super) struct Stage {
    pub(super) record: PluginRecord,
    pub(super) loaded: Loaded,
    pub(super) config: StageConfig,
}

/// A stage's plugin and opened configuration without its compiled component: what the node
/// cache keeps, so that cached pipelines do not hold components in memory beyond the
/// registry's budget.
#[derive(Clone)]
pub(super) struct StageSpec {
    pub(super) record: PluginRecord,
    pub(super) config: StageConfig,
}

impl StageSpec {
    /// The stage with its component (resident, or reloaded from the compiled cache).
    pub(super) async fn ready(&self, state: &Services, tenant: TenantId) -> Result<Stage, Error> {
        let loaded = state
            .plugins
            .loaded_for(&state.store, Owner::Tenant(tenant), &self.record)
            .await?;
        Ok(Stage {
            record: self.record.clone(),
            loaded,
            config: self.config.clone(),
        })
    }
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

/// The plugin and configuration a slot runs: the assigned one, else a stage's built-in
/// default (none for a connection's adapter: its sign-ins use the idp-adapter stage).
pub(super) async fn resolve(
    state: &Services,
    tenant: TenantId,
    slot: Slot,
    stored: Option<&StageRecord>,
) -> Result<Option<StageSpec>, Error> {
    let viewer = Owner::Tenant(tenant);
    let (id, config) = match (stored, slot) {
        (Some(s), _) => (
            s.plugin_id,
            open_config(state, tenant, slot, s.config_sealed.as_deref()).await?,
        ),
        (None, Slot::Stage(world)) => match state.plugins.default_for(world) {
            Some(id) => (id, StageConfig::default()),
            None => return Ok(None),
        },
        (None, Slot::Adapter(_)) => return Ok(None),
    };
    let record = store::plugins::get(&state.store, viewer, id)
        .await?
        .ok_or(Error::NotFound("plugin"))?;
    Ok(Some(StageSpec { record, config }))
}

/// What runs in a slot, as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StageView {
    pub stage: World,
    /// The connection whose own adapter this is; absent for a stage of the pipeline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<ConnectionId>,
    /// The plugin that runs; none for an unassigned SCIM stage (requests pass unchanged).
    pub plugin: Option<PluginView>,
    /// False when the default runs because nothing is assigned here: a stage's built-in, or
    /// for a connection the tenant's idp-adapter stage (shown with its configuration).
    pub assigned: bool,
    pub config: BTreeMap<String, String>,
    /// Names of the secret entries; their values are never shown.
    pub secret_keys: Vec<String>,
    pub updated_at: Option<Timestamp>,
}

/// The tenant's pipeline: every stage in order, then each connection's own adapter.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PipelineView {
    pub stages: Vec<StageView>,
    pub connection_adapters: Vec<StageView>,
}

/// What runs in `slot` now.
pub async fn slot_view(state: &Services, tenant: TenantId, slot: Slot) -> Result<StageView, Error> {
    let stored = store::plugin_slots::current(&state.store, tenant, slot.key()).await?;
    let (shown, stored) = match (slot, stored) {
        (Slot::Adapter(_), None) => {
            let stage = Slot::Stage(World::IdpAdapter);
            let stored = store::plugin_slots::current(&state.store, tenant, stage.key()).await?;
            (stage, stored)
        }
        (_, stored) => (slot, stored),
    };
    let config = match &stored {
        Some(s) => open_config(state, tenant, shown, s.config_sealed.as_deref()).await?,
        None => StageConfig::default(),
    };
    let plugin_id = match &stored {
        Some(s) => Some(s.plugin_id),
        None => state.plugins.default_for(shown.world()),
    };
    let plugin = match plugin_id {
        Some(id) => Some(PluginView::of(
            &store::plugins::get(&state.store, Owner::Tenant(tenant), id)
                .await?
                .ok_or(Error::NotFound("plugin"))?,
        )),
        None => None,
    };
    Ok(StageView {
        stage: slot.world(),
        connection_id: match slot {
            Slot::Adapter(id) => Some(id),
            Slot::Stage(_) => None,
        },
        plugin,
        assigned: shown == slot && stored.is_some(),
        config: config.values,
        secret_keys: config.secrets.into_keys().collect(),
        updated_at: stored.map(|s| s.updated_at),
    })
}

pub async fn get(state: &Services, auth: &Authorized<ReadPlugins>) -> Result<PipelineView, Error> {
    let tenant = auth.tenant();
    let mut stages = Vec::new();
    for world in World::ALL {
        stages.push(slot_view(state, tenant, Slot::Stage(world)).await?);
    }
    let mut connection_adapters = Vec::new();
    for (id, _) in store::plugin_slots::connection_adapters(&state.store, tenant).await? {
        connection_adapters.push(slot_view(state, tenant, Slot::Adapter(id)).await?);
    }
    Ok(PipelineView {
        stages,
        connection_adapters,
    })
}

/// A slot assignment: the plugin version and its whole configuration (secrets are
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

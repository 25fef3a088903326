//! The plugin registry: the node's runtime, the built-ins registered at start, and the
//! bounded in-memory map of compiled components by content hash ([`super::resident`]), loaded
//! from the stored components uploaded by the operator (visible to every tenant) or by a
//! tenant (visible to it alone).
//! Uploading, listing and deleting them is [`super::manage`]'s.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::json;

use super::builtins::BUILTINS;
use super::limits::{Limits, PluginError};
use super::resident::{Resident, ResidentStats};
use super::runtime::digest;
use super::runtime::{Loaded, PluginHost};
use super::world::World;
use crate::audit::action::Action;
use crate::audit::{self, Actor, Chain, NewEvent, RequestContext, Target};
use crate::config::Config;
use crate::error::Error;
use crate::store::plugins::{Owner, PluginRecord};
use crate::store::{self, Store, StoreError};
use crate::types::{Clock, PluginId};

/// The node's plugin runtime and what it has compiled.
pub struct Registry {
    host: Arc<PluginHost>,
    resident: Resident,
    /// The built-in used for each stage a tenant has not assigned.
    defaults: BTreeMap<World, PluginId>,
    /// Every built-in's registered id, by name.
    builtins: BTreeMap<&'static str, PluginId>,
    pub(super) max_component_bytes: usize,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("defaults", &self.defaults)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// Starts the runtime and registers the built-ins (once per content, across nodes).
    pub async fn start(config: &Config, store: &Store, clock: &Clock) -> anyhow::Result<Self> {
        let p = &config.plugins;
        let limits = Limits {
            memory_bytes: p.memory_mib * 1024 * 1024,
            timeout: std::time::Duration::from_millis(p.timeout_ms),
            fuel: p.fuel,
        };
        let host = PluginHost::with_cache(limits, Some(config.plugin_cache_dir()))?;
        let mut defaults = BTreeMap::new();
        let mut builtins = BTreeMap::new();
        for builtin in BUILTINS {
            let record = register_builtin(store, clock, builtin).await?;
            builtins.insert(builtin.name, record.id);
            if builtin.default_for_stage {
                defaults.insert(builtin.world, record.id);
            }
        }
        let registry = Self {
            host: Arc::new(host),
            resident: Resident::new(p.loaded_budget_mib.saturating_mul(1024 * 1024)),
            defaults,
            builtins,
            max_component_bytes: p.max_component_bytes,
        };
        registry.warm_builtins().await?;
        Ok(registry)
    }

    /// Compiles (or loads from the on-disk cache) every built-in before the node serves: the
    /// first sign-ins and SCIM requests after a start or on a new node then find the default
    /// path ready instead of all waiting on Cranelift at once. The load's own warm-up
    /// instantiation ignores a failure; the one here makes a built-in that cannot start stop
    /// the node.
    async fn warm_builtins(&self) -> anyhow::Result<()> {
        for builtin in BUILTINS {
            let loaded = self
                .compile(builtin.name, builtin.wasm.to_vec(), true)
                .await
                .map_err(|e| anyhow::anyhow!("built-in {} does not load: {e}", builtin.name))?;
            self.host
                .instantiate_only(&loaded)
                .map_err(|e| anyhow::anyhow!("built-in {} does not start: {e}", builtin.name))?;
        }
        Ok(())
    }

    pub fn host(&self) -> &PluginHost {
        &self.host
    }

    /// The built-in a stage uses when the tenant has not assigned one.
    pub fn default_for(&self, world: World) -> Option<PluginId> {
        self.defaults.get(&world).copied()
    }

    /// The registered id of the built-in named `name`.
    pub fn builtin(&self, name: &str) -> Option<PluginId> {
        self.builtins.get(name).copied()
    }

    /// Compiles (or takes from the caches) `wasm`, off the async threads; a `pinned`
    /// component (a built-in) stays resident whatever the budget.
    pub(super) async fn compile(
        &self,
        name: &str,
        wasm: Vec<u8>,
        pinned: bool,
    ) -> Result<Loaded, PluginError> {
        if let Some(hit) = self.resident.get(&digest(&wasm)) {
            return Ok(hit);
        }
        self.compile_fresh(name, wasm, pinned).await
    }

    /// Compiles (or loads from the on-disk cache) `wasm` already known not to be resident,
    /// and keeps it resident.
    async fn compile_fresh(
        &self,
        name: &str,
        wasm: Vec<u8>,
        pinned: bool,
    ) -> Result<Loaded, PluginError> {
        let host = self.host.clone();
        let name = name.to_string();
        let loaded =
            tokio::task::spawn_blocking(move || host.load(&name, &wasm).map(warmed(&host)))
                .await
                .map_err(|e| PluginError::Trap(format!("compilation task failed: {e}")))??;
        self.resident.insert(loaded.clone(), pinned);
        Ok(loaded)
    }

    /// Brings back an evicted component from the compiled cache on disk alone, off the
    /// async threads; `None` when the cache does not hold it.
    async fn reload(&self, record: &PluginRecord) -> Option<Loaded> {
        let host = self.host.clone();
        let (name, sha256) = (record.name.clone(), record.sha256.clone());
        let loaded = tokio::task::spawn_blocking(move || {
            host.reload(&name, &sha256).map(|r| r.map(warmed(&host)))
        })
        .await
        .ok()??;
        match loaded {
            Ok(loaded) => {
                self.resident.insert(loaded.clone(), record.builtin);
                Some(loaded)
            }
            Err(e) => {
                tracing::warn!(plugin = %record.id, error = %e,
                    "a cached compiled plugin did not load; loading it from its bytes");
                None
            }
        }
    }

    /// The record and compiled component of a plugin `viewer` can see.
    pub(super) async fn load(
        &self,
        store: &Store,
        viewer: Owner,
        id: PluginId,
    ) -> Result<(PluginRecord, Loaded), Error> {
        let record = store::plugins::get(store, viewer, id)
            .await?
            .ok_or(Error::NotFound("plugin"))?;
        let loaded = self.loaded_for(store, viewer, &record).await?;
        Ok((record, loaded))
    }

    /// The compiled component of `record`: resident, or reloaded from the compiled cache on
    /// disk, or (when the cache lost it) loaded from its bytes in the database.
    pub(super) async fn loaded_for(
        &self,
        store: &Store,
        viewer: Owner,
        record: &PluginRecord,
    ) -> Result<Loaded, Error> {
        if let Some(hit) = self.resident.get(&record.sha256) {
            return Ok(hit);
        }
        if let Some(loaded) = self.reload(record).await {
            return Ok(loaded);
        }
        let wasm = store::plugins::wasm(store, viewer, record.id)
            .await?
            .ok_or(Error::NotFound("plugin"))?;
        // Not `compile`: its residency check would count this miss a second time.
        self.compile_fresh(&record.name, wasm, record.builtin)
            .await
            .map_err(|e| {
                Error::Internal(anyhow::anyhow!(
                    "stored plugin {} no longer loads: {e}",
                    record.id
                ))
            })
    }

    /// Budget, size, hits, misses and evictions of the resident components.
    pub fn resident_stats(&self) -> ResidentStats {
        self.resident.stats()
    }
}

/// Instantiates a just-loaded component once and drops the instance, on the loading
/// thread: wasmtime builds a component's memory images on its first instantiation, and the
/// code pages fault in on their first run, which would otherwise count against the first
/// call's time limit. A failure here is left for the real call to report.
fn warmed(host: &PluginHost) -> impl Fn(Loaded) -> Loaded + '_ {
    move |loaded| {
        let _ = host.instantiate_only(&loaded);
        loaded
    }
}

async fn register_builtin(
    store: &Store,
    clock: &Clock,
    builtin: &super::builtins::Builtin,
) -> anyhow::Result<PluginRecord> {
    let sha256 = digest(builtin.wasm);
    let version = builtin.version(&sha256);
    if let Some(existing) = store::plugins::find_published(store, builtin.name, &version).await? {
        return Ok(existing);
    }
    let record = PluginRecord {
        id: PluginId::generate(),
        owner: Owner::Operator,
        name: builtin.name.to_string(),
        version,
        world: builtin.world.as_str().to_string(),
        sha256,
        size: builtin.wasm.len() as i64,
        builtin: true,
        description: Some(builtin.description.to_string()),
        uploaded_by: "builtin".into(),
        created_at: clock.now(),
    };
    let mut tx = store.begin().await?;
    match store::plugins::insert(&mut tx, &record, builtin.wasm).await {
        // Another node registered it first.
        Err(StoreError::UniqueViolation(_)) => {
            drop(tx);
            return store::plugins::find_published(store, builtin.name, &record.version)
                .await?
                .ok_or_else(|| anyhow::anyhow!("built-in {} vanished", builtin.name));
        }
        other => other?,
    }
    audit::record(
        &mut tx,
        record.created_at,
        &RequestContext::default(),
        NewEvent {
            chain: Chain::Operator,
            actor: Actor::system("startup"),
            action: Action::PluginPublished,
            target: Target::new("plugin", record.id),
            before: None,
            after: Some(json!(PluginView::of(&record))),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(record)
}

/// A plugin version as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PluginView {
    pub id: PluginId,
    pub name: String,
    pub version: String,
    /// The plugin's kind (its WIT world), e.g. `role-mapper`.
    pub world: String,
    pub sha256: String,
    pub size: i64,
    /// `published` (operator, visible to every tenant) or `private` (one tenant's).
    #[schema(value_type = String, pattern = "^(published|private)$")]
    pub visibility: &'static str,
    pub builtin: bool,
    pub description: Option<String>,
    pub uploaded_by: String,
    pub created_at: crate::types::Timestamp,
}

impl PluginView {
    pub(super) fn of(r: &PluginRecord) -> Self {
        Self {
            id: r.id,
            name: r.name.clone(),
            version: r.version.clone(),
            world: r.world.clone(),
            sha256: r.sha256.clone(),
            size: r.size,
            visibility: match r.owner {
                Owner::Operator => "published",
                Owner::Tenant(_) => "private",
            },
            builtin: r.builtin,
            description: r.description.clone(),
            uploaded_by: r.uploaded_by.clone(),
            created_at: r.created_at,
        }
    }
}

//! The plugin registry: components uploaded by the operator (visible to every tenant) or by a
//! tenant (visible to it alone), the built-ins registered at start, and the in-memory map of
//! compiled components by content hash. Uploads are validated by compiling them and naming
//! their world; every change is audited in the same transaction.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::builtins::BUILTINS;
use super::runtime::digest;
use super::{Limits, Loaded, PluginError, PluginHost, World};
use crate::app::AppState;
use crate::audit::action::Action;
use crate::audit::{self, Actor, Chain, NewEvent, RequestContext, Target};
use crate::config::Config;
use crate::error::Error;
use crate::rbac::{Authorized, OperateInstance, ReadTenant, WritePlugins};
use crate::store::plugins::{Owner, PluginRecord};
use crate::store::{self, Store, StoreError};
use crate::types::{Clock, PluginId};

/// Most compiled components kept in memory per node; past it the map is emptied and refilled
/// on demand (from the on-disk cache, so cheaply). Bounds memory when tenants upload many.
const MAX_LOADED: usize = 512;

/// Longest plugin name or version.
const MAX_NAME_BYTES: usize = 64;
/// Longest description.
const MAX_DESCRIPTION_BYTES: usize = 500;

/// The node's plugin runtime and what it has compiled.
pub struct Registry {
    host: Arc<PluginHost>,
    loaded: Mutex<HashMap<String, Loaded>>,
    /// The built-in used for each stage a tenant has not assigned.
    defaults: BTreeMap<World, PluginId>,
    max_component_bytes: usize,
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
        for builtin in BUILTINS {
            let record = register_builtin(store, clock, builtin).await?;
            if builtin.default_for_stage {
                defaults.insert(builtin.world, record.id);
            }
        }
        let registry = Self {
            host: Arc::new(host),
            loaded: Mutex::new(HashMap::new()),
            defaults,
            max_component_bytes: p.max_component_bytes,
        };
        registry.warm_builtins().await?;
        Ok(registry)
    }

    /// Compiles (or loads from the on-disk cache) every built-in and instantiates each once,
    /// before the node serves: the first sign-ins and SCIM requests after a start or on a new
    /// node then find the default path ready instead of all waiting on Cranelift at once.
    async fn warm_builtins(&self) -> anyhow::Result<()> {
        for builtin in BUILTINS {
            let loaded = self
                .compile(builtin.name, builtin.wasm.to_vec())
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

    /// Compiles (or takes from the caches) `wasm`, off the async threads.
    async fn compile(&self, name: &str, wasm: Vec<u8>) -> Result<Loaded, PluginError> {
        let sha256 = digest(&wasm);
        if let Some(hit) = self.cached(&sha256) {
            return Ok(hit);
        }
        let host = self.host.clone();
        let name = name.to_string();
        let loaded = tokio::task::spawn_blocking(move || host.load(&name, &wasm))
            .await
            .map_err(|e| PluginError::Trap(format!("compilation task failed: {e}")))??;
        let mut map = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_LOADED {
            map.clear();
        }
        map.insert(sha256, loaded.clone());
        Ok(loaded)
    }

    fn cached(&self, sha256: &str) -> Option<Loaded> {
        self.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(sha256)
            .cloned()
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
        if let Some(hit) = self.cached(&record.sha256) {
            return Ok((record, hit));
        }
        let wasm = store::plugins::wasm(store, viewer, id)
            .await?
            .ok_or(Error::NotFound("plugin"))?;
        let loaded = self.compile(&record.name, wasm).await.map_err(|e| {
            Error::Internal(anyhow::anyhow!(
                "stored plugin {} no longer loads: {e}",
                record.id
            ))
        })?;
        Ok((record, loaded))
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

/// Who can see plugins: the operator sees the published ones, a tenant those plus its own.
pub trait ViewPlugins {
    fn viewer(&self) -> Owner;
}

/// Who can change plugins: the operator (published) or a tenant admin (its own).
pub trait WritePluginsAs: ViewPlugins {
    fn actor(&self) -> Actor;
}

impl ViewPlugins for Authorized<OperateInstance> {
    fn viewer(&self) -> Owner {
        Owner::Operator
    }
}
impl WritePluginsAs for Authorized<OperateInstance> {
    fn actor(&self) -> Actor {
        Authorized::actor(self)
    }
}
impl ViewPlugins for Authorized<ReadTenant> {
    fn viewer(&self) -> Owner {
        Owner::Tenant(self.tenant())
    }
}
impl ViewPlugins for Authorized<WritePlugins> {
    fn viewer(&self) -> Owner {
        Owner::Tenant(self.tenant())
    }
}
impl WritePluginsAs for Authorized<WritePlugins> {
    fn actor(&self) -> Actor {
        Authorized::actor(self)
    }
}

pub(super) fn chain_of(owner: Owner) -> Chain {
    match owner {
        Owner::Operator => Chain::Operator,
        Owner::Tenant(t) => Chain::Tenant(t),
    }
}

/// A plugin version as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PluginView {
    pub id: PluginId,
    pub name: String,
    pub version: String,
    pub world: String,
    pub sha256: String,
    pub size: i64,
    /// `published` (operator, visible to every tenant) or `private` (one tenant's).
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

/// Upload parameters (query string; the body is the component).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadParams {
    /// Lower-case letters, digits and `-`, e.g. `acme-role-mapper`.
    pub name: String,
    /// Letters, digits, `.`, `-` and `+`, e.g. `1.2.0`.
    pub version: String,
    pub description: Option<String>,
}

fn check_params(p: &UploadParams) -> Result<(), Error> {
    let name_ok = !p.name.is_empty()
        && p.name.len() <= MAX_NAME_BYTES
        && p.name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !p.name.starts_with('-');
    if !name_ok {
        return Err(Error::invalid(
            "name",
            format!(
                "use 1–{MAX_NAME_BYTES} lower-case letters, digits and `-`, not starting with `-`"
            ),
        ));
    }
    let version_ok = !p.version.is_empty()
        && p.version.len() <= MAX_NAME_BYTES
        && p.version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b));
    if !version_ok {
        return Err(Error::invalid(
            "version",
            format!("use 1–{MAX_NAME_BYTES} letters, digits, `.`, `-`, `_` and `+`, e.g. 1.2.0"),
        ));
    }
    if p.description
        .as_ref()
        .is_some_and(|d| d.len() > MAX_DESCRIPTION_BYTES)
    {
        return Err(Error::invalid(
            "description",
            format!("at most {MAX_DESCRIPTION_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Validates and stores a component: it must compile, link against the capabilities the
/// host grants, and implement exactly one world.
pub async fn upload(
    state: &AppState,
    auth: &impl WritePluginsAs,
    ctx: &RequestContext,
    params: UploadParams,
    wasm: Vec<u8>,
) -> Result<PluginView, Error> {
    check_params(&params)?;
    let registry = &state.plugins;
    if wasm.len() > registry.max_component_bytes {
        return Err(Error::invalid(
            "component",
            format!(
                "the component is {} bytes; the limit is {} (plugins.max_component_bytes)",
                wasm.len(),
                registry.max_component_bytes
            ),
        ));
    }
    let loaded = registry
        .compile(&params.name, wasm.clone())
        .await
        .map_err(|e| Error::invalid("component", e.to_string()))?;
    let owner = auth.viewer();
    let record = PluginRecord {
        id: PluginId::generate(),
        owner,
        name: params.name,
        version: params.version,
        world: loaded.world().as_str().to_string(),
        sha256: loaded.sha256().to_string(),
        size: wasm.len() as i64,
        builtin: false,
        description: params.description,
        uploaded_by: auth.actor().id,
        created_at: state.clock.now(),
    };
    let mut tx = state.store.begin().await?;
    if let Owner::Tenant(t) = owner {
        crate::tenancy::domains::live_tenant(&mut tx, t).await?;
    }
    store::plugins::insert(&mut tx, &record, &wasm).await?;
    let view = PluginView::of(&record);
    audit::record(
        &mut tx,
        record.created_at,
        ctx,
        NewEvent {
            chain: chain_of(owner),
            actor: auth.actor(),
            action: Action::PluginUploaded,
            target: Target::new("plugin", record.id),
            before: None,
            after: Some(json!(view)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(view)
}

pub async fn list(state: &AppState, auth: &impl ViewPlugins) -> Result<Vec<PluginView>, Error> {
    Ok(store::plugins::list(&state.store, auth.viewer())
        .await?
        .iter()
        .map(PluginView::of)
        .collect())
}

pub async fn get(
    state: &AppState,
    auth: &impl ViewPlugins,
    id: PluginId,
) -> Result<PluginView, Error> {
    store::plugins::get(&state.store, auth.viewer(), id)
        .await?
        .as_ref()
        .map(PluginView::of)
        .ok_or(Error::NotFound("plugin"))
}

/// Deletes a plugin the caller owns, when no pipeline uses it. Built-ins stay.
pub async fn delete(
    state: &AppState,
    auth: &impl WritePluginsAs,
    ctx: &RequestContext,
    id: PluginId,
) -> Result<(), Error> {
    let owner = auth.viewer();
    let record = store::plugins::get(&state.store, owner, id)
        .await?
        .filter(|r| r.owner == owner)
        .ok_or(Error::NotFound("plugin"))?;
    if record.builtin {
        return Err(Error::Conflict("built-in plugins cannot be deleted".into()));
    }
    let mut tx = state.store.begin().await?;
    let used = store::plugins::usage(&mut tx, id).await?;
    if used > 0 {
        return Err(Error::Conflict(format!(
            "the plugin is assigned in {used} pipeline stage(s); assign another version first"
        )));
    }
    if !store::plugins::delete(&mut tx, owner, id).await? {
        return Err(Error::NotFound("plugin"));
    }
    audit::record(
        &mut tx,
        state.clock.now(),
        ctx,
        NewEvent {
            chain: chain_of(owner),
            actor: auth.actor(),
            action: Action::PluginDeleted,
            target: Target::new("plugin", id),
            before: Some(json!(PluginView::of(&record))),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    state.cache.invalidate_all();
    Ok(())
}

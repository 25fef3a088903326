//! The wasmtime runtime: one engine with the pooling allocator and epoch interruption, one
//! linker holding the capabilities (`log`, `config`, and the WASI of [`super::wasi`]: nothing
//! in it, and nothing that waits), components
//! compiled through the [`CompiledCache`] and pre-linked once, and a fresh store per call with
//! the per-call limits. What a call passes in and checks on the way out is in `calls`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Instance, InstancePre, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::gatehouse::plugin::log as wit_log;
use super::bindings::{self, exports::gatehouse::plugin as ex};
use super::cache::{CacheUse, CompiledCache};
use super::limits::{Limits, Outcome, PluginConfig, PluginError};
use super::log::{self, LogLine};
use super::world::{self, World};

/// How often the epoch advances; the wall-time limit is counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Most bytes one crossing from guest to host may make the host allocate: an export's result,
/// or the arguments of one host import call (a log line). wasmtime counts every string and
/// every list's entries against it *before* copying, so a result whose list entries all name
/// the same large block of guest memory is refused before the host copies it over and over.
/// Above every legitimate output (the largest, a SCIM adapter's rewritten request, is
/// [`super::calls::MAX_SCIM_OUTPUT_BYTES`]); wasmtime's own default is 128 MiB per crossing.
pub const MAX_TRANSFER_BYTES: usize = 2 * 1024 * 1024;

/// What wasmtime's refusal of an over-budget crossing says (its error type is private).
const TRANSFER_REFUSED: &str = "fuel allocated for hostcalls has been exhausted";

/// What a plugin instance can reach: its configuration, its log, and a WASI context that is
/// created empty only if the component calls WASI at all.
pub struct HostState {
    pub(super) plugin: Arc<str>,
    wasi: Option<WasiCtx>,
    table: ResourceTable,
    limiter: MemoryCap,
    pub(super) config: PluginConfig,
    pub(super) logs: Vec<LogLine>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            // No preopens, no env, no args, no network: `build()` of an empty builder.
            ctx: self.wasi.get_or_insert_with(|| WasiCtx::builder().build()),
            table: &mut self.table,
        }
    }
}

impl bindings::types::Host for HostState {}

impl wit_log::Host for HostState {
    fn emit(
        &mut self,
        level: wit_log::Level,
        message: String,
        fields: Vec<wit_log::Field>,
    ) -> Result<(), wit_log::LogError> {
        log::emit(&mut self.logs, &self.plugin, level, message, fields)
    }
}

/// Refuses memory growth past the cap, with an error the host can name.
struct MemoryCap {
    max_bytes: usize,
}

/// The marker error [`MemoryCap`] raises, so a refused growth is reported as
/// [`PluginError::MemoryLimit`] rather than as a generic trap.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {0} bytes reached")]
struct MemoryCapHit(usize);

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            return Err(MemoryCapHit(self.max_bytes).into());
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; 100k entries is far beyond any real plugin.
        Ok(desired <= 100_000)
    }
}

/// A compiled, pre-linked component, with its world's exports looked up once. Cheap to clone.
#[derive(Clone)]
pub struct Loaded {
    pub(super) name: Arc<str>,
    pub(super) world: World,
    pub(super) sha256: String,
    pub(super) pre: InstancePre<HostState>,
    pub(super) exports: Exports,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("name", &self.name)
            .field("world", &self.world)
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}

impl Loaded {
    pub fn world(&self) -> World {
        self.world
    }

    pub fn sha256(&self) -> &str {
        &self.sha256
    }
}

/// The export indices of the one interface a component implements.
#[derive(Clone)]
pub(super) enum Exports {
    Adapter(ex::adapter::GuestIndices),
    Attributes(ex::attributes::GuestIndices),
    Roles(ex::roles::GuestIndices),
    Scim(ex::scim::GuestIndices),
}

/// The engine and linker shared by every plugin. Dropping it stops the epoch ticker.
pub struct PluginHost {
    engine: Engine,
    linker: Linker<HostState>,
    limits: Limits,
    cache: CompiledCache,
    ticker_stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("limits", &self.limits)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl Drop for PluginHost {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// The sha256 of `wasm`, lower-case hex: a component's identity everywhere.
pub fn digest(wasm: &[u8]) -> String {
    hex::encode(Sha256::digest(wasm))
}

impl PluginHost {
    /// A host that compiles on every load (tests, `plugin check`).
    pub fn new(limits: Limits) -> anyhow::Result<Self> {
        Self::with_cache(limits, None)
    }

    /// A host that keeps compiled components in `cache_dir`.
    pub fn with_cache(limits: Limits, cache_dir: Option<PathBuf>) -> anyhow::Result<Self> {
        let mut cfg = wasmtime::Config::new();
        cfg.epoch_interruption(true)
            .consume_fuel(true)
            .concurrency_support(false)
            .max_wasm_stack(512 * 1024);
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        pool.total_component_instances(256)
            .total_core_instances(1024)
            .total_memories(512)
            .total_tables(512)
            // Per component, so one hostile component cannot take the pool's slots from
            // every other call: a std-built component (wasm32-wasip2, or wasip1 with the
            // adapter) has a handful of core instances, one or two memories and tables.
            .max_core_instances_per_component(16)
            .max_memories_per_component(2)
            .max_tables_per_component(8)
            .max_memory_size(limits.memory_bytes)
            // Keep the low 128 KiB of each memory slot resident and reset it with a memset:
            // a fresh instance per call then reuses warm pages instead of faulting them in
            // again. A guest linked with a 64 KiB stack (as the built-ins are) does all of a
            // call's work there; larger values cost more memset than they save in faults.
            .linear_memory_keep_resident(128 * 1024)
            .table_keep_resident(64 * 1024);
        cfg.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&cfg)?;
        let mut linker = Linker::new(&engine);
        bindings::Host_::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(
            &mut linker,
            |s| s,
        )?;
        super::wasi::add_to_linker(&mut linker)?;
        let cache = CompiledCache::new(&engine, cache_dir)?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(&engine, ticker_stop.clone())?;
        Ok(Self {
            engine,
            linker,
            limits,
            cache,
            ticker_stop,
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Compiles (or loads from the cache) and pre-links `wasm`, and names its world.
    pub fn load(&self, name: &str, wasm: &[u8]) -> Result<Loaded, PluginError> {
        self.load_traced(name, wasm).map(|(loaded, _)| loaded)
    }

    /// As [`PluginHost::load`], also saying whether the compiled cache served it.
    pub fn load_traced(&self, name: &str, wasm: &[u8]) -> Result<(Loaded, CacheUse), PluginError> {
        if is_core_module(wasm) {
            return Err(PluginError::Invalid(
                "this is a core WebAssembly module, not a component: build with \
                 `cargo component build` or `--target wasm32-wasip2`, or wrap it with \
                 `wasm-tools component new`"
                    .into(),
            ));
        }
        let sha256 = digest(wasm);
        let (component, used) = self
            .cache
            .get_or_compile(&self.engine, &sha256, wasm)
            .map_err(|e| PluginError::Invalid(format!("{e:#}")))?;
        Ok((self.prepared(name, sha256, &component)?, used))
    }

    /// The component whose wasm has digest `sha256`, from the compiled cache on disk alone
    /// (no wasm bytes, no compilation): how an evicted component comes back. `None` when the
    /// cache does not hold it (then load it from its bytes).
    pub fn reload(&self, name: &str, sha256: &str) -> Option<Result<Loaded, PluginError>> {
        let component = self.cache.get(&self.engine, sha256)?;
        Some(self.prepared(name, sha256.to_string(), &component))
    }

    /// Names `component`'s world, checks its imports and pre-links it.
    fn prepared(
        &self,
        name: &str,
        sha256: String,
        component: &wasmtime::component::Component,
    ) -> Result<Loaded, PluginError> {
        let world = world::classify(&self.engine, component).map_err(PluginError::WrongExports)?;
        super::wasi::check_imports(&self.engine, component)?;
        let pre = self.linker.instantiate_pre(component).map_err(|e| {
            PluginError::Invalid(format!(
                "it imports something the host does not provide: {e:#}"
            ))
        })?;
        let exports = exports_of(world, &pre)?;
        Ok(Loaded {
            name: Arc::from(name),
            world,
            sha256,
            pre,
            exports,
        })
    }

    /// A store for one call: fresh state, the memory cap, fuel and the epoch deadline.
    fn store(&self, plugin: &Loaded, config: &PluginConfig) -> Store<HostState> {
        let state = HostState {
            plugin: plugin.name.clone(),
            wasi: None,
            table: ResourceTable::new(),
            limiter: MemoryCap {
                max_bytes: self.limits.memory_bytes,
            },
            config: config.clone(),
            logs: Vec::new(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_hostcall_fuel(MAX_TRANSFER_BYTES);
        // Only fails when fuel is not enabled, and it always is.
        let _ = store.set_fuel(self.limits.fuel);
        let ticks = u64::try_from(self.limits.timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        store.set_epoch_deadline(ticks);
        store
    }

    /// Instantiates `plugin` in a fresh store and runs `call` on it; the store (and with it
    /// every trace of the call) is dropped before this returns.
    pub(super) fn run<T>(
        &self,
        plugin: &Loaded,
        config: &PluginConfig,
        call: impl FnOnce(
            &mut Store<HostState>,
            &Instance,
        ) -> wasmtime::Result<Result<T, bindings::types::PluginError>>,
    ) -> Outcome<T> {
        let started = Instant::now();
        let mut store = self.store(plugin, config);
        let result = match plugin.pre.instantiate(&mut store) {
            Ok(instance) => match call(&mut store, &instance) {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(e)) => Err(e.into()),
                Err(e) => Err(classify(e)),
            },
            Err(e) => Err(classify(e)),
        };
        let logs = std::mem::take(&mut store.data_mut().logs);
        drop(store);
        Outcome {
            result,
            logs,
            elapsed: started.elapsed(),
        }
    }

    /// Instantiates `plugin` in a fresh store and drops it: the instantiate cost alone.
    pub fn instantiate_only(&self, plugin: &Loaded) -> Result<(), PluginError> {
        let mut store = self.store(plugin, &PluginConfig::default());
        plugin.pre.instantiate(&mut store).map_err(classify)?;
        Ok(())
    }
}

/// A component starts with the component-model layer byte; a core module does not.
fn is_core_module(wasm: &[u8]) -> bool {
    // Header: magic `\0asm`, then a 2-byte version and a 2-byte layer (0 = core module).
    wasm.len() >= 8 && wasm.starts_with(b"\0asm") && wasm[6] == 0 && wasm[7] == 0
}

fn exports_of(world: World, pre: &InstancePre<HostState>) -> Result<Exports, PluginError> {
    let mismatch = |e: wasmtime::Error| {
        PluginError::WrongExports(format!(
            "the component exports `{}` but not with the functions and types of \
             gatehouse:plugin@0.1.0: {e:#}",
            world.export_name()
        ))
    };
    Ok(match world {
        World::IdpAdapter => {
            Exports::Adapter(ex::adapter::GuestIndices::new(pre).map_err(mismatch)?)
        }
        World::AttributeMapper => {
            Exports::Attributes(ex::attributes::GuestIndices::new(pre).map_err(mismatch)?)
        }
        World::RoleMapper => Exports::Roles(ex::roles::GuestIndices::new(pre).map_err(mismatch)?),
        World::ScimAdapter => Exports::Scim(ex::scim::GuestIndices::new(pre).map_err(mismatch)?),
    })
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the host is dropped.
fn spawn_epoch_ticker(engine: &Engine, stop: Arc<AtomicBool>) -> std::io::Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("plugin-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })?;
    Ok(())
}

/// Names a wasmtime failure by what the operator needs to know.
fn classify(e: wasmtime::Error) -> PluginError {
    if let Some(hit) = e.downcast_ref::<MemoryCapHit>() {
        return PluginError::MemoryLimit(hit.0);
    }
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => PluginError::Timeout,
        Some(wasmtime::Trap::OutOfFuel) => PluginError::OutOfFuel,
        Some(trap) => PluginError::Trap(trap.to_string()),
        None => {
            let text = format!("{e:#}");
            if text.contains(TRANSFER_REFUSED) {
                PluginError::OutputTooLarge(MAX_TRANSFER_BYTES)
            } else {
                PluginError::Trap(text)
            }
        }
    }
}

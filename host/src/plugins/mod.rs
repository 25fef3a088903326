//! The WebAssembly plugin host: one wasmtime engine with the pooling allocator, components
//! compiled once and pre-linked (`InstancePre`), and every call in a fresh store under a
//! memory cap, an epoch deadline and a fuel budget. A trap, timeout or limit is a typed
//! [`PluginError`], never a crash of the host. This is the only module that imports wasmtime.
//!
//! Not built yet: the content-addressed compiled cache, the per-tenant pipeline, the other
//! worlds' call paths, and the management API.

mod bindings;
mod config;
mod log;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{Component, InstancePre, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub use bindings::types;
pub use log::LogLine;

/// Largest output (summed string bytes) a plugin call may return; larger is an error, so a
/// plugin cannot push unbounded data into the directory.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// How often the epoch advances; the wall-time limit is counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Per-call limits. Defaults follow the plugin issue: 16 MiB, 10 ms.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest linear memory a call may grow to, in bytes.
    pub memory_bytes: usize,
    /// Wall time a call may run before it is interrupted.
    pub timeout: Duration,
    /// Fuel (roughly, wasm instructions) a call may burn.
    pub fuel: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 16 * 1024 * 1024,
            timeout: Duration::from_millis(10),
            fuel: 50_000_000,
        }
    }
}

/// Why a plugin call or load failed. The host fails the operation closed on every variant.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("not a valid WebAssembly component: {0}")]
    Invalid(String),
    #[error("the component does not implement `{0}`")]
    MissingExport(&'static str),
    #[error("the plugin ran longer than its time limit")]
    Timeout,
    #[error("the plugin used up its fuel")]
    OutOfFuel,
    #[error("the plugin trapped: {0}")]
    Trap(String),
    #[error("the plugin rejected the input: {0}")]
    Rejected(String),
    #[error("the plugin's configuration is invalid: {0}")]
    InvalidConfig(String),
    #[error("the plugin cannot handle this input: {0}")]
    Unsupported(String),
    #[error("the plugin's output is larger than {0} bytes")]
    OutputTooLarge(usize),
}

impl From<types::PluginError> for PluginError {
    fn from(e: types::PluginError) -> Self {
        match e {
            types::PluginError::Rejected(m) => PluginError::Rejected(m),
            types::PluginError::InvalidConfig(m) => PluginError::InvalidConfig(m),
            types::PluginError::Unsupported(m) => PluginError::Unsupported(m),
        }
    }
}

/// What a plugin instance can reach: an empty WASI context, its configuration, its log.
pub struct HostState {
    plugin: String,
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    config: BTreeMap<String, String>,
    logs: Vec<LogLine>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl bindings::types::Host for HostState {}

/// The engine and linker shared by every plugin. Dropping it stops the epoch ticker.
pub struct PluginHost {
    engine: Engine,
    linker: Linker<HostState>,
    limits: Limits,
    ticker_stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Drop for PluginHost {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// A compiled, pre-linked component, with its exports looked up once.
#[derive(Clone)]
pub struct Loaded {
    name: String,
    pre: InstancePre<HostState>,
    /// Present when the component exports `gatehouse:plugin/attributes`.
    attributes: Option<bindings::attributes::GuestIndices>,
}

impl PluginHost {
    pub fn new(limits: Limits) -> anyhow::Result<Self> {
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
            .max_memory_size(limits.memory_bytes);
        cfg.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&cfg)?;
        let mut linker = Linker::new(&engine);
        bindings::Host_::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(
            &mut linker,
            |s| s,
        )?;
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        let stop = ticker_stop.clone();
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
        Ok(Self {
            engine,
            linker,
            limits,
            ticker_stop,
        })
    }

    /// Compiles and pre-links `wasm`.
    pub fn load(&self, name: &str, wasm: &[u8]) -> Result<Loaded, PluginError> {
        let component = Component::new(&self.engine, wasm)
            .map_err(|e| PluginError::Invalid(format!("{e:#}")))?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| PluginError::Invalid(format!("{e:#}")))?;
        let attributes = bindings::attributes::GuestIndices::new(&pre).ok();
        Ok(Loaded {
            name: name.to_string(),
            pre,
            attributes,
        })
    }

    fn store(
        &self,
        plugin: &Loaded,
        config: BTreeMap<String, String>,
    ) -> Result<Store<HostState>, PluginError> {
        let state = HostState {
            plugin: plugin.name.clone(),
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.limits.memory_bytes)
                .instances(16)
                .tables(16)
                .memories(8)
                .trap_on_grow_failure(true)
                .build(),
            config,
            logs: Vec::new(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store
            .set_fuel(self.limits.fuel)
            .map_err(|e| PluginError::Trap(e.to_string()))?;
        let ticks = u64::try_from(self.limits.timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        store.set_epoch_deadline(ticks);
        Ok(store)
    }

    /// Runs an attribute mapper on `identity` in a fresh instance.
    pub fn map_profile(
        &self,
        plugin: &Loaded,
        config: BTreeMap<String, String>,
        identity: &types::Identity,
    ) -> Result<(types::Profile, Vec<LogLine>), PluginError> {
        let indices = plugin
            .attributes
            .as_ref()
            .ok_or(PluginError::MissingExport("gatehouse:plugin/attributes"))?;
        let mut store = self.store(plugin, config)?;
        let instance = plugin.pre.instantiate(&mut store).map_err(classify)?;
        let guest = indices.load(&mut store, &instance).map_err(classify)?;
        let result = guest
            .call_map_profile(&mut store, identity)
            .map_err(classify)?;
        let logs = std::mem::take(&mut store.data_mut().logs);
        let profile = result?;
        if profile_size(&profile) > MAX_OUTPUT_BYTES {
            return Err(PluginError::OutputTooLarge(MAX_OUTPUT_BYTES));
        }
        Ok((profile, logs))
    }
}

fn profile_size(p: &types::Profile) -> usize {
    let opt = |o: &Option<String>| o.as_ref().map_or(0, String::len);
    p.email.len()
        + opt(&p.display_name)
        + opt(&p.given_name)
        + opt(&p.family_name)
        + opt(&p.timezone)
        + opt(&p.locale)
        + p.custom
            .iter()
            .map(|a| a.name.len() + a.values.iter().map(String::len).sum::<usize>())
            .sum::<usize>()
}

/// Names a wasmtime failure by what the operator needs to know.
fn classify(e: wasmtime::Error) -> PluginError {
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => PluginError::Timeout,
        Some(wasmtime::Trap::OutOfFuel) => PluginError::OutOfFuel,
        Some(trap) => PluginError::Trap(trap.to_string()),
        None => PluginError::Trap(format!("{e:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPPER: &[u8] = include_bytes!("../../../plugins/dist/default-attribute-mapper.wasm");

    fn identity(email: Option<&str>) -> types::Identity {
        types::Identity {
            subject: "u1".into(),
            email: email.map(str::to_string),
            email_verified: true,
            given_name: Some("Ada".into()),
            family_name: Some("Lovelace".into()),
            display_name: None,
            groups: vec![],
            attributes: vec![types::Attribute {
                name: "locale".into(),
                values: vec!["en-GB".into()],
            }],
        }
    }

    #[test]
    fn the_default_attribute_mapper_runs_in_a_fresh_instance() {
        let host = PluginHost::new(Limits::default()).unwrap();
        let plugin = host.load("default-attribute-mapper", MAPPER).unwrap();
        let (profile, _) = host
            .map_profile(&plugin, BTreeMap::new(), &identity(Some("Ada@Example.COM")))
            .unwrap();
        assert_eq!(profile.email, "ada@example.com");
        assert_eq!(profile.display_name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(profile.locale.as_deref(), Some("en-GB"));
        let err = host
            .map_profile(&plugin, BTreeMap::new(), &identity(None))
            .unwrap_err();
        assert!(matches!(err, PluginError::Rejected(_)), "{err:?}");
    }

    const HOSTILE: &[u8] = include_bytes!("../../../plugins/dist/hostile-mapper.wasm");

    fn hostile(host: &PluginHost, mode: &str) -> Result<types::Profile, PluginError> {
        let plugin = host.load("hostile-mapper", HOSTILE).unwrap();
        let config = BTreeMap::from([("mode".to_string(), mode.to_string())]);
        host.map_profile(&plugin, config, &identity(Some("a@b.example")))
            .map(|(p, _)| p)
    }

    #[test]
    fn an_infinite_loop_times_out_and_the_host_keeps_serving() {
        // Unlimited fuel, so only the wall-time deadline can stop it.
        let limits = Limits {
            fuel: u64::MAX,
            ..Limits::default()
        };
        let host = PluginHost::new(limits).unwrap();
        let started = std::time::Instant::now();
        let result = hostile(&host, "loop");
        assert!(matches!(result, Err(PluginError::Timeout)), "{result:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(hostile(&host, "behave").unwrap().email, "u1");
    }

    #[test]
    fn fuel_runs_out_before_a_long_deadline() {
        let limits = Limits {
            fuel: 100_000,
            timeout: Duration::from_secs(5),
            ..Limits::default()
        };
        let host = PluginHost::new(limits).unwrap();
        assert!(matches!(
            hostile(&host, "loop"),
            Err(PluginError::OutOfFuel)
        ));
    }

    #[test]
    fn a_memory_bomb_hits_the_memory_cap() {
        let limits = Limits {
            timeout: Duration::from_secs(5),
            fuel: u64::MAX,
            ..Limits::default()
        };
        let host = PluginHost::new(limits).unwrap();
        let err = hostile(&host, "memory").unwrap_err();
        assert!(matches!(err, PluginError::Trap(_)), "{err:?}");
    }

    #[test]
    fn a_trap_is_a_typed_error() {
        let host = PluginHost::new(Limits::default()).unwrap();
        let err = hostile(&host, "trap").unwrap_err();
        assert!(matches!(err, PluginError::Trap(_)), "{err:?}");
    }

    #[test]
    fn oversize_output_and_log_floods_are_bounded() {
        let limits = Limits {
            timeout: Duration::from_secs(5),
            ..Limits::default()
        };
        let host = PluginHost::new(limits).unwrap();
        assert!(matches!(
            hostile(&host, "huge-output"),
            Err(PluginError::OutputTooLarge(_))
        ));
        let err = hostile(&host, "log-flood").unwrap_err();
        let refused = 1000 - log::MAX_LINES_PER_CALL;
        assert!(
            matches!(&err, PluginError::Rejected(m) if *m == format!("{refused} log lines were refused")),
            "{err:?}"
        );
    }

    #[test]
    fn garbage_is_not_a_component() {
        let host = PluginHost::new(Limits::default()).unwrap();
        assert!(matches!(
            host.load("x", b"not wasm"),
            Err(PluginError::Invalid(_))
        ));
    }
}

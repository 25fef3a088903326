//! What every plugin call is bound by and can end in: the per-call limits, the output
//! bounds, the error a call fails with and the outcome it reports.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::bindings::types;
use super::log::LogLine;
use super::world::World;

/// Largest output (summed string bytes) a plugin call may return; larger is an error, so a
/// plugin cannot push unbounded data into the directory.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// Most list entries (groups, attributes, values, role assignments) one output may hold, so
/// a plugin cannot make the directory write thousands of rows per login.
pub const MAX_OUTPUT_ITEMS: usize = 1_000;

/// A plugin's configuration as its `config` import sees it: key → value, secrets already
/// decrypted. Shared, because a call only reads it.
pub type PluginConfig = Arc<BTreeMap<String, String>>;

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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// The bytes are not a component this host can run (not wasm, a core module, or
    /// imports something the host does not provide).
    #[error("not a valid plugin component: {0}")]
    Invalid(String),
    /// The component exports none of the plugin interfaces, or more than one.
    #[error("{0}")]
    WrongExports(String),
    /// The component is valid but was called for a world it does not implement.
    #[error("the component is a {actual} plugin, not a {expected} plugin")]
    WrongWorld { expected: World, actual: World },
    #[error("the plugin ran longer than its time limit")]
    Timeout,
    #[error("the plugin used up its fuel")]
    OutOfFuel,
    #[error("the plugin tried to grow its memory beyond {0} bytes")]
    MemoryLimit(usize),
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
    /// The output is well-formed but unusable (an email that is not one, a role the tenant
    /// does not define…).
    #[error("the plugin's output is invalid: {0}")]
    InvalidOutput(String),
}

impl PluginError {
    /// A short stable code for APIs and audit details.
    pub fn code(&self) -> &'static str {
        match self {
            PluginError::Invalid(_) => "invalid_component",
            PluginError::WrongExports(_) => "wrong_exports",
            PluginError::WrongWorld { .. } => "wrong_world",
            PluginError::Timeout => "timeout",
            PluginError::OutOfFuel => "out_of_fuel",
            PluginError::MemoryLimit(_) => "memory_limit",
            PluginError::Trap(_) => "trap",
            PluginError::Rejected(_) => "rejected",
            PluginError::InvalidConfig(_) => "invalid_config",
            PluginError::Unsupported(_) => "unsupported",
            PluginError::OutputTooLarge(_) => "output_too_large",
            PluginError::InvalidOutput(_) => "invalid_output",
        }
    }
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

/// What one plugin call produced: its result, the lines it logged (kept even when it
/// failed, so a dry-run shows why) and how long it took, instantiation included.
#[derive(Debug)]
pub struct Outcome<T> {
    pub result: Result<T, PluginError>,
    pub logs: Vec<LogLine>,
    pub elapsed: Duration,
}

//! Plugins: sandboxed WebAssembly components that interpret identities, map profiles and
//! roles, and fix SCIM dialects, loaded per tenant. This module owns the wasmtime runtime
//! ([`PluginHost`]: one engine, the pooling allocator, a content-addressed compiled cache, a
//! fresh store per call under memory, time, fuel and output limits), the per-world calls
//! and their output checks, the registry of uploaded components, the built-ins embedded in
//! the binary, and each tenant's pipeline (its stages and its connections' own adapters),
//! with their dry-runs, each slot's history of activations and rollbacks, the recorded
//! sign-ins and SCIM requests and the replay of a candidate over them. It is the only
//! module that imports wasmtime; it reaches the database through `store` only.

pub mod activation;
mod bindings;
pub mod builtins;
mod cache;
mod calls;
mod config;
mod convert;
pub mod dry_run;
mod json;
mod limits;
mod log;
pub mod manage;
pub mod pipeline;
pub mod provisioning;
pub mod recording;
pub mod registry;
pub mod replay;
pub mod replay_report;
pub mod resident;
mod runtime;
pub mod sign_in;
pub mod slot;
mod wasi;
mod world;

#[cfg(test)]
mod tests;

pub use bindings::types;
pub use builtins::IdpPreset;
pub use cache::CacheUse;
#[cfg(feature = "fuzzing")]
pub use calls::check_outputs;
pub use limits::{Limits, Outcome, PluginConfig, PluginError, MAX_OUTPUT_BYTES, MAX_OUTPUT_ITEMS};
pub use log::{LogLine, MAX_LINES_PER_CALL as MAX_LOG_LINES_PER_CALL};
pub use registry::Registry;
pub use runtime::{digest, HostState, Loaded, PluginHost};
pub use slot::Slot;
pub use world::World;

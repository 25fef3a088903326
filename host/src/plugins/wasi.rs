//! The WASI a plugin may import, and nothing more. Components built the ordinary way
//! (`cargo component build`, `--target wasm32-wasip2`) import parts of WASI 0.2 through the
//! Rust standard library even when they never use them, so the host offers those parts with
//! nothing behind them: no preopened directories, no environment or arguments, an empty
//! stdin, stdout and stderr that discard, clocks, and randomness. Sockets are not linked.
//!
//! Nothing here may wait: a plugin call runs on a host thread where neither fuel nor the epoch
//! deadline reaches into host code, so a guest that subscribes to a clock for `u64::MAX`
//! nanoseconds and blocks on it would hold that thread forever. `wasi:io/poll`'s `poll` and
//! `pollable.block` therefore trap; `pollable.ready` answers at once. The streams a plugin can
//! reach (stdin, stdout, stderr) are always ready, so their `blocking-*` calls return at once.
//!
//! [`check_imports`] refuses, at upload, a component importing anything outside this set and
//! the plugin contract, naming the import.

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, HasData, Linker, ResourceTable};
use wasmtime::Engine;
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random, sync};
use wasmtime_wasi::random::{WasiRandom, WasiRandomView};
use wasmtime_wasi::WasiView;

use super::limits::PluginError;

/// The interface name (package and path, without version) of every import a plugin may
/// have besides the plugin contract's own.
pub(super) const ALLOWED_WASI: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
];

/// The package of the plugin contract's own imports (`log`, `config`, `types`).
const CONTRACT: &str = "gatehouse:plugin/";

/// The `wasi:io/poll` instance as the linker names it (the version wasmtime-wasi implements;
/// a component's import of any 0.2.x version resolves to it).
const POLL_INSTANCE: &str = "wasi:io/poll@0.2.12";

struct HasIo;

impl HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

/// Adds the allowed WASI interfaces to `linker`, with waiting refused.
pub(super) fn add_to_linker<T: WasiView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    let l = linker;
    clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    clocks::monotonic_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    filesystem::preopens::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
    sync::filesystem::types::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
    random::random::add_to_linker::<T, WasiRandom>(l, T::random)?;
    random::insecure::add_to_linker::<T, WasiRandom>(l, T::random)?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(l, T::random)?;
    cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    wasmtime_wasi_io::bindings::wasi::io::error::add_to_linker::<T, HasIo>(l, |t| t.ctx().table)?;
    sync::io::poll::add_to_linker::<T, HasIo>(l, |t| t.ctx().table)?;
    sync::io::streams::add_to_linker::<T, HasIo>(l, |t| t.ctx().table)?;
    // The two ways to wait are replaced by traps.
    l.allow_shadowing(true);
    let mut poll = l.instance(POLL_INSTANCE)?;
    for name in ["poll", "[method]pollable.block"] {
        poll.func_new(name, |_store, _ty, _params, _results| {
            Err(wasmtime::Error::msg(
                "a plugin cannot wait: wasi:io/poll is not available to plugins",
            ))
        })?;
    }
    l.allow_shadowing(false);
    Ok(())
}

/// Refuses a component importing anything outside the plugin contract and [`ALLOWED_WASI`],
/// naming the first such import.
pub(super) fn check_imports(engine: &Engine, component: &Component) -> Result<(), PluginError> {
    for (name, item) in component.component_type().imports(engine) {
        let interface = name.split('@').next().unwrap_or(name);
        let allowed = matches!(item.ty, ComponentItem::ComponentInstance(_))
            && (interface.starts_with(CONTRACT) || ALLOWED_WASI.contains(&interface));
        if !allowed {
            return Err(PluginError::Invalid(format!(
                "the component imports `{name}`, which plugins may not use: a plugin may \
                 import the interfaces of gatehouse:plugin and, of WASI, only {}",
                ALLOWED_WASI.join(", ")
            )));
        }
    }
    Ok(())
}

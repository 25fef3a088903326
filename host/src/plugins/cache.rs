//! The compiled-artefact cache: native code for a component, stored on disk under the
//! sha256 of its wasm bytes and the engine's compatibility hash, so a restart (or a second
//! node sharing nothing but the database) compiles each component once. The directory is
//! created owner-only; a file that fails to load (corrupt, or from another engine build) is
//! removed and the component recompiled. Writes go to a temporary name and are renamed into
//! place, so a reader never sees half a file.

use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::component::Component;
use wasmtime::Engine;

/// Where compiled components live, or nowhere (compile on every load).
#[derive(Debug, Clone)]
pub struct CompiledCache {
    dir: Option<PathBuf>,
    /// Distinguishes engines whose compiled code is not interchangeable.
    engine_tag: String,
}

/// How a load was served, for the benchmark and the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheUse {
    /// Loaded native code from the cache.
    Hit,
    /// Compiled now (and stored, when a directory is set).
    Compiled,
}

impl CompiledCache {
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> anyhow::Result<Self> {
        if let Some(dir) = &dir {
            crate::config::create_private_dir(dir)?;
        }
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self {
            dir,
            engine_tag: format!("{:016x}", hasher.finish()),
        })
    }

    fn path(&self, sha256_hex: &str) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{sha256_hex}-{}.cwasm", self.engine_tag)))
    }

    /// The compiled component stored for the wasm with digest `sha256_hex`, if this cache
    /// holds a usable one (an unusable file is removed).
    pub fn get(&self, engine: &Engine, sha256_hex: &str) -> Option<Component> {
        let path = self.path(sha256_hex)?;
        // Read into memory rather than map the file: a file truncated under a mapping
        // (by an operator, or a disk problem) would crash the process on access.
        let bytes = fs::read(&path).ok()?;
        // SAFETY: the bytes were written by `Component::serialize` of this engine
        // configuration (the engine tag is in the file name) into a directory only this
        // process's user can write; wasmtime also checks their header and version.
        match unsafe { Component::deserialize(engine, &bytes) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "dropping unusable compiled plugin");
                let _ = fs::remove_file(&path);
                None
            }
        }
    }

    /// Returns the compiled component for `wasm` (whose digest is `sha256_hex`).
    pub fn get_or_compile(
        &self,
        engine: &Engine,
        sha256_hex: &str,
        wasm: &[u8],
    ) -> wasmtime::Result<(Component, CacheUse)> {
        let Some(path) = self.path(sha256_hex) else {
            return Ok((Component::new(engine, wasm)?, CacheUse::Compiled));
        };
        if let Some(component) = self.get(engine, sha256_hex) {
            return Ok((component, CacheUse::Hit));
        }
        let component = Component::new(engine, wasm)?;
        if let Err(e) = store_file(&path, &component.serialize()?) {
            tracing::warn!(path = %path.display(), error = %e, "could not cache compiled plugin");
        }
        Ok((component, CacheUse::Compiled))
    }
}

fn store_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // Unique per writer: tests (and nodes sharing a directory) may compile the same
    // component at once; the last rename wins and every version is equally good.
    let tmp = path.with_extension(format!(
        "tmp{}-{:x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path)
}

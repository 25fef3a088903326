//! The compiled components a node keeps in memory, by content hash: least recently used out
//! once their estimated size passes the budget (`plugins.loaded_budget_mib`), the built-ins
//! pinned. An evicted component reloads on its next use from the compiled cache on disk
//! (deserialising native code; no recompilation). Pipelines hold
//! plugin records, not components, so what is resident is what this map holds plus what
//! runs at this moment. Counts hits, misses and evictions for `/metrics`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::runtime::Loaded;

/// What a component is counted for beyond its native code image: its pre-linking, type
/// information and metadata. An estimate; in the memory benchmark (BENCHMARKS.md, issue
/// 18) 612 resident components counted at the 256 MiB budget left the server at 316 MiB
/// RSS, 60 MiB of it from before any plugin was loaded.
const OVERHEAD_BYTES: usize = 160 * 1024;

/// The figures `/metrics` reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResidentStats {
    pub budget_bytes: u64,
    pub bytes: u64,
    pub components: u64,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
}

struct Entry {
    loaded: Loaded,
    weight: usize,
    last_used: u64,
    pinned: bool,
}

#[derive(Default)]
struct Map {
    entries: HashMap<String, Entry>,
    /// Advances on every use; an entry's `last_used` orders eviction.
    clock: u64,
    bytes: usize,
}

/// The bounded map.
pub(super) struct Resident {
    map: Mutex<Map>,
    budget: usize,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

/// The memory a loaded component is counted for.
fn weight(loaded: &Loaded) -> usize {
    let image = loaded.pre.component().image_range();
    (image.end as usize).saturating_sub(image.start as usize) + OVERHEAD_BYTES
}

impl Resident {
    pub(super) fn new(budget_bytes: usize) -> Self {
        Self {
            map: Mutex::new(Map::default()),
            budget: budget_bytes,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Map> {
        // Every update leaves the map whole between statements, so a panic elsewhere while
        // the lock was held leaves it usable.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The component with this hash, if resident (marking it used).
    pub(super) fn get(&self, sha256: &str) -> Option<Loaded> {
        let mut map = self.lock();
        map.clock += 1;
        let now = map.clock;
        match map.entries.get_mut(sha256) {
            Some(e) => {
                e.last_used = now;
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(e.loaded.clone())
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Keeps `loaded` (a built-in when `pinned`: never evicted), then evicts the least
    /// recently used unpinned components until the total is within the budget.
    pub(super) fn insert(&self, loaded: Loaded, pinned: bool) {
        let weight = weight(&loaded);
        let mut map = self.lock();
        map.clock += 1;
        let entry = Entry {
            last_used: map.clock,
            loaded: loaded.clone(),
            weight,
            pinned,
        };
        if let Some(old) = map.entries.insert(loaded.sha256.clone(), entry) {
            map.bytes -= old.weight;
        }
        map.bytes += weight;
        while map.bytes > self.budget {
            let oldest = map
                .entries
                .iter()
                .filter(|(_, e)| !e.pinned)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone());
            let Some(key) = oldest else { break };
            if let Some(gone) = map.entries.remove(&key) {
                map.bytes -= gone.weight;
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub(super) fn stats(&self) -> ResidentStats {
        let map = self.lock();
        ResidentStats {
            budget_bytes: self.budget as u64,
            bytes: map.bytes as u64,
            components: map.entries.len() as u64,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }
}

//! The per-node cache of read-mostly tenant data that every sign-in needs: the tenant behind
//! a public token (or an id, for the admin API's feature check), a connection, the tenant's
//! verified domains and its ready-to-run sign-in pipeline (stages, decrypted stage
//! configuration, catalogue). Without it a sign-in makes about eight reads that return the
//! same rows every time.
//!
//! Freshness, the part that matters for security (a suspended tenant, a disabled connection
//! or a removed IdP certificate must stop working):
//! - On this node a change is visible at once: every admin/operator API function that
//!   changes cached data calls [`NodeCache::invalidate_tenant`] (or
//!   [`NodeCache::invalidate_all`]) after its commit. A load that began before the change
//!   is not stored (a generation counter bumped by every invalidation), so a slow reader
//!   cannot put the old value back.
//! - Other nodes (PostgreSQL deployments) and other processes (the CLI) are not told; their
//!   entries expire [`STALE_AFTER`] after the load that filled them began. That is the bound
//!   on how long a change made elsewhere can go unseen.
//!
//! Each map holds at most a fixed number of entries ([`MAX_ENTRIES`]); when full, expired
//! entries go first, then an arbitrary one. Misses are not cached (a probe with unknown
//! tokens reaches the database as before). This module owns no SQL: callers pass a loader.
//! Nor does it know the types of the sign-in flow: a connection and a pipeline are stored as
//! `Arc<dyn Any>` and handed back as the type the caller asks for, so this module sits below
//! every domain module and any of them may hold it.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::tenants::TenantRecord;
use crate::types::{ConnectionId, TenantId};

/// How long an entry may be served after the load that filled it began: the longest a
/// change made on another node (or by the CLI) goes unseen here. Short, because it bounds
/// how long a suspended tenant or a disabled connection keeps signing in elsewhere; long
/// enough that a busy tenant's sign-ins reload their data only every couple of seconds.
pub const STALE_AFTER: Duration = Duration::from_secs(2);

/// Most entries per map. An entry is a few KiB at most (a connection's certificates, a
/// pipeline's configuration; compiled components are shared, not copied), so the cache stays
/// within tens of MiB whatever the number of tenants.
pub const MAX_ENTRIES: usize = 4096;

/// One bounded map with expiry.
struct Bounded<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> Bounded<K, V> {
    fn new() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (Instant, V)>> {
        // Every update is a single map operation, so a panic elsewhere while the lock was
        // held cannot have left a half-made entry: the map is safe to keep using.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, key: &K) -> Option<V> {
        let entries = self.lock();
        let (filled, value) = entries.get(key)?;
        (filled.elapsed() < STALE_AFTER).then(|| value.clone())
    }

    fn insert(&self, key: K, value: V, fill: &Fill, generation: &AtomicU64) {
        let mut entries = self.lock();
        // Checked under the lock: an invalidation bumps the generation before it takes
        // this lock to remove entries, so either it removes this entry or this sees the bump.
        if generation.load(Ordering::Acquire) != fill.generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
            entries.retain(|_, (filled, _)| filled.elapsed() < STALE_AFTER);
            if entries.len() >= MAX_ENTRIES {
                if let Some(victim) = entries.keys().next().cloned() {
                    entries.remove(&victim);
                }
            }
        }
        entries.insert(key, (fill.started, value));
    }

    fn retain(&self, keep: impl Fn(&K, &V) -> bool) {
        self.lock().retain(|k, (_, v)| keep(k, v));
    }

    fn clear(&self) {
        self.lock().clear();
    }
}

/// A cached value of a type this module does not name.
type Erased = Arc<dyn Any + Send + Sync>;

/// `value` as a `T`, or nothing when it is another type (then the caller loads afresh).
fn typed<T: Any + Send + Sync>(value: Erased) -> Option<Arc<T>> {
    value.downcast::<T>().ok()
}

/// A load in progress: when it began and which generation it read under.
struct Fill {
    started: Instant,
    generation: u64,
}

/// The cache, one per node, held in `Services`.
pub struct NodeCache {
    /// Bumped by every invalidation; a load only stores its result if this did not move.
    generation: AtomicU64,
    /// Tenant by its public (URL) token.
    tenants: Bounded<String, TenantRecord>,
    /// Tenant by id (the admin API's feature check).
    tenants_by_id: Bounded<TenantId, TenantRecord>,
    /// Connection by tenant and id (an `sso::Connection`).
    connections: Bounded<(TenantId, ConnectionId), Erased>,
    /// The tenant's verified email domains.
    domains: Bounded<TenantId, Arc<Vec<String>>>,
    /// The tenant's sign-in pipeline, ready to run (a `plugins::sign_in::Pipeline`).
    pipelines: Bounded<TenantId, Erased>,
}

impl std::fmt::Debug for NodeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCache").finish_non_exhaustive()
    }
}

impl Default for NodeCache {
    fn default() -> Self {
        Self::new()
    }
}

impl NodeCache {
    pub fn new() -> Self {
        Self {
            generation: AtomicU64::new(0),
            tenants: Bounded::new(),
            tenants_by_id: Bounded::new(),
            connections: Bounded::new(),
            domains: Bounded::new(),
            pipelines: Bounded::new(),
        }
    }

    fn begin_fill(&self) -> Fill {
        Fill {
            started: Instant::now(),
            generation: self.generation.load(Ordering::Acquire),
        }
    }

    /// `map[key]`, or what `load` finds (stored unless an invalidation came in between).
    async fn through<K, V, E, Fut>(
        &self,
        map: &Bounded<K, V>,
        key: K,
        load: impl FnOnce() -> Fut,
    ) -> Result<Option<V>, E>
    where
        K: Eq + Hash + Clone,
        V: Clone,
        Fut: Future<Output = Result<Option<V>, E>>,
    {
        if let Some(hit) = map.get(&key) {
            return Ok(Some(hit));
        }
        let fill = self.begin_fill();
        let loaded = load().await?;
        if let Some(value) = &loaded {
            map.insert(key, value.clone(), &fill, &self.generation);
        }
        Ok(loaded)
    }

    /// The tenant whose public token is `token`, whatever its status (callers check it).
    pub async fn tenant_by_token<E, Fut>(
        &self,
        token: &str,
        load: impl FnOnce() -> Fut,
    ) -> Result<Option<TenantRecord>, E>
    where
        Fut: Future<Output = Result<Option<TenantRecord>, E>>,
    {
        self.through(&self.tenants, token.to_string(), load).await
    }

    /// The tenant with id `id`, whatever its status (callers check it).
    pub async fn tenant_by_id<E, Fut>(
        &self,
        id: TenantId,
        load: impl FnOnce() -> Fut,
    ) -> Result<Option<TenantRecord>, E>
    where
        Fut: Future<Output = Result<Option<TenantRecord>, E>>,
    {
        self.through(&self.tenants_by_id, id, load).await
    }

    /// A connection of `tenant`, whatever its status (callers check it).
    pub async fn connection<C, E, Fut>(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        load: impl FnOnce() -> Fut,
    ) -> Result<Option<Arc<C>>, E>
    where
        C: Any + Send + Sync,
        Fut: Future<Output = Result<Option<Arc<C>>, E>>,
    {
        if let Some(hit) = self.connections.get(&(tenant, id)).and_then(typed) {
            return Ok(Some(hit));
        }
        let fill = self.begin_fill();
        let loaded = load().await?;
        if let Some(value) = &loaded {
            let erased: Erased = value.clone();
            self.connections
                .insert((tenant, id), erased, &fill, &self.generation);
        }
        Ok(loaded)
    }

    /// The verified email domains of `tenant`.
    pub async fn verified_domains<E, Fut>(
        &self,
        tenant: TenantId,
        load: impl FnOnce() -> Fut,
    ) -> Result<Arc<Vec<String>>, E>
    where
        Fut: Future<Output = Result<Arc<Vec<String>>, E>>,
    {
        let found = self
            .through(&self.domains, tenant, || async { load().await.map(Some) })
            .await?;
        Ok(found.unwrap_or_default())
    }

    /// The sign-in pipeline of `tenant`.
    pub async fn pipeline<P, E, Fut>(
        &self,
        tenant: TenantId,
        load: impl FnOnce() -> Fut,
    ) -> Result<Arc<P>, E>
    where
        P: Any + Send + Sync,
        Fut: Future<Output = Result<Arc<P>, E>>,
    {
        if let Some(hit) = self.pipelines.get(&tenant).and_then(typed) {
            return Ok(hit);
        }
        let fill = self.begin_fill();
        let loaded = load().await?;
        let erased: Erased = loaded.clone();
        self.pipelines
            .insert(tenant, erased, &fill, &self.generation);
        Ok(loaded)
    }

    /// Forgets everything cached about `tenant`. Call after committing a change to the
    /// tenant, its domains, connections, pipeline stages, stage configuration or catalogue.
    pub fn invalidate_tenant(&self, tenant: TenantId) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.tenants.retain(|_, t| t.id != tenant);
        self.tenants_by_id.retain(|id, _| *id != tenant);
        self.connections.retain(|(t, _), _| *t != tenant);
        self.domains.retain(|t, _| *t != tenant);
        self.pipelines.retain(|t, _| *t != tenant);
    }

    /// Forgets everything (a change that may touch every tenant, such as a shared plugin).
    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.tenants.clear();
        self.tenants_by_id.clear();
        self.connections.clear();
        self.domains.clear();
        self.pipelines.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(generation: u64) -> Fill {
        Fill {
            started: Instant::now(),
            generation,
        }
    }

    #[test]
    fn a_load_that_raced_an_invalidation_is_not_stored() {
        let generation = AtomicU64::new(0);
        let map: Bounded<u32, u32> = Bounded::new();
        let before = fill(0);
        generation.fetch_add(1, Ordering::AcqRel);
        map.insert(1, 10, &before, &generation);
        assert_eq!(map.get(&1), None);
        map.insert(1, 11, &fill(1), &generation);
        assert_eq!(map.get(&1), Some(11));
    }

    #[test]
    fn entries_expire_and_the_map_stays_bounded() {
        let generation = AtomicU64::new(0);
        let map: Bounded<usize, usize> = Bounded::new();
        let old = Fill {
            started: Instant::now() - STALE_AFTER,
            generation: 0,
        };
        map.insert(0, 0, &old, &generation);
        assert_eq!(map.get(&0), None, "expired");
        for i in 0..MAX_ENTRIES + 10 {
            map.insert(i, i, &fill(0), &generation);
        }
        assert!(map.lock().len() <= MAX_ENTRIES);
    }
}

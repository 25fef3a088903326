//! The node's shared services: configuration, the database, the clock, the key store, the
//! per-node caches of sign-in data and OIDC discovery, the failed-sign-in log and the plugin
//! runtime. Every domain module may take a [`Services`]; none of the services imports a
//! domain module, so doing so adds no import circle. What only the HTTP edge uses besides
//! (rate limits, metrics) is in `http::state::AppState`, which holds a `Services` and dereferences
//! to it.

use std::sync::Arc;

use crate::audit::failures::FailureLog;
use crate::cache::NodeCache;
use crate::config::Config;
use crate::plugins::registry::Registry;
use crate::secrets::Secrets;
use crate::sso::oidc::discovery::ProviderCache;
use crate::store::Store;
use crate::types::Clock;

/// The shared services of one node. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Services {
    pub config: Arc<Config>,
    pub store: Store,
    /// "Now", injectable for tests.
    pub clock: Clock,
    /// The master key and the tenants' data keys.
    pub secrets: Arc<Secrets>,
    /// Read-mostly tenant data for sign-ins, cached per node (see [`crate::cache`]).
    pub cache: Arc<NodeCache>,
    /// The plugin runtime, registry and compiled components.
    pub plugins: Arc<Registry>,
    /// OIDC providers' discovery documents and keys, cached per node.
    pub oidc: Arc<ProviderCache>,
    /// Repeated failed sign-ins counted between audit events, per node.
    pub failures: Arc<FailureLog>,
}

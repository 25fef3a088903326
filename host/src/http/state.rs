//! [`AppState`]: what a request handler holds. The node's [`Services`] (it dereferences to
//! them) plus what only the HTTP edge uses: request counters and the rate limits of the
//! anonymous paths. `app::start` builds it.

use std::ops::Deref;
use std::sync::Arc;

use super::metrics::Metrics;
use crate::services::Services;
use crate::throttle::Throttle;

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Configuration, database, clock, keys, caches, failure log and plugin runtime.
    pub services: Services,
    /// Request and sign-in counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Rate limits of the anonymous paths, per node (see [`crate::throttle`]).
    pub throttle: Arc<Throttle>,
}

impl Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

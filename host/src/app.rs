//! Start-up and the shared state. [`start`] connects the database, applies migrations, loads
//! and checks the master key and, on an empty database, creates the operator token.
//! [`serve`] runs the HTTP server on a listener it is given until a shutdown future resolves,
//! so tests bind port 0 and stop servers at will.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use secrecy::SecretString;
use tokio::net::TcpListener;

use crate::audit::failures::{self, FailureLog};
use crate::cache::NodeCache;
use crate::config::Config;
use crate::http::metrics::Metrics;
use crate::plugins::Registry;
use crate::secrets::{self, Secrets};
use crate::sessions;
use crate::sso::oidc::ProviderCache;
use crate::store::{Backend, Store};
use crate::throttle::Throttle;
use crate::types::Clock;

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    /// "Now", injectable for tests.
    pub clock: Clock,
    pub secrets: Arc<Secrets>,
    pub metrics: Arc<Metrics>,
    /// The plugin runtime, registry and compiled components.
    pub plugins: Arc<Registry>,
    /// OIDC providers' discovery documents and keys, cached per node.
    pub oidc: Arc<ProviderCache>,
    /// Read-mostly tenant data for sign-ins, cached per node (see [`crate::cache`]).
    pub cache: Arc<NodeCache>,
    /// Rate limits of the anonymous paths, per node (see [`crate::throttle`]).
    pub throttle: Arc<Throttle>,
    /// Repeated failed sign-ins counted between audit events, per node.
    pub failures: Arc<FailureLog>,
}

/// What [`start`] produced.
pub struct Started {
    pub state: AppState,
    /// The operator token, present only when this start created it. Show it once.
    pub operator_token: Option<SecretString>,
    /// Migrations applied by this start.
    pub migrations_applied: usize,
}

/// Opens the database (migrating it when configured to) and prepares the state.
pub async fn start(config: Config, clock: Clock) -> anyhow::Result<Started> {
    if config.is_embedded_database() {
        create_private_dir(&config.data_dir)?;
    }
    let store = Store::connect(&config.database_url(), config.database.max_connections)
        .await
        .context("opening the database")?;
    let migrations_applied = if config.database.migrate_on_start {
        store.migrate().await?
    } else {
        0
    };
    let master = secrets::load_master_key(&config)?;
    let secrets = Secrets::new(master);
    secrets.check_against(&store).await?;
    let operator_token = sessions::operator::bootstrap(&store, &clock)
        .await
        .map_err(|e| anyhow::anyhow!("creating the operator token: {e:?}"))?;
    let plugins = Registry::start(&config, &store, &clock)
        .await
        .context("starting the plugin runtime")?;
    let oidc = ProviderCache::new(config.sso.allow_private_networks);
    let database = match store.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let state = AppState {
        config: Arc::new(config),
        store,
        clock,
        secrets: Arc::new(secrets),
        metrics: Arc::new(Metrics::new(database)),
        plugins: Arc::new(plugins),
        oidc: Arc::new(oidc),
        cache: Arc::new(NodeCache::new()),
        throttle: Arc::new(Throttle::new()),
        failures: Arc::new(FailureLog::new()),
    };
    Ok(Started {
        state,
        operator_token,
        migrations_applied,
    })
}

/// Creates the data directory readable by its owner only (it holds the database and key).
pub(crate) fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("creating data directory {}", dir.display()))
}

/// How often expired login states, replay-cache entries and codes are dropped, and
/// recovered rate-limit keys forgotten.
const HOUSEKEEPING_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

/// Serves HTTP on `listener` until `shutdown` resolves, with housekeeping beside it.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let housekeeping = tokio::spawn(housekeeping(state.clone()));
    let result = crate::http::serve(state, listener, shutdown).await;
    housekeeping.abort();
    result
}

async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(failures::WINDOW);
    let every = (HOUSEKEEPING_EVERY.as_secs() / failures::WINDOW.as_secs()).max(1);
    for round in 0u64.. {
        tick.tick().await;
        if let Err(e) = failures::flush(&state.store, &state.failures, state.clock.now()).await {
            tracing::warn!(error = ?e, "writing collapsed sign-in failures failed; will retry");
        }
        if round % every != 0 {
            continue;
        }
        state.throttle.forget_recovered(&state.clock);
        let purged = async {
            let mut tx = state.store.begin().await?;
            let n = crate::store::sso::purge_expired(&mut tx, state.clock.now()).await?;
            tx.commit().await?;
            Ok::<u64, crate::store::StoreError>(n)
        }
        .await;
        match purged {
            Ok(n) if n > 0 => tracing::debug!(rows = n, "expired sign-in state dropped"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = ?e, "housekeeping failed; will retry"),
        }
    }
}

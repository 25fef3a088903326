//! Start-up: [`start`] connects the database, applies migrations, loads and checks the
//! master key, on an empty database creates the operator token, and starts the plugin
//! runtime (built-ins compiled and warm before anything is served).

use std::sync::Arc;

use anyhow::Context;
use secrecy::SecretString;

use super::AppState;
use crate::audit::failures::FailureLog;
use crate::cache::NodeCache;
use crate::config::Config;
use crate::http::metrics::Metrics;
use crate::plugins::registry::Registry;
use crate::secrets::{self, Secrets};
use crate::services::Services;
use crate::sessions;
use crate::sso::oidc::ProviderCache;
use crate::store::{Backend, Store};
use crate::throttle::Throttle;
use crate::types::Clock;

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
        crate::config::create_private_dir(&config.data_dir)?;
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
        services: Services {
            config: Arc::new(config),
            store,
            clock,
            secrets: Arc::new(secrets),
            cache: Arc::new(NodeCache::new()),
            plugins: Arc::new(plugins),
            oidc: Arc::new(oidc),
            failures: Arc::new(FailureLog::new()),
        },
        metrics: Arc::new(Metrics::new(database)),
        throttle: Arc::new(Throttle::new()),
    };
    Ok(Started {
        state,
        operator_token,
        migrations_applied,
    })
}

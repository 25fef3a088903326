//! Loading and rendering: defaults, then the file, then the environment (`Config::load`);
//! figment's errors reworded as a [`ConfigError`] that says what to change; the redacted
//! rendering `gatehouse config` prints; the data directory's creation.

use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;

use super::{Config, ENV_NOT_CONFIG, ENV_PREFIX};

/// A configuration problem, worded so the operator knows what to change.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {message}\n  hint: {hint}")]
pub struct ConfigError {
    pub message: String,
    pub hint: String,
}

impl Config {
    /// Defaults, then `file` (if given), then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let env = Env::prefixed(ENV_PREFIX)
            .split("__")
            .filter(|key| !ENV_NOT_CONFIG.contains(&key.as_str()));
        Self::load_from(file, env)
    }

    pub(super) fn load_from(file: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError {
                    message: format!("config file {} does not exist", path.display()),
                    hint: "pass an existing TOML file with --config, or omit it to use defaults"
                        .into(),
                });
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let config: Config = figment.merge(env).extract().map_err(explain)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.server.max_body_bytes < 1024 {
            return Err(ConfigError {
                message: format!(
                    "server.max_body_bytes = {} is too small",
                    self.server.max_body_bytes
                ),
                hint: "use at least 1024 bytes; the default is 1048576".into(),
            });
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError {
                message: "database.max_connections must be at least 1".into(),
                hint: "the default is 8".into(),
            });
        }
        let t = &self.sessions;
        if t.idle_timeout_secs < 60 || t.absolute_timeout_secs < t.idle_timeout_secs {
            return Err(ConfigError {
                message: format!(
                    "sessions.idle_timeout_secs = {} and absolute_timeout_secs = {} do not fit",
                    t.idle_timeout_secs, t.absolute_timeout_secs
                ),
                hint: "the idle timeout must be at least 60 s and at most the absolute timeout"
                    .into(),
            });
        }
        let p = &self.plugins;
        if !(1..=4096).contains(&p.memory_mib)
            || !(1..=60_000).contains(&p.timeout_ms)
            || p.fuel == 0
            || !(1024..=256 * 1024 * 1024).contains(&p.max_component_bytes)
        {
            return Err(ConfigError {
                message: format!(
                    "plugin limits out of range: memory_mib = {}, timeout_ms = {}, fuel = {}, \
                     max_component_bytes = {}",
                    p.memory_mib, p.timeout_ms, p.fuel, p.max_component_bytes
                ),
                hint: "memory_mib 1–4096, timeout_ms 1–60000, fuel ≥ 1, max_component_bytes \
                       1 KiB–256 MiB; defaults are 16, 10, 50000000 and 4194304"
                    .into(),
            });
        }
        if !(60..=7 * 86_400).contains(&self.sso.metadata_refresh_secs) {
            return Err(ConfigError {
                message: format!(
                    "sso.metadata_refresh_secs = {} is out of range",
                    self.sso.metadata_refresh_secs
                ),
                hint: "60 s to 7 days (604800); the default is 21600 (6 hours)".into(),
            });
        }
        if !(1..=65_536).contains(&p.loaded_budget_mib) {
            return Err(ConfigError {
                message: format!(
                    "plugins.loaded_budget_mib = {} is out of range",
                    p.loaded_budget_mib
                ),
                hint: "1–65536 MiB; the default is 256".into(),
            });
        }
        if p.record_max_per_source > 100_000 || !(1..=365).contains(&p.record_max_age_days) {
            return Err(ConfigError {
                message: format!(
                    "recording bounds out of range: record_max_per_source = {}, \
                     record_max_age_days = {}",
                    p.record_max_per_source, p.record_max_age_days
                ),
                hint: "record_max_per_source 0–100000 (0 turns recording off), \
                       record_max_age_days 1–365; defaults are 1000 and 7"
                    .into(),
            });
        }
        if let Some(url) = &self.server.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError {
                    message: format!("server.public_url = {url:?} is not an http(s) URL"),
                    hint: "for example https://sso.example.com".into(),
                });
            }
        }
        if let Some(url) = &self.database.url {
            let known = ["sqlite:", "postgres://", "postgresql://"];
            if !known.iter().any(|p| url.starts_with(p)) {
                return Err(ConfigError {
                    message: "database.url has an unsupported scheme".into(),
                    hint: "use postgres://user@host/db or sqlite://path/to/file.db".into(),
                });
            }
        }
        if let Some(bad) = self.rbac.modules.iter().find(|m| {
            !crate::rbac::model::is_identifier(m)
                || m.starts_with(crate::rbac::model::GATEHOUSE_PREFIX)
        }) {
            return Err(ConfigError {
                message: format!("rbac.modules has an unusable name {bad:?}"),
                hint: "use lower-case names such as work_orders (letters, digits, _ - .), \
                       not starting with gatehouse."
                    .into(),
            });
        }
        if !(60..=86_400).contains(&self.audit.checkpoint_interval_secs) {
            return Err(ConfigError {
                message: "audit.checkpoint_interval_secs is out of range".into(),
                hint: "use 60 to 86400 seconds; 3600 (hourly) is the default".into(),
            });
        }
        let a = &self.audit;
        if !(1 <= a.min_retention_days
            && a.min_retention_days <= a.default_retention_days
            && a.default_retention_days <= a.max_retention_days)
        {
            return Err(ConfigError {
                message: "audit retention days are inconsistent".into(),
                hint: "set 1 <= audit.min_retention_days <= audit.default_retention_days \
                       <= audit.max_retention_days"
                    .into(),
            });
        }
        if let Some(url) = &self.smtp.url {
            use secrecy::ExposeSecret;
            let url = url.expose_secret();
            if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                return Err(ConfigError {
                    message: "smtp.url has an unsupported scheme".into(),
                    hint: "use smtp://host:25, smtp://host:587?tls=required or smtps://host:465"
                        .into(),
                });
            }
        }
        Ok(())
    }

    /// The URL people and IdPs use, without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.server.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.server.listen),
        }
    }

    /// Whether people and IdPs reach Gatehouse over https (cookies are then `Secure`).
    pub fn is_https(&self) -> bool {
        self.public_url().starts_with("https://")
    }

    /// The database URL, defaulting to the embedded SQLite file.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("gatehouse.db").display()),
        }
    }

    /// Where compiled plugins are cached.
    pub fn plugin_cache_dir(&self) -> PathBuf {
        self.plugins
            .cache_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("plugin-cache"))
    }

    /// True when the database is the embedded SQLite default (or any SQLite file).
    pub fn is_embedded_database(&self) -> bool {
        self.database_url().starts_with("sqlite:")
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot render configuration: {e}\n"))
    }
}

fn explain(e: figment::Error) -> ConfigError {
    let mut messages = Vec::new();
    let mut unknown = false;
    for err in e {
        if matches!(err.kind, figment::error::Kind::UnknownField(..)) {
            unknown = true;
        }
        let key = if err.path.is_empty() {
            String::new()
        } else {
            format!(" (key `{}`)", err.path.join("."))
        };
        let source = err
            .metadata
            .as_ref()
            .map(|m| match &m.source {
                Some(src) => format!(" from {} {src}", m.name),
                None => format!(" from {}", m.name),
            })
            .unwrap_or_default();
        messages.push(format!("{}{key}{source}", err.kind));
    }
    let hint = if unknown {
        "remove or correct the key; the accepted keys are listed in the README's configuration table. \
         Environment variables are GATEHOUSE_<SECTION>__<KEY> with two underscores between levels, \
         e.g. GATEHOUSE_SERVER__LISTEN=127.0.0.1:9000"
    } else {
        "check the value's type and format against the README's configuration table"
    };
    ConfigError {
        message: messages.join("; "),
        hint: hint.into(),
    }
}

/// Creates the data directory readable by its owner only (it holds the database and key).
pub fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
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

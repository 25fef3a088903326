//! Typed, layered configuration: built-in defaults, then an optional TOML file, then
//! `GATEHOUSE_…` environment variables (`__` separates levels, e.g.
//! `GATEHOUSE_SERVER__LISTEN`). Unknown keys are rejected with a message that says how to fix
//! them. This module reads configuration; it does not act on it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Environment variables with this prefix are configuration.
pub const ENV_PREFIX: &str = "GATEHOUSE_";

/// `GATEHOUSE_…` variables that are not configuration keys: the config file path (read by the
/// CLI) and the test harness's own settings.
const ENV_NOT_CONFIG: &[&str] = &["config", "test_database_url"];

/// The whole configuration. Every section has defaults, so an empty file is valid.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the embedded database and the generated master key live.
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub secrets: SecretsConfig,
    pub log: LogConfig,
    pub plugins: PluginsConfig,
    pub sessions: SessionsConfig,
    pub sso: SsoConfig,
    pub scim: ScimConfig,
    pub throttle: ThrottleConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            secrets: SecretsConfig::default(),
            log: LogConfig::default(),
            plugins: PluginsConfig::default(),
            sessions: SessionsConfig::default(),
            sso: SsoConfig::default(),
            scim: ScimConfig::default(),
            throttle: ThrottleConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to bind. Loopback by default: put a TLS-terminating proxy in front.
    pub listen: SocketAddr,
    /// The URL users and IdPs reach Gatehouse at; defaults to `http://{listen}`.
    pub public_url: Option<String>,
    /// Largest request body accepted, in bytes. Stops memory exhaustion by oversize bodies.
    pub max_body_bytes: usize,
    /// A request taking longer than this is answered with 408 and dropped.
    pub request_timeout_secs: u64,
    /// How long in-flight requests get to finish after SIGTERM / Ctrl-C.
    pub shutdown_grace_secs: u64,
    /// The reverse proxies in front of Gatehouse (addresses or CIDR ranges). A request from
    /// one of them has its client IP (for audit events and rate limits) taken from
    /// `X-Forwarded-For`: the rightmost entry that is not itself one of these proxies, since
    /// everything left of it is whatever the client claimed. Empty: the TCP peer is the
    /// client, and `X-Forwarded-For` is ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            max_body_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            shutdown_grace_secs: 10,
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `postgres://…` for PostgreSQL, `sqlite://path` for a SQLite file; unset means
    /// `{data_dir}/gatehouse.db`. Printed with its password redacted.
    #[serde(serialize_with = "redact_url")]
    pub url: Option<String>,
    /// Connection pool size (readers; SQLite always has a single writer connection).
    pub max_connections: u32,
    /// Apply pending migrations when `serve` starts.
    pub migrate_on_start: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 8,
            migrate_on_start: true,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// The master key, base64 (32 bytes). Prefer `master_key_file` or the environment.
    #[serde(serialize_with = "redact")]
    pub master_key: Option<SecretString>,
    /// A file holding the base64 master key; must not be readable by group or others.
    pub master_key_file: Option<PathBuf>,
}

/// Plugin limits and the compiled cache.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// Largest component an upload may carry, in bytes.
    pub max_component_bytes: usize,
    /// Largest linear memory one plugin call may use, in MiB.
    pub memory_mib: usize,
    /// Wall time one plugin call may run, in milliseconds.
    pub timeout_ms: u64,
    /// Fuel (roughly, wasm instructions) one plugin call may burn.
    pub fuel: u64,
    /// Where compiled components are cached; default `{data_dir}/plugin-cache`.
    pub cache_dir: Option<PathBuf>,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        Self {
            max_component_bytes: 4 * 1024 * 1024,
            memory_mib: 16,
            timeout_ms: 10,
            fuel: 50_000_000,
            cache_dir: None,
        }
    }
}

/// Browser sessions opened by a sign-in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionsConfig {
    /// A session ends after this many seconds without a request.
    pub idle_timeout_secs: u64,
    /// A session ends this many seconds after sign-in, however active.
    pub absolute_timeout_secs: u64,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        Self {
            idle_timeout_secs: 2 * 3600,
            absolute_timeout_secs: 12 * 3600,
        }
    }
}

/// Single sign-on: how Gatehouse calls identity providers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SsoConfig {
    /// Let OIDC issuers and SAML metadata URLs live on loopback, private or link-local
    /// addresses. Off: tenant admins choose these URLs, and Gatehouse fetching them must not
    /// become a way into the operator's internal network. Turn on only when every IdP is
    /// internal and every tenant admin is trusted with the network.
    pub allow_private_networks: bool,
}

/// SCIM provisioning.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScimConfig {
    /// Most rows a filtered or sorted listing reads before evaluating the filter in memory:
    /// the common filters are narrowed in SQL first; one that narrows less is refused with
    /// `tooMany`, so a single request cannot make the node read a whole large tenant.
    pub max_scan_rows: usize,
}

impl Default for ScimConfig {
    fn default() -> Self {
        Self {
            max_scan_rows: 10_000,
        }
    }
}

/// Rate limits on the paths anyone can call without a credential (the sign-in pages, the
/// SAML ACS, the OIDC callback, password attempts), per node. 0 turns a limit off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    /// Anonymous sign-in requests one client IP may make per minute (a burst of this many,
    /// refilled evenly). Generous for offices behind one NAT address.
    pub per_ip_per_minute: u32,
    /// Sign-ins started (the login page routing to a connection) and sign-in responses (ACS
    /// posts, OIDC callbacks) one SSO connection may take per minute: a flood against one
    /// connection cannot fill the node's queue or its login-state table.
    pub per_connection_per_minute: u32,
    /// The same, summed over all of one tenant's connections.
    pub per_tenant_per_minute: u32,
    /// Password attempts per account (tenant and email) per hour, whatever the IP: stops
    /// guessing one account from many addresses.
    pub password_per_account_per_hour: u32,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            per_ip_per_minute: 120,
            per_connection_per_minute: 1_200,
            per_tenant_per_minute: 3_000,
            password_per_account_per_hour: 30,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter such as `info` or `gatehouse=debug,info`.
    pub level: String,
    /// `text` for people, `json` for log pipelines.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A database URL with its password (user-info or `password=` query value) replaced.
fn redact_url<S: serde::Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    let Some(raw) = v else {
        return s.serialize_none();
    };
    let Ok(mut url) = url::Url::parse(raw) else {
        return s.serialize_some("[redacted: not a URL]");
    };
    if url.password().is_some() {
        let _ = url.set_password(Some("redacted"));
    }
    if url
        .query_pairs()
        .any(|(k, _)| k.eq_ignore_ascii_case("password"))
    {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if k.eq_ignore_ascii_case("password") {
                    "redacted".to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    s.serialize_some(url.as_str())
}

fn redact<S: serde::Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_str("[redacted]"),
        None => s.serialize_none(),
    }
}

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

    fn load_from(file: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with(vars: &[(&str, &str)]) -> Env {
        // A private prefix per test keeps parallel tests from seeing each other's variables.
        let prefix = format!("GHTEST{}_", uuid::Uuid::new_v4().simple());
        for (k, v) in vars {
            std::env::set_var(format!("{prefix}{k}"), v);
        }
        Env::prefixed(&prefix).split("__")
    }

    #[test]
    fn defaults_are_valid() {
        let c = Config::load_from(None, env_with(&[])).unwrap();
        assert_eq!(c.server.listen.port(), 8080);
        assert!(c.is_embedded_database());
    }

    #[test]
    fn env_nests_with_double_underscore() {
        let c = Config::load_from(
            None,
            env_with(&[("SERVER__LISTEN", "127.0.0.1:9000"), ("DATA_DIR", "/tmp/x")]),
        )
        .unwrap();
        assert_eq!(c.server.listen.port(), 9000);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn unknown_keys_are_rejected_with_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("g.toml");
        std::fs::write(&file, "[server]\nlisen = \"127.0.0.1:1\"\n").unwrap();
        let err = Config::load_from(Some(&file), env_with(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("lisen"), "{err}");
        assert!(err.contains("GATEHOUSE_"), "{err}");

        let err = Config::load_from(None, env_with(&[("SERVER__NOPE", "1")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn bad_values_are_explained() {
        let err = Config::load_from(None, env_with(&[("SERVER__LISTEN", "not-an-address")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen"), "{err}");
        let err = Config::load_from(None, env_with(&[("DATABASE__URL", "mysql://x")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unsupported scheme"), "{err}");
    }

    #[test]
    fn redacted_toml_hides_the_master_key() {
        let mut c = Config::default();
        c.secrets.master_key = Some(SecretString::from("c2VjcmV0"));
        let toml = c.to_redacted_toml();
        assert!(toml.contains("[redacted]"));
        assert!(!toml.contains("c2VjcmV0"));
    }

    #[test]
    fn redacted_toml_hides_the_database_password() {
        let mut c = Config::default();
        for url in [
            "postgres://gh:hunter2secret@db.internal:5432/gatehouse",
            "postgres://gh@db.internal/gatehouse?sslmode=require&password=hunter2secret",
        ] {
            c.database.url = Some(url.into());
            let toml = c.to_redacted_toml();
            assert!(!toml.contains("hunter2secret"), "{toml}");
            assert!(toml.contains("db.internal"), "{toml}");
        }
    }
}

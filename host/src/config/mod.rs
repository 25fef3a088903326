//! Typed, layered configuration: built-in defaults, then an optional TOML file, then
//! `GATEHOUSE_…` environment variables (`__` separates levels, e.g.
//! `GATEHOUSE_SERVER__LISTEN`). Unknown keys are rejected with a message that says how to fix
//! them. This module reads configuration; it does not act on it.

use std::net::SocketAddr;
use std::path::PathBuf;

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
    pub smtp: SmtpConfig,
    pub rbac: RbacConfig,
    pub audit: AuditConfig,
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
            smtp: SmtpConfig::default(),
            rbac: RbacConfig::default(),
            audit: AuditConfig::default(),
        }
    }
}

/// The audit trail: signed checkpoints and retention.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// How often each chain gets a signed checkpoint, also when nothing happened. Verification
    /// reports a chain whose newest checkpoint is older than twice this (plus 5 minutes).
    pub checkpoint_interval_secs: u64,
    /// Days a tenant's events are kept unless the tenant sets its own (also the operator
    /// chain's).
    pub default_retention_days: u32,
    /// The shortest retention a tenant may set: also how long events wait for a stream whose
    /// destination is down.
    pub min_retention_days: u32,
    /// The longest retention a tenant may set.
    pub max_retention_days: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            checkpoint_interval_secs: 3600,
            default_retention_days: 365,
            min_retention_days: 7,
            max_retention_days: 3650,
        }
    }
}

/// Roles and permissions: the app's module catalogue, which every tenant starts from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RbacConfig {
    /// The app's modules (`assets`, `work_orders`…), each with the standard actions view,
    /// create, edit, delete and export; tenants may add their own modules and actions.
    pub modules: Vec<String>,
}

/// Outgoing email (invitations and password resets). Unset: links are only shown to the
/// admin who made them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// `smtp://host:port` (plain, for a relay on loopback), `smtp://host:587?tls=required`
    /// (STARTTLS) or `smtps://host:465`, with `user:password@` when the relay wants it.
    /// Printed redacted.
    #[serde(serialize_with = "redact")]
    pub url: Option<SecretString>,
    /// The `From` of every email.
    pub from: String,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            url: None,
            from: "Gatehouse <no-reply@localhost>".into(),
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
    /// Memory the node's compiled components may hold, in MiB (estimated: native code plus
    /// a fixed overhead each); least recently used ones are dropped past it and reload from
    /// the compiled cache when next used. Built-ins are always kept.
    pub loaded_budget_mib: usize,
    /// Most recorded inputs kept per source (one connection's sign-ins, newest per user; a
    /// tenant's SCIM requests) for replaying a candidate plugin version; a tenant may keep
    /// fewer. 0 turns recording off for every tenant.
    pub record_max_per_source: u32,
    /// Longest a recorded input is kept, in days; a tenant may keep them for less.
    pub record_max_age_days: u32,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        Self {
            max_component_bytes: 4 * 1024 * 1024,
            memory_mib: 16,
            timeout_ms: 10,
            fuel: 50_000_000,
            cache_dir: None,
            loaded_budget_mib: 256,
            record_max_per_source: 1000,
            record_max_age_days: 7,
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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SsoConfig {
    /// Let OIDC issuers and SAML metadata URLs live on loopback, private or link-local
    /// addresses. Off: tenant admins choose these URLs, and Gatehouse fetching them must not
    /// become a way into the operator's internal network. Turn on only when every IdP is
    /// internal and every tenant admin is trusted with the network.
    pub allow_private_networks: bool,
    /// How often a SAML connection created from a metadata URL fetches it again, in seconds,
    /// so an IdP's certificate rotation needs no admin action. A failed fetch is retried
    /// after a tenth of this (at least a minute).
    pub metadata_refresh_secs: u64,
}

impl Default for SsoConfig {
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            metadata_refresh_secs: 6 * 3600,
        }
    }
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
    /// SCIM requests one tenant's clients may make per minute (a burst of this many,
    /// refilled evenly); over it they get 429 with `Retry-After`, as Entra ID and Okta
    /// expect. Keeps one tenant's sync from starving the others' writes. 100 a second
    /// sustained: an independent conformance checker's full run (129 checks) stays under it.
    pub scim_per_tenant_per_minute: u32,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            per_ip_per_minute: 120,
            per_connection_per_minute: 1_200,
            per_tenant_per_minute: 3_000,
            password_per_account_per_hour: 30,
            scim_per_tenant_per_minute: 6_000,
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

mod load;
#[cfg(test)]
mod tests;

pub use load::{create_private_dir, ConfigError};

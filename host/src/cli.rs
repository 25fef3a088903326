//! The `gatehouse` command line. `serve` runs the server; `migrate` applies migrations;
//! `audit verify` checks every audit hash chain; `operator rotate-token` replaces a lost
//! operator token; `config check` prints the effective configuration with secrets redacted;
//! `openapi` prints the described API.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;

use crate::app;
use crate::config::{Config, LogFormat};
use crate::store::Store;
use crate::types::Clock;

mod audit_cli;
mod audit_generate;

#[derive(Debug, Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "SSO, SCIM, MFA, roles and audit for multi-tenant SaaS"
)]
pub struct Cli {
    /// TOML configuration file (defaults, then this file, then GATEHOUSE_* environment).
    #[arg(long, global = true, env = "GATEHOUSE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (migrates the database first unless database.migrate_on_start = false).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Audit trail maintenance.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Operator credential maintenance.
    Operator {
        #[command(subcommand)]
        command: OperatorCommand,
    },
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Plugin helpers.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Print the OpenAPI 3.1 document of the operator, admin and decision APIs: what
    /// `/openapi.json` serves and `docs/openapi.json` holds. Needs no database.
    Openapi,
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Say which plugin world a component implements, or why it is not a valid plugin
    /// (exit 1). Needs no database.
    Check {
        /// The `.wasm` component file.
        file: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute every hash chain and check its signed checkpoints; exit 1 if any event was
    /// changed or removed. With `--export FILE`, check a JSON Lines export instead, without
    /// the database.
    Verify {
        /// Only this chain: a tenant id, or `operator`.
        #[arg(long, conflicts_with = "export")]
        chain: Option<String>,
        /// A JSON Lines export (`GET /api/v1/audit-events/export`) to check offline.
        #[arg(long)]
        export: Option<PathBuf>,
        /// With `--export`: the checkpoint keys to trust, a JWK set saved from
        /// `/.well-known/gatehouse-audit-keys` (without it, the keys the file carries).
        #[arg(long, requires = "export")]
        keys: Option<PathBuf>,
    },
    /// Purge every chain's events past its retention now, as housekeeping does every few
    /// minutes, and print how many went and how fast (for a first purge of a large trail,
    /// or from cron with housekeeping's purge left to catch up).
    Purge,
    /// Fill a tenant's chain with synthetic events, for benchmarks and trials only.
    Generate {
        /// The tenant (id or slug).
        #[arg(long)]
        tenant: String,
        /// How many events.
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// Spread over this many past days.
        #[arg(long, default_value_t = 365)]
        days: u64,
        /// Sign a checkpoint, dated with the event's time, after every this many events
        /// (0: none).
        #[arg(long, default_value_t = 10_000)]
        checkpoint_every: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Revoke every operator token and print a new one.
    RotateToken,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load and validate the configuration, then print it (secrets redacted).
    Check,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout();
    match runtime.block_on(run(cli.command, config, &mut out)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Runs one command, writing its report to `out`. Public so tests drive the real CLI code.
pub async fn run(
    command: Command,
    config: Config,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve => serve(config, out).await,
        Command::Migrate => {
            let store = Store::connect(&config.database_url(), 1).await?;
            let n = store.migrate().await?;
            writeln!(out, "applied {n} migration(s); the database is up to date")?;
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command:
                AuditCommand::Verify {
                    export: Some(file),
                    keys,
                    ..
                },
        } => audit_cli::verify_export(&file, keys.as_deref(), out),
        Command::Audit {
            command: AuditCommand::Verify { chain: only, .. },
        } => audit_cli::verify_database(&config, only.as_deref(), out).await,
        Command::Audit {
            command: AuditCommand::Purge,
        } => {
            audit_cli::purge(&config, out).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command:
                AuditCommand::Generate {
                    tenant,
                    events,
                    days,
                    checkpoint_every,
                },
        } => {
            audit_generate::generate(&config, &tenant, events, days, checkpoint_every, out).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Operator {
            command: OperatorCommand::RotateToken,
        } => {
            let store = Store::connect(&config.database_url(), 1).await?;
            let token = crate::sessions::operator::rotate(&store, &Clock::system())
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            store.close().await;
            writeln!(
                out,
                "All earlier operator tokens are revoked. The new operator token (shown once):"
            )?;
            writeln!(out, "\n    {}\n", token.expose_secret())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            writeln!(
                out,
                "# configuration is valid; effective values (secrets redacted):"
            )?;
            write!(out, "{}", config.to_redacted_toml())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugin {
            command: PluginCommand::Check { file },
        } => check_plugin(&config, &file, out),
        Command::Openapi => {
            write!(out, "{}", crate::http::openapi::document())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `plugin check`: compiles the component as an upload would and names its world.
fn check_plugin(
    config: &Config,
    file: &std::path::Path,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<ExitCode> {
    let max = config.plugins.max_component_bytes;
    let size = std::fs::metadata(file)
        .with_context(|| format!("reading {}", file.display()))?
        .len();
    if size > max as u64 {
        writeln!(
            out,
            "{}: not a valid plugin: {size} bytes is over the upload limit of {max} \
             (plugins.max_component_bytes)",
            file.display()
        )?;
        return Ok(ExitCode::FAILURE);
    }
    let wasm = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let host = crate::plugins::PluginHost::new(crate::plugins::Limits::default())?;
    match host.load("check", &wasm) {
        Ok(plugin) => {
            writeln!(
                out,
                "{}: a valid {} plugin (exports {}); {} bytes, sha256 {}",
                file.display(),
                plugin.world(),
                plugin.world().export_name(),
                wasm.len(),
                plugin.sha256()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            writeln!(out, "{}: not a valid plugin: {e}", file.display())?;
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn serve(config: Config, out: &mut dyn std::io::Write) -> anyhow::Result<ExitCode> {
    let listen = config.server.listen;
    let public_url = config.public_url();
    let started = app::start(config, Clock::system()).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| {
            format!("binding {listen} (set server.listen or GATEHOUSE_SERVER__LISTEN)")
        })?;
    let local = listener.local_addr()?;
    if let Some(token) = &started.operator_token {
        writeln!(
            out,
            "\nGatehouse is set up. This is the operator token; it is shown only now:\n"
        )?;
        writeln!(out, "    {}\n", token.expose_secret())?;
        writeln!(
            out,
            "Keep it in a secret manager. Lost it? `gatehouse operator rotate-token`."
        )?;
        writeln!(out, "Create a first tenant:\n")?;
        writeln!(
            out,
            "    curl -s -X POST {public_url}/operator/v1/tenants \\\n      -H 'Authorization: Bearer <operator token>' -H 'Content-Type: application/json' \\\n      -d '{{\"slug\": \"acme\", \"name\": \"Acme Corp\", \"domains\": [\"acme.example\"]}}'\n"
        )?;
    }
    writeln!(out, "Gatehouse is listening on http://{local} (public URL {public_url}); health: {public_url}/healthz")?;
    out.flush()?;
    tracing::info!(%local, migrations = started.migrations_applied, "serving");
    app::serve(started.state.clone(), listener, shutdown_signal()).await?;
    started.state.store.close().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

//! Dry-runs: one plugin on a sample, with a configuration and catalogue override, reported
//! stage by stage (output or error, the plugin's log lines, the wall time). The report types
//! here are shared with the whole-pipeline dry-run in `sign_in`. Plugin calls run on the
//! blocking pool.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::bindings::types;
use super::convert;
use super::json as wit_json;
use super::limits::{Outcome, PluginError};
use super::log::LogLine;
use super::manage::ViewPlugins;
use super::pipeline::{open_config, stored_stages, Stage, StageConfig};
use super::world::World;
use crate::error::Error;
use crate::rbac::catalogue::{self, Catalogue};
use crate::rbac::{Authorized, WritePlugins};
use crate::services::Services;
use crate::store::plugins::PluginRecord;
use crate::types::PluginId;

/// The plugin a report line is about.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PluginRef {
    pub id: PluginId,
    pub name: String,
    pub version: String,
}

impl PluginRef {
    pub(super) fn of(r: &PluginRecord) -> Self {
        Self {
            id: r.id,
            name: r.name.clone(),
            version: r.version.clone(),
        }
    }
}

/// A plugin failure as a report shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StageError {
    #[schema(value_type = String)]
    pub code: &'static str,
    pub message: String,
}

/// What one stage did in a dry-run.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StageReport {
    pub stage: World,
    pub plugin: PluginRef,
    /// The plugin's output as JSON (its shape is the world's output record); none on error.
    pub output: Option<Value>,
    pub error: Option<StageError>,
    pub logs: Vec<LogLine>,
    /// Wall time of the call, instantiation included, in microseconds.
    pub duration_us: u64,
}

/// A dry-run's result: `ok` when every stage produced output.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DryRunReport {
    pub ok: bool,
    pub stages: Vec<StageReport>,
}

pub(super) fn report<T>(
    stage: &Stage,
    outcome: Outcome<T>,
    show: impl FnOnce(&T) -> Value,
) -> (StageReport, Result<T, PluginError>) {
    let (output, error) = match &outcome.result {
        Ok(v) => (Some(show(v)), None),
        Err(e) => (
            None,
            Some(StageError {
                code: e.code(),
                message: e.to_string(),
            }),
        ),
    };
    (
        StageReport {
            stage: stage.loaded.world(),
            plugin: PluginRef::of(&stage.record),
            output,
            error,
            logs: outcome.logs,
            duration_us: u64::try_from(outcome.elapsed.as_micros()).unwrap_or(u64::MAX),
        },
        outcome.result,
    )
}

/// Dry-run of one plugin on a sample.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginDryRun {
    /// The world's input: a raw identity (idp-adapter), an identity (attribute-mapper,
    /// role-mapper) or a SCIM request (scim-adapter).
    pub input: Value,
    /// Configuration to run with; when absent, the stage's stored configuration if this
    /// plugin is the one assigned, else none.
    #[serde(default)]
    pub config: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Role mappers only: a catalogue to use instead of the tenant's.
    #[serde(default)]
    pub catalogue: Option<Catalogue>,
}

/// A dry-run sample, parsed for its world.
enum Input {
    Raw(types::RawIdentity),
    Identity(types::Identity),
    Scim(types::ScimRequest),
}

/// Runs plugin calls on the blocking pool: each is CPU work of up to the time limit, and
/// WASI's synchronous bindings must not run on an async worker thread.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("plugin task failed: {e}")))
}

pub(super) fn bad_input(e: serde_json::Error) -> Error {
    Error::invalid("input", e.to_string())
}

fn identity_input(input: Value) -> Result<types::Identity, Error> {
    let identity: wit_json::IdentityJson = serde_json::from_value(input).map_err(bad_input)?;
    Ok(identity.into_wit())
}

pub async fn dry_run_plugin(
    state: &Services,
    auth: &Authorized<WritePlugins>,
    id: PluginId,
    body: PluginDryRun,
) -> Result<DryRunReport, Error> {
    let tenant = auth.tenant();
    let (record, loaded) = state.plugins.load(&state.store, auth.viewer(), id).await?;
    let world = loaded.world();
    let config = match body.config {
        Some(values) => StageConfig {
            values,
            secrets: body.secrets,
        },
        None => {
            let stored = stored_stages(state, tenant).await?;
            match stored.get(&world).filter(|s| s.plugin_id == id) {
                Some(s) => {
                    open_config(
                        state,
                        tenant,
                        super::Slot::Stage(world),
                        s.config_sealed.as_deref(),
                    )
                    .await?
                }
                None => StageConfig::default(),
            }
        }
    };
    config.check()?;
    let catalogue = match body.catalogue {
        Some(c) => {
            c.validate(&crate::rbac::app_modules(state).await?)?;
            c
        }
        None => catalogue::load(state, tenant).await?,
    };
    let stage = Stage {
        record,
        loaded,
        config,
    };
    let input = match world {
        World::IdpAdapter => {
            let raw: wit_json::RawIdentityJson =
                serde_json::from_value(body.input).map_err(bad_input)?;
            Input::Raw(raw.into_wit()?)
        }
        World::AttributeMapper | World::RoleMapper => Input::Identity(identity_input(body.input)?),
        World::ScimAdapter => {
            let request: wit_json::ScimRequestJson =
                serde_json::from_value(body.input).map_err(bad_input)?;
            Input::Scim(request.into_wit()?)
        }
    };
    let catalogue = convert::catalogue_to_wit(&catalogue);
    let registry = state.plugins.clone();
    let line = blocking(move || {
        let host = registry.host();
        let cfg = stage.config.merged();
        let plugin = &stage.loaded;
        match input {
            Input::Raw(raw) => report(&stage, host.adapt(plugin, &cfg, &raw), wit_json::identity).0,
            Input::Identity(identity) if world == World::AttributeMapper => {
                report(
                    &stage,
                    host.map_profile(plugin, &cfg, &identity),
                    wit_json::profile,
                )
                .0
            }
            Input::Identity(identity) => {
                let outcome = host.map_roles(plugin, &cfg, &identity, &catalogue);
                report(&stage, outcome, |r| wit_json::roles(r)).0
            }
            Input::Scim(request) => {
                report(
                    &stage,
                    host.normalize(plugin, &cfg, &request),
                    wit_json::scim,
                )
                .0
            }
        }
    })
    .await?;
    Ok(DryRunReport {
        ok: line.error.is_none(),
        stages: vec![line],
    })
}

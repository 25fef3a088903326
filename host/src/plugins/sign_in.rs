//! The sign-in pipeline: raw identity → idp-adapter (the connection's own, else the tenant's
//! stage) → attribute-mapper → role-mapper, each in a fresh instance. A real run ([`run`]) fails closed at the first failing stage and audits
//! it; a dry-run ([`dry_run`]) reports every stage it reached, with overrides so a new
//! version or catalogue can be tried before it is assigned.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;

use super::bindings::types;
use super::convert;
use super::dry_run::{blocking, report, DryRunReport, PluginRef, StageReport};
use super::json as wit_json;
use super::limits::PluginError;
use super::pipeline::{resolve, stored_stages, Stage, StageConfig, StageSpec};
use super::recording::{self, RecordingSettings};
use super::registry::Registry;
use super::slot::Slot;
use super::world::World;
use crate::audit::action::Action;
use crate::audit::{self, Actor, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::identity::{Mapped, RawIdentity};
use crate::rbac::catalogue::{self, Catalogue};
use crate::rbac::{Authorized, WritePlugins};
use crate::services::Services;
use crate::store;
use crate::store::plugins::{Owner, StageRecord};
use crate::types::{ConnectionId, PluginId, TenantId};

/// The sign-in stages, in order.
pub(super) const STAGES: [World; 3] =
    [World::IdpAdapter, World::AttributeMapper, World::RoleMapper];

/// Where a run stopped.
pub(super) struct Failure {
    pub(super) stage: World,
    plugin: PluginRef,
    pub(super) error: PluginError,
}

/// Runs the three stages, collecting a report line per stage reached.
pub(super) fn run_stages(
    registry: &Registry,
    pipeline: &Pipeline,
    connection: Option<ConnectionId>,
    raw: &types::RawIdentity,
) -> (Vec<StageReport>, Result<Mapped, Failure>) {
    let host = registry.host();
    let mut lines = Vec::with_capacity(3);
    let catalogue = &pipeline.catalogue;
    let [stage_adapter, mapper, roles] = &pipeline.stages;
    let adapter = connection
        .and_then(|c| pipeline.adapters.get(&c))
        .unwrap_or(stage_adapter);
    macro_rules! stage {
        ($stage:expr, $outcome:expr, $show:expr) => {{
            let (line, result) = report($stage, $outcome, $show);
            lines.push(line);
            match result {
                Ok(value) => value,
                Err(error) => {
                    let failure = Failure {
                        stage: $stage.loaded.world(),
                        plugin: PluginRef::of(&$stage.record),
                        error,
                    };
                    return (lines, Err(failure));
                }
            }
        }};
    }
    let identity = stage!(
        adapter,
        host.adapt(&adapter.loaded, &adapter.config.merged(), raw),
        wit_json::identity
    );
    let profile = stage!(
        mapper,
        host.map_profile(&mapper.loaded, &mapper.config.merged(), &identity),
        wit_json::profile
    );
    let assigned = stage!(
        roles,
        host.map_roles(&roles.loaded, &roles.config.merged(), &identity, catalogue),
        |r: &Vec<types::RoleAssignment>| wit_json::roles(r)
    );
    (lines, Ok(convert::mapped_of(identity, profile, assigned)))
}

/// The tenant's sign-in stages (plugin, compiled component, opened configuration) and
/// role catalogue, ready to run: made for a run from the [`PipelineSpec`] the node cache
/// keeps (which holds the stages' decrypted configuration in memory for at most
/// [`crate::cache::STALE_AFTER`]).
pub struct Pipeline {
    stages: [Stage; 3],
    /// The connections that name their own IdP adapter, which runs instead of `stages[0]`.
    adapters: HashMap<ConnectionId, Stage>,
    /// The SCIM adapter, when the tenant assigned one (otherwise requests pass unchanged).
    pub(super) scim: Option<Stage>,
    pub(super) catalogue: types::Catalogue,
    /// Whether and how much of the tenant's sign-ins and SCIM requests to record for replay.
    pub(super) recording: RecordingSettings,
}

impl Pipeline {
    /// The role-mapper stage.
    pub(super) fn role_stage(&self) -> &Stage {
        &self.stages[2]
    }

    /// This pipeline with `candidates` running in their slots instead.
    pub(super) fn with(&self, candidates: Vec<(Slot, Stage)>) -> Pipeline {
        let mut out = Pipeline {
            stages: self.stages.clone(),
            adapters: self.adapters.clone(),
            scim: self.scim.clone(),
            catalogue: self.catalogue.clone(),
            recording: self.recording,
        };
        for (slot, stage) in candidates {
            match slot {
                Slot::Adapter(id) => {
                    out.adapters.insert(id, stage);
                }
                Slot::Stage(World::ScimAdapter) => out.scim = Some(stage),
                Slot::Stage(world) => {
                    if let Some(i) = STAGES.iter().position(|w| *w == world) {
                        out.stages[i] = stage;
                    }
                }
            }
        }
        out
    }
}

/// [`run_stages`] on the blocking pool. The calls are short (fuel, an epoch deadline of
/// `plugins.timeout_ms` each), but three of them back to back may take three timeouts, so
/// they do not run on an async worker, which would stall every other request it serves.
async fn run_blocking(
    state: &Services,
    pipeline: Arc<Pipeline>,
    connection: Option<ConnectionId>,
    raw: types::RawIdentity,
) -> Result<(Vec<StageReport>, Result<Mapped, Failure>), Error> {
    let registry = state.plugins.clone();
    blocking(move || run_stages(&registry, &pipeline, connection, &raw)).await
}

/// The tenant's pipeline as the node cache keeps it: plugin records and opened configuration,
/// but no compiled components (those stay within the registry's memory budget and are
/// fetched for each run by [`PipelineSpec::ready`]).
pub(super) struct PipelineSpec {
    stages: [StageSpec; 3],
    adapters: HashMap<ConnectionId, StageSpec>,
    scim: Option<StageSpec>,
    catalogue: types::Catalogue,
    recording: RecordingSettings,
}

impl PipelineSpec {
    /// The pipeline with every stage's component, ready to run.
    async fn ready(&self, state: &Services, tenant: TenantId) -> Result<Pipeline, Error> {
        // Concurrently: a stage whose component was evicted reloads from disk on the
        // blocking pool, and the three reloads need not wait for one another.
        let [a, b, c] = &self.stages;
        let (a, b, c) = tokio::join!(
            a.ready(state, tenant),
            b.ready(state, tenant),
            c.ready(state, tenant)
        );
        let stages = [a?, b?, c?];
        let mut adapters = HashMap::with_capacity(self.adapters.len());
        for (id, spec) in &self.adapters {
            adapters.insert(*id, spec.ready(state, tenant).await?);
        }
        let scim = match &self.scim {
            Some(spec) => Some(spec.ready(state, tenant).await?),
            None => None,
        };
        Ok(Pipeline {
            stages,
            adapters,
            scim,
            catalogue: self.catalogue.clone(),
            recording: self.recording,
        })
    }
}

/// The tenant's pipeline as stored now, read from the database.
async fn load_spec(state: &Services, tenant: TenantId) -> Result<Arc<PipelineSpec>, Error> {
    let stored = stored_stages(state, tenant).await?;
    let scim = resolve(
        state,
        tenant,
        Slot::Stage(World::ScimAdapter),
        stored.get(&World::ScimAdapter),
    )
    .await?;
    let mut adapters = HashMap::new();
    for (id, record) in store::plugin_slots::connection_adapters(&state.store, tenant).await? {
        if let Some(stage) = resolve(state, tenant, Slot::Adapter(id), Some(&record)).await? {
            adapters.insert(id, stage);
        }
    }
    Ok(Arc::new(PipelineSpec {
        stages: tenant_stages(state, tenant, &stored).await?,
        adapters,
        scim,
        catalogue: convert::catalogue_to_wit(&catalogue::load(state, tenant).await?),
        recording: recording::settings(state, tenant).await?,
    }))
}

/// The tenant's pipeline as stored now, bypassing the node cache, ready to run.
pub(super) async fn load_pipeline(state: &Services, tenant: TenantId) -> Result<Pipeline, Error> {
    load_spec(state, tenant).await?.ready(state, tenant).await
}

/// The tenant's pipeline through the node cache, ready to run.
pub(super) async fn cached_pipeline(
    state: &Services,
    tenant: TenantId,
) -> Result<Arc<Pipeline>, Error> {
    let spec = state
        .cache
        .pipeline(tenant, || load_spec(state, tenant))
        .await?;
    Ok(Arc::new(spec.ready(state, tenant).await?))
}

async fn tenant_stages(
    state: &Services,
    tenant: TenantId,
    stored: &BTreeMap<World, StageRecord>,
) -> Result<[StageSpec; 3], Error> {
    let mut out = Vec::with_capacity(3);
    for world in STAGES {
        let stage = resolve(state, tenant, Slot::Stage(world), stored.get(&world))
            .await?
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("no plugin for stage {world}")))?;
        out.push(stage);
    }
    out.try_into()
        .map_err(|_| Error::Internal(anyhow::anyhow!("pipeline has the wrong number of stages")))
}

/// Runs the tenant's pipeline on a sign-in verified through `connection`. A failing stage
/// fails the sign-in closed and is audited as `plugin.failed` with its stage, plugin and
/// reason.
pub async fn run(
    state: &Services,
    tenant: TenantId,
    connection: ConnectionId,
    ctx: &RequestContext,
    raw: &RawIdentity,
) -> Result<Mapped, Error> {
    let pipeline = cached_pipeline(state, tenant).await?;
    let settings = pipeline.recording;
    let (_, result) = run_blocking(
        state,
        pipeline,
        Some(connection),
        convert::raw_identity(raw),
    )
    .await?;
    recording::sign_in(state, tenant, settings, connection, raw).await;
    let failure = match result {
        Ok(mapped) => return Ok(mapped),
        Err(f) => f,
    };
    let failed = Failed {
        what: "sign-in",
        plugin: &failure.plugin,
        stage: failure.stage,
        error: &failure.error,
        subject: &raw.subject,
    };
    audit_failure(state, tenant, ctx, failed).await?;
    Err(Error::PluginFailed {
        stage: failure.stage.as_str(),
        detail: failure.error.to_string(),
    })
}

/// A plugin call that failed an operation.
pub(super) struct Failed<'a> {
    /// The operation, as the audit actor: `sign-in`, `scim`.
    pub(super) what: &'static str,
    pub(super) plugin: &'a PluginRef,
    pub(super) stage: World,
    pub(super) error: &'a PluginError,
    /// Whom the call was about.
    pub(super) subject: &'a str,
}

/// Records a plugin failure as `plugin.failed` (its own transaction: the operation it failed
/// rolls back).
pub(super) async fn audit_failure(
    state: &Services,
    tenant: TenantId,
    ctx: &RequestContext,
    f: Failed<'_>,
) -> Result<(), Error> {
    let Failed {
        what,
        plugin,
        stage,
        error,
        subject,
    } = f;
    tracing::warn!(%tenant, %stage, plugin = %plugin.name, code = error.code(),
        "operation refused by a plugin");
    let mut tx = state.store.begin().await?;
    audit::record(
        &mut tx,
        state.clock.now(),
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor: Actor::system(what),
            action: Action::PluginFailed,
            target: Target::new("plugin", plugin.id),
            before: None,
            after: Some(json!({
                "stage": stage,
                "plugin": plugin,
                "subject": subject,
                "code": error.code(),
                "message": error.to_string(),
            })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A stage override in a pipeline dry-run.
/// A plugin to run at a stage instead of the assigned one.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageOverride {
    pub plugin_id: PluginId,
    /// When absent, the stage's stored configuration values are used.
    #[serde(default)]
    pub config: Option<BTreeMap<String, String>>,
    /// When absent, the stage's stored secrets are used only if the override runs the very
    /// plugin they were given to: a stored secret never reaches another plugin.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
}

/// Dry-run of the sign-in pipeline.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineDryRun {
    pub raw_identity: wit_json::RawIdentityJson,
    /// Plugins to run instead of the assigned ones, by stage.
    #[serde(default)]
    pub overrides: BTreeMap<World, StageOverride>,
    /// A catalogue to use instead of the tenant's.
    #[serde(default)]
    pub catalogue: Option<Catalogue>,
    /// Run as a sign-in through this connection: its own IdP adapter, if it has one,
    /// replaces the idp-adapter stage (an override still wins).
    #[serde(default)]
    pub connection_id: Option<ConnectionId>,
}

pub async fn dry_run(
    state: &Services,
    auth: &Authorized<WritePlugins>,
    body: PipelineDryRun,
) -> Result<DryRunReport, Error> {
    let tenant = auth.tenant();
    let raw = body.raw_identity.into_wit()?;
    if let Some(world) = body.overrides.keys().find(|w| !STAGES.contains(w)) {
        return Err(Error::invalid(
            "overrides",
            format!(
                "`{world}` is not a sign-in stage (idp-adapter, attribute-mapper, role-mapper)"
            ),
        ));
    }
    let mut specs = tenant_stages(state, tenant, &stored_stages(state, tenant).await?).await?;
    if let Some(id) = body.connection_id {
        let slot = Slot::Adapter(id);
        super::activation::check_slot(state, tenant, slot).await?;
        let own = store::plugin_slots::current(&state.store, tenant, slot.key()).await?;
        if let Some(adapter) = resolve(state, tenant, slot, own.as_ref()).await? {
            specs[0] = adapter;
        }
    }
    let mut stages = Vec::with_capacity(3);
    for spec in &specs {
        stages.push(spec.ready(state, tenant).await?);
    }
    for (i, world) in STAGES.iter().enumerate() {
        let Some(o) = body.overrides.get(world) else {
            continue;
        };
        let (record, loaded) = state
            .plugins
            .load(&state.store, Owner::Tenant(tenant), o.plugin_id)
            .await?;
        if loaded.world() != *world {
            return Err(Error::invalid(
                "overrides",
                format!(
                    "`{}` is a {} plugin, not a {world}",
                    record.name, record.world
                ),
            ));
        }
        let same_plugin = stages[i].record.id == record.id;
        let secrets = if !o.secrets.is_empty() || !same_plugin {
            o.secrets.clone()
        } else {
            stages[i].config.secrets.clone()
        };
        let values = match &o.config {
            Some(values) => values.clone(),
            None => stages[i].config.values.clone(),
        };
        let config = StageConfig { values, secrets };
        config.check()?;
        stages[i] = Stage {
            record,
            loaded,
            config,
        };
    }
    let catalogue = match body.catalogue {
        Some(c) => {
            c.validate(&crate::rbac::app_modules(state).await?)?;
            c
        }
        None => catalogue::load(state, tenant).await?,
    };
    let pipeline = Arc::new(Pipeline {
        stages: stages.try_into().map_err(|_| {
            Error::Internal(anyhow::anyhow!("pipeline has the wrong number of stages"))
        })?,
        adapters: HashMap::new(),
        scim: None,
        catalogue: convert::catalogue_to_wit(&catalogue),
        recording: RecordingSettings::OFF,
    });
    let (lines, result) = run_blocking(state, pipeline, None, raw).await?;
    Ok(DryRunReport {
        ok: result.is_ok(),
        stages: lines,
    })
}

/// Runs the tenant's current pipeline on `raw` as a dry-run, for a test sign-in through
/// `connection`: every stage reached is reported; nothing is audited or written.
pub async fn trial(
    state: &Services,
    tenant: TenantId,
    connection: ConnectionId,
    raw: &RawIdentity,
) -> Result<DryRunReport, Error> {
    let pipeline = cached_pipeline(state, tenant).await?;
    let (lines, result) = run_blocking(
        state,
        pipeline,
        Some(connection),
        convert::raw_identity(raw),
    )
    .await?;
    Ok(DryRunReport {
        ok: result.is_ok(),
        stages: lines,
    })
}

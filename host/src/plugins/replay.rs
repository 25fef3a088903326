//! The replay gate: a candidate (one or more slots, each a plugin version with its
//! configuration) is run over the tenant's recorded inputs beside the active pipeline, and
//! the differences are reported (`replay_report`) and stored with the sealed candidate.
//! Activating a replay activates exactly what was replayed, in one transaction, with the
//! report's digest in each slot's history entry and audit event; it is refused once any of
//! its slots changed since the replay (the comparison no longer holds) and after it was
//! activated once. A tenant may require that new versions arrive this way
//! (`require_replay`). Plugin runs happen on the blocking pool, outside any transaction.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::activation::{self, Prepared};
use super::bindings::types;
use super::dry_run::blocking;
use super::json as wit_json;
use super::pipeline::{AssignStage, Stage, StageConfig};
use super::recording::{self, connection_source, Recorded, SCIM_SOURCE};
use super::replay_report::{CandidateView, Collector, ReplayReport, RunFailure};
use super::sign_in::{self, run_stages, Pipeline, STAGES};
use super::slot::{ActivatedPlugin, Slot};
use super::world::World;
use crate::audit::RequestContext;
use crate::error::Error;
use crate::rbac::{Authorized, ReadUsers, WritePlugins};
use crate::services::Services;
use crate::store::{self, plugins::Owner, recordings::ReplayRow};
use crate::types::{ConnectionId, ReplayId, TenantId};

/// How long a replay that was not activated is kept (and can still be activated).
pub const KEPT_FOR_SECS: i64 = 7 * 86_400;
/// Most connections one candidate may name.
const MAX_CANDIDATE_CONNECTIONS: usize = 32;
/// Most recorded inputs one replay reads (every source's bound is at most 100,000 by config;
/// a tenant with many connections is capped here, newest first).
const MAX_INPUTS: i64 = 20_000;
/// The associated data a replay's candidate is sealed under.
const PURPOSE: &str = "plugin-replay";

/// A candidate: plugin versions to try, by stage and by connection.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Pipeline stages (`idp-adapter`, `attribute-mapper`, `role-mapper`, `scim-adapter`).
    #[serde(default)]
    pub stages: BTreeMap<World, AssignStage>,
    /// Connections' own IdP adapters.
    #[serde(default)]
    pub connections: BTreeMap<ConnectionId, AssignStage>,
}

/// One candidate slot as sealed in the replay.
#[derive(Serialize, Deserialize)]
struct SealedSlot {
    slot: String,
    plugin_id: crate::types::PluginId,
    config: StageConfig,
}

/// Runs `body` over the recorded inputs and stores the report. Needs `users:read` besides
/// `plugins:write`: the report shows users' subjects, roles and profile fields.
pub async fn replay(
    state: &Services,
    auth: &Authorized<WritePlugins>,
    _sees_users: &Authorized<ReadUsers>,
    body: ReplayRequest,
) -> Result<ReplayReport, Error> {
    let started = Instant::now();
    let tenant = auth.tenant();
    if body.connections.len() > MAX_CANDIDATE_CONNECTIONS {
        return Err(Error::invalid(
            "connections",
            format!("at most {MAX_CANDIDATE_CONNECTIONS} connections in one candidate"),
        ));
    }
    let mut slots: Vec<(Slot, AssignStage)> = Vec::new();
    slots.extend(body.stages.into_iter().map(|(w, a)| (Slot::Stage(w), a)));
    slots.extend(
        body.connections
            .into_iter()
            .map(|(c, a)| (Slot::Adapter(c), a)),
    );
    if slots.is_empty() {
        return Err(Error::invalid(
            "stages",
            "name at least one candidate, in `stages` or `connections`",
        ));
    }
    let mut prepared = Vec::with_capacity(slots.len());
    for (slot, assign) in slots {
        activation::check_slot(state, tenant, slot).await?;
        prepared.push(activation::prepare_assign(state, tenant, slot, assign).await?);
    }
    let current = sign_in::load_pipeline(state, tenant).await?;
    let mut stages = Vec::with_capacity(prepared.len());
    let mut candidate = Vec::with_capacity(prepared.len());
    let mut sealed = Vec::with_capacity(prepared.len());
    for p in &prepared {
        let record = p.record().ok_or_else(|| {
            Error::Internal(anyhow::anyhow!("a prepared assignment without a plugin"))
        })?;
        let (record, loaded) = state
            .plugins
            .load(&state.store, Owner::Tenant(tenant), record.id)
            .await?;
        let slot_text = p.slot().key().as_text();
        candidate.push(CandidateView {
            slot: slot_text.clone(),
            plugin: ActivatedPlugin {
                id: record.id,
                name: record.name.clone(),
                version: record.version.clone(),
            },
            config: p.config().values.clone(),
            secret_keys: p.config().secrets.keys().cloned().collect(),
            base_seq: current_seq(state, tenant, p.slot()).await?,
        });
        sealed.push(SealedSlot {
            slot: slot_text,
            plugin_id: record.id,
            config: p.config().clone(),
        });
        let config = p.config().clone();
        stages.push((
            p.slot(),
            Stage {
                record,
                loaded,
                config,
            },
        ));
    }
    let sources = relevant_sources(&prepared);
    let inputs = recorded_inputs(state, tenant, &current, &sources).await?;
    let trial = current.with(stages);
    let registry = state.plugins.clone();
    let collected = blocking(move || {
        let mut c = Collector::default();
        for (input, at) in inputs {
            match input {
                Recorded::SignIn {
                    connection,
                    protocol,
                    issuer,
                    subject,
                    attributes,
                } => {
                    let raw = Recorded::raw_identity(&protocol, &issuer, &subject, &attributes);
                    let run = |p: &Pipeline| {
                        run_stages(&registry, p, Some(connection), &raw)
                            .1
                            .map_err(|f| RunFailure::new(f.stage, &f.error))
                    };
                    c.sign_in(connection, subject.clone(), at, run(&current), run(&trial));
                }
                Recorded::Scim { method, path, body } => {
                    let request = types::ScimRequest {
                        method: scim_method(&method),
                        path: path.clone(),
                        body,
                    };
                    let run = |p: &Pipeline| -> Result<Value, RunFailure> {
                        let Some(stage) = &p.scim else {
                            return Ok(wit_json::scim(&request));
                        };
                        registry
                            .host()
                            .normalize(&stage.loaded, &stage.config.merged(), &request)
                            .result
                            .map(|r| wit_json::scim(&r))
                            .map_err(|e| RunFailure::new(World::ScimAdapter, &e))
                    };
                    c.scim(at, (method, path), run(&current), run(&trial));
                }
            }
        }
        c
    })
    .await?;
    let now = state.clock.now();
    let report = ReplayReport {
        id: ReplayId::generate(),
        created_at: now,
        activated_at: None,
        candidate,
        summary: collected.summary(),
        counts: collected.counts,
        roles: collected.roles,
        sign_ins: collected.sign_ins,
        scim: collected.scim,
        truncated: collected.truncated,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    let plain = serde_json::to_vec(&sealed).map_err(|e| Error::Internal(e.into()))?;
    let actor = auth.actor();
    let row = ReplayRow {
        id: report.id,
        candidate_sealed: state
            .secrets
            .seal(&state.store, tenant, PURPOSE, &plain)
            .await?,
        report: serde_json::to_string(&report).map_err(|e| Error::Internal(e.into()))?,
        actor: (actor.kind.to_string(), actor.id, actor.label),
        created_at: now,
        activated_at: None,
    };
    let mut tx = state.store.begin().await?;
    store::recordings::insert_replay(&mut tx, tenant, &row).await?;
    tx.commit().await?;
    Ok(report)
}

/// The position of `slot`'s current history entry (0 when it never had one).
async fn current_seq(state: &Services, tenant: TenantId, slot: Slot) -> Result<i64, Error> {
    Ok(
        store::plugin_slots::history(&state.store, tenant, slot.key(), 1)
            .await?
            .first()
            .map_or(0, |a| a.seq),
    )
}

/// Which sources a candidate can change: every connection's sign-ins for a sign-in stage,
/// one connection's for its adapter, the SCIM requests for the SCIM adapter.
#[derive(Default)]
struct Sources {
    all_sign_ins: bool,
    connections: Vec<ConnectionId>,
    scim: bool,
}

fn relevant_sources(prepared: &[Prepared]) -> Sources {
    let mut s = Sources::default();
    for p in prepared {
        match p.slot() {
            Slot::Stage(World::ScimAdapter) => s.scim = true,
            Slot::Stage(w) if STAGES.contains(&w) => s.all_sign_ins = true,
            Slot::Stage(_) => {}
            Slot::Adapter(c) => s.connections.push(c),
        }
    }
    s
}

/// The recorded inputs of `sources` within the tenant's age bound, opened, newest first.
async fn recorded_inputs(
    state: &Services,
    tenant: TenantId,
    pipeline: &Pipeline,
    sources: &Sources,
) -> Result<Vec<(Recorded, crate::types::Timestamp)>, Error> {
    let since = pipeline.recording.oldest_kept(state.clock.now());
    let rows = store::recordings::list(&state.store, tenant, None, since, MAX_INPUTS).await?;
    let wanted = |source: &str| {
        if source == SCIM_SOURCE {
            return sources.scim;
        }
        sources.all_sign_ins
            || sources
                .connections
                .iter()
                .any(|c| connection_source(*c) == source)
    };
    let mut out = Vec::with_capacity(rows.len());
    for row in rows.into_iter().filter(|r| wanted(&r.source)) {
        out.push((
            recording::open(state, tenant, &row.payload_sealed).await?,
            row.recorded_at,
        ));
    }
    Ok(out)
}

fn scim_method(method: &str) -> types::HttpMethod {
    match method {
        "POST" => types::HttpMethod::Post,
        "PUT" => types::HttpMethod::Put,
        "PATCH" => types::HttpMethod::Patch,
        "DELETE" => types::HttpMethod::Delete,
        _ => types::HttpMethod::Get,
    }
}

/// A stored replay's report.
pub async fn get(
    state: &Services,
    auth: &Authorized<WritePlugins>,
    _sees_users: &Authorized<ReadUsers>,
    id: ReplayId,
) -> Result<ReplayReport, Error> {
    let row = store::recordings::replay(&state.store, auth.tenant(), id)
        .await?
        .ok_or(Error::NotFound("replay"))?;
    report_of(&row)
}

fn report_of(row: &ReplayRow) -> Result<ReplayReport, Error> {
    let mut report: ReplayReport = serde_json::from_str(&row.report)
        .map_err(|e| Error::Internal(anyhow::anyhow!("a stored replay does not parse: {e}")))?;
    report.activated_at = row.activated_at;
    Ok(report)
}

/// Activates what replay `id` ran, if none of its slots changed since and it was not
/// activated before.
pub async fn activate(
    state: &Services,
    auth: &Authorized<WritePlugins>,
    ctx: &RequestContext,
    id: ReplayId,
) -> Result<ReplayReport, Error> {
    let tenant = auth.tenant();
    let row = store::recordings::replay(&state.store, tenant, id)
        .await?
        .ok_or(Error::NotFound("replay"))?;
    if row.activated_at.is_some() {
        return Err(Error::Conflict("this replay was already activated".into()));
    }
    let report = report_of(&row)?;
    let plain = state
        .secrets
        .open(&state.store, tenant, PURPOSE, &row.candidate_sealed)
        .await?;
    let sealed: Vec<SealedSlot> = serde_json::from_slice(&plain)
        .map_err(|e| Error::Internal(anyhow::anyhow!("a sealed candidate does not parse: {e}")))?;
    let mut prepared = Vec::with_capacity(sealed.len());
    for s in sealed {
        let slot = Slot::parse(&s.slot)
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("unknown slot {}", s.slot)))?;
        let base = report
            .candidate
            .iter()
            .find(|c| c.slot == s.slot)
            .map_or(0, |c| c.base_seq);
        let now_at = current_seq(state, tenant, slot).await?;
        if now_at != base {
            return Err(Error::Conflict(format!(
                "{} changed since this replay (history entry {now_at}, replayed against \
                 {base}); replay the candidate again",
                s.slot
            )));
        }
        activation::check_slot(state, tenant, slot).await?;
        let assign = AssignStage {
            plugin_id: s.plugin_id,
            config: s.config.values,
            secrets: s.config.secrets,
        };
        let mut p = activation::prepare_assign(state, tenant, slot, assign).await?;
        p.gated_by(report.digest());
        prepared.push(p);
    }
    activation::commit_replay(state, tenant, auth.actor(), ctx, prepared, id).await?;
    let row = store::recordings::replay(&state.store, tenant, id)
        .await?
        .ok_or(Error::NotFound("replay"))?;
    report_of(&row)
}

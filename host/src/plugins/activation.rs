//! Changing what runs in a slot: assign a plugin version with its configuration, return to
//! the default, or roll back to an earlier activation. Every change writes the slot, appends
//! an entry to its history (who, when, which version, the sealed configuration) and records
//! an audit event, in one transaction; the checks, the plugin load and the sealing happen
//! before it opens. The node cache is invalidated after the commit, and other nodes see the
//! change within [`crate::cache::STALE_AFTER`].

use serde::Deserialize;
use serde_json::{json, Value};

use super::builtins::IdpPreset;
use super::pipeline::{open_config, slot_view, AssignStage, StageConfig, StageView};
use super::slot::{ActivatedBy, ActivatedPlugin, ActivationView, HistoryView, Kind, Slot};
use crate::audit::{self, Chain, NewEvent, RequestContext};
use crate::error::Error;
use crate::rbac::{Actor, Authorized, ReadPlugins, WritePlugins};
use crate::services::Services;
use crate::store::plugin_slots::ActivationRecord;
use crate::store::plugins::{Owner, PluginRecord};
use crate::store::tenants::Feature;
use crate::store::{self, Tx};
use crate::types::{ConnectionId, PluginId, ReplayId, TenantId, Timestamp};

/// Most history entries a slot's history shows (the newest).
pub const MAX_HISTORY_SHOWN: i64 = 100;

/// A change to a slot, checked and sealed, ready to write.
pub(crate) struct Prepared {
    slot: Slot,
    /// The version to make current; none to return to the default.
    record: Option<PluginRecord>,
    config: StageConfig,
    sealed: Option<Vec<u8>>,
    kind: Kind,
    /// For a rollback, the history entry it restores.
    restores: Option<i64>,
    /// The digest of the replay it was activated from.
    replay: Option<Value>,
}

impl Prepared {
    pub(super) fn slot(&self) -> Slot {
        self.slot
    }

    pub(super) fn record(&self) -> Option<&PluginRecord> {
        self.record.as_ref()
    }

    pub(super) fn config(&self) -> &StageConfig {
        &self.config
    }

    /// Marks the change as activated from a replay with this digest.
    pub(super) fn gated_by(&mut self, digest: Value) {
        self.replay = Some(digest);
    }

    fn summary(&self) -> Value {
        match &self.record {
            Some(r) => json!({
                "plugin_id": r.id,
                "name": r.name,
                "version": r.version,
                "config": self.config.values,
                "secret_keys": self.config.secrets.keys().collect::<Vec<_>>(),
            }),
            None => json!({ "plugin_id": null, "default": true }),
        }
    }
}

/// The plugin `id` if `tenant` may run it in `slot`: visible to it, of the slot's world,
/// and (for its own uploads) with custom plugins enabled. Loading it proves it compiles.
async fn checked_plugin(
    state: &Services,
    tenant: TenantId,
    slot: Slot,
    id: PluginId,
) -> Result<PluginRecord, Error> {
    let (record, _) = state
        .plugins
        .load(&state.store, Owner::Tenant(tenant), id)
        .await?;
    let world = slot.world();
    if record.world != world.as_str() {
        return Err(Error::invalid(
            "plugin_id",
            format!(
                "`{}` {} is a {} plugin and cannot run as an {world}",
                record.name, record.version, record.world
            ),
        ));
    }
    if record.owner == Owner::Tenant(tenant) {
        crate::tenancy::features::require(state, tenant, Feature::CustomPlugins).await?;
    }
    Ok(record)
}

/// Refuses a connection adapter for a connection the tenant does not have.
pub async fn check_slot(state: &Services, tenant: TenantId, slot: Slot) -> Result<(), Error> {
    if let Slot::Adapter(id) = slot {
        store::sso::connection(&state.store, tenant, id)
            .await?
            .ok_or(Error::NotFound("connection"))?;
    }
    Ok(())
}

async fn seal(
    state: &Services,
    tenant: TenantId,
    slot: Slot,
    config: &StageConfig,
) -> Result<Vec<u8>, Error> {
    let plain = serde_json::to_vec(config).map_err(|e| Error::Internal(e.into()))?;
    state
        .secrets
        .seal(&state.store, tenant, &slot.purpose(), &plain)
        .await
}

/// Checks and seals an assignment of `body` to `slot`.
pub(crate) async fn prepare_assign(
    state: &Services,
    tenant: TenantId,
    slot: Slot,
    body: AssignStage,
) -> Result<Prepared, Error> {
    let config = StageConfig {
        values: body.config,
        secrets: body.secrets,
    };
    config.check()?;
    let record = checked_plugin(state, tenant, slot, body.plugin_id).await?;
    let sealed = seal(state, tenant, slot, &config).await?;
    Ok(Prepared {
        slot,
        record: Some(record),
        config,
        sealed: Some(sealed),
        kind: Kind::Assigned,
        restores: None,
        replay: None,
    })
}

/// Checks and seals the built-in adapter `preset` picks, for a connection being created
/// (written in the transaction that inserts it, so there is no connection without it).
pub(crate) async fn prepare_preset(
    state: &Services,
    tenant: TenantId,
    connection: ConnectionId,
    preset: IdpPreset,
) -> Result<Prepared, Error> {
    let plugin_id = state.plugins.builtin(preset.adapter()).ok_or_else(|| {
        Error::Internal(anyhow::anyhow!(
            "built-in {} is not registered",
            preset.adapter()
        ))
    })?;
    let body = AssignStage {
        plugin_id,
        config: Default::default(),
        secrets: Default::default(),
    };
    prepare_assign(state, tenant, Slot::Adapter(connection), body).await
}

/// The plugin version a connection runs as its own adapter; none when its sign-ins use the
/// tenant's idp-adapter stage.
pub async fn own_adapter(
    state: &Services,
    tenant: TenantId,
    connection: ConnectionId,
) -> Result<Option<ActivatedPlugin>, Error> {
    let slot = Slot::Adapter(connection);
    let Some(stored) = store::plugin_slots::current(&state.store, tenant, slot.key()).await? else {
        return Ok(None);
    };
    let record = store::plugins::get(&state.store, Owner::Tenant(tenant), stored.plugin_id)
        .await?
        .ok_or(Error::NotFound("plugin"))?;
    Ok(Some(ActivatedPlugin {
        id: record.id,
        name: record.name,
        version: record.version,
    }))
}

/// What `slot` runs now, as an audit `before`; none when its default runs.
async fn current_summary(
    state: &Services,
    tenant: TenantId,
    slot: Slot,
) -> Result<Option<Value>, Error> {
    let Some(stored) = store::plugin_slots::current(&state.store, tenant, slot.key()).await? else {
        return Ok(None);
    };
    let record = store::plugins::get(&state.store, Owner::Tenant(tenant), stored.plugin_id).await?;
    let config = open_config(state, tenant, slot, stored.config_sealed.as_deref()).await?;
    Ok(Some(
        Prepared {
            slot,
            record,
            config,
            sealed: None,
            kind: Kind::Assigned,
            restores: None,
            replay: None,
        }
        .summary(),
    ))
}

/// Writes a prepared change: the slot, its history entry and the audit event.
pub(crate) async fn write(
    tx: &mut Tx,
    tenant: TenantId,
    actor: Actor,
    ctx: &RequestContext,
    now: Timestamp,
    p: &Prepared,
    before: Option<Value>,
) -> Result<i64, Error> {
    match &p.record {
        Some(r) if r.owner == Owner::Tenant(tenant) => {
            crate::tenancy::features::live_with(tx, tenant, Feature::CustomPlugins).await?
        }
        _ => crate::tenancy::domains::live_tenant(tx, tenant).await?,
    }
    let key = p.slot.key();
    match &p.record {
        Some(r) => {
            store::plugin_slots::put(tx, tenant, key, r.id, p.sealed.as_deref(), now).await?
        }
        None => {
            let had = store::plugin_slots::delete(tx, tenant, key).await?;
            if !had && p.kind == Kind::Reset {
                return Err(Error::NotFound("assignment"));
            }
        }
    }
    let seq = store::plugin_slots::append(
        tx,
        tenant,
        key,
        &ActivationRecord {
            seq: 0,
            plugin_id: p.record.as_ref().map(|r| r.id),
            plugin_name: p.record.as_ref().map(|r| r.name.clone()),
            plugin_version: p.record.as_ref().map(|r| r.version.clone()),
            config_sealed: p.sealed.clone(),
            kind: p.kind.as_str().to_string(),
            actor: (
                actor.kind.to_string(),
                actor.id.clone(),
                actor.label.clone(),
            ),
            replay: p.replay.as_ref().map(Value::to_string),
            activated_at: now,
        },
    )
    .await?;
    let mut after = p.summary();
    after["seq"] = json!(seq);
    if let Some(replay) = &p.replay {
        after["replay"] = replay.clone();
    }
    if let Some(restored) = p.restores {
        after["restores"] = json!(restored);
    }
    audit::record(
        tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor,
            action: p.slot.action(p.kind),
            target: p.slot.target(),
            before,
            after: Some(after),
        },
    )
    .await?;
    Ok(seq)
}

/// Writes `p` in its own transaction and invalidates the tenant's cached pipeline.
async fn commit(
    state: &Services,
    tenant: TenantId,
    actor: Actor,
    ctx: &RequestContext,
    p: Prepared,
) -> Result<StageView, Error> {
    let before = current_summary(state, tenant, p.slot).await?;
    let mut tx = state.store.begin().await?;
    write(&mut tx, tenant, actor, ctx, state.clock.now(), &p, before).await?;
    tx.commit().await?;
    state.cache.invalidate_tenant(tenant);
    slot_view(state, tenant, p.slot).await
}

/// Writes replay `id`'s prepared changes in one transaction, marking the replay activated
/// (refused when it already was), and invalidates the tenant's cached pipeline.
pub(super) async fn commit_replay(
    state: &Services,
    tenant: TenantId,
    actor: Actor,
    ctx: &RequestContext,
    prepared: Vec<Prepared>,
    id: ReplayId,
) -> Result<(), Error> {
    let mut befores = Vec::with_capacity(prepared.len());
    for p in &prepared {
        befores.push(current_summary(state, tenant, p.slot).await?);
    }
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    if !store::recordings::mark_activated(&mut tx, tenant, id, now).await? {
        return Err(Error::Conflict("this replay was already activated".into()));
    }
    for (p, before) in prepared.iter().zip(befores) {
        write(&mut tx, tenant, actor.clone(), ctx, now, p, before).await?;
    }
    tx.commit().await?;
    state.cache.invalidate_tenant(tenant);
    Ok(())
}

/// Assigns a plugin version (and its configuration) to `slot`. Refused when the tenant
/// requires new versions to come from a replay.
pub async fn assign(
    state: &Services,
    auth: &Authorized<WritePlugins>,
    ctx: &RequestContext,
    slot: Slot,
    body: AssignStage,
) -> Result<StageView, Error> {
    let tenant = auth.tenant();
    check_slot(state, tenant, slot).await?;
    if super::recording::settings(state, tenant)
        .await?
        .require_replay
    {
        return Err(Error::Conflict(
            "this tenant requires a replay before a new plugin version is activated: \
             POST /api/v1/pipeline/replay with the candidate, then \
             POST /api/v1/pipeline/replays/{id}/activate"
                .into(),
        ));
    }
    let prepared = prepare_assign(state, tenant, slot, body).await?;
    commit(state, tenant, auth.actor(), ctx, prepared).await
}

/// Returns `slot` to its default: a stage's built-in, or for a connection the tenant's
/// idp-adapter stage.
pub async fn reset(
    state: &Services,
    auth: &Authorized<WritePlugins>,
    ctx: &RequestContext,
    slot: Slot,
) -> Result<StageView, Error> {
    let tenant = auth.tenant();
    check_slot(state, tenant, slot).await?;
    let prepared = Prepared {
        slot,
        record: None,
        config: StageConfig::default(),
        sealed: None,
        kind: Kind::Reset,
        restores: None,
        replay: None,
    };
    commit(state, tenant, auth.actor(), ctx, prepared).await
}

/// What a rollback returns to (query string; no body).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Rollback {
    /// The history entry to make current again; by default the one before the current one
    /// (the default, when the current one is the first).
    #[serde(default)]
    pub to: Option<i64>,
}

/// Makes an earlier activation of `slot` current again: the same version with the same
/// configuration and secrets. Recorded as a new history entry, so a rollback can itself be
/// rolled back.
pub async fn rollback(
    state: &Services,
    auth: &Authorized<WritePlugins>,
    ctx: &RequestContext,
    slot: Slot,
    body: Rollback,
) -> Result<StageView, Error> {
    let tenant = auth.tenant();
    check_slot(state, tenant, slot).await?;
    let history = store::plugin_slots::history(&state.store, tenant, slot.key(), i64::MAX).await?;
    let Some(current) = history.first() else {
        return Err(Error::Conflict(
            "nothing to roll back: nothing was ever activated here".into(),
        ));
    };
    let target = match body.to {
        Some(seq) if seq >= current.seq => {
            return Err(Error::invalid(
                "to",
                format!(
                    "{seq} is not an earlier entry; the current one is {}",
                    current.seq
                ),
            ))
        }
        Some(seq) => Some(
            history
                .iter()
                .find(|a| a.seq == seq)
                .ok_or(Error::NotFound("history entry"))?,
        ),
        None => history.get(1),
    };
    let (record, config, sealed, restores) = match target.and_then(|t| t.plugin_id.map(|p| (t, p)))
    {
        None => (None, StageConfig::default(), None, target.map(|t| t.seq)),
        Some((entry, plugin)) => {
            let record =
                checked_plugin(state, tenant, slot, plugin)
                    .await
                    .map_err(|e| match e {
                        Error::NotFound(_) => Error::Conflict(format!(
                            "{} {} (entry {}) was deleted and cannot run again",
                            entry.plugin_name.as_deref().unwrap_or("the plugin"),
                            entry.plugin_version.as_deref().unwrap_or(""),
                            entry.seq
                        )),
                        other => other,
                    })?;
            let config = open_config(state, tenant, slot, entry.config_sealed.as_deref()).await?;
            (
                Some(record),
                config,
                entry.config_sealed.clone(),
                Some(entry.seq),
            )
        }
    };
    let prepared = Prepared {
        slot,
        record,
        config,
        sealed,
        kind: Kind::RolledBack,
        restores,
        replay: None,
    };
    commit(state, tenant, auth.actor(), ctx, prepared).await
}

/// `slot`'s history, newest first (at most [`MAX_HISTORY_SHOWN`] entries).
pub async fn history(
    state: &Services,
    auth: &Authorized<ReadPlugins>,
    slot: Slot,
) -> Result<HistoryView, Error> {
    let tenant = auth.tenant();
    check_slot(state, tenant, slot).await?;
    let rows =
        store::plugin_slots::history(&state.store, tenant, slot.key(), MAX_HISTORY_SHOWN).await?;
    let mut activations = Vec::with_capacity(rows.len());
    for (i, row) in rows.into_iter().enumerate() {
        let config = open_config(state, tenant, slot, row.config_sealed.as_deref()).await?;
        let kind = Kind::parse(&row.kind).ok_or_else(|| {
            Error::Internal(anyhow::anyhow!(
                "corrupt plugin_activations.kind {}",
                row.kind
            ))
        })?;
        let replay = row
            .replay
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| Error::Internal(anyhow::anyhow!("stored replay does not parse: {e}")))?;
        activations.push(ActivationView {
            seq: row.seq,
            plugin: row.plugin_id.map(|id| ActivatedPlugin {
                id,
                name: row.plugin_name.unwrap_or_default(),
                version: row.plugin_version.unwrap_or_default(),
            }),
            kind,
            current: i == 0,
            config: config.values,
            secret_keys: config.secrets.into_keys().collect(),
            activated_by: ActivatedBy {
                kind: row.actor.0,
                id: row.actor.1,
                label: row.actor.2,
            },
            activated_at: row.activated_at,
            replay,
        });
    }
    Ok(HistoryView { activations })
}

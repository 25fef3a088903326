//! SQL for where plugin versions run: a tenant's pipeline stages (`pipeline_stages`), its
//! connections' own IdP adapters (`connection_adapters`), and the ordered history of every
//! activation of either (`plugin_activations`). Every query is scoped by a [`TenantId`]. The
//! plugin module decides what to activate; this only reads and writes the rows.

use sqlx::Row;

use super::plugins::StageRecord;
use super::{parse_col, unique_as, Store, StoreResult, Tx};
use crate::types::{ConnectionId, PluginId, TenantId, Timestamp};

/// A place a plugin version runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKey {
    /// A stage of the tenant's pipeline, by its WIT world name.
    Stage(&'static str),
    /// One connection's IdP adapter.
    Connection(ConnectionId),
}

impl SlotKey {
    /// The slot as `plugin_activations.slot` names it.
    pub fn as_text(&self) -> String {
        match self {
            SlotKey::Stage(stage) => (*stage).to_string(),
            SlotKey::Connection(id) => format!("connection:{id}"),
        }
    }
}

/// The plugin assigned to `slot`, if any (otherwise the slot's default runs).
pub async fn current(
    store: &Store,
    tenant: TenantId,
    slot: SlotKey,
) -> StoreResult<Option<StageRecord>> {
    let (sql, key) = match slot {
        SlotKey::Stage(stage) => (
            "SELECT stage, plugin_id, config_sealed, updated_at FROM pipeline_stages \
             WHERE tenant_id = $1 AND stage = $2",
            stage.to_string(),
        ),
        SlotKey::Connection(id) => (
            "SELECT 'idp-adapter' AS stage, plugin_id, config_sealed, updated_at \
             FROM connection_adapters WHERE tenant_id = $1 AND connection_id = $2",
            id.to_string(),
        ),
    };
    sqlx::query(sql)
        .bind(tenant.to_string())
        .bind(key)
        .fetch_optional(store.reader())
        .await?
        .map(|r| stage_record(&r))
        .transpose()
}

fn stage_record(r: &sqlx::any::AnyRow) -> StoreResult<StageRecord> {
    Ok(StageRecord {
        stage: r.try_get("stage")?,
        plugin_id: parse_col(&r.try_get::<String, _>("plugin_id")?, "plugin_id")?,
        config_sealed: r.try_get("config_sealed")?,
        updated_at: Timestamp::from_micros(r.try_get("updated_at")?),
    })
}

/// Every connection of the tenant that names its own adapter.
pub async fn connection_adapters(
    store: &Store,
    tenant: TenantId,
) -> StoreResult<Vec<(ConnectionId, StageRecord)>> {
    sqlx::query(
        "SELECT connection_id, 'idp-adapter' AS stage, plugin_id, config_sealed, updated_at \
         FROM connection_adapters WHERE tenant_id = $1 ORDER BY connection_id",
    )
    .bind(tenant.to_string())
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(|r| {
        let id = parse_col(
            &r.try_get::<String, _>("connection_id")?,
            "connection_adapters.connection_id",
        )?;
        Ok((id, stage_record(r)?))
    })
    .collect()
}

/// Assigns `plugin` (with its sealed configuration) to `slot`.
pub async fn put(
    tx: &mut Tx,
    tenant: TenantId,
    slot: SlotKey,
    plugin: PluginId,
    config_sealed: Option<&[u8]>,
    now: Timestamp,
) -> StoreResult<()> {
    let (sql, key) = match slot {
        SlotKey::Stage(stage) => (
            "INSERT INTO pipeline_stages (tenant_id, stage, plugin_id, config_sealed, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant_id, stage) DO UPDATE SET plugin_id = excluded.plugin_id, \
             config_sealed = excluded.config_sealed, updated_at = excluded.updated_at",
            stage.to_string(),
        ),
        SlotKey::Connection(id) => (
            "INSERT INTO connection_adapters \
             (tenant_id, connection_id, plugin_id, config_sealed, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant_id, connection_id) DO UPDATE SET plugin_id = excluded.plugin_id, \
             config_sealed = excluded.config_sealed, updated_at = excluded.updated_at",
            id.to_string(),
        ),
    };
    sqlx::query(sql)
        .bind(tenant.to_string())
        .bind(key)
        .bind(plugin.to_string())
        .bind(config_sealed.map(<[u8]>::to_vec))
        .bind(now.as_micros())
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Removes `slot`'s assignment (its default runs again); false when there was none.
pub async fn delete(tx: &mut Tx, tenant: TenantId, slot: SlotKey) -> StoreResult<bool> {
    let (sql, key) = match slot {
        SlotKey::Stage(stage) => (
            "DELETE FROM pipeline_stages WHERE tenant_id = $1 AND stage = $2",
            stage.to_string(),
        ),
        SlotKey::Connection(id) => (
            "DELETE FROM connection_adapters WHERE tenant_id = $1 AND connection_id = $2",
            id.to_string(),
        ),
    };
    let r = sqlx::query(sql)
        .bind(tenant.to_string())
        .bind(key)
        .execute(tx.conn())
        .await?;
    Ok(r.rows_affected() == 1)
}

/// How many stages and connection adapters (of any tenant) run the plugin now.
pub async fn usage(tx: &mut Tx, id: PluginId) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM pipeline_stages WHERE plugin_id = $1) \
         + (SELECT COUNT(*) FROM connection_adapters WHERE plugin_id = $1)",
    )
    .bind(id.to_string())
    .fetch_one(tx.conn())
    .await?)
}

/// One activation of a slot, as kept in its history.
#[derive(Debug, Clone)]
pub struct ActivationRecord {
    /// Position in the slot's history, from 1.
    pub seq: i64,
    /// None: the slot returned to its default.
    pub plugin_id: Option<PluginId>,
    pub plugin_name: Option<String>,
    pub plugin_version: Option<String>,
    /// The configuration that went with it, sealed under the slot's purpose.
    pub config_sealed: Option<Vec<u8>>,
    /// `assigned`, `reset` or `rolled_back`.
    pub kind: String,
    /// Who activated it: audit actor type, id and label.
    pub actor: (String, String, String),
    /// The replay report (JSON) the activation was checked against, when there was one.
    pub replay: Option<String>,
    pub activated_at: Timestamp,
}

/// Appends an activation to `slot`'s history as its next entry and returns its `seq`.
pub async fn append(
    tx: &mut Tx,
    tenant: TenantId,
    slot: SlotKey,
    a: &ActivationRecord,
) -> StoreResult<i64> {
    let slot_text = slot.as_text();
    let next: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM plugin_activations \
         WHERE tenant_id = $1 AND slot = $2",
    )
    .bind(tenant.to_string())
    .bind(&slot_text)
    .fetch_one(tx.conn())
    .await?;
    sqlx::query(
        "INSERT INTO plugin_activations (tenant_id, slot, seq, plugin_id, plugin_name, \
         plugin_version, config_sealed, kind, actor_type, actor_id, actor_label, replay, \
         activated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(tenant.to_string())
    .bind(&slot_text)
    .bind(next)
    .bind(a.plugin_id.map(|p| p.to_string()))
    .bind(a.plugin_name.clone())
    .bind(a.plugin_version.clone())
    .bind(a.config_sealed.clone())
    .bind(&a.kind)
    .bind(&a.actor.0)
    .bind(&a.actor.1)
    .bind(&a.actor.2)
    .bind(a.replay.clone())
    .bind(a.activated_at.as_micros())
    .execute(tx.conn())
    .await
    .map_err(unique_as(
        "another change to this slot was made at the same time; reload and try again",
    ))?;
    Ok(next)
}

/// `slot`'s history, newest first, at most `limit` entries.
pub async fn history(
    store: &Store,
    tenant: TenantId,
    slot: SlotKey,
    limit: i64,
) -> StoreResult<Vec<ActivationRecord>> {
    sqlx::query(
        "SELECT seq, plugin_id, plugin_name, plugin_version, config_sealed, kind, actor_type, \
         actor_id, actor_label, replay, activated_at FROM plugin_activations \
         WHERE tenant_id = $1 AND slot = $2 ORDER BY seq DESC LIMIT $3",
    )
    .bind(tenant.to_string())
    .bind(slot.as_text())
    .bind(limit)
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(|r| {
        let plugin_id: Option<String> = r.try_get("plugin_id")?;
        Ok(ActivationRecord {
            seq: r.try_get("seq")?,
            plugin_id: plugin_id
                .map(|p| parse_col(&p, "plugin_activations.plugin_id"))
                .transpose()?,
            plugin_name: r.try_get("plugin_name")?,
            plugin_version: r.try_get("plugin_version")?,
            config_sealed: r.try_get("config_sealed")?,
            kind: r.try_get("kind")?,
            actor: (
                r.try_get("actor_type")?,
                r.try_get("actor_id")?,
                r.try_get("actor_label")?,
            ),
            replay: r.try_get("replay")?,
            activated_at: Timestamp::from_micros(r.try_get("activated_at")?),
        })
    })
    .collect()
}

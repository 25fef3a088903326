//! SQL for recorded inputs (`recorded_inputs`: sealed sign-in identities and SCIM requests,
//! bounded per source), the tenant's recording settings (`recording_settings`) and stored
//! replays (`plugin_replays`). Every query is scoped by a [`TenantId`] except the
//! housekeeping purge, which applies each tenant's own age limit. Sealing and what a payload
//! means belong to `plugins::recording`.

use sqlx::Row;

use super::{parse_col, Store, StoreResult, Tx};
use crate::types::{ReplayId, TenantId, Timestamp};

/// A tenant's recording settings as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingsRow {
    pub enabled: bool,
    pub max_per_source: i64,
    pub max_age_days: i64,
    pub require_replay: bool,
}

pub async fn settings(store: &Store, tenant: TenantId) -> StoreResult<Option<SettingsRow>> {
    sqlx::query(
        "SELECT enabled, max_per_source, max_age_days, require_replay \
         FROM recording_settings WHERE tenant_id = $1",
    )
    .bind(tenant.to_string())
    .fetch_optional(store.reader())
    .await?
    .map(|r| {
        Ok(SettingsRow {
            enabled: r.try_get::<i64, _>("enabled")? != 0,
            max_per_source: r.try_get("max_per_source")?,
            max_age_days: r.try_get("max_age_days")?,
            require_replay: r.try_get::<i64, _>("require_replay")? != 0,
        })
    })
    .transpose()
}

pub async fn put_settings(
    tx: &mut Tx,
    tenant: TenantId,
    s: SettingsRow,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO recording_settings \
         (tenant_id, enabled, max_per_source, max_age_days, require_replay, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id) DO UPDATE SET \
         enabled = excluded.enabled, max_per_source = excluded.max_per_source, \
         max_age_days = excluded.max_age_days, require_replay = excluded.require_replay, \
         updated_at = excluded.updated_at",
    )
    .bind(tenant.to_string())
    .bind(i64::from(s.enabled))
    .bind(s.max_per_source)
    .bind(s.max_age_days)
    .bind(i64::from(s.require_replay))
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Keeps `payload` as the newest input of `source` under `key` (replacing an older one with
/// the same key), then drops the source's oldest inputs beyond `keep`.
pub async fn record(
    tx: &mut Tx,
    tenant: TenantId,
    source: &str,
    key: &str,
    payload: &[u8],
    now: Timestamp,
    keep: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO recorded_inputs (tenant_id, source, input_key, payload_sealed, recorded_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, source, input_key) DO UPDATE SET \
         payload_sealed = excluded.payload_sealed, recorded_at = excluded.recorded_at",
    )
    .bind(tenant.to_string())
    .bind(source)
    .bind(key)
    .bind(payload.to_vec())
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    // The row at position `keep` (0-based, newest first) is the newest one to drop; the index
    // on (tenant, source, recorded_at) makes this a walk of at most `keep` entries.
    sqlx::query(
        "DELETE FROM recorded_inputs WHERE tenant_id = $1 AND source = $2 AND recorded_at <= \
         (SELECT recorded_at FROM recorded_inputs WHERE tenant_id = $1 AND source = $2 \
          ORDER BY recorded_at DESC LIMIT 1 OFFSET $3)",
    )
    .bind(tenant.to_string())
    .bind(source)
    .bind(keep)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A recorded input, still sealed.
#[derive(Debug, Clone)]
pub struct RecordedRow {
    pub source: String,
    pub payload_sealed: Vec<u8>,
    pub recorded_at: Timestamp,
}

/// The tenant's recorded inputs from `sources` (all when empty), newest first, at most `limit`
/// per call (the caller bounds `limit` by the sources' own bounds).
pub async fn list(
    store: &Store,
    tenant: TenantId,
    source: Option<&str>,
    since: Timestamp,
    limit: i64,
) -> StoreResult<Vec<RecordedRow>> {
    sqlx::query(
        "SELECT source, payload_sealed, recorded_at FROM recorded_inputs \
         WHERE tenant_id = $1 AND ($2 = '' OR source = $2) AND recorded_at >= $3 \
         ORDER BY recorded_at DESC LIMIT $4",
    )
    .bind(tenant.to_string())
    .bind(source.unwrap_or(""))
    .bind(since.as_micros())
    .bind(limit)
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(|r| {
        Ok(RecordedRow {
            source: r.try_get("source")?,
            payload_sealed: r.try_get("payload_sealed")?,
            recorded_at: Timestamp::from_micros(r.try_get("recorded_at")?),
        })
    })
    .collect()
}

/// Per source: how many inputs, the oldest and the newest.
pub async fn counts(
    store: &Store,
    tenant: TenantId,
) -> StoreResult<Vec<(String, i64, Timestamp, Timestamp)>> {
    sqlx::query(
        "SELECT source, COUNT(*) AS n, MIN(recorded_at) AS oldest, MAX(recorded_at) AS newest \
         FROM recorded_inputs WHERE tenant_id = $1 GROUP BY source ORDER BY source",
    )
    .bind(tenant.to_string())
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(|r| {
        Ok((
            r.try_get("source")?,
            r.try_get("n")?,
            Timestamp::from_micros(r.try_get("oldest")?),
            Timestamp::from_micros(r.try_get("newest")?),
        ))
    })
    .collect()
}

/// Deletes the tenant's recorded inputs from `source` (all sources when none); how many.
pub async fn delete(tx: &mut Tx, tenant: TenantId, source: Option<&str>) -> StoreResult<u64> {
    Ok(
        sqlx::query(
            "DELETE FROM recorded_inputs WHERE tenant_id = $1 AND ($2 = '' OR source = $2)",
        )
        .bind(tenant.to_string())
        .bind(source.unwrap_or(""))
        .execute(tx.conn())
        .await?
        .rows_affected(),
    )
}

/// Housekeeping: drops every input older than its tenant's age limit (at most `default_days`,
/// the operator's bound, which is also the limit of a tenant without settings) and the inputs of connections that no longer exist.
pub async fn purge_expired(tx: &mut Tx, now: Timestamp, default_days: i64) -> StoreResult<u64> {
    let aged = sqlx::query(
        "DELETE FROM recorded_inputs WHERE recorded_at < $1 - 86400000000 * COALESCE( \
         (SELECT CASE WHEN s.max_age_days < $2 THEN s.max_age_days ELSE $2 END \
          FROM recording_settings s WHERE s.tenant_id = recorded_inputs.tenant_id), $2)",
    )
    .bind(now.as_micros())
    .bind(default_days)
    .execute(tx.conn())
    .await?
    .rows_affected();
    let orphaned = sqlx::query(
        "DELETE FROM recorded_inputs WHERE source LIKE 'connection:%' AND NOT EXISTS \
         (SELECT 1 FROM sso_connections c WHERE c.tenant_id = recorded_inputs.tenant_id \
          AND 'connection:' || c.id = recorded_inputs.source)",
    )
    .execute(tx.conn())
    .await?
    .rows_affected();
    Ok(aged + orphaned)
}

/// A stored replay.
#[derive(Debug, Clone)]
pub struct ReplayRow {
    pub id: ReplayId,
    pub candidate_sealed: Vec<u8>,
    /// JSON: the report.
    pub report: String,
    pub actor: (String, String, String),
    pub created_at: Timestamp,
    pub activated_at: Option<Timestamp>,
}

pub async fn insert_replay(tx: &mut Tx, tenant: TenantId, r: &ReplayRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO plugin_replays (id, tenant_id, candidate_sealed, report, actor_type, \
         actor_id, actor_label, created_at, activated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)",
    )
    .bind(r.id.to_string())
    .bind(tenant.to_string())
    .bind(r.candidate_sealed.clone())
    .bind(&r.report)
    .bind(&r.actor.0)
    .bind(&r.actor.1)
    .bind(&r.actor.2)
    .bind(r.created_at.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn replay(
    store: &Store,
    tenant: TenantId,
    id: ReplayId,
) -> StoreResult<Option<ReplayRow>> {
    sqlx::query(
        "SELECT id, candidate_sealed, report, actor_type, actor_id, actor_label, \
         created_at, activated_at FROM plugin_replays WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant.to_string())
    .bind(id.to_string())
    .fetch_optional(store.reader())
    .await?
    .map(|r| {
        Ok(ReplayRow {
            id: parse_col(&r.try_get::<String, _>("id")?, "plugin_replays.id")?,
            candidate_sealed: r.try_get("candidate_sealed")?,
            report: r.try_get("report")?,
            actor: (
                r.try_get("actor_type")?,
                r.try_get("actor_id")?,
                r.try_get("actor_label")?,
            ),
            created_at: Timestamp::from_micros(r.try_get("created_at")?),
            activated_at: r
                .try_get::<Option<i64>, _>("activated_at")?
                .map(Timestamp::from_micros),
        })
    })
    .transpose()
}

/// Marks a replay activated; false when it already was (or does not exist), so one replay
/// activates once.
pub async fn mark_activated(
    tx: &mut Tx,
    tenant: TenantId,
    id: ReplayId,
    now: Timestamp,
) -> StoreResult<bool> {
    Ok(sqlx::query(
        "UPDATE plugin_replays SET activated_at = $3 \
         WHERE tenant_id = $1 AND id = $2 AND activated_at IS NULL",
    )
    .bind(tenant.to_string())
    .bind(id.to_string())
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?
    .rows_affected()
        == 1)
}

/// Housekeeping: forgets replays created before `before` that were never activated (an
/// activated one stays: it is the full report behind a history entry).
pub async fn forget_replays(tx: &mut Tx, before: Timestamp) -> StoreResult<u64> {
    Ok(
        sqlx::query("DELETE FROM plugin_replays WHERE created_at < $1 AND activated_at IS NULL")
            .bind(before.as_micros())
            .execute(tx.conn())
            .await?
            .rows_affected(),
    )
}

//! Retention: a tenant keeps its events for a number of days within the operator's bounds
//! (`audit.min_retention_days`..`audit.max_retention_days`); changing it is audited.
//! Housekeeping purges older events in short batches, never past a signed checkpoint: the
//! chain's floor is raised to the newest checkpoint signed before the cut-off, then the
//! events up to it are deleted in batches, each its own short transaction so writers are
//! never held up for long: the batch size adapts to keep each near [`BATCH_TARGET`] (an
//! event's delete touches a dozen indexes and, on SQLite, the text index, so its cost
//! depends on the database and its cache). Verification then starts from that checkpoint.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Action, Chain, NewEvent, RequestContext, Target};
use crate::config::AuditConfig;
use crate::error::Error;
use crate::rbac::{Authorized, ReadAudit, WritePolicy};
use crate::services::Services;
use crate::store::audit_retention::{self as sql, Floor};
use crate::store::Store;
use crate::types::{Clock, TenantId};

/// How long one purge transaction should hold the write lock.
const BATCH_TARGET: std::time::Duration = std::time::Duration::from_millis(50);
/// Bounds of the events deleted per transaction, and the first batch's size.
const MIN_BATCH: i64 = 50;
const MAX_BATCH: i64 = 20_000;
const FIRST_BATCH: i64 = 500;

/// A tenant's retention as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = AuditRetention)]
pub struct Retention {
    pub days: u32,
    /// True when the tenant has not set its own and the deployment's default applies.
    pub is_default: bool,
    pub min_days: u32,
    pub max_days: u32,
}

/// A change of retention: `days: null` goes back to the deployment's default.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SetAuditRetention)]
pub struct SetRetention {
    pub days: Option<u32>,
}

fn view(config: &AuditConfig, days: Option<i64>) -> Retention {
    let own = days.and_then(|d| u32::try_from(d).ok());
    Retention {
        days: own.unwrap_or(config.default_retention_days),
        is_default: own.is_none(),
        min_days: config.min_retention_days,
        max_days: config.max_retention_days,
    }
}

pub async fn get(state: &Services, auth: &Authorized<ReadAudit>) -> Result<Retention, Error> {
    let days = sql::retention_days(&state.store, auth.tenant()).await?;
    Ok(view(&state.config.audit, days))
}

pub async fn set(
    state: &Services,
    auth: &Authorized<WritePolicy>,
    ctx: &RequestContext,
    change: SetRetention,
) -> Result<Retention, Error> {
    let config = &state.config.audit;
    if let Some(days) = change.days {
        if !(config.min_retention_days..=config.max_retention_days).contains(&days) {
            return Err(Error::invalid(
                "days",
                format!(
                    "`days` must be between {} and {} (the deployment's bounds)",
                    config.min_retention_days, config.max_retention_days
                ),
            ));
        }
    }
    let tenant = auth.tenant();
    let before = view(config, sql::retention_days(&state.store, tenant).await?);
    let after = view(config, change.days.map(i64::from));
    let mut tx = state.store.begin().await?;
    sql::set_retention_days(&mut tx, tenant, change.days.map(i64::from)).await?;
    super::record(
        &mut tx,
        state.clock.now(),
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor: auth.actor(),
            action: Action::AuditRetentionChanged,
            target: Target::new("audit_log", tenant),
            before: Some(json!(before)),
            after: Some(json!(after)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Purges every chain's events older than its retention, up to the newest checkpoint signed
/// before the cut-off. Returns how many events were deleted.
pub async fn purge_due(store: &Store, clock: &Clock, config: &AuditConfig) -> Result<u64, Error> {
    let mut purged = 0;
    for chain in sql::chains(store).await? {
        let days = chain
            .days
            .unwrap_or(i64::from(config.default_retention_days))
            .max(i64::from(config.min_retention_days));
        let cutoff = clock.now().plus_seconds(-days * 86_400);
        purged += purge_chain(store, clock, &chain.chain, cutoff).await?;
    }
    Ok(purged)
}

/// Purges one chain up to the newest checkpoint signed at or before `cutoff`.
pub async fn purge_chain(
    store: &Store,
    clock: &Clock,
    chain: &str,
    cutoff: crate::types::Timestamp,
) -> Result<u64, Error> {
    let Some(boundary) = sql::boundary(store, chain, cutoff).await? else {
        return Ok(0);
    };
    let floor = Floor {
        number: boundary.number,
        seq: boundary.last_seq,
    };
    let current = sql::floor(store, chain).await?;
    if current.is_none_or(|f| f.seq < floor.seq) {
        let mut tx = store.begin().await?;
        sql::raise_floor(&mut tx, chain, floor, clock.now()).await?;
        let purge_event = NewEvent {
            chain: match chain.parse::<TenantId>() {
                Ok(t) => Chain::Tenant(t),
                Err(_) => Chain::Operator,
            },
            actor: crate::rbac::Actor::system("retention"),
            action: Action::AuditPurged,
            target: Target::new("audit_log", chain),
            before: None,
            after: Some(json!({
                "up_to_seq": floor.seq,
                "checkpoint": floor.number,
                "older_than": cutoff,
            })),
        };
        super::record(
            &mut tx,
            clock.now(),
            &RequestContext::default(),
            purge_event,
        )
        .await?;
        tx.commit().await?;
    }
    // Also finishes a purge that an earlier run left half done.
    let floor_seq = current.map_or(floor.seq, |c| c.seq.max(floor.seq));
    let mut low = match sql::oldest_seq(store, chain).await? {
        Some(oldest) => oldest - 1,
        None => return Ok(0),
    };
    let mut purged = 0;
    let mut batch = FIRST_BATCH;
    while low < floor_seq {
        let high = (low + batch).min(floor_seq);
        let started = std::time::Instant::now();
        let mut tx = store.begin().await?;
        purged += sql::delete_range(&mut tx, chain, low, high).await?;
        tx.commit().await?;
        batch = next_batch(batch, started.elapsed());
        low = high;
    }
    Ok(purged)
}

/// The next batch's size: scaled towards [`BATCH_TARGET`] by how long this one took, by at
/// most a factor of 2 either way, within the bounds.
fn next_batch(batch: i64, took: std::time::Duration) -> i64 {
    let took = took.as_secs_f64().max(1e-4);
    let factor = (BATCH_TARGET.as_secs_f64() / took).clamp(0.5, 2.0);
    ((batch as f64 * factor) as i64).clamp(MIN_BATCH, MAX_BATCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn batches_adapt_towards_the_target_within_bounds() {
        assert_eq!(next_batch(500, Duration::from_millis(25)), 1000);
        assert_eq!(next_batch(500, Duration::from_millis(1)), 1000);
        assert_eq!(next_batch(500, Duration::from_millis(100)), 250);
        assert_eq!(next_batch(500, Duration::from_secs(5)), 250);
        assert_eq!(next_batch(60, Duration::from_secs(5)), MIN_BATCH);
        assert_eq!(next_batch(MAX_BATCH, Duration::ZERO), MAX_BATCH);
    }
}

//! The audit trail: append-only events written in the same transaction as the change they
//! record, hash-chained per tenant (plus one `operator` chain for instance-wide events).
//! This module defines what an event is and how it is hashed; `store::audit` only stores rows.
//! Search lives in [`query`], export in [`export`] (and as a background job in
//! [`export_job`]), chain verification in [`chain`], signed checkpoints in [`checkpoint`],
//! retention in [`retention`], the app's events in [`ingest`], SIEM stream settings in
//! [`stream`] (delivered by `outbox::streams`), the collapsing of repeated failed sign-ins
//! in [`failures`].

pub mod action;
pub mod chain;
pub mod checkpoint;
pub mod export;
pub mod export_job;
pub mod failures;
pub mod ingest;
pub mod ip;
pub mod ocsf;
pub mod query;
pub mod retention;
pub mod stream;
mod stream_checks;
pub mod targets;
pub mod verify_export;

/// Who did it (made by [`crate::rbac`], which knows the principals).
pub use crate::rbac::Actor;
pub use action::Action;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::Error;
use crate::store::{self, Tx};
use crate::types::{truncate, EventId, TenantId, Timestamp};

/// The chain id of instance-wide operator events.
pub const OPERATOR_CHAIN: &str = "operator";
/// Longest user agent kept in an event; longer ones are cut (a client controls this header).
const MAX_USER_AGENT_CHARS: usize = 512;

/// What it was done to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
}

impl Target {
    pub fn new(kind: &'static str, id: impl ToString) -> Self {
        Self {
            kind,
            id: id.to_string(),
        }
    }
}

/// Where a request came from, as the HTTP edge saw it.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Which chain an event belongs to.
#[derive(Debug, Clone, Copy)]
pub enum Chain {
    Operator,
    Tenant(TenantId),
}

impl Chain {
    fn key(self) -> String {
        match self {
            Chain::Operator => OPERATOR_CHAIN.to_string(),
            Chain::Tenant(t) => t.to_string(),
        }
    }
}

/// An event about to be recorded.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub chain: Chain,
    pub actor: Actor,
    pub action: Action,
    pub target: Target,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// A recorded event as the API shows it and exports carry it (parsed back to check one).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: String,
    /// The chain: a tenant id, or `operator`.
    pub tenant_id: String,
    pub seq: i64,
    pub occurred_at: Timestamp,
    pub actor: ActorView,
    pub action: String,
    pub target: TargetView,
    /// The target before the change. `before` and `after` are the stored JSON as it is:
    /// never parsed and re-written on the way out, and hashed byte for byte when an export is
    /// checked.
    #[schema(value_type = Option<Value>)]
    pub before: Option<Box<RawValue>>,
    /// The target after the change; for the app's events, its `targets`, `metadata` and `source`.
    #[schema(value_type = Option<Value>)]
    pub after: Option<Box<RawValue>>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// `success` or `failure` (see [`action::is_failure`]).
    pub outcome: String,
    /// Hex SHA-256 links: with these and a checkpoint, an event is checked offline.
    pub prev_hash: String,
    pub hash: String,
}

/// Who did it, as an event shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = AuditActor)]
pub struct ActorView {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub label: String,
}

/// What it was done to, as an event shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = AuditTarget)]
pub struct TargetView {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

impl From<store::audit::AuditRow> for AuditEvent {
    fn from(r: store::audit::AuditRow) -> Self {
        let json = |s: Option<String>| s.and_then(|s| RawValue::from_string(s).ok());
        Self {
            id: r.id,
            tenant_id: r.chain,
            seq: r.seq,
            occurred_at: Timestamp::from_micros(r.occurred_at),
            actor: ActorView {
                kind: r.actor_type,
                id: r.actor_id,
                label: r.actor_label,
            },
            action: r.action,
            target: TargetView {
                kind: r.target_type,
                id: r.target_id,
            },
            before: json(r.before_json),
            after: json(r.after_json),
            ip: r.ip,
            user_agent: r.user_agent,
            request_id: r.request_id,
            outcome: r.outcome,
            prev_hash: hex::encode(&r.prev_hash),
            hash: hex::encode(&r.hash),
        }
    }
}

impl AuditEvent {
    /// The stored row this event was read from, as far as its hash covers it; `None` when a
    /// hash field is not hex.
    pub fn to_row(&self) -> Option<store::audit::AuditRow> {
        Some(store::audit::AuditRow {
            chain: self.tenant_id.clone(),
            seq: self.seq,
            id: self.id.clone(),
            occurred_at: self.occurred_at.as_micros(),
            actor_type: self.actor.kind.clone(),
            actor_id: self.actor.id.clone(),
            actor_label: self.actor.label.clone(),
            action: self.action.clone(),
            target_type: self.target.kind.clone(),
            target_id: self.target.id.clone(),
            before_json: self.before.as_ref().map(|v| v.get().to_string()),
            after_json: self.after.as_ref().map(|v| v.get().to_string()),
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
            request_id: self.request_id.clone(),
            prev_hash: hex::decode(&self.prev_hash).ok()?,
            hash: hex::decode(&self.hash).ok()?,
            outcome: self.outcome.clone(),
            ip_key: self.ip.as_deref().and_then(ip::key),
        })
    }
}

/// Appends `event` to its chain inside `tx`; it commits or rolls back with the change, and
/// so does the lifecycle webhook a directory change queues for the apps.
pub async fn record(
    tx: &mut Tx,
    now: Timestamp,
    ctx: &RequestContext,
    event: NewEvent,
) -> Result<EventId, Error> {
    let (chain, action) = (event.chain, event.action);
    let draft = Draft {
        chain: event.chain,
        actor_type: event.actor.kind.to_string(),
        actor_id: event.actor.id,
        actor_label: event.actor.label,
        action: event.action.as_str().to_string(),
        target_type: event.target.kind.to_string(),
        target_id: event.target.id,
        before: event.before,
        after: event.after,
        more_targets: Vec::new(),
    };
    let (id, seq) = append(tx, now, ctx, draft).await?;
    // A directory change is also a webhook to the apps, queued with it.
    if let (Chain::Tenant(tenant), Some(kind)) = (chain, crate::outbox::lifecycle::kind_of(action))
    {
        store::outbox::enqueue_webhooks(tx, tenant, &id.to_string(), seq, kind, now).await?;
    }
    // A security signal (a session ended, a credential changed, an account disabled…) is
    // also a SET to every Shared Signals stream that asked for it; sign-ins and SCIM writes
    // are counted for the operator's usage report.
    if let Chain::Tenant(tenant) = chain {
        crate::provider::ssf::events::queue(tx, tenant, &id.to_string(), seq, action, now).await?;
        crate::tenancy::usage::count(tx, tenant, action, now).await?;
    }
    Ok(id)
}

/// An event in the words it is stored in: Gatehouse's own ([`NewEvent`]) or the app's
/// (`ingest`, already checked).
pub(crate) struct Draft {
    pub chain: Chain,
    pub actor_type: String,
    pub actor_id: String,
    pub actor_label: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// Targets beyond the first, as (type, id): an app's event may name several, and each is
    /// searchable. They must also be listed in `after.targets`, which is hashed.
    pub more_targets: Vec<(String, String)>,
}

/// Appends a drafted event to its chain inside `tx`; returns its id and sequence.
pub(crate) async fn append(
    tx: &mut Tx,
    now: Timestamp,
    ctx: &RequestContext,
    event: Draft,
) -> Result<(EventId, i64), Error> {
    let mut written = append_all(tx, vec![(now, ctx.clone(), event)]).await?;
    written
        .pop()
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("nothing was appended")))
}

/// Appends drafted events of one chain, in order, inside `tx`: one head update and one
/// insert per few hundred events. Returns each event's id and sequence.
pub(crate) async fn append_all(
    tx: &mut Tx,
    events: Vec<(Timestamp, RequestContext, Draft)>,
) -> Result<Vec<(EventId, i64)>, Error> {
    let Some(chain) = events.first().map(|(_, _, d)| d.chain.key()) else {
        return Ok(Vec::new());
    };
    if events.iter().any(|(_, _, d)| d.chain.key() != chain) {
        return Err(Error::Internal(anyhow::anyhow!(
            "events of several chains appended at once"
        )));
    }
    let n = i64::try_from(events.len()).map_err(|e| Error::Internal(e.into()))?;
    let (first, mut prev_hash) = store::audit::advance_head(tx, &chain, n, &chain::GENESIS).await?;
    let mut rows = Vec::with_capacity(events.len());
    let mut targets = Vec::new();
    let mut written = Vec::with_capacity(events.len());
    for (seq, (at, ctx, event)) in (first..).zip(events) {
        let id = EventId::generate();
        targets.extend(
            event
                .more_targets
                .into_iter()
                .map(|(kind, id)| store::audit::MoreTarget {
                    chain: chain.clone(),
                    seq,
                    kind,
                    id,
                    occurred_at: at.as_micros(),
                }),
        );
        let mut row = store::audit::AuditRow {
            chain: chain.clone(),
            seq,
            id: id.to_string(),
            occurred_at: at.as_micros(),
            actor_type: event.actor_type,
            actor_id: event.actor_id,
            actor_label: event.actor_label,
            outcome: action::outcome(&event.action).to_string(),
            action: event.action,
            target_type: event.target_type,
            target_id: event.target_id,
            before_json: event.before.map(|v| v.to_string()),
            after_json: event.after.map(|v| v.to_string()),
            ip_key: ctx.ip.as_deref().and_then(ip::key),
            ip: ctx.ip,
            user_agent: ctx
                .user_agent
                .as_deref()
                .map(|ua| truncate(ua, MAX_USER_AGENT_CHARS)),
            request_id: ctx.request_id,
            prev_hash,
            hash: Vec::new(),
        };
        row.hash = chain::hash_row(&row).to_vec();
        prev_hash = row.hash.clone();
        written.push((id, seq));
        rows.push(row);
    }
    store::audit::append(tx, &rows).await?;
    store::audit::append_targets(tx, &targets).await?;
    Ok(written)
}

//! The audit trail: append-only events written in the same transaction as the change they
//! record, hash-chained per tenant (plus one `operator` chain for instance-wide events).
//! This module defines what an event is and how it is hashed; `store::audit` only stores rows.
//! Listing lives in [`query`], chain verification in [`chain`], the collapsing of repeated
//! failed sign-ins in [`failures`].

pub mod action;
pub mod chain;
pub mod failures;
pub mod query;

/// Who did it (made by [`crate::rbac`], which knows the principals).
pub use crate::rbac::Actor;
pub use action::Action;

use serde::Serialize;
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

/// A recorded event as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    pub id: String,
    /// The chain: a tenant id, or `operator`.
    pub tenant_id: String,
    pub seq: i64,
    pub occurred_at: Timestamp,
    pub actor: ActorView,
    pub action: String,
    pub target: TargetView,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ActorView {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub label: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetView {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

impl From<store::audit::AuditRow> for AuditEvent {
    fn from(r: store::audit::AuditRow) -> Self {
        let json = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
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
        }
    }
}

/// Appends `event` to its chain inside `tx`; it commits or rolls back with the change.
pub async fn record(
    tx: &mut Tx,
    now: Timestamp,
    ctx: &RequestContext,
    event: NewEvent,
) -> Result<EventId, Error> {
    let chain = event.chain.key();
    let (seq, prev_hash) = store::audit::advance_head(tx, &chain, &chain::GENESIS).await?;
    let id = EventId::generate();
    let mut row = store::audit::AuditRow {
        chain,
        seq,
        id: id.to_string(),
        occurred_at: now.as_micros(),
        actor_type: event.actor.kind.to_string(),
        actor_id: event.actor.id,
        actor_label: event.actor.label,
        action: event.action.as_str().to_string(),
        target_type: event.target.kind.to_string(),
        target_id: event.target.id,
        before_json: event.before.map(|v| v.to_string()),
        after_json: event.after.map(|v| v.to_string()),
        ip: ctx.ip.clone(),
        user_agent: ctx
            .user_agent
            .as_deref()
            .map(|ua| truncate(ua, MAX_USER_AGENT_CHARS)),
        request_id: ctx.request_id.clone(),
        prev_hash,
        hash: Vec::new(),
    };
    row.hash = chain::hash_row(&row).to_vec();
    store::audit::append(tx, &row).await?;
    Ok(id)
}

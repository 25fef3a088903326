//! Events from the app: the app writes its own security-relevant events (data changes,
//! exports, permission changes) into the tenant's chain with a token holding `audit:write`,
//! in the shape WorkOS's audit-log API uses (`action`, `occurred_at`, `actor`, `targets`,
//! `context`, `metadata`). They are hashed, searched, exported and streamed like
//! Gatehouse's own. Every field is bounded; a batch is all or nothing; an `Idempotency-Key`
//! makes a retry return the first answer instead of writing twice.
//!
//! The stored event keeps the app's words: actor type, id and name; the first target as the
//! event's target (all of them, with the metadata, in the event's `after`, and the others in
//! the search table of further targets, so each finds the event); the context's
//! address and user agent. It also records which token wrote it (`after.source`), and an
//! app may not use an action Gatehouse itself records (`login.succeeded`…).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{Action, Chain, Draft, RequestContext};
use crate::error::Error;
use crate::rbac::{Authorized, IngestAudit};
use crate::services::Services;
use crate::store::audit_ingest as sql;
use crate::types::Timestamp;

/// Most events in one batch: one transaction, so it bounds how long the chain's head is held.
pub const MAX_BATCH: usize = 100;
/// Most targets of one event.
const MAX_TARGETS: usize = 10;
/// Longest type, id, name or action.
const MAX_TEXT_CHARS: usize = 256;
/// Most keys in a metadata object, longest key, and longest string value (WorkOS's limits).
const MAX_METADATA_KEYS: usize = 50;
const MAX_METADATA_KEY_CHARS: usize = 40;
const MAX_METADATA_VALUE_CHARS: usize = 500;
/// How far back an app may date an event (a backfill after an outage), and forward (clock skew).
const MAX_PAST_SECS: i64 = 30 * 86_400;
const MAX_FUTURE_SECS: i64 = 300;
/// Longest `Idempotency-Key`.
const MAX_KEY_CHARS: usize = 255;
/// How long a key's answer is kept.
pub const KEY_TTL_SECS: i64 = 86_400;

/// One event as the app sends it.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AppAuditEvent)]
pub struct AppEvent {
    pub action: String,
    pub occurred_at: Timestamp,
    pub actor: Party,
    pub targets: Vec<Party>,
    #[serde(default)]
    pub context: Context,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
    /// The app's schema version for this action, if it keeps one.
    #[serde(default)]
    pub version: Option<u32>,
}

/// An actor or a target.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AppAuditParty)]
pub struct Party {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
}

/// Where the action came from, as the app saw it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AppAuditContext)]
pub struct Context {
    /// The end user's IP address.
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
}

/// A batch as the app sends it.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AppAuditEventBatch)]
pub struct Batch {
    pub events: Vec<AppEvent>,
}

/// What was written: each event's id and sequence, in the order sent.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = AppAuditEventsWritten)]
pub struct Written {
    pub events: Vec<WrittenEvent>,
    /// True when this answers a retry of an earlier request with the same key.
    #[serde(default)]
    pub replayed: bool,
}

/// One event written: its id and its place in the chain.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = AppAuditEventWritten)]
pub struct WrittenEvent {
    pub id: String,
    pub seq: i64,
}

/// Checks and writes `events` (one request: a single event is a batch of one).
pub async fn write(
    state: &Services,
    auth: &Authorized<IngestAudit>,
    ctx: &RequestContext,
    idempotency_key: Option<&str>,
    events: Vec<AppEvent>,
) -> Result<Written, Error> {
    if events.is_empty() || events.len() > MAX_BATCH {
        return Err(Error::invalid(
            "events",
            format!("send 1 to {MAX_BATCH} events"),
        ));
    }
    if let Some(key) = idempotency_key {
        let ok = (1..=MAX_KEY_CHARS).contains(&key.len())
            && key.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
        if !ok {
            return Err(Error::invalid(
                "Idempotency-Key",
                format!("the Idempotency-Key header must be 1-{MAX_KEY_CHARS} printable ASCII characters"),
            ));
        }
    }
    let now = state.clock.now();
    let token = auth.actor().id;
    let drafts: Vec<(Draft, RequestContext, Timestamp)> = events
        .iter()
        .enumerate()
        .map(|(i, e)| check(e, now).map_err(|m| invalid(events.len(), i, m)))
        .collect::<Result<Vec<_>, Error>>()?
        .into_iter()
        .zip(&events)
        .map(|((context, at), e)| (draft(auth, &token, e), ctx_of(ctx, context), at))
        .collect();
    let body_hash = Sha256::digest(serde_json::to_vec(&events).unwrap_or_default()).to_vec();
    let tenant = auth.tenant();
    let mut tx = state.store.begin().await?;
    if let Some(key) = idempotency_key {
        if let Some(earlier) = sql::earlier(&mut tx, tenant, key).await? {
            if earlier.body_hash != body_hash {
                return Err(Error::Conflict(
                    "this Idempotency-Key was used with a different request body".into(),
                ));
            }
            let mut written: Written =
                serde_json::from_str(&earlier.response).map_err(|e| Error::Internal(e.into()))?;
            written.replayed = true;
            return Ok(written);
        }
    }
    let mut written = Written {
        events: Vec::with_capacity(drafts.len()),
        replayed: false,
    };
    let appended = super::append_all(
        &mut tx,
        drafts
            .into_iter()
            .map(|(draft, ctx, at)| (at, ctx, draft))
            .collect(),
    )
    .await?;
    written
        .events
        .extend(appended.into_iter().map(|(id, seq)| WrittenEvent {
            id: id.to_string(),
            seq,
        }));
    if let Some(key) = idempotency_key {
        let response = serde_json::to_string(&written).map_err(|e| Error::Internal(e.into()))?;
        if !sql::remember(&mut tx, tenant, key, &body_hash, &response, now).await? {
            return Err(Error::Conflict(
                "a request with this Idempotency-Key is being written; retry to get its answer"
                    .into(),
            ));
        }
    }
    tx.commit().await?;
    Ok(written)
}

/// An input error naming the event it is in (for a batch).
fn invalid(count: usize, index: usize, message: String) -> Error {
    if count == 1 {
        Error::invalid("event", message)
    } else {
        Error::invalid("events", format!("events[{index}]: {message}"))
    }
}

/// The request context of an app event: the app's end user's address and browser, and
/// this request's id.
fn ctx_of(request: &RequestContext, context: Context) -> RequestContext {
    RequestContext {
        request_id: request.request_id.clone(),
        ip: context.location,
        user_agent: context.user_agent,
    }
}

fn draft(auth: &Authorized<IngestAudit>, token: &str, e: &AppEvent) -> Draft {
    let first = &e.targets[0];
    Draft {
        chain: Chain::Tenant(auth.tenant()),
        actor_type: e.actor.kind.clone(),
        actor_id: e.actor.id.clone(),
        actor_label: e.actor.name.clone().unwrap_or_else(|| e.actor.id.clone()),
        action: e.action.clone(),
        target_type: first.kind.clone(),
        target_id: first.id.clone(),
        before: None,
        after: Some(json!({
            "source": { "kind": "app", "token": token },
            "actor_metadata": e.actor.metadata,
            "targets": e.targets,
            "metadata": e.metadata,
            "version": e.version,
        })),
        more_targets: super::targets::further(
            e.targets.iter().map(|t| (t.kind.as_str(), t.id.as_str())),
        ),
    }
}

/// Checks one event; returns its context and time.
fn check(e: &AppEvent, now: Timestamp) -> Result<(Context, Timestamp), String> {
    let action_ok = e.action.len() <= MAX_TEXT_CHARS
        && e.action.contains('.')
        && e.action.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        });
    if !action_ok {
        return Err(format!(
            "`action` must be dotted lower-case words such as document.exported (at most {MAX_TEXT_CHARS} characters)"
        ));
    }
    if e.action.parse::<Action>().is_ok() {
        return Err(format!(
            "`action` {} is one Gatehouse records itself",
            e.action
        ));
    }
    if e.occurred_at < now.plus_seconds(-MAX_PAST_SECS)
        || e.occurred_at > now.plus_seconds(MAX_FUTURE_SECS)
    {
        return Err("`occurred_at` must be within the last 30 days (and not in the future)".into());
    }
    party("actor", &e.actor)?;
    if e.targets.is_empty() || e.targets.len() > MAX_TARGETS {
        return Err(format!("`targets` must list 1 to {MAX_TARGETS} targets"));
    }
    for (i, t) in e.targets.iter().enumerate() {
        party(&format!("targets[{i}]"), t)?;
    }
    metadata("metadata", e.metadata.as_ref())?;
    if let Some(ip) = &e.context.location {
        if ip.parse::<std::net::IpAddr>().is_err() {
            return Err("`context.location` must be an IP address".into());
        }
    }
    if let Some(ua) = &e.context.user_agent {
        text("context.user_agent", ua, 512)?;
    }
    Ok((e.context.clone(), e.occurred_at))
}

fn party(what: &str, p: &Party) -> Result<(), String> {
    text(&format!("{what}.type"), &p.kind, MAX_TEXT_CHARS)?;
    text(&format!("{what}.id"), &p.id, MAX_TEXT_CHARS)?;
    if let Some(name) = &p.name {
        text(&format!("{what}.name"), name, MAX_TEXT_CHARS)?;
    }
    metadata(&format!("{what}.metadata"), p.metadata.as_ref())
}

fn text(what: &str, value: &str, max: usize) -> Result<(), String> {
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(format!(
            "`{what}` must be 1-{max} characters without control characters"
        ));
    }
    Ok(())
}

/// A flat object of at most [`MAX_METADATA_KEYS`] keys whose values are strings, numbers,
/// booleans or null.
fn metadata(what: &str, m: Option<&Map<String, Value>>) -> Result<(), String> {
    let Some(m) = m else { return Ok(()) };
    if m.len() > MAX_METADATA_KEYS {
        return Err(format!(
            "`{what}` may have at most {MAX_METADATA_KEYS} keys"
        ));
    }
    for (k, v) in m {
        text(&format!("{what} key"), k, MAX_METADATA_KEY_CHARS)?;
        match v {
            Value::String(s) if s.chars().count() > MAX_METADATA_VALUE_CHARS => {
                return Err(format!(
                    "`{what}.{k}` is longer than {MAX_METADATA_VALUE_CHARS} characters"
                ))
            }
            Value::Array(_) | Value::Object(_) => {
                return Err(format!(
                    "`{what}.{k}` must be a string, number, boolean or null"
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

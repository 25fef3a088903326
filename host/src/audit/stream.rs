//! Audit streams to SIEMs, as a tenant configures them: an HTTPS webhook (batched JSON,
//! HMAC-SHA256 signature), syslog (RFC 5424 over TCP, optionally TLS, JSON or CEF), or an
//! S3-compatible bucket (gzip JSON Lines objects named by time and sequence). Each stream has
//! a cursor in the tenant's chain; delivery (`outbox::streams`) is at least once, with the
//! event id for dedupe. Secrets (the HMAC key, the bucket's secret key) are sealed with the
//! tenant's key and write-only. Every change is audited with before and after.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::stream_checks::{check_destination, check_name, check_secret};
use super::{Action, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::rbac::{Authorized, OperateInstance, ReadAuditStreams, WriteAuditStreams};
use crate::services::Services;
use crate::store;
use crate::store::audit_streams::{self as sql, StreamRow};
use crate::store::tenants::Feature;
use crate::types::{StreamId, TenantId, Timestamp};

/// Most streams per tenant: each is polled and delivered separately.
const MAX_STREAMS: usize = 10;

/// Where a stream delivers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
#[schema(as = AuditStreamDestination)]
pub enum Destination {
    /// `POST url` with `{"events": [...], "checkpoints": [...]}`, signed.
    Webhook { url: String },
    /// RFC 5424 messages over TCP (RFC 6587 octet counting), TLS when `tls`.
    Syslog {
        host: String,
        port: u16,
        #[serde(default)]
        tls: bool,
        /// PEM of the CA that signed the receiver's certificate (else the web's roots).
        #[serde(default)]
        ca_pem: Option<String>,
        #[serde(default)]
        format: SyslogFormat,
    },
    /// gzip JSON Lines objects `PREFIX/TENANT/YYYY/MM/DD/HHMMSSZ-FIRST-LAST.jsonl.gz`.
    S3 {
        endpoint: String,
        bucket: String,
        region: String,
        #[serde(default)]
        prefix: String,
        access_key_id: String,
    },
}

/// The payload of a syslog message.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SyslogFormat {
    #[default]
    Json,
    Cef,
}

/// Where a new stream starts.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = AuditStreamStart)]
pub enum Start {
    /// With the next event.
    #[default]
    Now,
    /// With the oldest event still kept.
    Oldest,
}

/// The body of `POST /api/v1/audit-streams`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewAuditStream)]
pub struct NewStream {
    pub name: String,
    pub destination: Destination,
    /// The webhook's HMAC key, or the bucket's secret access key.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub start: Start,
}

/// The body of `PATCH /api/v1/audit-streams/{stream}`: the members to change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AuditStreamChange)]
pub struct StreamChange {
    pub name: Option<String>,
    pub destination: Option<Destination>,
    pub secret: Option<String>,
    pub paused: Option<bool>,
}

/// A stream as the API shows it (never its secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = AuditStream)]
pub struct StreamView {
    pub id: StreamId,
    pub name: String,
    pub destination: Destination,
    pub has_secret: bool,
    /// `active`, `paused`, or `error` (the last attempt failed; retrying with backoff).
    pub status: &'static str,
    /// The last event delivered.
    pub cursor_seq: i64,
    pub failures: i64,
    pub last_delivered_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub last_error_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A stream's health as lists show it: its view, its tenant, and how far behind it is.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = AuditStreamStatus)]
pub struct StreamStatus {
    #[serde(flatten)]
    pub stream: StreamView,
    pub tenant_id: TenantId,
    /// Events recorded after the last one delivered: what a destination that is down is
    /// owed (kept for at least `audit.min_retention_days`).
    pub backlog: i64,
}

impl StreamView {
    fn of(row: &StreamRow) -> Result<Self, Error> {
        Ok(Self {
            id: row.id,
            name: row.name.clone(),
            destination: destination_of(row)?,
            has_secret: row.secret_sealed.is_some(),
            status: if row.paused {
                "paused"
            } else if row.failures > 0 {
                "error"
            } else {
                "active"
            },
            cursor_seq: row.cursor_seq,
            failures: row.failures,
            last_delivered_at: row.last_delivered_at,
            last_error: row.last_error.clone(),
            last_error_at: row.last_error_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A stored stream's destination.
pub fn destination_of(row: &StreamRow) -> Result<Destination, Error> {
    serde_json::from_str(&row.settings_json).map_err(|e| Error::Internal(e.into()))
}

/// The sealing purpose of a stream's secret.
pub fn secret_purpose(id: StreamId) -> String {
    format!("audit-stream:{id}")
}

/// A tenant's streams with their health.
pub async fn list(
    state: &Services,
    auth: &Authorized<ReadAuditStreams>,
) -> Result<Vec<StreamStatus>, Error> {
    statuses(state, Some(auth.tenant())).await
}

/// Every tenant's streams with their health, for the operator.
pub async fn list_all(
    state: &Services,
    _auth: &Authorized<OperateInstance>,
) -> Result<Vec<StreamStatus>, Error> {
    statuses(state, None).await
}

async fn statuses(state: &Services, tenant: Option<TenantId>) -> Result<Vec<StreamStatus>, Error> {
    sql::with_backlog(&state.store, tenant)
        .await?
        .iter()
        .map(|(row, backlog)| {
            Ok(StreamStatus {
                stream: StreamView::of(row)?,
                tenant_id: row.tenant_id,
                backlog: *backlog,
            })
        })
        .collect()
}

pub async fn create(
    state: &Services,
    auth: &Authorized<WriteAuditStreams>,
    ctx: &RequestContext,
    new: NewStream,
) -> Result<StreamView, Error> {
    let tenant = auth.tenant();
    check_name(&new.name)?;
    check_destination(&new.destination, state.config.sso.allow_private_networks)?;
    check_secret(&new.destination, new.secret.as_deref(), true)?;
    if sql::list(&state.store, tenant).await?.len() >= MAX_STREAMS {
        return Err(Error::Conflict(format!(
            "a tenant has at most {MAX_STREAMS} audit streams"
        )));
    }
    let id = StreamId::generate();
    let secret_sealed = seal(state, tenant, id, new.secret.as_deref()).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    crate::tenancy::features::live_with(&mut tx, tenant, Feature::AuditStreaming).await?;
    let cursor_seq = match new.start {
        Start::Now => store::audit_checkpoints::head(&mut tx, &tenant.to_string())
            .await?
            .map_or(0, |(seq, _)| seq),
        Start::Oldest => 0,
    };
    let row = StreamRow {
        id,
        tenant_id: tenant,
        name: new.name,
        kind: kind_of(&new.destination).into(),
        settings_json: serde_json::to_string(&new.destination)
            .map_err(|e| Error::Internal(e.into()))?,
        secret_sealed,
        paused: false,
        cursor_seq,
        failures: 0,
        next_attempt_at: now,
        lease_until: Timestamp::from_micros(0),
        last_delivered_at: None,
        last_error: None,
        last_error_at: None,
        created_at: now,
        updated_at: now,
    };
    sql::insert(&mut tx, &row).await?;
    let view = StreamView::of(&row)?;
    audit(&mut tx, auth, ctx, now, id, None, Some(&view)).await?;
    tx.commit().await?;
    Ok(view)
}

pub async fn change(
    state: &Services,
    auth: &Authorized<WriteAuditStreams>,
    ctx: &RequestContext,
    id: StreamId,
    change: StreamChange,
) -> Result<StreamView, Error> {
    let tenant = auth.tenant();
    if let Some(name) = &change.name {
        check_name(name)?;
    }
    if let Some(d) = &change.destination {
        check_destination(d, state.config.sso.allow_private_networks)?;
    }
    // Sealed before the transaction (the tenant's key may have to be read first).
    let new_secret = match &change.secret {
        Some(secret) => seal(state, tenant, id, Some(secret)).await?,
        None => None,
    };
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    crate::tenancy::features::live_with(&mut tx, tenant, Feature::AuditStreaming).await?;
    let mut row = sql::get_for_update(&mut tx, tenant, id)
        .await?
        .ok_or(Error::NotFound("audit stream"))?;
    let before = StreamView::of(&row)?;
    let destination = change.destination.unwrap_or(before.destination.clone());
    if kind_of(&destination) != row.kind {
        return Err(Error::invalid(
            "destination",
            "a stream's kind cannot change; create a new stream",
        ));
    }
    check_secret(&destination, change.secret.as_deref(), false)?;
    row.settings_json =
        serde_json::to_string(&destination).map_err(|e| Error::Internal(e.into()))?;
    if let Some(name) = change.name {
        row.name = name;
    }
    if new_secret.is_some() {
        row.secret_sealed = new_secret;
    }
    if let Some(paused) = change.paused {
        row.paused = paused;
    }
    // A change is a reason to try again at once.
    row.next_attempt_at = now;
    row.updated_at = now;
    sql::update(&mut tx, &row).await?;
    let after = StreamView::of(&row)?;
    audit(&mut tx, auth, ctx, now, id, Some(&before), Some(&after)).await?;
    tx.commit().await?;
    Ok(after)
}

pub async fn delete(
    state: &Services,
    auth: &Authorized<WriteAuditStreams>,
    ctx: &RequestContext,
    id: StreamId,
) -> Result<(), Error> {
    let tenant = auth.tenant();
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let row = sql::get_for_update(&mut tx, tenant, id)
        .await?
        .ok_or(Error::NotFound("audit stream"))?;
    sql::delete(&mut tx, tenant, id).await?;
    let before = StreamView::of(&row)?;
    audit(&mut tx, auth, ctx, now, id, Some(&before), None).await?;
    tx.commit().await?;
    Ok(())
}

/// Records a stream's creation (no `before`), change, or deletion (no `after`).
async fn audit(
    tx: &mut store::Tx,
    auth: &Authorized<WriteAuditStreams>,
    ctx: &RequestContext,
    now: Timestamp,
    id: StreamId,
    before: Option<&StreamView>,
    after: Option<&StreamView>,
) -> Result<(), Error> {
    let action = match (before, after) {
        (None, _) => Action::AuditStreamCreated,
        (Some(_), Some(_)) => Action::AuditStreamUpdated,
        (Some(_), None) => Action::AuditStreamDeleted,
    };
    super::record(
        tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(auth.tenant()),
            actor: auth.actor(),
            action,
            target: Target::new("audit_stream", id),
            before: before.map(|v| json!(v)),
            after: after.map(|v| json!(v)),
        },
    )
    .await?;
    Ok(())
}

async fn seal(
    state: &Services,
    tenant: TenantId,
    id: StreamId,
    secret: Option<&str>,
) -> Result<Option<Vec<u8>>, Error> {
    match secret {
        None => Ok(None),
        Some(s) => Ok(Some(
            state
                .secrets
                .seal(&state.store, tenant, &secret_purpose(id), s.as_bytes())
                .await?,
        )),
    }
}

fn kind_of(d: &Destination) -> &'static str {
    match d {
        Destination::Webhook { .. } => "webhook",
        Destination::Syslog { .. } => "syslog",
        Destination::S3 { .. } => "s3",
    }
}

//! Audit streams to SIEMs, as a tenant configures them: an HTTPS webhook (batched JSON,
//! HMAC-SHA256 signature), syslog (RFC 5424 over TCP, optionally TLS, JSON or CEF), or an
//! S3-compatible bucket (gzip JSON Lines objects named by time and sequence). Each stream has
//! a cursor in the tenant's chain; delivery (`outbox::streams`) is at least once, with the
//! event id for dedupe. Secrets (the HMAC key, the bucket's secret key) are sealed with the
//! tenant's key and write-only. Every change is audited with before and after.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Action, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::rbac::{Authorized, ReadAudit, WritePolicy};
use crate::services::Services;
use crate::store::audit_streams::{self as sql, StreamRow};
use crate::store::{self};
use crate::types::{StreamId, TenantId, Timestamp};

/// Most streams per tenant: each is polled and delivered separately.
const MAX_STREAMS: usize = 10;
/// Longest secret accepted, and the shortest HMAC key (128 bits of hex or more).
const MAX_SECRET_CHARS: usize = 512;
const MIN_HMAC_KEY_CHARS: usize = 32;

/// Where a stream delivers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
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
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SyslogFormat {
    #[default]
    Json,
    Cef,
}

/// Where a new stream starts.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Start {
    /// With the next event.
    #[default]
    Now,
    /// With the oldest event still kept.
    Oldest,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewStream {
    pub name: String,
    pub destination: Destination,
    /// The webhook's HMAC key, or the bucket's secret access key.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub start: Start,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamChange {
    pub name: Option<String>,
    pub destination: Option<Destination>,
    pub secret: Option<String>,
    pub paused: Option<bool>,
}

/// A stream as the API shows it (never its secret).
#[derive(Debug, Clone, Serialize)]
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

pub async fn list(
    state: &Services,
    auth: &Authorized<ReadAudit>,
) -> Result<Vec<StreamView>, Error> {
    sql::list(&state.store, auth.tenant())
        .await?
        .iter()
        .map(StreamView::of)
        .collect()
}

pub async fn create(
    state: &Services,
    auth: &Authorized<WritePolicy>,
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
    audit(
        &mut tx,
        auth,
        ctx,
        now,
        Action::AuditStreamCreated,
        id,
        None,
        Some(&view),
    )
    .await?;
    tx.commit().await?;
    Ok(view)
}

pub async fn change(
    state: &Services,
    auth: &Authorized<WritePolicy>,
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
    audit(
        &mut tx,
        auth,
        ctx,
        now,
        Action::AuditStreamUpdated,
        id,
        Some(&before),
        Some(&after),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

pub async fn delete(
    state: &Services,
    auth: &Authorized<WritePolicy>,
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
    audit(
        &mut tx,
        auth,
        ctx,
        now,
        Action::AuditStreamDeleted,
        id,
        Some(&before),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn audit(
    tx: &mut store::Tx,
    auth: &Authorized<WritePolicy>,
    ctx: &RequestContext,
    now: Timestamp,
    action: Action,
    id: StreamId,
    before: Option<&StreamView>,
    after: Option<&StreamView>,
) -> Result<(), Error> {
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

fn check_name(name: &str) -> Result<(), Error> {
    if name.trim().is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Error::invalid("name", "`name` must be 1-100 characters"));
    }
    Ok(())
}

/// An http(s) URL; plain http only where private networks are allowed (a test receiver on
/// this machine). Every call is also guarded against internal addresses when sent.
fn check_url(field: &'static str, url: &str, allow_private: bool) -> Result<(), Error> {
    let parsed = url::Url::parse(url)
        .map_err(|_| Error::invalid(field, format!("`{field}` is not a URL")))?;
    let scheme_ok = parsed.scheme() == "https" || (allow_private && parsed.scheme() == "http");
    if !scheme_ok || url.len() > 2048 || parsed.host_str().is_none() {
        return Err(Error::invalid(
            field,
            format!("`{field}` must be an https:// URL"),
        ));
    }
    Ok(())
}

fn check_destination(d: &Destination, allow_private: bool) -> Result<(), Error> {
    match d {
        Destination::Webhook { url } => check_url("url", url, allow_private),
        Destination::Syslog {
            host, port, ca_pem, ..
        } => {
            if host.is_empty()
                || host.len() > 253
                || !host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c))
            {
                return Err(Error::invalid(
                    "host",
                    "`host` must be a host name or address",
                ));
            }
            if *port == 0 {
                return Err(Error::invalid("port", "`port` must be 1-65535"));
            }
            if let Some(pem) = ca_pem {
                if pem.len() > 64 * 1024
                    || openssl::x509::X509::stack_from_pem(pem.as_bytes())
                        .map_or(true, |s| s.is_empty())
                {
                    return Err(Error::invalid(
                        "ca_pem",
                        "`ca_pem` must be PEM certificates",
                    ));
                }
            }
            Ok(())
        }
        Destination::S3 {
            endpoint,
            bucket,
            region,
            prefix,
            access_key_id,
        } => {
            check_url("endpoint", endpoint, allow_private)?;
            let bucket_ok = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                });
            if !bucket_ok {
                return Err(Error::invalid(
                    "bucket",
                    "`bucket` must be an S3 bucket name",
                ));
            }
            if region.is_empty()
                || region.len() > 64
                || !region
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(Error::invalid(
                    "region",
                    "`region` must be a region name such as us-east-1",
                ));
            }
            if prefix.len() > 512 || prefix.starts_with('/') || prefix.chars().any(char::is_control)
            {
                return Err(Error::invalid(
                    "prefix",
                    "`prefix` must be at most 512 characters, not starting with /",
                ));
            }
            if access_key_id.is_empty()
                || access_key_id.len() > 128
                || access_key_id.chars().any(char::is_control)
            {
                return Err(Error::invalid(
                    "access_key_id",
                    "`access_key_id` must be 1-128 characters",
                ));
            }
            Ok(())
        }
    }
}

/// A webhook needs an HMAC key and a bucket its secret key (on create; a change may keep the
/// stored one); syslog takes none.
fn check_secret(d: &Destination, secret: Option<&str>, creating: bool) -> Result<(), Error> {
    match (d, secret) {
        (Destination::Syslog { .. }, Some(_)) => Err(Error::invalid(
            "secret",
            "a syslog stream takes no `secret`",
        )),
        (Destination::Syslog { .. }, None) => Ok(()),
        (_, None) if creating => Err(Error::invalid(
            "secret",
            "`secret` is required: the webhook's HMAC key, or the bucket's secret access key",
        )),
        (_, None) => Ok(()),
        (Destination::Webhook { .. }, Some(s))
            if s.len() < MIN_HMAC_KEY_CHARS || s.len() > MAX_SECRET_CHARS =>
        {
            Err(Error::invalid(
                "secret",
                format!("the HMAC key must be {MIN_HMAC_KEY_CHARS}-{MAX_SECRET_CHARS} characters"),
            ))
        }
        (_, Some(s)) if s.is_empty() || s.len() > MAX_SECRET_CHARS => Err(Error::invalid(
            "secret",
            format!("`secret` must be 1-{MAX_SECRET_CHARS} characters"),
        )),
        (_, Some(_)) => Ok(()),
    }
}

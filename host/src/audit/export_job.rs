//! Export jobs, for exports too large to wait on: the same export as
//! `GET /api/v1/audit-events/export` ([`super::export`]), written in the background as gzip
//! pieces into the database (so any node serves it), with progress (events written of the
//! events that matched when it started). When it is done, each read of the job hands out a
//! fresh download link valid for [`LINK_TTL_SECS`]; the link's token is its only credential
//! (an auditor's browser can fetch it), stored hashed and compared in constant time, and only
//! the newest link works. A job and its pieces are dropped [`KEEP_SECS`] after it started.

use flate2::write::GzEncoder;
use flate2::Compression;
use futures_util::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::Write;
use subtle::ConstantTimeEq;

use super::export::{self, Format};
use super::query::Filters;
use super::RequestContext;
use crate::error::Error;
use crate::rbac::{Authorized, ExportAudit};
use crate::services::Services;
use crate::store::{self, audit_exports::ExportRow};
use crate::types::{random_token, SessionId, TenantId, Timestamp};

/// Compressed bytes per stored piece: one insert and one download read each.
const PART_BYTES: usize = 1 << 20;
/// How long a download link works.
pub const LINK_TTL_SECS: i64 = 600;
/// How long a job and its file are kept.
const KEEP_SECS: i64 = 86_400;
/// How long a writer may go without progress before its job counts as abandoned.
const LEASE_SECS: i64 = 300;
/// Jobs a tenant may have running at once (each holds a reader for its whole run).
const MAX_RUNNING: usize = 2;

/// A job as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = AuditExportJob)]
pub struct ExportJob {
    pub id: SessionId,
    pub format: String,
    /// `running`, `done` or `failed`.
    pub status: String,
    pub events: i64,
    /// Events that matched when the job started (known shortly after it starts).
    pub total: Option<i64>,
    /// The file's size so far (gzip).
    pub bytes: i64,
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub expires_at: Timestamp,
    /// When done: where to fetch the file, until `download_expires_at`.
    pub download_url: Option<String>,
    pub download_expires_at: Option<Timestamp>,
}

fn view(row: &ExportRow) -> ExportJob {
    ExportJob {
        id: row.id,
        format: row.format.clone(),
        status: row.status.clone(),
        events: row.events,
        total: row.total,
        bytes: row.bytes,
        error: row.error.clone(),
        created_at: row.created_at,
        finished_at: row.finished_at,
        expires_at: row.expires_at,
        download_url: None,
        download_expires_at: None,
    }
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Starts a job: records the export (as a streamed export does) and writes it in a task of
/// its own, which the request ending does not cancel.
pub async fn start(
    state: &Services,
    auth: &Authorized<ExportAudit>,
    ctx: &RequestContext,
    format: Format,
    filters: Filters,
) -> Result<ExportJob, Error> {
    let tenant = auth.tenant();
    let running = store::audit_exports::list(&state.store, tenant, 50)
        .await?
        .iter()
        .filter(|j| j.status == "running")
        .count();
    if running >= MAX_RUNNING {
        return Err(Error::Conflict(format!(
            "{MAX_RUNNING} exports are already running; wait for one to finish"
        )));
    }
    let count_filter = filters.to_store(Some(tenant.to_string()))?;
    let filters_json = serde_json::to_string(&filters).map_err(|e| Error::Internal(e.into()))?;
    let body = export::start(state, auth, ctx, format, filters).await?.body;
    let now = state.clock.now();
    let row = ExportRow {
        id: SessionId::generate(),
        tenant_id: tenant,
        format: format.as_str().to_string(),
        filters_json,
        status: "running".into(),
        events: 0,
        total: None,
        bytes: 0,
        error: None,
        lease_until: now.plus_seconds(LEASE_SECS),
        link_hash: None,
        link_expires_at: None,
        created_at: now,
        finished_at: None,
        expires_at: now.plus_seconds(KEEP_SECS),
    };
    let mut tx = state.store.begin().await?;
    store::audit_exports::insert(&mut tx, &row).await?;
    tx.commit().await?;
    let state = state.clone();
    let id = row.id;
    tokio::spawn(async move {
        if let Ok(total) = store::audit_search::count(&state.store, &count_filter).await {
            let _ = store::audit_exports::set_total(&state.store, id, total).await;
        }
        let (events, error) = write(&state, id, format, body).await;
        if let Err(e) = store::audit_exports::finish(
            &state.store,
            id,
            events,
            error.as_deref(),
            state.clock.now(),
        )
        .await
        {
            tracing::error!(error = ?e, export = %id, "an export job's end could not be recorded");
        }
    });
    Ok(view(&row))
}

/// Writes the export's body as gzip pieces; returns the events written and the failure.
async fn write(
    state: &Services,
    id: SessionId,
    format: Format,
    mut body: futures_util::stream::BoxStream<'static, Result<bytes::Bytes, std::io::Error>>,
) -> (i64, Option<String>) {
    // Lines that are not events: the JSON Lines header and end marker, the CSV header.
    let framing = match format {
        Format::Jsonl => 2,
        Format::Csv => 1,
        Format::Ocsf => 0,
    };
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    let mut lines = 0i64;
    let mut n = 0i64;
    let events = |lines: i64| (lines - framing).max(0);
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(_) => return (events(lines), Some("the events could not be read".into())),
        };
        lines += i64::try_from(chunk.iter().filter(|b| **b == b'\n').count()).unwrap_or(0);
        if gz.write_all(&chunk).is_err() {
            return (
                events(lines),
                Some("the file could not be compressed".into()),
            );
        }
        if gz.get_ref().len() >= PART_BYTES {
            let part = std::mem::take(gz.get_mut());
            let lease = state.clock.now().plus_seconds(LEASE_SECS);
            if let Err(e) =
                store::audit_exports::add_part(&state.store, id, n, &part, events(lines), lease)
                    .await
            {
                tracing::error!(error = ?e, export = %id, "an export piece could not be stored");
                return (events(lines), Some("the file could not be stored".into()));
            }
            n += 1;
        }
    }
    let last = match gz.finish() {
        Ok(last) => last,
        Err(_) => {
            return (
                events(lines),
                Some("the file could not be compressed".into()),
            )
        }
    };
    let lease = state.clock.now().plus_seconds(LEASE_SECS);
    if let Err(e) =
        store::audit_exports::add_part(&state.store, id, n, &last, events(lines), lease).await
    {
        tracing::error!(error = ?e, export = %id, "an export piece could not be stored");
        return (events(lines), Some("the file could not be stored".into()));
    }
    (events(lines), None)
}

/// A tenant's jobs, newest first (the 20 most recent).
pub async fn list(
    state: &Services,
    auth: &Authorized<ExportAudit>,
) -> Result<Vec<ExportJob>, Error> {
    Ok(store::audit_exports::list(&state.store, auth.tenant(), 20)
        .await?
        .iter()
        .map(view)
        .collect())
}

/// One job; when it is done, with a fresh download link.
pub async fn get(
    state: &Services,
    auth: &Authorized<ExportAudit>,
    id: SessionId,
) -> Result<ExportJob, Error> {
    let tenant = auth.tenant();
    let row = store::audit_exports::get(&state.store, tenant, id)
        .await?
        .ok_or(Error::NotFound("export"))?;
    let mut job = view(&row);
    if row.status == "done" {
        let token = random_token();
        let expires = state.clock.now().plus_seconds(LINK_TTL_SECS);
        store::audit_exports::set_link(&state.store, id, &hash(&token), expires).await?;
        job.download_url = Some(format!(
            "{}/audit-downloads/{tenant}/{id}?token={token}",
            state.config.public_url()
        ));
        job.download_expires_at = Some(expires);
    }
    Ok(job)
}

/// A download: the file's name and its pieces, read one at a time as the client reads.
pub struct Download {
    pub filename: String,
    pub body: futures_util::stream::BoxStream<'static, Result<bytes::Bytes, std::io::Error>>,
}

/// Opens a job's file for the holder of its newest link; every failure looks the same.
pub async fn download(
    state: &Services,
    tenant: TenantId,
    id: SessionId,
    token: &str,
) -> Result<Download, Error> {
    let refused = || Error::NotFound("download (the link is wrong or has expired)");
    let row = store::audit_exports::get(&state.store, tenant, id)
        .await?
        .ok_or_else(refused)?;
    let valid = row.status == "done"
        && row.link_expires_at.is_some_and(|t| t > state.clock.now())
        && row
            .link_hash
            .as_deref()
            .is_some_and(|h| bool::from(h.ct_eq(&hash(token))));
    if !valid {
        return Err(refused());
    }
    let format: Format = row.format.parse().map_err(|_| refused())?;
    let store = state.store.clone();
    let body = futures_util::stream::unfold(0i64, move |n| {
        let store = store.clone();
        async move {
            match store::audit_exports::part(&store, id, n).await {
                Ok(Some(part)) => Some((Ok(bytes::Bytes::from(part)), n + 1)),
                Ok(None) => None,
                Err(e) => {
                    tracing::error!(error = ?e, export = %id, "an export piece could not be read");
                    Some((
                        Err(std::io::Error::other("the file could not be read")),
                        i64::MAX,
                    ))
                }
            }
        }
    })
    .boxed();
    Ok(Download {
        filename: format!(
            "audit-{tenant}-{}.{}.gz",
            row.created_at.to_rfc3339().replace(':', ""),
            format.extension()
        ),
        body,
    })
}

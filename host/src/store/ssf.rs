//! SQL for Shared Signals streams (their one writer): the streams an app manages, the
//! subjects it removed from them, the queueing of a security event for every stream that
//! asked for its type (push: an outbox row; poll: a `ssf_poll_events` row), and a poll
//! stream's fetch and acknowledgement.

use sqlx::Row;

use super::{Store, StoreResult, Tx};
use crate::types::{TenantId, Timestamp};

/// The destination of one push stream's SETs: this prefix and the stream's id.
pub const SSF_PREFIX: &str = "ssf:";

/// A stream row.
#[derive(Debug, Clone)]
pub struct StreamRow {
    pub id: String,
    /// The app (receiver) that owns it.
    pub client_id: String,
    /// `push` or `poll`.
    pub delivery: String,
    /// The receiver's URL (push).
    pub endpoint_url: Option<String>,
    /// The `Authorization` value to send with each push, sealed with the instance key.
    pub authorization_sealed: Option<Vec<u8>>,
    /// JSON arrays of event type URIs.
    pub events_requested: String,
    pub events_delivered: String,
    pub description: Option<String>,
    /// `enabled`, `paused` or `disabled`.
    pub status: String,
    pub reason: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

const COLUMNS: &str = "id, client_id, delivery, endpoint_url, authorization_sealed, \
    events_requested, events_delivered, description, status, reason, created_at, updated_at";

fn from_row(r: &sqlx::any::AnyRow) -> StoreResult<StreamRow> {
    Ok(StreamRow {
        id: r.try_get("id")?,
        client_id: r.try_get("client_id")?,
        delivery: r.try_get("delivery")?,
        endpoint_url: r.try_get("endpoint_url")?,
        authorization_sealed: r.try_get("authorization_sealed")?,
        events_requested: r.try_get("events_requested")?,
        events_delivered: r.try_get("events_delivered")?,
        description: r.try_get("description")?,
        status: r.try_get("status")?,
        reason: r.try_get("reason")?,
        created_at: Timestamp::from_micros(r.try_get("created_at")?),
        updated_at: Timestamp::from_micros(r.try_get("updated_at")?),
    })
}

pub async fn insert(tx: &mut Tx, s: &StreamRow) -> StoreResult<()> {
    sqlx::query(&format!(
        "INSERT INTO ssf_streams ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(&s.id)
    .bind(&s.client_id)
    .bind(&s.delivery)
    .bind(&s.endpoint_url)
    .bind(s.authorization_sealed.clone())
    .bind(&s.events_requested)
    .bind(&s.events_delivered)
    .bind(&s.description)
    .bind(&s.status)
    .bind(&s.reason)
    .bind(s.created_at.as_micros())
    .bind(s.updated_at.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Every field a receiver may change, written back.
pub async fn update(tx: &mut Tx, s: &StreamRow) -> StoreResult<()> {
    sqlx::query(
        "UPDATE ssf_streams SET endpoint_url = $3, authorization_sealed = $4, \
         events_requested = $5, events_delivered = $6, description = $7, status = $8, \
         reason = $9, updated_at = $10 WHERE client_id = $1 AND id = $2",
    )
    .bind(&s.client_id)
    .bind(&s.id)
    .bind(&s.endpoint_url)
    .bind(s.authorization_sealed.clone())
    .bind(&s.events_requested)
    .bind(&s.events_delivered)
    .bind(&s.description)
    .bind(&s.status)
    .bind(&s.reason)
    .bind(s.updated_at.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The app's stream `id` (another app's looks missing).
pub async fn get(store: &Store, client: &str, id: &str) -> StoreResult<Option<StreamRow>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM ssf_streams WHERE client_id = $1 AND id = $2"
    ))
    .bind(client)
    .bind(id)
    .fetch_optional(store.reader())
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// A stream by id alone: for the delivery worker, which holds no app.
pub async fn by_id(store: &Store, id: &str) -> StoreResult<Option<StreamRow>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM ssf_streams WHERE id = $1"))
        .bind(id)
        .fetch_optional(store.reader())
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn list(store: &Store, client: &str) -> StoreResult<Vec<StreamRow>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM ssf_streams WHERE client_id = $1 ORDER BY created_at, id"
    ))
    .bind(client)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Deletes the stream with its removed subjects, held poll events and queued pushes.
pub async fn delete(tx: &mut Tx, client: &str, id: &str) -> StoreResult<bool> {
    sqlx::query("DELETE FROM ssf_removed_subjects WHERE stream_id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    sqlx::query("DELETE FROM ssf_poll_events WHERE stream_id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    sqlx::query("DELETE FROM outbox WHERE destination = $1 AND delivered_at IS NULL")
        .bind(format!("{SSF_PREFIX}{id}"))
        .execute(tx.conn())
        .await?;
    let done = sqlx::query("DELETE FROM ssf_streams WHERE client_id = $1 AND id = $2")
        .bind(client)
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Marks `key` removed from (or, `removed` false, back in) the stream.
pub async fn set_removed(
    tx: &mut Tx,
    stream: &str,
    key: &str,
    removed: bool,
    now: Timestamp,
) -> StoreResult<()> {
    if removed {
        sqlx::query(
            "INSERT INTO ssf_removed_subjects (stream_id, subject_key, created_at) \
             VALUES ($1, $2, $3) ON CONFLICT (stream_id, subject_key) DO NOTHING",
        )
        .bind(stream)
        .bind(key)
        .bind(now.as_micros())
        .execute(tx.conn())
        .await?;
    } else {
        sqlx::query("DELETE FROM ssf_removed_subjects WHERE stream_id = $1 AND subject_key = $2")
            .bind(stream)
            .bind(key)
            .execute(tx.conn())
            .await?;
    }
    Ok(())
}

/// True when any of `keys` was removed from the stream.
pub async fn any_removed(store: &Store, stream: &str, keys: &[String]) -> StoreResult<bool> {
    for key in keys {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM ssf_removed_subjects WHERE stream_id = $1 AND subject_key = $2",
        )
        .bind(stream)
        .bind(key)
        .fetch_optional(store.reader())
        .await?;
        if found.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Queues the security event `payload` (its id `event_id`) for every live stream of a live
/// app that delivers `event_uri`: an outbox row per push stream, a held row per poll stream.
/// The SET's `jti` is the event's id and the stream's, the same on every retry.
pub async fn enqueue(
    tx: &mut Tx,
    tenant: TenantId,
    event_id: &str,
    event_uri: &str,
    payload: &str,
    now: Timestamp,
) -> StoreResult<()> {
    let wanted = format!("%\"{event_uri}\"%");
    let live = "FROM ssf_streams s JOIN oauth_clients c ON c.id = s.client_id \
                WHERE c.revoked_at IS NULL AND s.status <> 'disabled' AND s.events_delivered LIKE";
    sqlx::query(&format!(
        "INSERT INTO outbox (id, tenant_id, destination, payload_sealed, payload, created_at, \
         next_attempt_at) \
         SELECT $1 || '.' || s.id, $2, '{SSF_PREFIX}' || s.id, $3, $4, $5, $5 \
         {live} $6 AND s.delivery = 'push' ON CONFLICT (id) DO NOTHING"
    ))
    .bind(event_id)
    .bind(tenant.to_string())
    .bind(Vec::<u8>::new())
    .bind(payload)
    .bind(now.as_micros())
    .bind(&wanted)
    .execute(tx.conn())
    .await?;
    sqlx::query(&format!(
        "INSERT INTO ssf_poll_events (stream_id, jti, payload, created_at) \
         SELECT s.id, $1 || '.' || s.id, $2, $3 \
         {live} $4 AND s.delivery = 'poll' ON CONFLICT (stream_id, jti) DO NOTHING"
    ))
    .bind(event_id)
    .bind(payload)
    .bind(now.as_micros())
    .bind(&wanted)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Holds one SET for a poll stream (the verification event).
pub async fn hold(
    tx: &mut Tx,
    stream: &str,
    jti: &str,
    payload: &str,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO ssf_poll_events (stream_id, jti, payload, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (stream_id, jti) DO NOTHING",
    )
    .bind(stream)
    .bind(jti)
    .bind(payload)
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Up to `limit` held `(jti, payload)` of a poll stream, oldest first, and whether more wait.
pub async fn held(
    store: &Store,
    stream: &str,
    limit: i64,
) -> StoreResult<(Vec<(String, String)>, bool)> {
    let rows = sqlx::query(
        "SELECT jti, payload FROM ssf_poll_events WHERE stream_id = $1 \
         ORDER BY created_at, jti LIMIT $2",
    )
    .bind(stream)
    .bind(limit + 1)
    .fetch_all(store.reader())
    .await?;
    let mut out: Vec<(String, String)> = rows
        .iter()
        .map(|r| Ok((r.try_get("jti")?, r.try_get("payload")?)))
        .collect::<StoreResult<_>>()?;
    let more = out.len() as i64 > limit;
    out.truncate(usize::try_from(limit).unwrap_or(0));
    Ok((out, more))
}

/// Drops the acknowledged SETs of a poll stream.
pub async fn ack(tx: &mut Tx, stream: &str, jtis: &[String]) -> StoreResult<()> {
    for jti in jtis {
        sqlx::query("DELETE FROM ssf_poll_events WHERE stream_id = $1 AND jti = $2")
            .bind(stream)
            .bind(jti)
            .execute(tx.conn())
            .await?;
    }
    Ok(())
}

//! SQL for the outbox, its one writer: rows that leave Gatehouse (emails, the apps'
//! back-channel logout notices and lifecycle webhooks), written in the transaction of the
//! change that caused them; each destination's health; an app's webhook delivery log. A
//! worker claims a due row by moving its next attempt forward (a lease), so two nodes do not
//! send it at the same time.

use sqlx::Row;

use super::session_apps::{self, Ending};
use super::{parse_col, Store, StoreResult, Tx};
use crate::types::{TenantId, Timestamp};

#[derive(Debug, Clone)]
pub struct OutboxRow {
    /// A random id (an email) or one derived from what the row announces (a logout
    /// notice: the session's and the app's; a webhook: the audit event's and the app's),
    /// which the receiver may use to drop repeats.
    pub id: String,
    pub tenant_id: TenantId,
    pub destination: String,
    pub payload_sealed: Vec<u8>,
    /// A payload that is not secret, in clear (`payload_sealed` is then empty).
    pub payload: Option<String>,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
}

/// The destination of one app's back-channel logout notices: this prefix and the app's id.
pub const LOGOUT_PREFIX: &str = "backchannel-logout:";
/// The destination of one app's lifecycle webhooks: this prefix and the app's id.
pub const WEBHOOK_PREFIX: &str = "app-webhook:";

pub async fn enqueue(tx: &mut Tx, row: &OutboxRow, now: Timestamp) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO outbox (id, tenant_id, destination, payload_sealed, payload, created_at, \
         next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&row.id)
    .bind(row.tenant_id.to_string())
    .bind(&row.destination)
    .bind(row.payload_sealed.clone())
    .bind(row.payload.clone())
    .bind(now.as_micros())
    .bind(row.next_attempt_at.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Queues one logout notice for each app with a back-channel URI that got tokens in a
/// session `ending` names, unless that session had already ended by revocation. The
/// notice's id is the session's and app's, so a session ends once for each app however
/// often it is revoked. Call it before the sessions are revoked or deleted.
pub async fn enqueue_logout_notices(
    tx: &mut Tx,
    ending: &Ending,
    now: Timestamp,
) -> StoreResult<u64> {
    let (which, values) = session_apps::sessions_of(ending);
    // Session, user and app ids are UUIDs and `app_` + hex: nothing in them needs escaping.
    let sql = format!(
        "INSERT INTO outbox (id, tenant_id, destination, payload_sealed, payload, created_at, \
         next_attempt_at) \
         SELECT a.session_id || '.' || a.client_id, a.tenant_id, \
         '{LOGOUT_PREFIX}' || a.client_id, $1, \
         '{{\"client_id\":\"' || a.client_id || '\",\"session_id\":\"' || a.session_id \
         || '\",\"user_id\":\"' || a.user_id || '\"}}', $2, $2 \
         FROM oauth_session_apps a \
         JOIN sessions s ON s.tenant_id = a.tenant_id AND s.id = a.session_id \
         JOIN oauth_clients c ON c.id = a.client_id \
         WHERE c.backchannel_logout_uri IS NOT NULL AND c.revoked_at IS NULL \
         AND s.revoked_at IS NULL AND {which} \
         ON CONFLICT (id) DO NOTHING"
    );
    let mut q = sqlx::query(&sql)
        .bind(Vec::<u8>::new())
        .bind(now.as_micros());
    for v in values {
        q = q.bind(v);
    }
    Ok(q.execute(tx.conn()).await?.rows_affected())
}

/// Queues the audit event `seq` of `tenant`'s chain (its id `event_id`) as a webhook of
/// `kind` for every live app with a webhook URL. The row's id is the event's and the app's.
pub async fn enqueue_webhooks(
    tx: &mut Tx,
    tenant: TenantId,
    event_id: &str,
    seq: i64,
    kind: &str,
    now: Timestamp,
) -> StoreResult<u64> {
    let payload = serde_json::json!({ "event_id": event_id, "seq": seq, "type": kind });
    let sql = format!(
        "INSERT INTO outbox (id, tenant_id, destination, payload_sealed, payload, created_at, \
         next_attempt_at) \
         SELECT $1 || '.' || c.id, $2, '{WEBHOOK_PREFIX}' || c.id, $3, $4, $5, $5 \
         FROM oauth_clients c WHERE c.webhook_url IS NOT NULL AND c.revoked_at IS NULL \
         ON CONFLICT (id) DO NOTHING"
    );
    let done = sqlx::query(&sql)
        .bind(event_id)
        .bind(tenant.to_string())
        .bind(Vec::<u8>::new())
        .bind(payload.to_string())
        .bind(now.as_micros())
        .execute(tx.conn())
        .await?;
    Ok(done.rows_affected())
}

/// Rows due at `now`, oldest first.
pub async fn due(store: &Store, now: Timestamp, limit: i64) -> StoreResult<Vec<OutboxRow>> {
    let rows = sqlx::query(
        "SELECT id, tenant_id, destination, payload_sealed, payload, attempts, next_attempt_at \
         FROM outbox \
         WHERE delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= $1 \
         ORDER BY next_attempt_at LIMIT $2",
    )
    .bind(now.as_micros())
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(OutboxRow {
                id: r.try_get("id")?,
                tenant_id: parse_col(&r.try_get::<String, _>("tenant_id")?, "outbox.tenant_id")?,
                destination: r.try_get("destination")?,
                payload_sealed: r.try_get("payload_sealed")?,
                payload: r.try_get("payload")?,
                attempts: r.try_get("attempts")?,
                next_attempt_at: Timestamp::from_micros(r.try_get("next_attempt_at")?),
            })
        })
        .collect()
}

/// Claims a due row until `lease_until`; false when another worker claimed it first.
pub async fn claim(store: &Store, row: &OutboxRow, lease_until: Timestamp) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE outbox SET next_attempt_at = $3, attempts = attempts + 1 \
         WHERE id = $1 AND next_attempt_at = $2 AND delivered_at IS NULL",
    )
    .bind(&row.id)
    .bind(row.next_attempt_at.as_micros())
    .bind(lease_until.as_micros())
    .execute(store.writer())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Puts a claimed row back to wait until `until`, not counting the claim as an attempt.
pub async fn hold(store: &Store, row: &OutboxRow, until: Timestamp) -> StoreResult<()> {
    sqlx::query("UPDATE outbox SET next_attempt_at = $2, attempts = attempts - 1 WHERE id = $1")
        .bind(&row.id)
        .bind(until.as_micros())
        .execute(store.writer())
        .await?;
    Ok(())
}

/// Records a delivery, and the destination's success.
pub async fn delivered(store: &Store, row: &OutboxRow, now: Timestamp) -> StoreResult<()> {
    sqlx::query("UPDATE outbox SET delivered_at = $2, last_error = NULL WHERE id = $1")
        .bind(&row.id)
        .bind(now.as_micros())
        .execute(store.writer())
        .await?;
    sqlx::query(
        "INSERT INTO delivery_health (destination, last_success_at) VALUES ($1, $2) \
         ON CONFLICT (destination) DO UPDATE SET last_success_at = excluded.last_success_at",
    )
    .bind(&row.destination)
    .bind(now.as_micros())
    .execute(store.writer())
    .await?;
    Ok(())
}

/// Records a failed attempt: the next one at `retry_at`, or none (`None`: given up).
pub async fn failed(
    store: &Store,
    row: &OutboxRow,
    error: &str,
    retry_at: Option<Timestamp>,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE outbox SET last_error = $2, next_attempt_at = $3, gave_up_at = $4 WHERE id = $1",
    )
    .bind(&row.id)
    .bind(error)
    .bind(retry_at.unwrap_or(now).as_micros())
    .bind(retry_at.is_none().then_some(now.as_micros()))
    .execute(store.writer())
    .await?;
    sqlx::query(
        "INSERT INTO delivery_health (destination, last_error_at, last_error) VALUES ($1, $2, $3) \
         ON CONFLICT (destination) DO UPDATE SET last_error_at = excluded.last_error_at, \
         last_error = excluded.last_error",
    )
    .bind(&row.destination)
    .bind(now.as_micros())
    .bind(error)
    .execute(store.writer())
    .await?;
    Ok(())
}

/// One destination's health as the operator sees it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = DeliveryHealth)]
pub struct Health {
    pub destination: String,
    pub last_success_at: Option<Timestamp>,
    pub last_error_at: Option<Timestamp>,
    pub last_error: Option<String>,
    /// Rows waiting to be sent.
    pub backlog: i64,
    /// Rows given up on.
    pub failed: i64,
}

/// Every destination that has been used, with its backlog.
pub async fn health(store: &Store) -> StoreResult<Vec<Health>> {
    let rows = sqlx::query(
        "SELECT h.destination, h.last_success_at, h.last_error_at, h.last_error, \
         (SELECT COUNT(*) FROM outbox o WHERE o.destination = h.destination \
          AND o.delivered_at IS NULL AND o.gave_up_at IS NULL) AS backlog, \
         (SELECT COUNT(*) FROM outbox o WHERE o.destination = h.destination \
          AND o.gave_up_at IS NOT NULL) AS failed \
         FROM delivery_health h ORDER BY h.destination",
    )
    .fetch_all(store.reader())
    .await?;
    let at = |v: Option<i64>| v.map(Timestamp::from_micros);
    rows.iter()
        .map(|r| {
            Ok(Health {
                destination: r.try_get("destination")?,
                last_success_at: at(r.try_get("last_success_at")?),
                last_error_at: at(r.try_get("last_error_at")?),
                last_error: r.try_get("last_error")?,
                backlog: r.try_get("backlog")?,
                failed: r.try_get("failed")?,
            })
        })
        .collect()
}

/// One delivery as the operator's log shows it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = WebhookDelivery)]
pub struct Delivery {
    /// The webhook's id (as the app receives it in `id`).
    pub id: String,
    pub tenant_id: String,
    /// The webhook's event type (its payload's `type`).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub created_at: Timestamp,
    pub attempts: i64,
    pub delivered_at: Option<Timestamp>,
    pub gave_up_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// The newest `limit` deliveries to `client`, newest first.
pub async fn deliveries(store: &Store, client: &str, limit: i64) -> StoreResult<Vec<Delivery>> {
    let rows = sqlx::query(
        "SELECT id, tenant_id, payload, created_at, attempts, delivered_at, gave_up_at, \
         last_error FROM outbox WHERE destination = $1 ORDER BY created_at DESC, id DESC \
         LIMIT $2",
    )
    .bind(format!("{WEBHOOK_PREFIX}{client}"))
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    let at = |v: Option<i64>| v.map(Timestamp::from_micros);
    rows.iter()
        .map(|r| {
            let payload: Option<String> = r.try_get("payload")?;
            let kind = payload
                .and_then(|p| serde_json::from_str::<serde_json::Value>(&p).ok())
                .and_then(|p| p["type"].as_str().map(str::to_string));
            Ok(Delivery {
                id: r.try_get("id")?,
                tenant_id: r.try_get("tenant_id")?,
                kind,
                created_at: Timestamp::from_micros(r.try_get("created_at")?),
                attempts: r.try_get("attempts")?,
                delivered_at: at(r.try_get("delivered_at")?),
                gave_up_at: at(r.try_get("gave_up_at")?),
                last_error: r.try_get("last_error")?,
            })
        })
        .collect()
}

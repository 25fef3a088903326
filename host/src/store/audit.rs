//! SQL for the audit trail: per-chain heads, appending events and the ordered scan that
//! chain verification and export walk (search is in `audit_search`, checkpoints in
//! `audit_checkpoints`). Rows are never updated or deleted here.

use sqlx::Row;

use super::{Backend, Store, StoreResult, Tx};

/// An audit row exactly as stored; `audit` owns its meaning and its hash.
#[derive(Debug, Clone)]
pub struct AuditRow {
    /// The chain: a tenant id, or `operator` for instance-wide operator events.
    pub chain: String,
    pub seq: i64,
    pub id: String,
    pub occurred_at: i64,
    pub actor_type: String,
    pub actor_id: String,
    pub actor_label: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
    /// `success` or `failure`, derived from the action (not hashed; verify re-derives it).
    pub outcome: String,
    /// The IP as a sortable key (not hashed; verify re-derives it).
    pub ip_key: Option<String>,
}

/// A target of an event beyond its first, as `audit_targets` keeps it for search.
#[derive(Debug, Clone)]
pub struct MoreTarget {
    pub chain: String,
    pub seq: i64,
    pub kind: String,
    pub id: String,
    pub occurred_at: i64,
}

/// The newest link of a chain.
#[derive(Debug, Clone)]
pub struct ChainHead {
    pub chain: String,
    pub last_seq: i64,
    pub last_hash: Vec<u8>,
}

/// Reserves the next `n` sequence numbers of `chain` and returns the first with the previous
/// hash (the genesis hash for a new chain), in one upsert. On PostgreSQL the upsert locks the
/// head row until commit, so concurrent writers of one chain queue and the chain never forks;
/// SQLite has a single writer anyway.
pub async fn advance_head(
    tx: &mut Tx,
    chain: &str,
    n: i64,
    genesis: &[u8],
) -> StoreResult<(i64, Vec<u8>)> {
    let row = sqlx::query(
        "INSERT INTO audit_heads (tenant_id, last_seq, last_hash) VALUES ($1, $3, $2) \
         ON CONFLICT (tenant_id) DO UPDATE SET last_seq = audit_heads.last_seq + $3 \
         RETURNING last_seq, last_hash",
    )
    .bind(chain)
    .bind(genesis.to_vec())
    .bind(n)
    .fetch_one(tx.conn())
    .await?;
    let last: i64 = row.try_get("last_seq")?;
    Ok((last - n + 1, row.try_get("last_hash")?))
}

/// Rows per INSERT statement: 19 parameters each stays far below either database's limit.
const ROWS_PER_INSERT: usize = 400;

/// Appends events of one chain, in sequence order, and moves the chain head's hash to the
/// last: one round trip per [`ROWS_PER_INSERT`] rows.
pub async fn append(tx: &mut Tx, rows: &[AuditRow]) -> StoreResult<()> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let Some(last) = chunk.last() else { continue };
        let backend = tx.backend();
        let insert = format!(
            "INSERT INTO audit_events ({COLUMNS}) VALUES {}",
            values(backend, chunk.len(), 19)
        );
        let head = chunk.len() * 19 + 1;
        let move_head = format!(
            "UPDATE audit_heads SET last_hash = {} WHERE tenant_id = {}",
            placeholder(backend, head),
            placeholder(backend, head + 1)
        );
        let sql = match backend {
            Backend::Sqlite => format!("{insert}; {move_head}"),
            Backend::Postgres => format!("WITH appended AS ({insert}) {move_head}"),
        };
        let mut query = sqlx::query(&sql);
        for r in chunk {
            query = query
                .bind(&r.chain)
                .bind(r.seq)
                .bind(&r.id)
                .bind(r.occurred_at)
                .bind(&r.actor_type)
                .bind(&r.actor_id)
                .bind(&r.actor_label)
                .bind(&r.action)
                .bind(&r.target_type)
                .bind(&r.target_id)
                .bind(&r.before_json)
                .bind(&r.after_json)
                .bind(&r.ip)
                .bind(&r.user_agent)
                .bind(&r.request_id)
                .bind(r.prev_hash.clone())
                .bind(r.hash.clone())
                .bind(&r.outcome)
                .bind(&r.ip_key);
        }
        query
            .bind(last.hash.clone())
            .bind(&last.chain)
            .execute(tx.conn())
            .await?;
    }
    Ok(())
}

/// `(…), (…)`: placeholders for `rows` rows of `columns` values. Positional `?` on SQLite:
/// finding a numbered parameter by its name is a linear search in SQLite, which made binding
/// thousands of them quadratic.
fn values(backend: Backend, rows: usize, columns: usize) -> String {
    let rows: Vec<String> = (0..rows)
        .map(|i| {
            let p: Vec<String> = (1..=columns)
                .map(|c| placeholder(backend, i * columns + c))
                .collect();
            format!("({})", p.join(", "))
        })
        .collect();
    rows.join(", ")
}

/// The `n`th bound parameter.
fn placeholder(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => "?".to_string(),
        Backend::Postgres => format!("${n}"),
    }
}

/// Records the further targets of events just appended (a target named twice is kept once).
pub async fn append_targets(tx: &mut Tx, targets: &[MoreTarget]) -> StoreResult<()> {
    for chunk in targets.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO audit_targets (chain, event_seq, item_type, item_id, at) VALUES {} \
             ON CONFLICT DO NOTHING",
            values(tx.backend(), chunk.len(), 5)
        );
        let mut query = sqlx::query(&sql);
        for t in chunk {
            query = query
                .bind(&t.chain)
                .bind(t.seq)
                .bind(&t.kind)
                .bind(&t.id)
                .bind(t.occurred_at);
        }
        query.execute(tx.conn()).await?;
    }
    Ok(())
}

pub(super) const COLUMNS: &str =
    "tenant_id, seq, id, occurred_at, actor_type, actor_id, actor_label, action, \
    target_type, target_id, before_json, after_json, ip, user_agent, request_id, prev_hash, hash, \
    outcome, ip_key";

pub(super) fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<AuditRow> {
    Ok(AuditRow {
        chain: row.try_get("tenant_id")?,
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        occurred_at: row.try_get("occurred_at")?,
        actor_type: row.try_get("actor_type")?,
        actor_id: row.try_get("actor_id")?,
        actor_label: row.try_get("actor_label")?,
        action: row.try_get("action")?,
        target_type: row.try_get("target_type")?,
        target_id: row.try_get("target_id")?,
        before_json: row.try_get("before_json")?,
        after_json: row.try_get("after_json")?,
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
        request_id: row.try_get("request_id")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
        outcome: row.try_get("outcome")?,
        ip_key: row.try_get("ip_key")?,
    })
}

/// Up to `limit` events of `chain` with `seq > after_seq`, in sequence order.
pub async fn chain_page(
    store: &Store,
    chain: &str,
    after_seq: i64,
    limit: u32,
) -> StoreResult<Vec<AuditRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
    );
    let rows = sqlx::query(&sql)
        .bind(chain)
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(store.reader())
        .await?;
    rows.iter().map(from_row).collect()
}

/// The further targets of the chain's events with `low < seq <= high`, by sequence.
pub async fn targets_between(
    store: &Store,
    chain: &str,
    low: i64,
    high: i64,
) -> StoreResult<Vec<MoreTarget>> {
    let rows = sqlx::query(
        "SELECT chain, event_seq, item_type, item_id, at FROM audit_targets \
         WHERE chain = $1 AND event_seq > $2 AND event_seq <= $3 ORDER BY event_seq",
    )
    .bind(chain)
    .bind(low)
    .bind(high)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(MoreTarget {
                chain: r.try_get("chain")?,
                seq: r.try_get("event_seq")?,
                kind: r.try_get("item_type")?,
                id: r.try_get("item_id")?,
                occurred_at: r.try_get("at")?,
            })
        })
        .collect()
}

pub async fn heads(store: &Store) -> StoreResult<Vec<ChainHead>> {
    let rows =
        sqlx::query("SELECT tenant_id, last_seq, last_hash FROM audit_heads ORDER BY tenant_id")
            .fetch_all(store.reader())
            .await?;
    rows.iter()
        .map(|r| {
            Ok(ChainHead {
                chain: r.try_get("tenant_id")?,
                last_seq: r.try_get("last_seq")?,
                last_hash: r.try_get("last_hash")?,
            })
        })
        .collect()
}

/// The sequence of the chain's newest event (0 for an empty or unknown chain).
pub async fn last_seq(store: &Store, chain: &str) -> StoreResult<i64> {
    let row = sqlx::query("SELECT MAX(last_seq) AS last_seq FROM audit_heads WHERE tenant_id = $1")
        .bind(chain)
        .fetch_one(store.reader())
        .await?;
    Ok(row.try_get::<Option<i64>, _>("last_seq")?.unwrap_or(0))
}

/// Chains that have events but no head row (a head deleted by hand).
pub async fn chains_without_head(store: &Store) -> StoreResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT tenant_id FROM audit_events e WHERE NOT EXISTS \
         (SELECT 1 FROM audit_heads h WHERE h.tenant_id = e.tenant_id)",
    )
    .fetch_all(store.reader())
    .await?)
}

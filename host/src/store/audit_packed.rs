//! An export's pages. On SQLite a page is read packed: SQLite builds one JSON array of the
//! page's events (`json_group_array`) and the page crosses the driver as a single value.
//! Read row by row, each event cost more in the driver (a row handed between threads, every
//! column converted twice) than everything else an export does: 59,480 rows/s against
//! 173,424 packed, at 1M events. PostgreSQL's rows are cheaper to read than its JSON is to
//! build (128,240 rows/s by rows, 104,885 packed), so there a page is read as rows.

use serde::Deserialize;

use super::audit::AuditRow;
use super::audit_search::{render, search, SearchFilter};
use super::listing::bind_params;
use super::{Backend, Store, StoreError, StoreResult};

/// One event in the packed array, in the order [`ELEMENTS`] lists.
#[derive(Deserialize)]
struct Packed(
    String,
    i64,
    String,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    Option<String>,
);

/// The array elements: the columns of `AuditRow`, hashes as hex.
const ELEMENTS: &str = "tenant_id, seq, id, occurred_at, actor_type, actor_id, actor_label, \
    action, target_type, target_id, before_json, after_json, ip, user_agent, request_id, \
    hex(prev_hash), hex(hash), outcome, ip_key";

/// The events matching `f` (which must ask for sequence order): an export's page.
pub async fn page(store: &Store, f: &SearchFilter) -> StoreResult<Vec<AuditRow>> {
    debug_assert!(
        f.seq_after.is_some(),
        "an export's page is in sequence order"
    );
    let backend = store.backend();
    if backend == Backend::Postgres {
        return search(store, f).await;
    }
    let (inner, params) = render(f, backend);
    let sql =
        format!("SELECT json_group_array(json_array({ELEMENTS})) AS page FROM ({inner}) AS p");
    let row = bind_params(sqlx::query(&sql), params)
        .fetch_one(store.reader())
        .await?;
    let page: Option<String> = sqlx::Row::try_get(&row, "page")?;
    let Some(page) = page else {
        return Ok(Vec::new());
    };
    let packed: Vec<Packed> = serde_json::from_str(&page)
        .map_err(|e| StoreError::Corrupt(format!("a packed audit page: {e}")))?;
    let mut rows = packed
        .into_iter()
        .map(unpack)
        .collect::<StoreResult<Vec<_>>>()?;
    // SQLite aggregates in the subquery's order; sorting an already sorted page is one pass.
    rows.sort_by_key(|r| r.seq);
    Ok(rows)
}

fn unpack(p: Packed) -> StoreResult<AuditRow> {
    let bytes = |hex_text: &str| {
        hex::decode(hex_text).map_err(|_| StoreError::Corrupt(format!("hash {hex_text:?}")))
    };
    Ok(AuditRow {
        chain: p.0,
        seq: p.1,
        id: p.2,
        occurred_at: p.3,
        actor_type: p.4,
        actor_id: p.5,
        actor_label: p.6,
        action: p.7,
        target_type: p.8,
        target_id: p.9,
        before_json: p.10,
        after_json: p.11,
        ip: p.12,
        user_agent: p.13,
        request_id: p.14,
        prev_hash: bytes(&p.15)?,
        hash: bytes(&p.16)?,
        outcome: p.17,
        ip_key: p.18,
    })
}

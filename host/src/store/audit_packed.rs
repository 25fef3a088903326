//! An export's pages, each read from the database as one value rather than row by row.
//! Read row by row, each event cost more in the driver (a row handed between threads, every
//! column converted twice) than everything else an export does.
//!
//! - JSON Lines on SQLite: the database writes each event's line itself, in the exact bytes
//!   `serde_json` gives an [`AuditEvent`](crate::audit::AuditEvent) (a test holds the two
//!   to the same output on each database), and the page arrives as one text; the stored
//!   `before` and `after` go into the line as stored, never re-parsed. With two pages read
//!   at once (see `audit::export`), the formatting runs on two cores: at 1M events SQLite
//!   exports 232,796 rows/s this way against 180,378 for CSV formatted in Rust
//!   (BENCHMARKS.md, third run). The page's order is checked in Rust rather than sorted
//!   again by the aggregate. On PostgreSQL, Gatehouse writes the lines from rows
//!   (`audit_lines`): there the database's `format()` was the export's limit.
//! - CSV and OCSF are formatted in Rust from rows. On SQLite the rows come packed, as one
//!   JSON array (`json_group_array`): 59,480 rows/s row by row against 173,424 packed.
//!   On PostgreSQL, CSV is written from the native driver's borrowed rows ([`each`]); OCSF
//!   reads rows through the generic driver (`search`).

use serde::Deserialize;

use super::audit::AuditRow;
use super::audit_lines::{self, EventParts, Span};
use super::audit_search::{render, search, SearchFilter};
use super::listing::bind_params;
use super::{Backend, Store, StoreError, StoreResult};

/// A page of an export: its lines (each ending in a newline) and the events they hold.
#[derive(Debug)]
pub struct Lines {
    pub text: Vec<u8>,
    pub span: Span,
}

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

/// About a JSON Lines line's length, to size a page's buffer once.
const LINE_BYTES: usize = 768;

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

/// Lends each event matching `f` (which must ask for sequence order) to `visit`, in order.
pub async fn each(
    store: &Store,
    f: &SearchFilter,
    mut visit: impl FnMut(&EventParts<'_>),
) -> StoreResult<Span> {
    if let Some(pool) = store.bulk_reader() {
        return audit_lines::each(pool, f, visit).await;
    }
    let mut span = Span::default();
    for row in page(store, f).await? {
        span.add(row.seq);
        visit(&row.parts());
    }
    Ok(span)
}

/// The events matching `f` (which must ask for sequence order) as JSON Lines.
pub async fn lines(store: &Store, f: &SearchFilter) -> StoreResult<Lines> {
    if let Some(pool) = store.bulk_reader() {
        let mut text = Vec::with_capacity(f.limit as usize * LINE_BYTES);
        let span = audit_lines::each(pool, f, |e| audit_lines::write_line(&mut text, e)).await?;
        return Ok(Lines { text, span });
    }
    let (inner, params) = render(f, Backend::Sqlite);
    // No ORDER BY in the aggregate: it sorted the page's lines again (a sixth of the
    // database's work on a page); the order is checked here instead.
    let sql = format!(
        "SELECT group_concat(line, char(10)) AS text, COUNT(*) AS n, MIN(seq) AS first_seq, \
         MAX(seq) AS last_seq \
         FROM (SELECT seq, format({LINE}, {SQLITE_PIECES}) AS line FROM ({inner}) AS p) AS l"
    );
    let row = bind_params(sqlx::query(&sql), params)
        .persistent(true)
        .fetch_one(store.reader())
        .await?;
    let count: i64 = sqlx::Row::try_get(&row, "n")?;
    let text = sqlx::Row::try_get::<Option<String>, _>(&row, "text")?.unwrap_or_default();
    let mut text = in_sequence_order(text, count)?;
    if !text.is_empty() {
        text.push('\n');
    }
    Ok(Lines {
        text: text.into_bytes(),
        span: Span {
            count: u32::try_from(count).map_err(|_| StoreError::Corrupt("a page's size".into()))?,
            first_seq: sqlx::Row::try_get(&row, "first_seq")?,
            last_seq: sqlx::Row::try_get(&row, "last_seq")?,
        },
    })
}

/// A page's `count` lines (joined by newlines) in sequence order. Both databases aggregate
/// in the order the subquery reads (by sequence), but neither promises it: each line's
/// `seq` is read back, and lines out of order are sorted.
fn in_sequence_order(text: String, count: i64) -> StoreResult<String> {
    let lines: Vec<&str> = if text.is_empty() {
        Vec::new()
    } else {
        text.split('\n').collect()
    };
    if lines.len() as i64 != count {
        return Err(StoreError::Corrupt(format!(
            "a page of {count} events came as {} lines",
            lines.len()
        )));
    }
    let mut keyed = Vec::with_capacity(lines.len());
    for line in lines {
        keyed.push((line_seq(line)?, line));
    }
    if keyed.windows(2).all(|w| w[0].0 < w[1].0) {
        return Ok(text);
    }
    keyed.sort_by_key(|(seq, _)| *seq);
    Ok(keyed
        .into_iter()
        .map(|(_, line)| line)
        .collect::<Vec<_>>()
        .join("\n"))
}

/// The `seq` of a line. An event's id and chain, written before it, are Gatehouse's own
/// identifiers (no quotes), so the first `,"seq":` is the event's.
fn line_seq(line: &str) -> StoreResult<i64> {
    line.split_once(",\"seq\":")
        .and_then(|(_, rest)| rest.split(',').next())
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(|| StoreError::Corrupt("an export line without its seq".into()))
}

/// The line's shape: one `format` call fills it (a chain of `||` would copy the growing
/// line once per piece). The pieces are, in order: id, chain, seq, time to the second, the
/// fraction of a second, actor type, id and label, action, target type and id, before,
/// after, IP, user agent, request id, outcome, previous hash and hash.
const LINE: &str = "'{\"id\":%s,\"tenant_id\":%s,\"seq\":%s,\"occurred_at\":\"%s%sZ\",\
    \"actor\":{\"type\":%s,\"id\":%s,\"label\":%s},\"action\":%s,\
    \"target\":{\"type\":%s,\"id\":%s},\"before\":%s,\"after\":%s,\
    \"ip\":%s,\"user_agent\":%s,\"request_id\":%s,\"outcome\":%s,\
    \"prev_hash\":\"%s\",\"hash\":\"%s\"}'";

/// The pieces: `json_quote` escapes as `serde_json` does, and the time is
/// RFC 3339 with the microseconds' trailing zeros cut, as the `time` crate writes it.
const SQLITE_PIECES: &str = "json_quote(id), json_quote(tenant_id), seq, \
    strftime('%Y-%m-%dT%H:%M:%S', occurred_at / 1000000, 'unixepoch'), \
    CASE WHEN occurred_at % 1000000 = 0 THEN '' \
         ELSE '.' || rtrim(printf('%06d', occurred_at % 1000000), '0') END, \
    json_quote(actor_type), json_quote(actor_id), json_quote(actor_label), json_quote(action), \
    json_quote(target_type), json_quote(target_id), \
    coalesce(before_json, 'null'), coalesce(after_json, 'null'), \
    json_quote(ip), json_quote(user_agent), json_quote(request_id), json_quote(outcome), \
    lower(hex(prev_hash)), lower(hex(hash))";

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

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: i64) -> String {
        format!("{{\"id\":\"e{seq}\",\"tenant_id\":\"t\",\"seq\":{seq},\"after\":{{\"seq\":1}}}}")
    }

    #[test]
    fn a_page_in_order_is_kept_and_one_out_of_order_is_sorted() {
        let ordered = [1, 2, 5].map(line).join("\n");
        assert_eq!(in_sequence_order(ordered.clone(), 3).unwrap(), ordered);
        let shuffled = [5, 1, 2].map(line).join("\n");
        assert_eq!(in_sequence_order(shuffled, 3).unwrap(), ordered);
        assert_eq!(in_sequence_order(String::new(), 0).unwrap(), "");
    }

    #[test]
    fn a_page_that_does_not_add_up_is_an_error() {
        assert!(in_sequence_order([1, 2].map(line).join("\n"), 3).is_err());
        assert!(in_sequence_order("{\"id\":\"e\"}".into(), 1).is_err());
        assert!(in_sequence_order(String::new(), 1).is_err());
    }
}

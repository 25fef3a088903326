//! An export's events lent out one at a time ([`EventParts`], borrowed from where they were
//! read), and the JSON Lines line Gatehouse writes from them.
//!
//! On PostgreSQL the rows come from the native driver
//! ([`Store::bulk_reader`](super::Store::bulk_reader)), which lends every text out of the
//! page's buffer; the generic driver would copy each column of each row into a value of its
//! own. Built by PostgreSQL instead (one `format()` per event, as SQLite still does), a page
//! of 1,000 events cost the database 6–7 ms, and with Gatehouse and the client on the same
//! two cores the export stalled at 120,000 rows/s; reading the columns costs it under 1 ms.
//! A line then costs one pass over its bytes here, on the task that reads the page (two
//! pages are read at once).
//!
//! The line is the exact bytes `serde_json` writes for an
//! [`AuditEvent`](crate::audit::AuditEvent): an integration test holds both databases'
//! exports to the API's events, whatever the texts hold.

use futures_util::TryStreamExt;
use sqlx::postgres::PgRow;
use sqlx::Row;

use super::audit::AuditRow;
use super::audit_search::{render, SearchFilter};
use super::listing::bind_params;
use super::{Backend, StoreResult};
use crate::types::Timestamp;

/// An event's stored values, borrowed: what an export writes each line from.
#[derive(Debug, Clone, Copy)]
pub struct EventParts<'a> {
    pub chain: &'a str,
    pub seq: i64,
    pub id: &'a str,
    pub occurred_at: i64,
    pub actor_type: &'a str,
    pub actor_id: &'a str,
    pub actor_label: &'a str,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: &'a str,
    pub before_json: Option<&'a str>,
    pub after_json: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub prev_hash: &'a [u8],
    pub hash: &'a [u8],
    pub outcome: &'a str,
}

impl AuditRow {
    pub fn parts(&self) -> EventParts<'_> {
        EventParts {
            chain: &self.chain,
            seq: self.seq,
            id: &self.id,
            occurred_at: self.occurred_at,
            actor_type: &self.actor_type,
            actor_id: &self.actor_id,
            actor_label: &self.actor_label,
            action: &self.action,
            target_type: &self.target_type,
            target_id: &self.target_id,
            before_json: self.before_json.as_deref(),
            after_json: self.after_json.as_deref(),
            ip: self.ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
            request_id: self.request_id.as_deref(),
            prev_hash: &self.prev_hash,
            hash: &self.hash,
            outcome: &self.outcome,
        }
    }
}

/// A row of `audit::COLUMNS`, by position (a test checks them against the list).
fn parts_of(row: &PgRow) -> StoreResult<EventParts<'_>> {
    Ok(EventParts {
        chain: row.try_get(0)?,
        seq: row.try_get(1)?,
        id: row.try_get(2)?,
        occurred_at: row.try_get(3)?,
        actor_type: row.try_get(4)?,
        actor_id: row.try_get(5)?,
        actor_label: row.try_get(6)?,
        action: row.try_get(7)?,
        target_type: row.try_get(8)?,
        target_id: row.try_get(9)?,
        before_json: row.try_get(10)?,
        after_json: row.try_get(11)?,
        ip: row.try_get(12)?,
        user_agent: row.try_get(13)?,
        request_id: row.try_get(14)?,
        prev_hash: row.try_get(15)?,
        hash: row.try_get(16)?,
        outcome: row.try_get(17)?,
    })
}

/// The names [`parts_of`] reads, in their places.
#[cfg(test)]
const PARTS_COLUMNS: [&str; 18] = [
    "tenant_id",
    "seq",
    "id",
    "occurred_at",
    "actor_type",
    "actor_id",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "before_json",
    "after_json",
    "ip",
    "user_agent",
    "request_id",
    "prev_hash",
    "hash",
    "outcome",
];

/// How many events a page held, and its first and last sequence.
#[derive(Debug, Default, Clone, Copy)]
pub struct Span {
    pub count: u32,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
}

impl Span {
    /// Counts an event (events come in sequence order).
    pub fn add(&mut self, seq: i64) {
        self.count += 1;
        self.first_seq.get_or_insert(seq);
        self.last_seq = Some(seq);
    }
}

/// Lends each event matching `f` (which must ask for sequence order) to `visit` as it
/// arrives, read with `pool`.
pub(super) async fn each(
    pool: &sqlx::PgPool,
    f: &SearchFilter,
    mut visit: impl FnMut(&EventParts<'_>),
) -> StoreResult<Span> {
    let (sql, params) = render(f, Backend::Postgres);
    let mut rows = bind_params(sqlx::query(&sql), params).fetch(pool);
    let mut span = Span::default();
    while let Some(row) = rows.try_next().await? {
        let event = parts_of(&row)?;
        span.add(event.seq);
        visit(&event);
    }
    Ok(span)
}

/// Appends `e` as one JSON Lines line.
pub fn write_line(out: &mut Vec<u8>, e: &EventParts<'_>) {
    out.extend_from_slice(b"{\"id\":");
    string(out, e.id);
    out.extend_from_slice(b",\"tenant_id\":");
    string(out, e.chain);
    out.extend_from_slice(b",\"seq\":");
    // Serialising an integer or a `str` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, &e.seq);
    out.extend_from_slice(b",\"occurred_at\":\"");
    Timestamp::from_micros(e.occurred_at).write_rfc3339(out);
    out.extend_from_slice(b"\",\"actor\":{\"type\":");
    string(out, e.actor_type);
    out.extend_from_slice(b",\"id\":");
    string(out, e.actor_id);
    out.extend_from_slice(b",\"label\":");
    string(out, e.actor_label);
    out.extend_from_slice(b"},\"action\":");
    string(out, e.action);
    out.extend_from_slice(b",\"target\":{\"type\":");
    string(out, e.target_type);
    out.extend_from_slice(b",\"id\":");
    string(out, e.target_id);
    // The stored JSON as stored, as `AuditEvent` carries it (never re-parsed).
    out.extend_from_slice(b"},\"before\":");
    out.extend_from_slice(e.before_json.unwrap_or("null").as_bytes());
    out.extend_from_slice(b",\"after\":");
    out.extend_from_slice(e.after_json.unwrap_or("null").as_bytes());
    out.extend_from_slice(b",\"ip\":");
    optional(out, e.ip);
    out.extend_from_slice(b",\"user_agent\":");
    optional(out, e.user_agent);
    out.extend_from_slice(b",\"request_id\":");
    optional(out, e.request_id);
    out.extend_from_slice(b",\"outcome\":");
    string(out, e.outcome);
    out.extend_from_slice(b",\"prev_hash\":\"");
    push_hex(out, e.prev_hash);
    out.extend_from_slice(b"\",\"hash\":\"");
    push_hex(out, e.hash);
    out.extend_from_slice(b"\"}\n");
}

/// A JSON string, escaped as `serde_json` escapes it.
fn string(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(&mut *out, s);
}

fn optional(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// Appends `bytes` (a hash) in lower-case hex, as `hex::encode` writes them.
pub fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    let start = out.len();
    out.resize(start + bytes.len() * 2, 0);
    // The slice is exactly twice the input's length, the one case `hex` does not refuse.
    let _ = hex::encode_to_slice(bytes, &mut out[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditEvent;

    #[test]
    fn the_parts_are_read_from_the_places_of_the_select() {
        let names: Vec<&str> = super::super::audit::COLUMNS
            .split(',')
            .map(str::trim)
            .collect();
        assert_eq!(names[..PARTS_COLUMNS.len()], PARTS_COLUMNS);
    }

    #[test]
    fn a_line_is_what_serde_json_writes_for_the_event() {
        let awkward = "quote \" \\ \u{1} \n \t é 😀 \u{2028} \u{7f} </script>";
        for (micros, text, optional) in [
            (1_764_000_000_000_000, "plain", None),
            (1_764_000_000_123_456, awkward, Some(awkward)),
            (1_764_000_000_500_000, "", Some("")),
            (-1, "-1", Some("=1")),
            // Past the year 9999: RFC 3339 has no text for it.
            (i64::MAX, "far", None),
        ] {
            let row = AuditRow {
                chain: text.into(),
                seq: 42,
                id: format!("{text}-id"),
                occurred_at: micros,
                actor_type: text.into(),
                actor_id: text.into(),
                actor_label: text.into(),
                action: text.into(),
                target_type: text.into(),
                target_id: text.into(),
                before_json: optional.map(|_| "{\"a\": [1, 2.50]}".into()),
                after_json: Some(serde_json::json!({ "t": text }).to_string()),
                ip: optional.map(Into::into),
                user_agent: optional.map(Into::into),
                request_id: optional.map(Into::into),
                prev_hash: vec![0x00, 0x0f, 0xa5, 0xff],
                hash: vec![0xde; 32],
                outcome: text.into(),
                ip_key: None,
            };
            let mut line = Vec::new();
            write_line(&mut line, &row.parts());
            let mut expected = serde_json::to_vec(&AuditEvent::from(row)).unwrap();
            expected.push(b'\n');
            assert_eq!(
                String::from_utf8(line).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        }
    }
}

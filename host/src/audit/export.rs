//! Exports: every event of a tenant's chain that matches the search filters, streamed in
//! sequence order a page at a time (memory stays flat whatever the size), as JSON Lines,
//! CSV or OCSF JSON Lines. Starting an export is itself an audit event.
//!
//! The JSON Lines form is the one to check offline (`gatehouse audit verify --export`): a
//! header line with the filters, the instance's checkpoint keys and the chain's checkpoints
//! from the last one before the first exported event; one line per event with its hash
//! links; and a last line with the count, so a file cut short shows. The checkpoints come
//! first so the checker needs no memory per event. CSV and OCSF carry each event's hash
//! links too; their checkpoints are at `GET /api/v1/audit-checkpoints`.

use std::collections::VecDeque;

use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use serde_json::json;

use super::checkpoint;
use super::query::Filters;
use super::{ocsf, Action, AuditEvent, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::rbac::{Authorized, ExportAudit};
use crate::services::Services;
use crate::store::audit_lines::{push_hex, EventParts, Span};
use crate::store::audit_packed::Lines;
use crate::store::audit_search::SearchFilter;
use crate::store::{self, Store, StoreResult};
use crate::types::{text_enum, Timestamp};

/// Sequences a page spans (so at most as many events): large enough to amortise the query,
/// small enough that a page is a few hundred kilobytes whatever the export's size.
const PAGE: i64 = 1000;
/// Pages read at once, each on its own connection, while the oldest is written out: the
/// database's work on a page (on SQLite, the JSON lines) then runs on several cores.
const READ_AHEAD: usize = 2;

text_enum! {
    /// What an export is written as.
    pub enum Format {
        Jsonl = "jsonl",
        Csv = "csv",
        Ocsf = "ocsf",
    }
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Jsonl | Format::Ocsf => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }

    /// The file name's extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Ocsf => "ocsf.jsonl",
            Format::Csv => "csv",
        }
    }
}

/// An export under way: its file name and its body, produced as the client reads it.
pub struct Export {
    pub format: Format,
    pub filename: String,
    pub body: BoxStream<'static, Result<Bytes, std::io::Error>>,
}

/// The CSV columns, in order.
const CSV_COLUMNS: &[&str] = &[
    "id",
    "chain",
    "seq",
    "occurred_at",
    "actor_type",
    "actor_id",
    "actor_label",
    "action",
    "outcome",
    "target_type",
    "target_id",
    "ip",
    "user_agent",
    "request_id",
    "before",
    "after",
    "prev_hash",
    "hash",
];

/// Starts an export of the caller's tenant: checks the filters, records the export, and
/// returns the body to stream.
pub async fn start(
    state: &Services,
    auth: &Authorized<ExportAudit>,
    ctx: &RequestContext,
    format: Format,
    filters: Filters,
) -> Result<Export, Error> {
    let tenant = auth.tenant();
    let mut filter = filters.to_store(Some(tenant.to_string()))?;
    filter.seq_after = Some(0);
    filter.limit = PAGE as u32;
    let now = state.clock.now();
    let filters_json = serde_json::to_value(&filters).map_err(|e| Error::Internal(e.into()))?;
    let mut tx = state.store.begin().await?;
    super::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor: auth.actor(),
            action: Action::AuditExported,
            target: Target::new("audit_log", tenant),
            before: None,
            after: Some(json!({ "format": format, "filters": filters_json })),
        },
    )
    .await?;
    tx.commit().await?;
    let header = match format {
        Format::Jsonl => Header::Pending(json!({
            "version": 1, "format": format, "chain": tenant.to_string(),
            "exported_at": now, "filters": filters_json,
            "keys": checkpoint::jwks(&state.store, &state.secrets).await?,
        })),
        Format::Csv => Header::Ready(Bytes::from(format!("{}\r\n", CSV_COLUMNS.join(",")))),
        Format::Ocsf => Header::None,
    };
    // The export runs from the oldest event kept up to the newest when it starts (this
    // export's own event), in pages by sequence range: a page's bounds are known before the
    // one before it is read.
    let chain = tenant.to_string();
    let end = store::audit::last_seq(&state.store, &chain).await?;
    let oldest = store::audit_retention::oldest_seq(&state.store, &chain).await?;
    let walk = Walk {
        store: state.store.clone(),
        filter,
        format,
        header,
        end,
        next_low: oldest.map_or(end, |seq| seq - 1),
        reading: VecDeque::new(),
        done: false,
        count: 0,
        first_seq: None,
    };
    let events = stream::unfold(walk, |mut walk| async move {
        if walk.done {
            return None;
        }
        let chunk = walk.next_chunk().await;
        Some((chunk, walk))
    })
    .filter_map(|chunk| async move {
        match chunk {
            Ok(bytes) if bytes.is_empty() => None,
            other => Some(other),
        }
    });
    let body = events.boxed();
    Ok(Export {
        format,
        filename: format!(
            "audit-{tenant}-{}.{}",
            now.to_rfc3339().replace(':', ""),
            format.extension()
        ),
        body,
    })
}

/// An export's first line: none, a fixed one, or the JSON Lines header that still needs
/// the checkpoints before the first event (known once the first page is read).
enum Header {
    None,
    Ready(Bytes),
    Pending(serde_json::Value),
}

/// The walk down a chain that produces an export's body.
struct Walk {
    store: Store,
    /// The filters; `seq_after` is where the events written so far end.
    filter: SearchFilter,
    format: Format,
    /// Not yet written.
    header: Header,
    /// The last sequence the export covers.
    end: i64,
    /// Where the next page to be read starts (after this sequence).
    next_low: i64,
    /// The pages being read, oldest first.
    reading: VecDeque<tokio::task::JoinHandle<StoreResult<Lines>>>,
    done: bool,
    count: u64,
    first_seq: Option<i64>,
}

/// Reads and writes out one page of the export. This runs on the page's own task, so the
/// pages read at once are also formatted at once.
async fn read_page(store: &Store, filter: &SearchFilter, format: Format) -> StoreResult<Lines> {
    let buffer = || Vec::with_capacity(filter.limit as usize * 512);
    match format {
        Format::Jsonl => store::audit_packed::lines(store, filter).await,
        Format::Csv => {
            let mut text = buffer();
            let span = store::audit_packed::each(store, filter, |e| csv_row(&mut text, e)).await?;
            Ok(Lines { text, span })
        }
        Format::Ocsf => {
            let (mut text, mut span) = (buffer(), Span::default());
            for row in store::audit_packed::page(store, filter).await? {
                span.add(row.seq);
                write_line(&mut text, &ocsf::event(&AuditEvent::from(row)));
            }
            Ok(Lines { text, span })
        }
    }
}

impl Walk {
    /// Starts reading pages until [`READ_AHEAD`] are under way or the range is covered.
    fn read_ahead(&mut self) {
        while self.reading.len() < READ_AHEAD && self.next_low < self.end {
            let mut filter = self.filter.clone();
            filter.seq_after = Some(self.next_low);
            filter.seq_until = Some(self.next_low.saturating_add(PAGE).min(self.end));
            self.next_low = filter.seq_until.unwrap_or(self.end);
            let (store, format) = (self.store.clone(), self.format);
            self.reading.push_back(tokio::spawn(async move {
                read_page(&store, &filter, format).await
            }));
        }
    }

    /// The next page of lines (the first with the header; the last with the trailer). An
    /// error ends the body early: the client sees a cut-short file, and the JSON Lines form
    /// then has no last line.
    async fn next_chunk(&mut self) -> Result<Bytes, std::io::Error> {
        self.read_ahead();
        let page = match self.reading.pop_front() {
            Some(reading) => Some(
                reading
                    .await
                    .map_err(|e| self.fail(e))?
                    .map_err(|e| self.fail(e))?,
            ),
            None => None,
        };
        self.read_ahead();
        let mut out = Vec::new();
        match std::mem::replace(&mut self.header, Header::None) {
            Header::None => {}
            Header::Ready(bytes) => out.extend_from_slice(&bytes),
            Header::Pending(mut header) => {
                let first = self.first_match().await?;
                header["checkpoints"] = self.checkpoints_from(first).await?;
                write_line(&mut out, &json!({ "export": header }));
            }
        }
        if let Some(page) = page {
            if let Some(first) = page.span.first_seq {
                self.first_seq.get_or_insert(first);
            }
            self.count += u64::from(page.span.count);
            self.filter.seq_after = page.span.last_seq.or(self.filter.seq_after);
            if out.is_empty() {
                out = page.text;
            } else {
                out.extend_from_slice(&page.text);
            }
        }
        if self.reading.is_empty() {
            self.done = true;
            if self.format == Format::Jsonl {
                let end = json!({ "export_end": {
                    "events": self.count, "first_seq": self.first_seq,
                    "last_seq": self.filter.seq_after,
                }});
                write_line(&mut out, &end);
            }
        }
        Ok(Bytes::from(out))
    }

    /// The sequence of the first event the export will hold (`i64::MAX` for none).
    async fn first_match(&mut self) -> Result<i64, std::io::Error> {
        let mut filter = self.filter.clone();
        filter.seq_until = Some(self.end);
        filter.limit = 1;
        let first = store::audit_search::search(&self.store, &filter)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(first.first().map_or(i64::MAX, |r| r.seq))
    }

    /// The chain's checkpoints from the last one before event `first` (so the run links up
    /// with the first exported event).
    async fn checkpoints_from(&mut self, first: i64) -> Result<serde_json::Value, std::io::Error> {
        let chain = self.filter.chain.clone().unwrap_or_default();
        let run = checkpoint::of_chain(&self.store, &chain)
            .await
            .map_err(|e| self.fail(e))?;
        let start = run.iter().rposition(|c| c.last_seq < first).unwrap_or(0);
        serde_json::to_value(&run[start..]).map_err(|e| self.fail(e))
    }

    /// Ends the body after a failure, which goes to the log (never to the client).
    fn fail(&mut self, e: impl std::fmt::Debug) -> std::io::Error {
        self.done = true;
        tracing::error!(error = ?e, "an audit export failed mid-way");
        std::io::Error::other("the export could not be read")
    }
}

/// Appends a JSON value and a newline to `out` (the types written here always serialise).
fn write_line(out: &mut Vec<u8>, value: &impl serde::Serialize) {
    if serde_json::to_writer(&mut *out, value).is_ok() {
        out.push(b'\n');
    }
}

/// One CSV record (RFC 4180). A cell a spreadsheet would run as a formula (`=`, `+`, `-`,
/// `@`, tab or carriage return first) gets a leading `'`, as OWASP advises for CSV exports.
fn csv_row(out: &mut Vec<u8>, e: &EventParts<'_>) {
    csv_cell(out, e.id);
    for cell in [e.chain, &e.seq.to_string()] {
        out.push(b',');
        csv_cell(out, cell);
    }
    // A time and hex digits are never quoted nor defused.
    out.push(b',');
    Timestamp::from_micros(e.occurred_at).write_rfc3339(out);
    for cell in [
        e.actor_type,
        e.actor_id,
        e.actor_label,
        e.action,
        e.outcome,
        e.target_type,
        e.target_id,
        e.ip.unwrap_or_default(),
        e.user_agent.unwrap_or_default(),
        e.request_id.unwrap_or_default(),
        e.before_json.unwrap_or_default(),
        e.after_json.unwrap_or_default(),
    ] {
        out.push(b',');
        csv_cell(out, cell);
    }
    out.push(b',');
    push_hex(out, e.prev_hash);
    out.push(b',');
    push_hex(out, e.hash);
    out.extend_from_slice(b"\r\n");
}

fn csv_cell(out: &mut Vec<u8>, cell: &str) {
    let guard = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if cell.contains([',', '"', '\r', '\n']) {
        out.push(b'"');
        if guard {
            out.push(b'\'');
        }
        for (i, part) in cell.split('"').enumerate() {
            if i > 0 {
                out.extend_from_slice(b"\"\"");
            }
            out.extend_from_slice(part.as_bytes());
        }
        out.push(b'"');
    } else {
        if guard {
            out.push(b'\'');
        }
        out.extend_from_slice(cell.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        let e: AuditEvent = serde_json::from_str(
            &json!({
                "id": "e1", "tenant_id": "t", "seq": 1, "occurred_at": "2026-01-01T00:00:00Z",
                "actor": {"type": "user", "id": "u", "label": "=HYPERLINK(\"x\")"},
                "action": "a.b", "target": {"type": "t", "id": "1,2"},
                "before": null, "after": {"k": "v"}, "ip": null, "user_agent": null,
                "request_id": null, "outcome": "success", "prev_hash": "00", "hash": "11",
            })
            .to_string(),
        )
        .unwrap();
        let mut out = Vec::new();
        csv_row(&mut out, &e.to_row().unwrap().parts());
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("e1,t,1,2026-01-01T00:00:00Z,user,u,"),
            "{text}"
        );
        assert!(text.contains(",\"'=HYPERLINK(\"\"x\"\")\","), "{text}");
        assert!(text.contains(",\"1,2\","), "{text}");
        assert!(text.contains(",\"{\"\"k\"\":\"\"v\"\"}\","), "{text}");
        assert!(text.ends_with(",00,11\r\n"), "{text}");
        // A formula with no character to quote is defused all the same.
        let mut out = Vec::new();
        csv_cell(&mut out, "@SUM(A1)");
        assert_eq!(out, b"'@SUM(A1)");
    }
}

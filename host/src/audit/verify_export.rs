//! Checks a JSON Lines export without the database (`gatehouse audit verify --export FILE`):
//! every event's hash recomputed from its fields, every link between consecutive events,
//! the checkpoints' signatures and links, and each event a checkpoint names. An event is
//! *authenticated* when an unbroken run of links leads from it to an event a valid
//! checkpoint signed; the others (after the newest checkpoint, or cut off by a filter's
//! gaps) are only self-consistent, and the report says how many. Memory does not grow with
//! the file: the checkpoints are in the header, events are read one line at a time.

use std::collections::HashMap;
use std::io::BufRead;

use serde::Deserialize;

use super::chain::hash_row;
use super::checkpoint::{self, Checkpoint, Keys};
use super::AuditEvent;

/// Longest line read: far above any event Gatehouse writes (bounded request bodies).
const MAX_LINE_BYTES: usize = 4 << 20;

/// What the check found.
#[derive(Debug, Default)]
pub struct ExportReport {
    pub chain: String,
    pub events: u64,
    pub checkpoints: usize,
    /// Events linked to a checkpoint-signed event.
    pub authenticated: u64,
    /// Empty when nothing is wrong.
    pub problems: Vec<String>,
    /// The key ids the checkpoints were checked against.
    pub key_ids: Vec<String>,
}

#[derive(Deserialize)]
struct HeaderLine {
    export: Header,
}

#[derive(Deserialize)]
struct Header {
    chain: String,
    keys: serde_json::Value,
    /// The search filters the export was made with: without any, a gap is a removal.
    #[serde(default)]
    filters: serde_json::Value,
    #[serde(default)]
    checkpoints: Vec<Checkpoint>,
}

#[derive(Deserialize)]
struct End {
    events: u64,
}

/// Checks the export read from `input`. `pinned` keys (a JWK set saved from
/// `/.well-known/gatehouse-audit-keys`) replace the keys the file carries; without them a
/// forger who rewrote the whole file with their own key would pass, so the report lists the
/// key ids to compare. Errors are for a file that is not an export at all.
pub fn verify(input: impl BufRead, pinned: Option<Keys>) -> Result<ExportReport, String> {
    let mut lines = LineReader { input, number: 0 };
    let first = lines.next()?.ok_or("the file is empty")?;
    let header: HeaderLine =
        serde_json::from_str(&first).map_err(|e| format!("line 1 is not an export header: {e}"))?;
    let header = header.export;
    let keys = match pinned {
        Some(keys) => keys,
        None => checkpoint::keys_from_jwks(&header.keys)?,
    };
    let mut report = ExportReport {
        chain: header.chain.clone(),
        checkpoints: header.checkpoints.len(),
        key_ids: keys.keys().cloned().collect(),
        ..Default::default()
    };
    report.key_ids.sort();
    report
        .problems
        .extend(checkpoint::check_run(&header.checkpoints, &keys));
    // seq -> the hash a checkpoint signed for it.
    let signed: HashMap<i64, &Checkpoint> = header
        .checkpoints
        .iter()
        .filter(|c| c.last_seq > 0)
        .map(|c| (c.last_seq, c))
        .collect();
    let unfiltered = header
        .filters
        .as_object()
        .is_none_or(|f| f.values().all(serde_json::Value::is_null));
    let mut previous: Option<(i64, Vec<u8>)> = None;
    // Events since the start of the current unbroken run not yet tied to a checkpoint.
    let mut pending = 0u64;
    let mut ended = None;
    while let Some(text) = lines.next()? {
        if ended.is_some() {
            report
                .problems
                .push(format!("line {} follows the end marker", lines.number));
            break;
        }
        if text.starts_with("{\"export_end\"") {
            #[derive(Deserialize)]
            struct EndLine {
                export_end: End,
            }
            let end: EndLine = serde_json::from_str(&text)
                .map_err(|e| format!("line {}: not an end marker: {e}", lines.number))?;
            ended = Some(end.export_end.events);
            continue;
        }
        let event: AuditEvent = serde_json::from_str(&text)
            .map_err(|e| format!("line {}: not an event: {e}", lines.number))?;
        report.events += 1;
        let Some(row) = event.to_row() else {
            report
                .problems
                .push(format!("event {}: its hashes are not hex", event.seq));
            continue;
        };
        if row.chain != header.chain {
            report.problems.push(format!(
                "event {} belongs to chain {}, not {}",
                row.seq, row.chain, header.chain
            ));
        }
        if hash_row(&row).as_slice() != row.hash.as_slice() {
            report
                .problems
                .push(format!("event {} ({}) was altered", row.seq, row.id));
        }
        let linked = match &previous {
            Some((seq, _)) if row.seq <= *seq => {
                report
                    .problems
                    .push(format!("event {} is out of sequence", row.seq));
                false
            }
            Some((seq, hash)) if row.seq == seq + 1 => {
                let ok = *hash == row.prev_hash;
                if !ok {
                    report.problems.push(format!(
                        "event {} does not link to event {seq} (an event was changed or removed)",
                        row.seq
                    ));
                }
                ok
            }
            Some((seq, _)) if unfiltered => {
                report
                    .problems
                    .push(format!("events {}..{} are missing", seq + 1, row.seq - 1));
                false
            }
            // The first event, or the first after a filter's gap: links to an event not
            // exported.
            _ => false,
        };
        if !linked {
            pending = 0;
        }
        pending += 1;
        if let Some(c) = signed.get(&row.seq) {
            if c.last_hash == hex::encode(&row.hash) {
                report.authenticated += pending;
                pending = 0;
            } else {
                report.problems.push(format!(
                    "event {} is not the event checkpoint {} signed",
                    row.seq, c.number
                ));
            }
        }
        previous = Some((row.seq, row.hash));
    }
    match ended {
        None => report
            .problems
            .push("the file is cut short: its end marker is missing".into()),
        Some(n) if n != report.events => report.problems.push(format!(
            "the end marker counts {n} events but the file has {}",
            report.events
        )),
        Some(_) => {}
    }
    Ok(report)
}

/// Lines of at most [`MAX_LINE_BYTES`], numbered from 1.
struct LineReader<R> {
    input: R,
    number: u64,
}

impl<R: BufRead> LineReader<R> {
    fn next(&mut self) -> Result<Option<String>, String> {
        let mut buf = Vec::new();
        let read = std::io::Read::take(&mut self.input, MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| format!("reading the file: {e}"))?;
        if read == 0 {
            return Ok(None);
        }
        self.number += 1;
        if buf.len() > MAX_LINE_BYTES {
            return Err(format!(
                "line {} is longer than {MAX_LINE_BYTES} bytes",
                self.number
            ));
        }
        let text =
            String::from_utf8(buf).map_err(|_| format!("line {} is not UTF-8", self.number))?;
        Ok(Some(text.trim_end().to_string()))
    }
}

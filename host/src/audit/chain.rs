//! The hash chain: how an event's hash is computed, and `verify`, which walks every chain and
//! reports events that were changed, removed or re-ordered after they were written.
//!
//! Each hash is SHA-256 over the previous event's hash and a canonical JSON array of every
//! stored field, so editing any field breaks that event, and deleting or re-hashing an event
//! breaks the link from its successor. Truncating a chain's tail *and* rewinding its head row
//! in step is caught by the signed checkpoints ([`super::checkpoint`]): a checkpoint names an
//! event that is gone, or, when the newest checkpoints were deleted too, the newest one left
//! is older than the schedule allows.

use std::collections::HashMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::checkpoint::{self, Checkpoint, Keys};
use crate::store::audit::AuditRow;
use crate::store::{self, Store};
use crate::types::Timestamp;

/// The "previous hash" of a chain's first event.
pub const GENESIS: [u8; 32] = [0u8; 32];
/// Version tag inside the hashed payload; bump it if the layout ever changes.
const HASH_LAYOUT: &str = "gatehouse-audit-v1";
/// Rows fetched per round trip while verifying.
const VERIFY_PAGE: u32 = 1000;

pub fn hash_row(r: &AuditRow) -> [u8; 32] {
    let payload = (
        HASH_LAYOUT,
        &r.chain,
        r.seq,
        &r.id,
        r.occurred_at,
        &r.actor_type,
        &r.actor_id,
        &r.actor_label,
        &r.action,
        &r.target_type,
        &r.target_id,
        &r.before_json,
        &r.after_json,
        &r.ip,
        &r.user_agent,
        &r.request_id,
    );
    // Serialising a tuple of strings and integers cannot fail.
    let bytes = serde_json::to_vec(&payload).unwrap_or_default();
    let mut h = Sha256::new();
    h.update(&r.prev_hash);
    h.update(&bytes);
    h.finalize().into()
}

/// The outcome for one chain.
#[derive(Debug, Clone, Serialize)]
pub struct ChainReport {
    pub chain: String,
    pub events: i64,
    pub checkpoints: usize,
    /// Empty when the chain is intact.
    pub problems: Vec<String>,
    /// Worth a look but not proof of tampering (a gap in checkpoints while the server was down).
    pub warnings: Vec<String>,
}

/// What verification compares against: the trusted checkpoint keys, "now" and the schedule.
pub struct Expectations<'a> {
    pub keys: &'a Keys,
    pub now: Timestamp,
    /// `audit.checkpoint_interval_secs`: a newest checkpoint older than twice this (plus
    /// [`CHECKPOINT_SLACK_SECS`]) means checkpoints stopped, or the newest were deleted.
    pub interval_secs: i64,
    /// `audit.min_retention_days`: no purge may have removed events younger than this.
    pub min_retention_days: i64,
}

/// Allowance on top of two intervals for a slow housekeeping round.
const CHECKPOINT_SLACK_SECS: i64 = 300;

impl ChainReport {
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies every chain (or only `only`, a chain id), oldest event first, and its checkpoints.
pub async fn verify(
    store: &Store,
    expect: &Expectations<'_>,
    only: Option<&str>,
) -> anyhow::Result<Vec<ChainReport>> {
    let mut reports = Vec::new();
    for orphan in store::audit::chains_without_head(store).await? {
        if only.is_none_or(|o| o == orphan) {
            reports.push(ChainReport {
                chain: orphan,
                events: 0,
                checkpoints: 0,
                problems: vec!["the chain's head record is missing".into()],
                warnings: Vec::new(),
            });
        }
    }
    for head in store::audit::heads(store).await? {
        if only.is_some_and(|o| o != head.chain) {
            continue;
        }
        reports.push(verify_chain(store, expect, &head).await?);
    }
    Ok(reports)
}

/// Problems with the columns derived from hashed ones (they are not hashed themselves).
fn derived_problems(row: &AuditRow) -> Option<String> {
    let outcome_ok = row.outcome == super::action::outcome(&row.action);
    let ip_ok = row.ip_key == row.ip.as_deref().and_then(super::ip::key);
    (!outcome_ok || !ip_ok).then(|| {
        format!(
            "event {} ({}) has search columns that do not match it (edited to hide it from a search)",
            row.seq, row.id
        )
    })
}

/// Problems of checkpoints against the events the walk saw (`hashes`: seq → hash of the
/// events checkpoints name; the walk went from the purge floor to `last_seq`), and their age.
fn checkpoint_problems(
    run: &[Checkpoint],
    hashes: &HashMap<i64, Vec<u8>>,
    (floor_seq, last_seq): (i64, i64),
    first_event_at: Option<i64>,
    expect: &Expectations<'_>,
    report: &mut ChainReport,
) {
    report
        .problems
        .extend(checkpoint::check_run(run, expect.keys));
    // Checkpoints below the floor name purged events (the floor's own is the walk's start).
    for c in run.iter().filter(|c| c.last_seq > floor_seq) {
        if c.last_seq > last_seq {
            report.problems.push(format!(
                "checkpoint {} (signed {}) covers events up to {}, but the chain ends at {last_seq}: \
                 the newest events were removed and the head rewound",
                c.number,
                Timestamp::from_micros(c.signed_at_us).to_rfc3339(),
                c.last_seq
            ));
        } else if hashes.get(&c.last_seq).map(hex::encode).as_deref() != Some(c.last_hash.as_str())
        {
            report.problems.push(format!(
                "event {} is not the event checkpoint {} signed (it was replaced)",
                c.last_seq, c.number
            ));
        }
    }
    let window = 2 * expect.interval_secs + CHECKPOINT_SLACK_SECS;
    let stale_before = expect.now.plus_seconds(-window).as_micros();
    for pair in run.windows(2) {
        if pair[1].signed_at_us - pair[0].signed_at_us > window * 1_000_000 {
            report.warnings.push(format!(
                "no checkpoint between {} and {} (the server was stopped, or checkpoints {}.. were removed and re-signed)",
                Timestamp::from_micros(pair[0].signed_at_us).to_rfc3339(),
                Timestamp::from_micros(pair[1].signed_at_us).to_rfc3339(),
                pair[1].number
            ));
        }
    }
    let newest = run.last().map(|c| c.signed_at_us).or(first_event_at);
    if newest.is_some_and(|t| t < stale_before) {
        report.problems.push(format!(
            "the newest checkpoint is older than {window} s (checkpoints are signed every {} s): \
             they stopped, or the newest were removed with the events after them",
            expect.interval_secs
        ));
    }
}

async fn verify_chain(
    store: &Store,
    expect: &Expectations<'_>,
    head: &store::audit::ChainHead,
) -> anyhow::Result<ChainReport> {
    let run: Vec<Checkpoint> = checkpoint::of_chain(store, &head.chain)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let named: std::collections::HashSet<i64> = run.iter().map(|c| c.last_seq).collect();
    let mut hashes = HashMap::new();
    let mut first_event_at = None;
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    // After a purge the walk starts at the floor, from the hash its checkpoint signed.
    let floor = store::audit_retention::floor(store, &head.chain).await?;
    let mut expected_seq = 1i64;
    let mut prev_hash = GENESIS.to_vec();
    let mut events = 0i64;
    let mut after = 0i64;
    if let Some(f) = floor {
        match run.iter().find(|c| c.number == f.number && c.last_seq == f.seq) {
            Some(c) => {
                prev_hash = hex::decode(&c.last_hash).unwrap_or_default();
                hashes.insert(c.last_seq, prev_hash.clone());
                let purged_at_most = expect
                    .now
                    .plus_seconds(-expect.min_retention_days * 86_400)
                    .as_micros();
                if c.signed_at_us > purged_at_most {
                    problems.push(format!(
                        "events up to {} were removed sooner than the shortest retention ({} days) allows",
                        f.seq, expect.min_retention_days
                    ));
                }
                warnings.push(format!(
                    "events 1..{} were purged by retention (up to checkpoint {})",
                    f.seq, f.number
                ));
            }
            None => problems.push(format!(
                "the chain was purged up to event {}, but checkpoint {} that should name it is missing",
                f.seq, f.number
            )),
        }
        expected_seq = f.seq + 1;
        after = f.seq;
    }
    loop {
        let page = store::audit::chain_page(store, &head.chain, after, VERIFY_PAGE).await?;
        let Some(last) = page.last() else { break };
        let targets = store::audit::targets_between(store, &head.chain, after, last.seq).await?;
        problems.extend(super::targets::problems(&page, &targets));
        after = last.seq;
        for row in &page {
            events += 1;
            first_event_at.get_or_insert(row.occurred_at);
            if named.contains(&row.seq) {
                hashes.insert(row.seq, row.hash.clone());
            }
            problems.extend(derived_problems(row));
            if row.seq != expected_seq {
                problems.push(if row.seq > expected_seq {
                    format!("events {expected_seq}..{} are missing", row.seq - 1)
                } else {
                    format!("event {} is out of sequence", row.seq)
                });
            }
            if row.prev_hash != prev_hash {
                problems.push(format!(
                    "event {} does not link to the event before it (an earlier event was changed or removed)",
                    row.seq
                ));
            }
            let computed = hash_row(row);
            if computed.as_slice() != row.hash.as_slice() {
                problems.push(format!(
                    "event {} ({}) was altered after it was written",
                    row.seq, row.id
                ));
            }
            prev_hash = row.hash.clone();
            expected_seq = row.seq + 1;
        }
    }
    let last_seq = expected_seq - 1;
    // Rows for no event: purged ones, or beyond the newest.
    let floor_seq = floor.map_or(0, |f| f.seq);
    let mut strays = store::audit::targets_between(store, &head.chain, i64::MIN, floor_seq).await?;
    strays.extend(store::audit::targets_between(store, &head.chain, after, i64::MAX).await?);
    problems.extend(super::targets::problems(&[], &strays));
    if last_seq < head.last_seq {
        problems.push(format!(
            "events {}..{} are missing from the end",
            last_seq + 1,
            head.last_seq
        ));
    } else if last_seq > head.last_seq {
        problems.push(format!(
            "events after {} were added outside Gatehouse",
            head.last_seq
        ));
    } else if head.last_seq > 0 && head.last_hash != prev_hash {
        problems.push("the newest event does not match the chain head".into());
    }
    let mut report = ChainReport {
        chain: head.chain.clone(),
        events,
        checkpoints: run.len(),
        problems,
        warnings,
    };
    checkpoint_problems(
        &run,
        &hashes,
        (floor_seq, expected_seq - 1),
        first_event_at,
        expect,
        &mut report,
    );
    Ok(report)
}

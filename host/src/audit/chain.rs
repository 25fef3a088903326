//! The hash chain: how an event's hash is computed, and `verify`, which walks every chain and
//! reports events that were changed, removed or re-ordered after they were written.
//!
//! Each hash is SHA-256 over the previous event's hash and a canonical JSON array of every
//! stored field, so editing any field breaks that event, and deleting or re-hashing an event
//! breaks the link from its successor. Truncating a chain's tail *and* rewinding its head row
//! in step is not detectable from inside the database; export the heads elsewhere to catch it.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::store::audit::AuditRow;
use crate::store::{self, Store};

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
    /// Empty when the chain is intact.
    pub problems: Vec<String>,
}

impl ChainReport {
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies every chain (or only `only`, a chain id), oldest event first.
pub async fn verify(store: &Store, only: Option<&str>) -> anyhow::Result<Vec<ChainReport>> {
    let mut reports = Vec::new();
    for orphan in store::audit::chains_without_head(store).await? {
        if only.is_none_or(|o| o == orphan) {
            reports.push(ChainReport {
                chain: orphan,
                events: 0,
                problems: vec!["the chain's head record is missing".into()],
            });
        }
    }
    for head in store::audit::heads(store).await? {
        if only.is_some_and(|o| o != head.chain) {
            continue;
        }
        reports.push(verify_chain(store, &head).await?);
    }
    Ok(reports)
}

async fn verify_chain(
    store: &Store,
    head: &store::audit::ChainHead,
) -> anyhow::Result<ChainReport> {
    let mut problems = Vec::new();
    let mut expected_seq = 1i64;
    let mut prev_hash = GENESIS.to_vec();
    let mut events = 0i64;
    let mut after = 0i64;
    loop {
        let page = store::audit::chain_page(store, &head.chain, after, VERIFY_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for row in &page {
            events += 1;
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
    Ok(ChainReport {
        chain: head.chain.clone(),
        events,
        problems,
    })
}

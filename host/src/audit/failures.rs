//! Failed sign-ins, recorded without letting anonymous clients write a row per request. The
//! first failure of a kind (tenant, what was targeted, reason) in a [`WINDOW`] is written at
//! once; the repeats inside the window are only counted on this node, and written as one
//! `login.failed` event with `repeats` and the targets seen, either with the next failure
//! after the window or by [`flush`] from housekeeping. Nothing is lost, and a flood of
//! failures costs one row per kind per window.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use super::action::Action;
use super::{Actor, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::store::Store;
use crate::types::{TenantId, Timestamp};

/// How long repeats of one kind of failure are only counted.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Most kinds counted at once per node; past it every failure is written as it comes (the
/// rate limits in front still bound them).
const MAX_KINDS: usize = 10_000;
/// Most distinct targets (accounts, connections) kept per collapsed event.
const MAX_TARGETS: usize = 10;

/// One kind of failure.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Kind {
    pub tenant: TenantId,
    /// The event written: `login.failed`, or `access.denied` for a refused API call.
    pub action: Action,
    /// What was targeted: `password` (an account), `sso_connection`, `mfa`, `policy` (a sign-in the
    /// policy refused) or `api_token` (an admin call from outside the allow-list).
    pub target_type: &'static str,
    /// The refusal's stable code.
    pub reason: String,
}

/// Repeats counted since the last event of a kind was written.
#[derive(Debug)]
struct Counted {
    window_start: i64,
    repeats: u64,
    targets: BTreeSet<String>,
}

/// The node's counters.
#[derive(Debug, Default)]
pub struct FailureLog {
    counted: Mutex<HashMap<Kind, Counted>>,
}

/// What to do with one failure.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    /// Write an event now, carrying the repeats counted before it.
    Write { repeats: u64, targets: Vec<String> },
    /// Count it; a later event carries it.
    Count,
}

impl FailureLog {
    pub fn new() -> Self {
        Self::default()
    }

    fn decide(&self, kind: &Kind, target: &str, now: Timestamp) -> Decision {
        let now = now.as_micros();
        let window = i64::try_from(WINDOW.as_micros()).unwrap_or(i64::MAX);
        let mut counted = self.counted.lock().unwrap_or_else(|p| p.into_inner());
        match counted.get_mut(kind) {
            Some(c) if now - c.window_start < window => {
                c.repeats += 1;
                if c.targets.len() < MAX_TARGETS {
                    c.targets.insert(crate::types::truncate(target, 200));
                }
                Decision::Count
            }
            Some(c) => {
                let decision = Decision::Write {
                    repeats: c.repeats,
                    targets: std::mem::take(&mut c.targets).into_iter().collect(),
                };
                c.window_start = now;
                c.repeats = 0;
                decision
            }
            None => {
                if counted.len() < MAX_KINDS {
                    counted.insert(
                        kind.clone(),
                        Counted {
                            window_start: now,
                            repeats: 0,
                            targets: BTreeSet::new(),
                        },
                    );
                }
                Decision::Write {
                    repeats: 0,
                    targets: Vec::new(),
                }
            }
        }
    }

    /// Takes the kinds whose window has ended: those with repeats to write, and forgets the
    /// quiet ones.
    fn due(&self, now: Timestamp) -> Vec<(Kind, u64, Vec<String>)> {
        let now = now.as_micros();
        let window = i64::try_from(WINDOW.as_micros()).unwrap_or(i64::MAX);
        let mut counted = self.counted.lock().unwrap_or_else(|p| p.into_inner());
        let ended: Vec<Kind> = counted
            .iter()
            .filter(|(_, c)| now - c.window_start >= window)
            .map(|(k, _)| k.clone())
            .collect();
        ended
            .into_iter()
            .filter_map(|k| {
                let c = counted.remove(&k)?;
                (c.repeats > 0).then(|| (k, c.repeats, c.targets.into_iter().collect()))
            })
            .collect()
    }
}

/// Records one failed sign-in of `kind` against `target`, with `detail` (reason, message,
/// method…) in the event: written now, or counted into a later event.
pub async fn record(
    store: &Store,
    log: &FailureLog,
    now: Timestamp,
    ctx: &RequestContext,
    kind: Kind,
    target: &str,
    detail: Value,
) -> Result<(), Error> {
    let Decision::Write { repeats, targets } = log.decide(&kind, target, now) else {
        return Ok(());
    };
    let mut after = detail;
    if let Some(obj) = after.as_object_mut() {
        obj.insert("reason".into(), json!(kind.reason));
        if repeats > 0 {
            obj.insert("repeats_before".into(), json!(repeats));
            obj.insert("repeated_targets".into(), json!(targets));
        }
    }
    write(store, now, ctx, &kind, target, after).await
}

/// Writes one event per kind whose window ended with repeats not yet written.
pub async fn flush(store: &Store, log: &FailureLog, now: Timestamp) -> Result<usize, Error> {
    let due = log.due(now);
    let n = due.len();
    for (kind, repeats, targets) in due {
        let after = json!({
            "reason": kind.reason,
            "repeats": repeats,
            "repeated_targets": targets,
            "collapsed": true,
        });
        write(
            store,
            now,
            &RequestContext::default(),
            &kind,
            "repeated",
            after,
        )
        .await?;
    }
    Ok(n)
}

async fn write(
    store: &Store,
    now: Timestamp,
    ctx: &RequestContext,
    kind: &Kind,
    target: &str,
    after: Value,
) -> Result<(), Error> {
    let mut tx = store.begin().await?;
    super::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(kind.tenant),
            actor: Actor::system("sign-in"),
            action: kind.action,
            target: Target::new(kind.target_type, target),
            before: None,
            after: Some(after),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_micros(1_700_000_000_000_000 + secs * 1_000_000)
    }

    #[test]
    fn repeats_in_a_window_are_counted_and_carried_by_the_next_event() {
        let log = FailureLog::new();
        let kind = Kind {
            tenant: TenantId::generate(),
            action: Action::LoginFailed,
            target_type: "password",
            reason: "wrong_password".into(),
        };
        let first = log.decide(&kind, "a@x.example", at(0));
        assert_eq!(
            first,
            Decision::Write {
                repeats: 0,
                targets: vec![]
            }
        );
        for i in 0..100 {
            assert_eq!(
                log.decide(&kind, &format!("u{}@x.example", i % 3), at(1)),
                Decision::Count
            );
        }
        // Nothing is due inside the window.
        assert!(log.due(at(30)).is_empty());
        // After it, the next failure carries the 100 repeats.
        let next = log.decide(&kind, "a@x.example", at(61));
        let Decision::Write { repeats, targets } = next else {
            panic!("{next:?}")
        };
        assert_eq!(repeats, 100);
        assert_eq!(targets.len(), 3);
        // Counted repeats with no later failure are flushed once their window ends.
        log.decide(&kind, "b@x.example", at(62));
        assert!(log.due(at(100)).is_empty());
        let due = log.due(at(122));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].1, 1);
        assert!(log.due(at(200)).is_empty(), "flushed once");
    }
}

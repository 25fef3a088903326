//! An event's further targets. An app's event may name several targets: the first is the
//! event's own (its `target_type` and `target_id`), and the others are kept in a search
//! table so each of them finds the event. That table is not hashed; it is derived from the
//! event's hashed `after.targets`, and verify checks every row of it against that list.

use serde_json::Value;

use crate::store::audit::{AuditRow, MoreTarget};

/// The targets after the first, each once (a target the first already names is left out).
pub fn further<'a>(targets: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<(String, String)> {
    let mut seen = std::collections::BTreeSet::new();
    let mut more = Vec::new();
    for (i, (kind, id)) in targets.into_iter().enumerate() {
        if seen.insert((kind, id)) && i > 0 {
            more.push((kind.to_string(), id.to_string()));
        }
    }
    more
}

/// Problems with the further targets recorded for `page` (events in sequence order, with
/// every target row whose sequence falls in the page's range): a row must name a target its
/// event lists in `after.targets`, at the event's time.
pub fn problems(page: &[AuditRow], rows: &[MoreTarget]) -> Vec<String> {
    let mut problems = Vec::new();
    for t in rows {
        let event = page
            .binary_search_by_key(&t.seq, |e| e.seq)
            .ok()
            .and_then(|i| page.get(i));
        let listed = event.is_some_and(|e| e.occurred_at == t.occurred_at && lists(e, t));
        if !listed {
            problems.push(format!(
                "the search table names target {}/{} for event {}, which does not list it \
                 (added to make a search find the event)",
                t.kind, t.id, t.seq
            ));
        }
    }
    problems
}

/// Whether the event's hashed `after.targets` lists `t`.
fn lists(e: &AuditRow, t: &MoreTarget) -> bool {
    let after: Option<Value> = e
        .after_json
        .as_deref()
        .and_then(|a| serde_json::from_str(a).ok());
    let Some(Value::Array(targets)) = after.as_ref().and_then(|a| a.get("targets")) else {
        return false;
    };
    targets.iter().any(|x| {
        x.get("type").and_then(Value::as_str) == Some(t.kind.as_str())
            && x.get("id").and_then(Value::as_str) == Some(t.id.as_str())
    })
}

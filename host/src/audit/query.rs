//! Reading the audit log: filters by time range, actor and action, newest first, with an
//! opaque keyset cursor so pages stay stable while new events arrive.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde::Serialize;

use super::AuditEvent;
use crate::error::Error;
use crate::rbac::{Authorized, OperateInstance, ReadAudit};
use crate::store::{self, Store};
use crate::types::{TenantId, Timestamp};

/// Page size when the client does not ask for one.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page served; bounds the work and memory one request can cause.
pub const MAX_LIMIT: u32 = 500;
/// Longest filter value accepted (actor ids and action names are far shorter).
const MAX_FILTER_CHARS: usize = 200;

/// Filters as the client gave them, parsed.
#[derive(Debug, Default, Clone)]
pub struct AuditQuery {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub actor: Option<String>,
    /// An exact action, or a prefix ending in `*` (`tenant.*`).
    pub action: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// One page of events.
#[derive(Debug, Serialize)]
pub struct Page {
    pub events: Vec<AuditEvent>,
    /// Pass as `cursor` to get the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A tenant's own log.
pub async fn list_for_tenant(
    store: &Store,
    auth: &Authorized<ReadAudit>,
    q: AuditQuery,
) -> Result<Page, Error> {
    list(store, Some(auth.tenant().to_string()), q).await
}

/// The operator's view: every chain, or one tenant's (`tenant`), or the operator chain.
pub async fn list_as_operator(
    store: &Store,
    _auth: &Authorized<OperateInstance>,
    chain: Option<OperatorChainFilter>,
    q: AuditQuery,
) -> Result<Page, Error> {
    let chain = chain.map(|c| match c {
        OperatorChainFilter::Tenant(t) => t.to_string(),
        OperatorChainFilter::Operator => super::OPERATOR_CHAIN.to_string(),
    });
    list(store, chain, q).await
}

/// Which chain an operator listing is restricted to.
#[derive(Debug, Clone, Copy)]
pub enum OperatorChainFilter {
    Tenant(TenantId),
    Operator,
}

async fn list(store: &Store, chain: Option<String>, q: AuditQuery) -> Result<Page, Error> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Error::invalid(
            "limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    if let (Some(from), Some(to)) = (q.from, q.to) {
        if from >= to {
            return Err(Error::invalid("from", "`from` must be earlier than `to`"));
        }
    }
    for (field, value) in [("actor", &q.actor), ("action", &q.action)] {
        if value
            .as_ref()
            .is_some_and(|v| v.is_empty() || v.chars().count() > MAX_FILTER_CHARS)
        {
            return Err(Error::invalid(
                field,
                format!("`{field}` must be 1-{MAX_FILTER_CHARS} characters"),
            ));
        }
    }
    let (action, action_prefix) = match q.action {
        Some(a) => match a.strip_suffix('*') {
            Some(prefix) => (None, Some(prefix.to_string())),
            None => (Some(a), None),
        },
        None => (None, None),
    };
    let before = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let filter = store::audit::AuditFilter {
        chain,
        from_micros: q.from.map(Timestamp::as_micros),
        to_micros: q.to.map(Timestamp::as_micros),
        actor_id: q.actor,
        action,
        action_prefix,
        before,
        // One extra row tells whether another page exists.
        limit: limit + 1,
    };
    let mut rows = store::audit::list(store, &filter).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| encode_cursor(r.occurred_at, &r.id))
    } else {
        None
    };
    Ok(Page {
        events: rows.into_iter().map(AuditEvent::from).collect(),
        next_cursor,
    })
}

fn encode_cursor(occurred_at: i64, id: &str) -> String {
    B64URL.encode(format!("{occurred_at}|{id}"))
}

fn decode_cursor(cursor: &str) -> Result<(i64, String), Error> {
    let bad = || {
        Error::invalid(
            "cursor",
            "`cursor` is not one this server issued; start again without it",
        )
    };
    if cursor.len() > 200 {
        return Err(bad());
    }
    let raw = B64URL.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (t, id) = text.split_once('|').ok_or_else(bad)?;
    let t: i64 = t.parse().map_err(|_| bad())?;
    let id: crate::types::EventId = id.parse().map_err(|_| bad())?;
    Ok((t, id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let id = crate::types::EventId::generate().to_string();
        let c = encode_cursor(42, &id);
        assert_eq!(decode_cursor(&c).unwrap(), (42, id));
        assert!(decode_cursor("not-base64!").is_err());
        assert!(decode_cursor(&B64URL.encode("1|'; DROP TABLE x")).is_err());
    }
}

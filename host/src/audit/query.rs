//! Searching the audit log: filters by time, actor, action, target, IP or CIDR block,
//! outcome, request id and free text, newest first (with free text, newest recorded first),
//! with an opaque keyset cursor so pages stay stable while new events arrive. [`Filters`]
//! is also what an export selects by.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde::Serialize;

use super::AuditEvent;
use crate::error::Error;
use crate::rbac::{Authorized, OperateInstance, ReadAudit};
use crate::store::audit_search::{Position, SearchFilter, Word};
use crate::store::{self, Store};
use crate::types::{TenantId, Timestamp};

/// Page size when the client does not ask for one.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page served; bounds the work and memory one request can cause.
pub const MAX_LIMIT: u32 = 500;
/// Longest filter value accepted (ids, emails and action names are far shorter).
const MAX_FILTER_CHARS: usize = 200;
/// Most actions in one `action` list.
const MAX_ACTIONS: usize = 20;
/// Most words in a free-text search, and the longest word: a search is an index lookup per
/// word, so both bound its cost.
const MAX_WORDS: usize = 8;
const MAX_WORD_CHARS: usize = 64;
/// Shortest prefix word (`adm*`): shorter ones match most of the index.
const MIN_PREFIX_CHARS: usize = 3;

/// Which events, as the client gave it: every present filter must hold. Search, export and
/// (later) streams share it.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Filters {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// Actor id (a user, token or client id).
    pub actor: Option<String>,
    /// The actor's label: a user's email, a token's name.
    pub actor_email: Option<String>,
    /// `user`, `api_token`, `operator`, `scim`, `system`, `app`…
    pub actor_type: Option<String>,
    /// Exact actions separated by commas (any of them), or one prefix ending in `*`.
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// An address, or a CIDR block (`10.0.0.0/8`, `2001:db8::/32`).
    pub ip: Option<String>,
    /// `success` or `failure`.
    pub outcome: Option<String>,
    pub request_id: Option<String>,
    /// Free text: every word must occur in the event; `word*` matches a prefix.
    pub q: Option<String>,
}

/// A search: filters and the page wanted.
#[derive(Debug, Default, Clone)]
pub struct AuditQuery {
    pub filters: Filters,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// One page of events.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = AuditEventPage)]
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
    let mut filter = q.filters.to_store(chain)?;
    filter.after = q.cursor.as_deref().map(decode_cursor).transpose()?;
    // One extra row tells whether another page exists.
    filter.limit = limit + 1;
    let mut rows = store::audit_search::search(store, &filter).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| {
            encode_cursor(&Position {
                occurred_at: r.occurred_at,
                chain: r.chain.clone(),
                seq: r.seq,
            })
        })
    } else {
        None
    };
    Ok(Page {
        events: rows.into_iter().map(AuditEvent::from).collect(),
        next_cursor,
    })
}

impl Filters {
    /// Checks every filter and turns it into the store's terms, for `chain` (`None`: all).
    pub fn to_store(&self, chain: Option<String>) -> Result<SearchFilter, Error> {
        if let (Some(from), Some(to)) = (self.from, self.to) {
            if from >= to {
                return Err(Error::invalid("from", "`from` must be earlier than `to`"));
            }
        }
        let text = |field: &'static str, value: &Option<String>| match value {
            Some(v) if v.is_empty() || v.chars().count() > MAX_FILTER_CHARS => Err(Error::invalid(
                field,
                format!("`{field}` must be 1-{MAX_FILTER_CHARS} characters"),
            )),
            other => Ok(other.clone()),
        };
        let (actions, action_range) = parse_actions(text("action", &self.action)?)?;
        let ip_range = match text("ip", &self.ip)? {
            None => None,
            Some(ip) => Some(super::ip::range(&ip).ok_or_else(|| {
                Error::invalid(
                    "ip",
                    "`ip` must be an IP address or a CIDR block such as 10.0.0.0/8",
                )
            })?),
        };
        let outcome = match text("outcome", &self.outcome)?.as_deref() {
            None => None,
            Some(o @ ("success" | "failure")) => Some(o.to_string()),
            Some(_) => {
                return Err(Error::invalid(
                    "outcome",
                    "`outcome` must be success or failure",
                ))
            }
        };
        Ok(SearchFilter {
            chain,
            from_micros: self.from.map(Timestamp::as_micros),
            to_micros: self.to.map(Timestamp::as_micros),
            actor_id: text("actor", &self.actor)?,
            actor_label: text("actor_email", &self.actor_email)?,
            actor_type: text("actor_type", &self.actor_type)?,
            actions,
            action_range,
            target_type: text("target_type", &self.target_type)?,
            target_id: text("target_id", &self.target_id)?,
            ip_range,
            outcome,
            request_id: text("request_id", &self.request_id)?,
            words: parse_words(text("q", &self.q)?.as_deref().unwrap_or(""))?,
            after: None,
            seq_after: None,
            seq_until: None,
            seq_window: None,
            limit: 0,
        })
    }
}

/// `a,b,c` (any of these) or `prefix*` (a key range: the prefix up to the prefix with its
/// last character's successor).
type ActionTerms = (Vec<String>, Option<(String, String)>);

fn parse_actions(action: Option<String>) -> Result<ActionTerms, Error> {
    let Some(action) = action else {
        return Ok((Vec::new(), None));
    };
    if let Some(prefix) = action.strip_suffix('*') {
        if prefix.contains([',', '*']) {
            return Err(Error::invalid(
                "action",
                "`action` is a list of exact actions or one prefix ending in *, not both",
            ));
        }
        if prefix.is_empty() {
            return Ok((Vec::new(), None));
        }
        let end = store::audit_words::prefix_end(prefix).ok_or_else(|| {
            Error::invalid("action", "`action` ends in a character with no successor")
        })?;
        return Ok((Vec::new(), Some((prefix.to_string(), end))));
    }
    let list: Vec<String> = action.split(',').map(|a| a.trim().to_string()).collect();
    if list.len() > MAX_ACTIONS || list.iter().any(|a| a.is_empty() || a.contains('*')) {
        return Err(Error::invalid(
            "action",
            format!("`action` is up to {MAX_ACTIONS} actions separated by commas, or one prefix ending in *"),
        ));
    }
    Ok((list, None))
}

/// The words of a free-text search: letters and digits, lower-cased; anything else splits
/// words (as both databases' indexes split them). A word typed with a trailing `*` matches
/// as a prefix.
fn parse_words(q: &str) -> Result<Vec<Word>, Error> {
    let mut words = Vec::new();
    for typed in q.split_whitespace() {
        let prefix = typed.ends_with('*');
        let parts: Vec<String> = typed
            .split(|c: char| !c.is_alphanumeric())
            .filter(|p| !p.is_empty())
            .map(str::to_lowercase)
            .collect();
        let count = parts.len();
        for (i, text) in parts.into_iter().enumerate() {
            words.push(Word {
                prefix: prefix && i + 1 == count,
                text,
                named: None,
            });
        }
    }
    if words.len() > MAX_WORDS {
        return Err(Error::invalid(
            "q",
            format!("`q` may have at most {MAX_WORDS} words"),
        ));
    }
    for w in &words {
        if w.text.chars().count() > MAX_WORD_CHARS {
            return Err(Error::invalid(
                "q",
                format!("a word of `q` is longer than {MAX_WORD_CHARS} characters"),
            ));
        }
        if w.prefix && w.text.chars().count() < MIN_PREFIX_CHARS {
            return Err(Error::invalid(
                "q",
                format!("a prefix word (`word*`) needs at least {MIN_PREFIX_CHARS} characters"),
            ));
        }
    }
    Ok(words)
}

fn encode_cursor(p: &Position) -> String {
    B64URL.encode(format!("{}|{}|{}", p.occurred_at, p.chain, p.seq))
}

fn decode_cursor(cursor: &str) -> Result<Position, Error> {
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
    let mut parts = text.splitn(3, '|');
    let (Some(t), Some(chain), Some(seq)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    if chain != super::OPERATOR_CHAIN && chain.parse::<TenantId>().is_err() {
        return Err(bad());
    }
    Ok(Position {
        occurred_at: t.parse().map_err(|_| bad())?,
        chain: chain.to_string(),
        seq: seq.parse().map_err(|_| bad())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let p = Position {
            occurred_at: 42,
            chain: TenantId::generate().to_string(),
            seq: 7,
        };
        assert_eq!(decode_cursor(&encode_cursor(&p)).unwrap(), p);
        assert!(decode_cursor("not-base64!").is_err());
        assert!(decode_cursor(&B64URL.encode("1|'; DROP TABLE x|3")).is_err());
    }

    #[test]
    fn actions_are_a_list_or_one_prefix() {
        let (list, range) = parse_actions(Some("a.b, c.d".into())).unwrap();
        assert_eq!(list, vec!["a.b", "c.d"]);
        assert!(range.is_none());
        let (_, range) = parse_actions(Some("tenant.*".into())).unwrap();
        assert_eq!(range, Some(("tenant.".into(), "tenant/".into())));
        assert!(parse_actions(Some("a.*,b".into())).is_err());
        assert!(parse_actions(Some("a,,b".into())).is_err());
    }

    #[test]
    fn words_split_on_punctuation_and_keep_a_typed_prefix() {
        let w = parse_words("Alice@Example.com  adm*").unwrap();
        let texts: Vec<(&str, bool)> = w.iter().map(|w| (w.text.as_str(), w.prefix)).collect();
        assert_eq!(
            texts,
            vec![
                ("alice", false),
                ("example", false),
                ("com", false),
                ("adm", true)
            ]
        );
        assert!(parse_words("a*").is_err());
        assert!(parse_words("1 2 3 4 5 6 7 8 9").is_err());
        assert!(parse_words("\"; DROP")
            .unwrap()
            .iter()
            .all(|w| w.text.chars().all(char::is_alphanumeric)));
    }
}

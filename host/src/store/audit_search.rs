//! SQL for searching the audit trail: the WHERE clause is built from the filters that are
//! present (never `$n IS NULL OR …`, which hides every index), so each filter walks its own
//! index `(tenant_id, column, occurred_at, seq)` newest first. Free text uses SQLite's FTS5
//! index or PostgreSQL's `tsvector`; both see the same words (punctuation splits them).

use super::audit::{from_row, AuditRow, COLUMNS};
use super::listing::{bind_params, Param};
use super::{Backend, Store, StoreResult};

/// Where a page starts: strictly older than this event, in listing order
/// (`occurred_at`, then chain, then sequence, all descending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub occurred_at: i64,
    pub chain: String,
    pub seq: i64,
}

/// A word of a free-text search: lower-case letters and digits only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    /// Matches words that start with `text`.
    pub prefix: bool,
}

/// What a search selects. Every present filter must hold (AND); `actions` is an OR list.
#[derive(Debug, Default, Clone)]
pub struct SearchFilter {
    /// `None` spans every chain (operator use only).
    pub chain: Option<String>,
    pub from_micros: Option<i64>,
    pub to_micros: Option<i64>,
    pub actor_id: Option<String>,
    pub actor_label: Option<String>,
    pub actor_type: Option<String>,
    /// Exact actions; any of them.
    pub actions: Vec<String>,
    /// Actions in `[start, end)`: a prefix turned into a key range by the caller.
    pub action_range: Option<(String, String)>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// IP keys in `[low, high]` (one address: `low == high`).
    pub ip_range: Option<(String, String)>,
    pub outcome: Option<String>,
    pub request_id: Option<String>,
    pub words: Vec<Word>,
    pub after: Option<Position>,
    /// Sequence order instead of newest first, from after this sequence (an export walks a
    /// chain so: each event follows the one it links to). Needs `chain`.
    pub seq_after: Option<i64>,
    pub limit: u32,
}

/// How many events match `f` (its cursor and limit ignored).
pub async fn count(store: &Store, f: &SearchFilter) -> StoreResult<i64> {
    let w = conditions(f, store.backend());
    let sql = format!("SELECT COUNT(*) AS n FROM audit_events {}", w.filter());
    let row = bind_params(sqlx::query(&sql), w.params)
        .fetch_one(store.reader())
        .await?;
    Ok(sqlx::Row::try_get(&row, "n")?)
}

/// Events matching `f`, newest first.
pub async fn search(store: &Store, f: &SearchFilter) -> StoreResult<Vec<AuditRow>> {
    let (sql, params) = render(f, store.backend());
    let rows = bind_params(sqlx::query(&sql), params)
        .fetch_all(store.reader())
        .await?;
    rows.iter().map(from_row).collect()
}

/// A WHERE clause being built: its conditions and their bound values.
#[derive(Default)]
struct Clause {
    conds: Vec<String>,
    params: Vec<Param>,
}

impl Clause {
    /// Binds `p` and returns its placeholder.
    fn bind(&mut self, p: Param) -> String {
        self.params.push(p);
        format!("${}", self.params.len())
    }

    /// `WHERE …`, or nothing without conditions.
    fn filter(&self) -> String {
        if self.conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.conds.join(" AND "))
        }
    }

    fn text_eq(&mut self, col: &str, value: &Option<String>) {
        if let Some(v) = value {
            let placeholder = self.bind(Param::Text(v.clone()));
            self.conds.push(format!("{col} = {placeholder}"));
        }
    }
}

/// The statement and its parameters for `f`.
fn render(f: &SearchFilter, backend: Backend) -> (String, Vec<Param>) {
    let mut w = conditions(f, backend);
    if let Some(p) = &f.after {
        let t = w.bind(Param::Int(p.occurred_at));
        let c = w.bind(Param::Text(p.chain.clone()));
        let s = w.bind(Param::Int(p.seq));
        // The first term is a plain range, so the index walk starts at the cursor.
        w.conds.push(format!(
            "occurred_at <= {t} AND (occurred_at < {t} OR tenant_id < {c} \
             OR (tenant_id = {c} AND seq < {s}))"
        ));
    }
    let order = match f.seq_after {
        Some(after) => {
            let after = w.bind(Param::Int(after));
            w.conds.push(format!("seq > {after}"));
            "seq"
        }
        None => "occurred_at DESC, tenant_id DESC, seq DESC",
    };
    let limit = w.bind(Param::Int(i64::from(f.limit)));
    (
        format!(
            "SELECT {COLUMNS} FROM audit_events {} ORDER BY {order} LIMIT {limit}",
            w.filter()
        ),
        w.params,
    )
}

/// The conditions of `f`'s filters (not its page position or size).
fn conditions(f: &SearchFilter, backend: Backend) -> Clause {
    let mut w = Clause::default();
    w.text_eq("tenant_id", &f.chain);
    w.text_eq("actor_id", &f.actor_id);
    w.text_eq("actor_label", &f.actor_label);
    w.text_eq("actor_type", &f.actor_type);
    w.text_eq("target_type", &f.target_type);
    w.text_eq("target_id", &f.target_id);
    w.text_eq("outcome", &f.outcome);
    w.text_eq("request_id", &f.request_id);
    if !f.actions.is_empty() {
        let list: Vec<String> = f
            .actions
            .iter()
            .map(|a| w.bind(Param::Text(a.clone())))
            .collect();
        w.conds.push(format!("action IN ({})", list.join(", ")));
    }
    if let Some((start, end)) = &f.action_range {
        let (start, end) = (
            w.bind(Param::Text(start.clone())),
            w.bind(Param::Text(end.clone())),
        );
        w.conds
            .push(format!("action >= {start} AND action < {end}"));
    }
    if let Some((low, high)) = &f.ip_range {
        let (low, high) = (
            w.bind(Param::Text(low.clone())),
            w.bind(Param::Text(high.clone())),
        );
        w.conds
            .push(format!("ip_key >= {low} AND ip_key <= {high}"));
    }
    if let Some(from) = f.from_micros {
        let from = w.bind(Param::Int(from));
        w.conds.push(format!("occurred_at >= {from}"));
    }
    if let Some(to) = f.to_micros {
        let to = w.bind(Param::Int(to));
        w.conds.push(format!("occurred_at < {to}"));
    }
    if !f.words.is_empty() {
        match backend {
            Backend::Sqlite => {
                let mut query: Vec<String> = f
                    .words
                    .iter()
                    .map(|w| format!("body : \"{}\"{}", w.text, if w.prefix { "*" } else { "" }))
                    .collect();
                if let Some(chain) = &f.chain {
                    // Chain ids are UUIDs or `operator`: no quote can occur in them.
                    query.insert(0, format!("chain : \"{}\"", chain.replace('"', "")));
                }
                let query = w.bind(Param::Text(query.join(" AND ")));
                w.conds.push(format!(
                    "rowid IN (SELECT rowid FROM audit_text WHERE audit_text MATCH {query})"
                ));
            }
            Backend::Postgres => {
                let query: Vec<String> = f
                    .words
                    .iter()
                    .map(|w| format!("{}{}", w.text, if w.prefix { ":*" } else { "" }))
                    .collect();
                let query = w.bind(Param::Text(query.join(" & ")));
                w.conds
                    .push(format!("search @@ to_tsquery('simple', {query})"));
            }
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_present_filters_reach_the_sql() {
        let f = SearchFilter {
            chain: Some("t1".into()),
            actions: vec!["a.b".into(), "a.c".into()],
            limit: 10,
            ..Default::default()
        };
        let (sql, params) = render(&f, Backend::Sqlite);
        assert!(
            sql.contains("tenant_id = $1 AND action IN ($2, $3)"),
            "{sql}"
        );
        assert!(sql.ends_with("LIMIT $4"), "{sql}");
        assert!(!sql.contains("IS NULL"), "{sql}");
        assert_eq!(params.len(), 4);
    }

    #[test]
    fn words_become_a_match_per_backend() {
        let f = SearchFilter {
            chain: Some("t1".into()),
            words: vec![
                Word {
                    text: "alice".into(),
                    prefix: false,
                },
                Word {
                    text: "exa".into(),
                    prefix: true,
                },
            ],
            limit: 10,
            ..Default::default()
        };
        let (sqlite, params) = render(&f, Backend::Sqlite);
        assert!(sqlite.contains("audit_text MATCH $2"), "{sqlite}");
        match &params[1] {
            Param::Text(q) => {
                assert_eq!(q, "chain : \"t1\" AND body : \"alice\" AND body : \"exa\"*")
            }
            Param::Int(_) => panic!("a match is text"),
        }
        let (pg, params) = render(&f, Backend::Postgres);
        assert!(pg.contains("search @@ to_tsquery('simple', $2)"), "{pg}");
        match &params[1] {
            Param::Text(q) => assert_eq!(q, "alice & exa:*"),
            Param::Int(_) => panic!("a query is text"),
        }
    }
}

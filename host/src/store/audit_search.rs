//! SQL for searching the audit trail: the WHERE clause is built from the filters that are
//! present (never `$n IS NULL OR …`, which hides every index), so each filter walks its own
//! index `(tenant_id, column, occurred_at, seq)` newest first. Free text uses SQLite's FTS5
//! index or PostgreSQL's `tsvector`; both see the same words (punctuation splits them).

use super::audit::{from_row, AuditRow, COLUMNS};
use super::audit_recency::{match_top, matches_only, recent_buckets};
use super::audit_words::name_prefixes;
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

/// Events after `floor` and before `top` (sequences start at 1, so a floor of 0 is the
/// chain's first event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqWindow {
    pub floor: i64,
    pub top: i64,
    /// The first window a search looks in: the planner may walk it down the primary key.
    /// The later ones are read from the text index alone (see [`matches_only`]).
    pub first: bool,
}

/// A word of a free-text search: lower-case letters and digits only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    /// Matches words that start with `text`.
    pub prefix: bool,
    /// On PostgreSQL, the words of the chain a prefix names, when they are few: it is
    /// searched as any of them (see [`super::audit_words`]).
    pub named: Option<Vec<String>>,
}

impl Word {
    /// A prefix searched as one: each scan of the text index first reads every event of
    /// every word it names.
    pub fn partial(&self) -> bool {
        self.prefix && self.named.is_none()
    }
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
    /// With `seq_after`: up to this sequence, included.
    pub seq_until: Option<i64>,
    /// One of the windows a free-text search on PostgreSQL looks in, newest first (see
    /// [`search`]).
    pub seq_window: Option<SeqWindow>,
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

/// Most branches a list of actions is split into (one index walk each); a prefix that names
/// more actions than this is read as one key range instead.
const MAX_ACTION_BRANCHES: usize = 32;

/// Events matching `f`, newest first; with free text in one chain, newest recorded first
/// (see [`Order`]).
pub async fn search(store: &Store, f: &SearchFilter) -> StoreResult<Vec<AuditRow>> {
    search_in_windows(store, f, &WINDOWS).await
}

/// [`search`], with free text and CIDR blocks on PostgreSQL looked for among the newest
/// `windows` events in turn (a test gives small ones). Without windows, free text is read
/// from the whole chain as it was typed: a test's reference.
pub async fn search_in_windows(
    store: &Store,
    f: &SearchFilter,
    windows: &[i64],
) -> StoreResult<Vec<AuditRow>> {
    let mut f = std::borrow::Cow::Borrowed(f);
    if let (Some(chain), Some((start, end))) = (&f.chain, &f.action_range) {
        if f.seq_after.is_none() && f.words.is_empty() {
            let seen = actions_in_range(store, chain, start, end).await?;
            if seen.is_empty() {
                return Ok(Vec::new());
            }
            if seen.len() <= MAX_ACTION_BRANCHES {
                let f = f.to_mut();
                f.actions = seen;
                f.action_range = None;
            }
        }
    }
    // A prefix that names few words of the chain is searched as them (PostgreSQL).
    if !windows.is_empty()
        && f.words.iter().any(|w| w.prefix)
        && !name_prefixes(store, f.to_mut()).await?
    {
        return Ok(Vec::new());
    }
    if let (Backend::Postgres, Some(chain)) = (store.backend(), &f.chain) {
        // Two searches on PostgreSQL read every match before the newest can be picked:
        // free text (the GIN index yields all matches, each read from the table: two words
        // that meet 18,000 times in 10M events cost 18,000 reads) and a CIDR block (its
        // blocks' events, sorted). Both look among the newest events first, in windows that
        // grow (4,096 events, then fourfold from 65,536), so only the matches inside a
        // window are read; the whole chain only when the largest window holds less than a
        // page. Free text reads each window from where the one before ended and gathers its
        // page across them, and its windows start from the newest bucket of 32,768 events
        // that holds the words (the text index asked alone, bucket by bucket: see
        // `audit_recency`), so newest events without the words are not walked through.
        let windowed = match order_of(&f) {
            Order::Recorded => Some(Window::Sequence),
            Order::Time if ip_blocks(&f, Backend::Postgres).is_some() => Some(Window::Time),
            _ => None,
        };
        if let Some(kind) = windowed {
            let top = match &f.after {
                Some(p) => p.seq,
                None => super::audit::last_seq(store, chain)
                    .await?
                    .saturating_add(1),
            };
            match kind {
                Window::Sequence => {
                    let top = match windows.is_empty() {
                        true => top,
                        false => match match_top(store, &f, top).await? {
                            Some(top) => top,
                            None => return Ok(Vec::new()),
                        },
                    };
                    return text_in_windows(store, &f, top, windows).await;
                }
                Window::Time => {
                    for &window in windows {
                        if top <= window {
                            break;
                        }
                        // A page of the newest events since the window's first: every
                        // event older than that sorts after them, whatever its sequence.
                        let Some(at) = occurred_at(store, chain, top - window).await? else {
                            break;
                        };
                        if f.from_micros.is_some_and(|from| from >= at) {
                            break;
                        }
                        let mut windowed = f.clone().into_owned();
                        windowed.from_micros = Some(at);
                        let rows = run(store, &windowed).await?;
                        if rows.len() >= f.limit as usize {
                            return Ok(rows);
                        }
                    }
                }
            }
        }
    }
    run(store, &f).await
}

/// A free-text search on PostgreSQL, newest recorded first, below `top` (the cursor or the
/// chain's end): each window of `windows` in turn, from where the one before ended (so no
/// event is read twice), then the rest of the chain; the page is what they found together.
async fn text_in_windows(
    store: &Store,
    f: &SearchFilter,
    top: i64,
    windows: &[i64],
) -> StoreResult<Vec<AuditRow>> {
    let mut found: Vec<AuditRow> = Vec::new();
    let mut below = top;
    let floors = windows
        .iter()
        .map(|w| top - w)
        .take_while(|&floor| floor > 0);
    for floor in floors.chain([0]) {
        let mut part = f.clone();
        part.seq_window = Some(SeqWindow {
            floor,
            top: below,
            first: below == top,
        });
        part.limit = f.limit.saturating_sub(found.len() as u32);
        found.extend(run(store, &part).await?);
        if found.len() >= f.limit as usize {
            break;
        }
        below = floor + 1;
    }
    Ok(found)
}

/// How a window of a chain's newest events narrows a search.
#[derive(Clone, Copy)]
enum Window {
    /// By sequence (`seq_window`): free text, listed newest recorded first.
    Sequence,
    /// By time, from the window's first event (`from_micros`): a search in time order.
    Time,
}

/// When the event `seq` of `chain` occurred; `None` when it is not there (purged).
async fn occurred_at(store: &Store, chain: &str, seq: i64) -> StoreResult<Option<i64>> {
    Ok(
        sqlx::query_scalar(
            "SELECT occurred_at FROM audit_events WHERE tenant_id = $1 AND seq = $2",
        )
        .bind(chain)
        .bind(seq)
        .fetch_optional(store.reader())
        .await?,
    )
}

/// How many of a chain's newest events (before the cursor) a search on
/// PostgreSQL looks among, in turn, before the whole chain: small enough that the first
/// window's table reads are few, growing so that words that rarely meet are not looked
/// for window by window through the whole chain.
pub(super) const WINDOWS: [i64; 5] = [4_096, 65_536, 262_144, 1_048_576, 4_194_304];

/// Runs the search `f` as one statement.
async fn run(store: &Store, f: &SearchFilter) -> StoreResult<Vec<AuditRow>> {
    let (sql, params) = render(f, store.backend());
    // On PostgreSQL, planned with this search's values every time: a cached generic plan
    // cannot tell a common word from a rare one, and evaluates `to_tsquery($n)` per row.
    let rows = bind_params(sqlx::query(&sql), params)
        .persistent(store.backend() == Backend::Sqlite)
        .fetch_all(store.reader())
        .await?;
    rows.iter().map(from_row).collect()
}

/// The distinct actions of `chain` in `[start, end)`, at most one more than
/// [`MAX_ACTION_BRANCHES`]: a skip scan, one index seek per action, whatever the events'
/// number.
async fn actions_in_range(
    store: &Store,
    chain: &str,
    start: &str,
    end: &str,
) -> StoreResult<Vec<String>> {
    let sql = "WITH RECURSIVE seen (action, n) AS ( \
        SELECT (SELECT MIN(action) FROM audit_events \
                WHERE tenant_id = $1 AND action >= $2 AND action < $3), 1 \
        UNION ALL \
        SELECT (SELECT MIN(action) FROM audit_events \
                WHERE tenant_id = $1 AND action > seen.action AND action < $3), n + 1 \
        FROM seen WHERE seen.action IS NOT NULL AND n <= $4) \
        SELECT action FROM seen WHERE action IS NOT NULL";
    let rows = sqlx::query(sql)
        .bind(chain)
        .bind(start)
        .bind(end)
        .bind(MAX_ACTION_BRANCHES as i64)
        .fetch_all(store.reader())
        .await?;
    rows.iter()
        .map(|r| Ok(sqlx::Row::try_get(r, "action")?))
        .collect()
}

/// The order a search lists in, and so the index its page walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// Newest first by `occurred_at`: every filter's index ends in it.
    Time,
    /// One action index walk per action, newest first, merged: an `IN` list or a range would
    /// read every match and sort it.
    TimeByAction,
    /// Free text in one chain, newest recorded first (sequence descending): the text index
    /// drives the walk and stops at the page, where a time order would have to read every
    /// match first. Only back-dated app events sort differently from time order.
    Recorded,
    /// Newest first, for a target: the walk down the events' target index merged with the
    /// walk down the further targets' (an app's event may name several).
    TimeByTarget,
    /// Sequence ascending from `seq_after` (an export).
    Sequence,
}

fn order_of(f: &SearchFilter) -> Order {
    if f.seq_after.is_some() {
        Order::Sequence
    } else if f.chain.is_none() {
        Order::Time
    } else if !f.words.is_empty() {
        Order::Recorded
    } else if f.actions.len() > 1 {
        Order::TimeByAction
    } else if f.target_type.is_some() || f.target_id.is_some() {
        Order::TimeByTarget
    } else {
        Order::Time
    }
}

const TIME_ORDER: &str = "occurred_at DESC, tenant_id DESC, seq DESC";

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
        if let Some(cond) = self.eq(col, value) {
            self.conds.push(cond);
        }
    }

    /// `col = value` with the value bound, if there is a value (not added to the clause).
    fn eq(&mut self, col: &str, value: &Option<String>) -> Option<String> {
        let placeholder = self.bind(Param::Text(value.clone()?));
        Some(format!("{col} = {placeholder}"))
    }
}

/// The statement and its parameters for `f`.
pub(super) fn render(f: &SearchFilter, backend: Backend) -> (String, Vec<Param>) {
    let order = order_of(f);
    let mut w = Clause::default();
    common_conditions(&mut w, f, backend);
    if order != Order::TimeByAction {
        action_conditions(&mut w, f);
    }
    if order != Order::TimeByTarget {
        any_target_condition(&mut w, f);
    }
    if !(order == Order::Recorded && backend == Backend::Sqlite) {
        text_condition(&mut w, f, backend);
    }
    let limit = w.bind(Param::Int(i64::from(f.limit)));
    let sql = match order {
        Order::Sequence => {
            let after = w.bind(Param::Int(f.seq_after.unwrap_or(0)));
            w.conds.push(format!("seq > {after}"));
            if let Some(until) = f.seq_until {
                let until = w.bind(Param::Int(until));
                w.conds.push(format!("seq <= {until}"));
            }
            format!(
                "SELECT {COLUMNS} FROM audit_events {} ORDER BY seq LIMIT {limit}",
                w.filter()
            )
        }
        Order::Time if f.ip_range.is_some() => {
            // A CIDR block is a key range, so its matches are read whole and sorted. Only
            // their keys are sorted, from the index; the page's rows are fetched after.
            // Whole blocks on PostgreSQL sort by `occurred_at + 0`, which the time index
            // cannot yield: walking it newest first with the block as a filter reads every
            // event of the chain when the block has none (a timeout at 10M), and the planner
            // cannot know the block is empty.
            let inner_order = match ip_blocks(f, backend) {
                Some(_) => "occurred_at + 0 DESC, tenant_id DESC, seq DESC",
                None => TIME_ORDER,
            };
            time_cursor(&mut w, f);
            format!(
                "SELECT {COLUMNS} FROM audit_events WHERE (tenant_id, seq) IN \
                 (SELECT tenant_id, seq FROM audit_events {} ORDER BY {inner_order} \
                 LIMIT {limit}) ORDER BY {TIME_ORDER} LIMIT {limit}",
                w.filter()
            )
        }
        Order::Time => {
            time_cursor(&mut w, f);
            format!(
                "SELECT {COLUMNS} FROM audit_events {} ORDER BY {TIME_ORDER} LIMIT {limit}",
                w.filter()
            )
        }
        Order::TimeByAction => {
            time_cursor(&mut w, f);
            let branches: Vec<String> = f
                .actions
                .iter()
                .enumerate()
                .map(|(i, action)| {
                    let action = w.bind(Param::Text(action.clone()));
                    let mut conds = w.conds.clone();
                    conds.push(format!("action = {action}"));
                    format!(
                        "SELECT * FROM (SELECT {COLUMNS} FROM audit_events WHERE {} \
                         ORDER BY {TIME_ORDER} LIMIT {limit}) AS b{i}",
                        conds.join(" AND ")
                    )
                })
                .collect();
            format!(
                "SELECT {COLUMNS} FROM ({}) AS merged ORDER BY {TIME_ORDER} LIMIT {limit}",
                branches.join(" UNION ALL ")
            )
        }
        Order::TimeByTarget => by_target(&mut w, f, backend, &limit),
        Order::Recorded => recorded(&mut w, f, backend, &limit),
    };
    (sql, w.params)
}

/// Strictly older than the cursor, in time order. The first term is a plain range, so the
/// index walk starts at the cursor.
fn time_cursor(w: &mut Clause, f: &SearchFilter) {
    time_cursor_on(w, f, ["occurred_at", "tenant_id", "seq"]);
}

/// [`time_cursor`] on the given time, chain and sequence columns.
fn time_cursor_on(w: &mut Clause, f: &SearchFilter, [at, chain, seq]: [&str; 3]) {
    if let Some(p) = &f.after {
        let t = w.bind(Param::Int(p.occurred_at));
        let c = w.bind(Param::Text(p.chain.clone()));
        let s = w.bind(Param::Int(p.seq));
        w.conds.push(format!(
            "{at} <= {t} AND ({at} < {t} OR {chain} < {c} OR ({chain} = {c} AND {seq} < {s}))"
        ));
    }
}

/// A search for a target, newest first: the events whose own target it is (their index
/// walk) merged with those naming it further down their list (a walk of `audit_targets`,
/// joined to the event), each walk stopping at the page. An event found by the first walk
/// is left out of the second.
fn by_target(w: &mut Clause, f: &SearchFilter, backend: Backend, limit: &str) -> String {
    let others = w.conds.clone();
    let own = [
        w.eq("target_type", &f.target_type),
        w.eq("target_id", &f.target_id),
    ];
    let own = own.into_iter().flatten().collect::<Vec<_>>().join(" AND ");
    time_cursor(w, f);
    let mut first = w.conds.clone();
    first.push(own.clone());
    let first = format!(
        "SELECT * FROM (SELECT {COLUMNS} FROM audit_events WHERE {} \
         ORDER BY {TIME_ORDER} LIMIT {limit}) AS own",
        first.join(" AND ")
    );

    w.conds = others;
    for col in [
        w.eq("chain", &f.chain),
        w.eq("item_type", &f.target_type),
        w.eq("item_id", &f.target_id),
    ]
    .into_iter()
    .flatten()
    {
        w.conds.push(col);
    }
    w.conds.push(format!("NOT ({own})"));
    time_cursor_on(w, f, ["at", "chain", "event_seq"]);
    let join = match backend {
        // The further targets' index drives the walk.
        Backend::Sqlite => "CROSS JOIN",
        Backend::Postgres => "JOIN",
    };
    let second = format!(
        "SELECT * FROM (SELECT {COLUMNS} FROM audit_targets {join} audit_events \
         ON tenant_id = chain AND seq = event_seq {} \
         ORDER BY at DESC, chain DESC, event_seq DESC LIMIT {limit}) AS more",
        w.filter()
    );
    format!(
        "SELECT {COLUMNS} FROM ({first} UNION ALL {second}) AS merged \
         ORDER BY {TIME_ORDER} LIMIT {limit}"
    )
}

/// A free-text search in one chain, newest recorded first. On SQLite the FTS5 index is the
/// outer loop, walked by rowid downwards (rowid order is sequence order within a chain);
/// PostgreSQL walks the primary key backwards with the text as a filter, or reads the GIN
/// index when the words are rare, as its statistics say.
fn recorded(w: &mut Clause, f: &SearchFilter, backend: Backend, limit: &str) -> String {
    let bind_cursor = |w: &mut Clause| f.after.as_ref().map(|p| w.bind(Param::Int(p.seq)));
    match backend {
        Backend::Sqlite => {
            let cursor = bind_cursor(w);
            let query = w.bind(Param::Text(fts_query(f)));
            let mut conds = vec![format!("audit_text MATCH {query}")];
            if let Some(seq) = &cursor {
                let chain = w.bind(Param::Text(f.chain.clone().unwrap_or_default()));
                conds.push(format!(
                    "audit_text.rowid < coalesce((SELECT rowid FROM audit_events \
                     WHERE tenant_id = {chain} AND seq = {seq}), 0) AND seq < {seq}"
                ));
            }
            conds.extend(w.conds.iter().cloned());
            let columns: Vec<String> = COLUMNS
                .split(", ")
                .map(|c| format!("e.{}", c.trim()))
                .collect();
            format!(
                "SELECT {} FROM audit_text CROSS JOIN audit_events AS e \
                 ON e.rowid = audit_text.rowid WHERE {} \
                 ORDER BY audit_text.rowid DESC LIMIT {limit}",
                columns.join(", "),
                conds.join(" AND ")
            )
        }
        Backend::Postgres => {
            // `seq + 0` is no key of the primary key's: the window is read from the text
            // index alone (its top is below the cursor already).
            let matches_only = matches_only(f);
            let seq = if matches_only { "seq + 0" } else { "seq" };
            if !matches_only {
                if let Some(cursor) = bind_cursor(w) {
                    w.conds.push(format!("seq < {cursor}"));
                }
            }
            if let Some(window) = f.seq_window {
                let floor = w.bind(Param::Int(window.floor));
                let top = w.bind(Param::Int(window.top));
                w.conds.push(format!("{seq} > {floor} AND {seq} < {top}"));
            }
            format!(
                "SELECT {COLUMNS} FROM audit_events {} ORDER BY tenant_id DESC, {seq} DESC \
                 LIMIT {limit}",
                w.filter()
            )
        }
    }
}

/// The conditions of `f`'s filters (not its page position or size).
fn conditions(f: &SearchFilter, backend: Backend) -> Clause {
    let mut w = Clause::default();
    common_conditions(&mut w, f, backend);
    action_conditions(&mut w, f);
    any_target_condition(&mut w, f);
    text_condition(&mut w, f, backend);
    w
}

/// Every filter but the target, the actions and the words.
fn common_conditions(w: &mut Clause, f: &SearchFilter, backend: Backend) {
    w.text_eq("tenant_id", &f.chain);
    w.text_eq("actor_id", &f.actor_id);
    w.text_eq("actor_label", &f.actor_label);
    w.text_eq("actor_type", &f.actor_type);
    w.text_eq("outcome", &f.outcome);
    w.text_eq("request_id", &f.request_id);
    if let Some(blocks) = ip_blocks(f, backend) {
        // Whole blocks: one seek each down `audit_events_ip_block`, newest first.
        let list = w.bind(Param::Text(format!("{{{}}}", blocks.join(","))));
        w.conds
            .push(format!("audit_ip_block(ip_key) = ANY({list}::text[])"));
    } else if let Some((low, high)) = &f.ip_range {
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
}

/// The IP range of `f` as blocks PostgreSQL's block index holds, when it is whole blocks
/// (see [`crate::audit::ip::blocks`]).
fn ip_blocks(f: &SearchFilter, backend: Backend) -> Option<Vec<String>> {
    let (low, high) = f.ip_range.as_ref()?;
    match backend {
        Backend::Postgres => crate::audit::ip::blocks(low, high),
        // SQLite walks the block's key range: 15.5 ms p95 for a /16 at 10M events.
        Backend::Sqlite => None,
    }
}

/// The target: the event's own (first) or one of its further targets.
fn any_target_condition(w: &mut Clause, f: &SearchFilter) {
    let own = [
        w.eq("target_type", &f.target_type),
        w.eq("target_id", &f.target_id),
    ];
    let own = own.into_iter().flatten().collect::<Vec<_>>();
    if own.is_empty() {
        return;
    }
    let more = [
        w.eq("item_type", &f.target_type),
        w.eq("item_id", &f.target_id),
    ];
    let more = more.into_iter().flatten().collect::<Vec<_>>();
    w.conds.push(format!(
        "({} OR EXISTS (SELECT 1 FROM audit_targets WHERE chain = tenant_id \
         AND event_seq = seq AND {}))",
        own.join(" AND "),
        more.join(" AND ")
    ));
}

/// The action list (any of them) or range.
fn action_conditions(w: &mut Clause, f: &SearchFilter) {
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
}

/// The words as a condition on the event (SQLite: its rowid among the FTS5 matches).
fn text_condition(w: &mut Clause, f: &SearchFilter, backend: Backend) {
    if f.words.is_empty() {
        return;
    }
    match backend {
        Backend::Sqlite => {
            let query = w.bind(Param::Text(fts_query(f)));
            w.conds.push(format!(
                "rowid IN (SELECT rowid FROM audit_text WHERE audit_text MATCH {query})"
            ));
        }
        Backend::Postgres => {
            let query = w.bind(Param::Text(ts_query(f)));
            // The first test is the cheap one a walk down the primary key filters with; the
            // second is the one the text index (`audit_events_text`) answers.
            w.conds.push(format!(
                "search @@ to_tsquery('simple', {query}) \
                 AND audit_text(search, tenant_id, seq) @@ to_tsquery('simple', {query})"
            ));
            if let Some(buckets) = recent_buckets(f) {
                // A second key of the same index scan, so the two keys' lists are walked in
                // step and the words' are read only inside the window.
                let buckets = w.bind(Param::Text(buckets));
                w.conds.push(format!(
                    "audit_text(search, tenant_id, seq) @@ {buckets}::tsquery"
                ));
            }
        }
    }
}

/// PostgreSQL's query for `f`'s words, for `to_tsquery('simple', …)`.
pub(super) fn ts_query(f: &SearchFilter) -> String {
    let words: Vec<String> = f
        .words
        .iter()
        .map(|w| match &w.named {
            Some(named) => format!("({})", named.join(" | ")),
            None => format!("{}{}", w.text, if w.prefix { ":*" } else { "" }),
        })
        .collect();
    words.join(" & ")
}

/// The FTS5 query for `f`'s words, inside its chain when it has one.
fn fts_query(f: &SearchFilter) -> String {
    let mut query: Vec<String> = f
        .words
        .iter()
        .map(|w| format!("body : \"{}\"{}", w.text, if w.prefix { "*" } else { "" }))
        .collect();
    if let Some(chain) = &f.chain {
        // Chain ids are UUIDs or `operator`: no quote can occur in them.
        query.insert(0, format!("chain : \"{}\"", chain.replace('"', "")));
    }
    query.join(" AND ")
}

#[cfg(test)]
mod tests {
    use super::super::audit_recency::TEXT_BUCKET_BITS;
    use super::*;

    #[test]
    fn only_present_filters_reach_the_sql() {
        let f = SearchFilter {
            actor_id: Some("u1".into()),
            actions: vec!["a.b".into(), "a.c".into()],
            limit: 10,
            ..Default::default()
        };
        let (sql, params) = render(&f, Backend::Sqlite);
        assert!(
            sql.contains("actor_id = $1 AND action IN ($2, $3)"),
            "{sql}"
        );
        assert!(sql.ends_with("LIMIT $4"), "{sql}");
        assert!(!sql.contains("IS NULL"), "{sql}");
        assert_eq!(params.len(), 4);
    }

    fn words(f: SearchFilter) -> SearchFilter {
        SearchFilter {
            words: vec![
                Word {
                    text: "alice".into(),
                    prefix: false,
                    named: None,
                },
                Word {
                    text: "exa".into(),
                    prefix: true,
                    named: None,
                },
            ],
            limit: 10,
            ..f
        }
    }

    fn texts(params: &[Param]) -> Vec<&str> {
        params
            .iter()
            .filter_map(|p| match p {
                Param::Text(t) => Some(t.as_str()),
                Param::Int(_) => None,
            })
            .collect()
    }

    #[test]
    fn words_become_a_match_per_backend() {
        let f = words(SearchFilter::default());
        let (sqlite, params) = render(&f, Backend::Sqlite);
        assert!(
            sqlite.contains("rowid IN (SELECT rowid FROM audit_text WHERE audit_text MATCH $1)"),
            "{sqlite}"
        );
        assert_eq!(texts(&params), vec!["body : \"alice\" AND body : \"exa\"*"]);
        let (pg, params) = render(&f, Backend::Postgres);
        assert!(
            pg.contains(
                "search @@ to_tsquery('simple', $1) \
                 AND audit_text(search, tenant_id, seq) @@ to_tsquery('simple', $1)"
            ),
            "{pg}"
        );
        assert_eq!(texts(&params), vec!["alice & exa:*"]);
    }

    #[test]
    fn a_named_prefix_is_searched_as_any_of_its_words() {
        let mut f = words(SearchFilter::default());
        assert!(f.words[1].partial());
        assert_eq!(ts_query(&f), "alice & exa:*");
        f.words[1].named = Some(vec!["exam".into(), "example".into()]);
        assert!(!f.words[1].partial());
        assert_eq!(ts_query(&f), "alice & (exam | example)");
        // SQLite's index reads a prefix as it is.
        assert_eq!(fts_query(&f), "body : \"alice\" AND body : \"exa\"*");
    }

    #[test]
    fn words_in_one_chain_list_in_recording_order_driven_by_the_text_index() {
        let f = words(SearchFilter {
            chain: Some("t1".into()),
            after: Some(Position {
                occurred_at: 5,
                chain: "t1".into(),
                seq: 9,
            }),
            ..Default::default()
        });
        let (sqlite, params) = render(&f, Backend::Sqlite);
        assert!(
            sqlite.contains("FROM audit_text CROSS JOIN audit_events AS e"),
            "{sqlite}"
        );
        assert!(
            sqlite.ends_with("ORDER BY audit_text.rowid DESC LIMIT $2"),
            "{sqlite}"
        );
        assert!(
            sqlite.contains("AND seq < $3 AND tenant_id = $1"),
            "{sqlite}"
        );
        assert!(texts(&params).contains(&"chain : \"t1\" AND body : \"alice\" AND body : \"exa\"*"));
        let (pg, _) = render(&f, Backend::Postgres);
        assert!(pg.contains("AND seq < $4 ORDER BY"), "{pg}");
        assert!(pg.contains("ORDER BY tenant_id DESC, seq DESC"), "{pg}");
    }

    #[test]
    fn several_actions_in_one_chain_merge_one_index_walk_each() {
        let f = SearchFilter {
            chain: Some("t1".into()),
            actions: vec!["a.b".into(), "a.c".into()],
            limit: 10,
            ..Default::default()
        };
        let (sql, params) = render(&f, Backend::Postgres);
        assert_eq!(sql.matches("UNION ALL").count(), 1, "{sql}");
        assert!(sql.contains("tenant_id = $1 AND action = $3"), "{sql}");
        assert!(sql.contains("tenant_id = $1 AND action = $4"), "{sql}");
        assert!(!sql.contains(" IN ("), "{sql}");
        assert_eq!(texts(&params), vec!["t1", "a.b", "a.c"]);
    }

    #[test]
    fn a_target_merges_the_events_own_with_their_further_targets() {
        let f = SearchFilter {
            chain: Some("t1".into()),
            target_id: Some("f1".into()),
            limit: 10,
            ..Default::default()
        };
        let (sql, _) = render(&f, Backend::Sqlite);
        assert_eq!(sql.matches("UNION ALL").count(), 1, "{sql}");
        assert!(
            sql.contains("FROM audit_targets CROSS JOIN audit_events"),
            "{sql}"
        );
        assert!(
            sql.contains("item_id = $5 AND NOT (target_id = $3)"),
            "{sql}"
        );
        // In another order, a condition on each event.
        let (sql, _) = render(&words(f), Backend::Postgres);
        assert!(!sql.contains("UNION ALL"), "{sql}");
        assert!(
            sql.contains("(target_id = $2 OR EXISTS (SELECT 1 FROM audit_targets"),
            "{sql}"
        );
    }

    #[test]
    fn a_cidr_block_sorts_only_keys_then_reads_the_page() {
        let f = SearchFilter {
            chain: Some("t1".into()),
            ip_range: crate::audit::ip::range("10.1.2.128/25"),
            limit: 10,
            ..Default::default()
        };
        let (sql, _) = render(&f, Backend::Postgres);
        assert!(
            sql.contains("WHERE (tenant_id, seq) IN (SELECT tenant_id, seq FROM audit_events"),
            "{sql}"
        );
        assert!(sql.contains("ip_key >= $2 AND ip_key <= $3"), "{sql}");
    }

    #[test]
    fn two_words_in_a_window_add_its_recency_words_as_a_second_key() {
        let migration = include_str!("../../../migrations/postgres/0030_audit_text_recency.sql");
        assert!(migration.contains(&format!("(seq >> {TEXT_BUCKET_BITS})")));
        let f = |text: &[&str], (floor, top): (i64, i64)| SearchFilter {
            chain: Some("t-1".into()),
            words: text
                .iter()
                .map(|t| Word {
                    text: t.trim_end_matches('*').into(),
                    prefix: t.ends_with('*'),
                    named: None,
                })
                .collect(),
            seq_window: Some(SeqWindow {
                floor,
                top,
                first: true,
            }),
            after: Some(Position {
                occurred_at: 0,
                chain: "t-1".into(),
                seq: top,
            }),
            limit: 10,
            ..Default::default()
        };
        let (sql, params) = render(&f(&["bravo", "13"], (65_535, 131_072)), Backend::Postgres);
        assert!(
            sql.contains(
                "audit_text(search, tenant_id, seq) @@ to_tsquery('simple', $2) \
                 AND audit_text(search, tenant_id, seq) @@ $3::tsquery"
            ),
            "{sql}"
        );
        assert_eq!(
            texts(&params),
            vec!["t-1", "bravo & 13", "'t-1~2' | 't-1~3'"]
        );
        // The first window may be walked down the primary key; a later one is read from the
        // text index alone: no condition or order the primary key could serve.
        assert!(
            sql.contains("AND seq < $5 AND seq > $6 AND seq < $7"),
            "{sql}"
        );
        assert!(sql.contains("ORDER BY tenant_id DESC, seq DESC"), "{sql}");
        let mut later = f(&["bravo", "13"], (65_535, 131_072));
        later.seq_window.as_mut().unwrap().first = false;
        let (sql, _) = render(&later, Backend::Postgres);
        assert!(
            sql.contains("$3::tsquery AND seq + 0 > $5 AND seq + 0 < $6"),
            "{sql}"
        );
        assert!(
            sql.ends_with("ORDER BY tenant_id DESC, seq + 0 DESC LIMIT $4"),
            "{sql}"
        );
        assert!(!sql.contains("seq <"), "{sql}");
        // One word, a prefix, a window from the chain's start or too large: the words alone.
        for (words, window) in [
            (&["bravo"][..], (65_535, 131_072)),
            (&["bravo", "fox*"][..], (65_535, 131_072)),
            (&["bravo", "13"][..], (0, 1 << 16)),
            (&["bravo", "13"][..], (1, 1 << 23)),
        ] {
            let mut f = f(words, window);
            f.seq_window.as_mut().unwrap().first = false;
            let (sql, _) = render(&f, Backend::Postgres);
            assert!(!sql.contains("::tsquery"), "{words:?} {window:?}: {sql}");
            assert!(!sql.contains("seq + 0"), "{words:?} {window:?}: {sql}");
        }
    }

    #[test]
    fn whole_blocks_are_one_seek_each_on_postgres_and_a_key_range_on_sqlite() {
        let f = SearchFilter {
            chain: Some("t1".into()),
            ip_range: crate::audit::ip::range("10.1.16.0/23"),
            limit: 10,
            ..Default::default()
        };
        let (sql, params) = render(&f, Backend::Postgres);
        assert!(
            sql.contains("audit_ip_block(ip_key) = ANY($2::text[])"),
            "{sql}"
        );
        assert!(!sql.contains("ip_key >="), "{sql}");
        assert!(sql.contains("ORDER BY occurred_at + 0 DESC"), "{sql}");
        assert_eq!(
            texts(&params),
            vec![
                "t1",
                "{00000000000000000000ffff0a0110,00000000000000000000ffff0a0111}"
            ]
        );
        let (sql, _) = render(&f, Backend::Sqlite);
        assert!(sql.contains("ip_key >= $2 AND ip_key <= $3"), "{sql}");
    }
}

//! PostgreSQL's text index keeps, beside each event's words, one recency word
//! `<chain>~<seq >> 15>` (migration `0030`): a bucket of 32,768 events of a chain. A search
//! uses them two ways: as a second key of a window's index scan ([`recent_buckets`]), and to
//! find the newest bucket holding a match before any window is read ([`match_top`]).

use super::audit_search::{ts_query, SearchFilter, SeqWindow, Word, WINDOWS};
use super::{Backend, Store, StoreResult};

/// How many events share a recency word in PostgreSQL's text index: `seq >> 15` in
/// `audit_text` (migration `0030`).
pub(super) const TEXT_BUCKET_BITS: u32 = 15;

/// Most recency words a search adds: as many as the largest window spans.
const MAX_RECENT_BUCKETS: i64 = (WINDOWS[WINDOWS.len() - 1] >> TEXT_BUCKET_BITS) + 1;

/// The recency words of `f`'s window, OR-ed: two or more whole words in a window that does
/// not reach the chain's first event. Without them, the GIN index yields every match of
/// the words in the chain, and each is read from the table before the window's can be
/// picked: "charlie 260" at 10M events read 2,075 rows to find the 166 of a window of a
/// million. With them as a second key of the index scan, the keys' posting lists are
/// walked in step: the rarest word's list from the window's first event on, the others'
/// skipped to each of its entries, and only the window's matches are read (one index
/// key holding words and recency words both would start from the recency words' lists,
/// 32,768 entries each, however rare a word: 21 ms where the two keys take 3). One word
/// alone is better served by a walk down the primary key (common) or by its own list
/// (rare); a prefix not named as its words ([`Word::partial`]) reads every event of every
/// word it names either way.
pub(super) fn recent_buckets(f: &SearchFilter) -> Option<String> {
    let (chain, first, last) = recent_range(f)?;
    Some(
        (first..=last)
            .map(|b| format!("'{chain}~{b}'"))
            .collect::<Vec<_>>()
            .join(" | "),
    )
}

/// The chain and first and last recency buckets [`recent_buckets`] names, when it names any.
fn recent_range(f: &SearchFilter) -> Option<(&str, i64, i64)> {
    let SeqWindow { floor, top, .. } = f.seq_window?;
    let chain = plain_chain(f)?;
    if floor <= 0 || f.words.len() < 2 || f.words.iter().any(Word::partial) {
        return None;
    }
    let (first, last) = (
        (floor + 1) >> TEXT_BUCKET_BITS,
        (top - 1) >> TEXT_BUCKET_BITS,
    );
    if last < first || last - first >= MAX_RECENT_BUCKETS {
        return None;
    }
    Some((chain, first, last))
}

/// Whether `f`'s window is read as the bitmap of its matches in the text index, never by a
/// walk down the primary key: a window after the first, with recency words. The planner
/// trusts its statistics, which say how common the words are in the whole chain, not in the
/// window: for two words that meet once in 700 events it walked a window of 61,440 events
/// holding none (41.7 ms) where the index finds them in 1 ms. A first window of 4,096 is
/// left to it, so words that meet often are found by a short walk and are not all read.
pub(super) fn matches_only(f: &SearchFilter) -> bool {
    f.seq_window.is_some_and(|w| !w.first) && recent_range(f).is_some()
}

/// The chain of `f` when its recency words can be named: its id holds nothing a `tsquery`
/// lexeme would need quoted (ids are UUIDs or `operator`).
fn plain_chain(f: &SearchFilter) -> Option<&str> {
    f.chain.as_deref().filter(|chain| {
        chain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// Where a free-text search of whole words on PostgreSQL can start below `top`: the top of
/// the newest bucket there holding an event with all the words, so a walk down the primary
/// key does not read the newest events that lack them (100,000 of them cost a common word
/// 100 ms). The buckets are asked one by one, newest first, each with one scan of the text
/// index: the words' posting lists skipped to the bucket's, which is quick whether the
/// bucket holds a match or not. `Some(top)` when the search cannot be helped (a prefix not
/// named as its words reads all their events in each scan, 140 ms at 10M), or
/// the newest bucket holds a match; `None` when no event of the chain below `top` has the
/// words. At most [`MAX_RECENT_BUCKETS`] buckets are asked; below them the search goes on
/// from the last one asked.
pub async fn match_top(store: &Store, f: &SearchFilter, top: i64) -> StoreResult<Option<i64>> {
    let Some(chain) = plain_chain(f).filter(|_| store.backend() == Backend::Postgres) else {
        return Ok(Some(top));
    };
    let newest = (top - 1) >> TEXT_BUCKET_BITS;
    if f.words.is_empty() || f.words.iter().any(Word::partial) || newest < 1 {
        return Ok(Some(top));
    }
    let oldest = (newest - MAX_RECENT_BUCKETS + 1).max(0);
    // The last bucket the walk reached: the one holding a match, or the oldest asked.
    let sql = "WITH RECURSIVE walk (b, hit) AS ( \
        SELECT $2::bigint + 1, false \
        UNION ALL \
        SELECT b - 1, EXISTS (SELECT 1 FROM audit_events WHERE tenant_id = $1 \
            AND audit_text(search, tenant_id, seq) @@ to_tsquery('simple', $4) \
            AND audit_text(search, tenant_id, seq) @@ format('''%s~%s''', $1, b - 1)::tsquery) \
        FROM walk WHERE NOT hit AND b > $3) \
        SELECT b, hit FROM walk ORDER BY b LIMIT 1";
    let mut tx = store.reader().begin().await?;
    // Each bucket's test must be a scan of the text index: the planner, sure a common word
    // is found within a few rows, walks the table instead (164 s at 10M for a bucket
    // without the word).
    sqlx::query(
        "SELECT set_config('enable_seqscan', 'off', true), \
         set_config('enable_indexscan', 'off', true)",
    )
    .execute(&mut *tx)
    .await?;
    let row = sqlx::query(sql)
        .bind(chain)
        .bind(newest)
        .bind(oldest)
        .bind(ts_query(f))
        .persistent(false)
        .fetch_one(&mut *tx)
        .await?;
    tx.rollback().await?;
    let (bucket, hit): (i64, bool) = (
        sqlx::Row::try_get(&row, "b")?,
        sqlx::Row::try_get(&row, "hit")?,
    );
    Ok(match (hit, bucket) {
        (true, b) => Some(top.min((b + 1) << TEXT_BUCKET_BITS)),
        (false, 0) => None,
        (false, b) => Some(b << TEXT_BUCKET_BITS),
    })
}

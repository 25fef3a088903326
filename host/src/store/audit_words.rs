//! Each chain's words on PostgreSQL (migration `0031`, written by a trigger with the events):
//! a prefix word of a free-text search that names few of them is searched as those words.
//! The text index walks a word's events newest first and skips through them, so a search of
//! whole words can ask it about a few newest events alone (see [`super::audit_recency`]); a
//! prefix it would first expand into every event of every word it names.

use super::audit_search::SearchFilter;
use super::{Backend, Store, StoreResult};

/// Most words a prefix is searched as; one that names more stays a prefix.
const MAX_NAMED: usize = 32;

/// Names the words each prefix word of `f` stands for in its chain, where they are few and
/// plain (lower-case ASCII letters, which `to_tsquery` reads back as they are). A word with
/// a digit is kept only as its letters before the digit and `#`, which is not plain: a
/// prefix that reaches one, or holds a digit itself, stays a prefix. `false` when a prefix
/// names no word at all: nothing can match.
pub async fn name_prefixes(store: &Store, f: &mut SearchFilter) -> StoreResult<bool> {
    let Some(chain) = f.chain.clone() else {
        return Ok(true);
    };
    if store.backend() != Backend::Postgres {
        return Ok(true);
    }
    let digit = |w: &str| w.bytes().any(|b| b.is_ascii_digit());
    for word in f.words.iter_mut().filter(|w| w.prefix && !digit(&w.text)) {
        let Some(end) = prefix_end(&word.text) else {
            continue;
        };
        let named: Vec<String> = sqlx::query_scalar(
            "SELECT word FROM audit_words WHERE tenant_id = $1 AND word >= $2 AND word < $3 \
             ORDER BY word LIMIT $4",
        )
        .bind(&chain)
        .bind(&word.text)
        .bind(end)
        .bind(MAX_NAMED as i64 + 1)
        .fetch_all(store.reader())
        .await?;
        if named.is_empty() {
            return Ok(false);
        }
        let plain = |w: &String| w.bytes().all(|b| b.is_ascii_lowercase());
        if named.len() <= MAX_NAMED && named.iter().all(plain) {
            word.named = Some(named);
        }
    }
    Ok(true)
}

/// The first string after every one that starts with `prefix`, in code point (and so UTF-8
/// byte) order: `prefix` with its last character's successor. `None` for an empty prefix or
/// one whose last character has none.
pub fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    let last = chars.pop()?;
    chars.push(char::from_u32(u32::from(last) + 1)?);
    Some(chars.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn a_prefix_ends_at_its_last_characters_successor() {
        assert_eq!(prefix_end("fox").as_deref(), Some("foy"));
        assert_eq!(prefix_end("a9").as_deref(), Some("a:"));
        assert_eq!(prefix_end("é").as_deref(), Some("ê"));
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("a\u{D7FF}"), None);
        assert!("fox" <= "foxtrot" && "foxtrot" < "foy");
    }
}

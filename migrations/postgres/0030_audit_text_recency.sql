-- Free text of two or more words at 10M events on PostgreSQL (issue 16). The GIN index on
-- `search` intersected the words' whole posting lists before a page could be picked: 29.5
-- ms for two words in a million events each, p95 80 ms. This index holds each event's words
-- and one recency word more, `<chain>~<seq >> 15>` (32,768 events of a chain share one), so
-- a search among a chain's newest events adds the window's recency words to its query and
-- the index starts from their short lists, skipping through the others'. The recency word
-- holds a `~`, which no word of the text can (punctuation splits them). Every free-text
-- search tests `audit_text(…) @@ …` to use this index, and `search @@ …` first, which a
-- walk down the primary key filters with cheaply. It replaces the index on `search`.
CREATE FUNCTION audit_text(search tsvector, tenant_id TEXT, seq BIGINT) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT search || array_to_tsvector(ARRAY[tenant_id || '~' || (seq >> 15)]) $$;
DROP INDEX audit_events_search;
CREATE INDEX audit_events_text ON audit_events USING gin (audit_text(search, tenant_id, seq));
-- Statistics for the new expression at once (the planner's estimate of a word's events).
ANALYZE audit_events;

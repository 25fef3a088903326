-- Every scan of a GIN index also reads its whole pending list: the entries inserted since
-- the list was last merged into the index, up to `gin_pending_list_limit` (4 MB, 512 pages).
-- A free-text search asks the text index once per recency bucket (`store::audit_recency`),
-- and at 10M events with 220,000 new events at the head that read made a one-word search's
-- seven asks cost 12–21 ms, where they take 2–4 ms with a short list. A list of at most
-- 256 kB (32 pages) is merged eight times as often, each time an eighth as long.
ALTER INDEX audit_events_text SET (gin_pending_list_limit = 256);

-- Prefix words in free text at 10M events on PostgreSQL (issue 16). A prefix (`fox:*`) in a
-- GIN scan first reads every event of every word it names, whichever events the search
-- wants (140 ms at 10M for a word in one event of six), so it cannot ask the index about a
-- few newest events the way whole words do. Each chain's words are kept here: a prefix that
-- names few of them is searched as those words (`store::audit_words`). A statement trigger
-- adds each insert's new words, in the writer's transaction (a chain's writers take turns
-- at its head, so two never wait on each other here). A purge leaves the words: one whose
-- events are gone names nothing.
CREATE TABLE audit_words (
    tenant_id TEXT NOT NULL,
    word      TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_id, word)
);
-- A word with a digit is kept as its letters before the first digit and `#` (`inv#` for
-- `inv2041`, `#` for `2041`): ids and numbers, often new in every event, would make the table
-- as long as the events (9.9M rows, 1.5 GB at 10M generated events), and a prefix that
-- reaches such a word stays a prefix anyway. A prefix with a digit is never named.
CREATE FUNCTION audit_word(word TEXT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN word ~ '[0-9]' THEN substring(word FROM '^[^0-9]*') || '#' ELSE word END $$;
CREATE FUNCTION audit_words_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_words (tenant_id, word)
        SELECT DISTINCT e.tenant_id, audit_word(w)
        FROM new_events AS e, unnest(tsvector_to_array(e.search)) AS w
        ORDER BY 1, 2
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER audit_events_words AFTER INSERT ON audit_events
    REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION audit_words_add();
INSERT INTO audit_words (tenant_id, word)
    SELECT DISTINCT tenant_id, audit_word(w)
    FROM audit_events, unnest(tsvector_to_array(search)) AS w;

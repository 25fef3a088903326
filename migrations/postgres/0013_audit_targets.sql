-- Every target of an app's event is searchable (issue 16). An event's own columns hold its
-- first target; this table holds the others, derived from the hashed `after.targets` (verify
-- checks each row against it). Its columns are named apart from audit_events' so a search can
-- join the two without qualifying every condition.
CREATE TABLE audit_targets (
    chain     TEXT NOT NULL,
    event_seq BIGINT NOT NULL,
    item_type TEXT NOT NULL,
    item_id   TEXT NOT NULL,
    at        BIGINT NOT NULL,
    PRIMARY KEY (chain, event_seq, item_type, item_id)
);
CREATE INDEX audit_targets_item ON audit_targets (chain, item_type, item_id, at, event_seq);
CREATE INDEX audit_targets_item_id ON audit_targets (chain, item_id, at, event_seq);

INSERT INTO audit_targets (chain, event_seq, item_type, item_id, at)
    SELECT e.tenant_id, e.seq, t.value ->> 'type', t.value ->> 'id', e.occurred_at
    FROM audit_events AS e,
         jsonb_array_elements(CASE WHEN jsonb_typeof(e.after_json::jsonb -> 'targets') = 'array'
             THEN e.after_json::jsonb -> 'targets' END) WITH ORDINALITY AS t (value, n)
    WHERE e.after_json::jsonb -> 'source' ->> 'kind' = 'app' AND t.n > 1
      AND t.value ->> 'type' IS NOT NULL AND t.value ->> 'id' IS NOT NULL
      AND NOT (t.value ->> 'type' = e.target_type AND t.value ->> 'id' = e.target_id)
ON CONFLICT DO NOTHING;

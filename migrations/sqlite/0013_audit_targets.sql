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

INSERT OR IGNORE INTO audit_targets (chain, event_seq, item_type, item_id, at)
    SELECT e.tenant_id, e.seq, json_extract(t.value, '$.type'), json_extract(t.value, '$.id'),
           e.occurred_at
    FROM audit_events AS e, json_each(e.after_json, '$.targets') AS t
    WHERE json_extract(e.after_json, '$.source.kind') = 'app'
      AND json_type(e.after_json, '$.targets') = 'array' AND t.key > 0
      AND json_type(t.value, '$.type') = 'text' AND json_type(t.value, '$.id') = 'text'
      AND NOT (json_extract(t.value, '$.type') = e.target_type
               AND json_extract(t.value, '$.id') = e.target_id);

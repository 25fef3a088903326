-- Audit search, export and signed checkpoints (issue 16).
--
-- Two columns derived from hashed ones, so a search can use an index (verify re-derives
-- them): `outcome` ('success' or 'failure', from the action) and `ip_key`, the address as 32
-- hex digits of its IPv6 form (IPv4 mapped), so a CIDR block is one key range.
ALTER TABLE audit_events ADD COLUMN outcome TEXT NOT NULL DEFAULT 'success';
ALTER TABLE audit_events ADD COLUMN ip_key TEXT;

DROP TRIGGER audit_events_no_update;
UPDATE audit_events SET outcome = 'failure'
    WHERE action LIKE '%.failed' OR action LIKE '%.denied' OR action LIKE '%.locked'
       OR action LIKE '%.rejected' OR action LIKE '%\_failed' ESCAPE '\';
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

-- Every filter's index ends in (occurred_at, seq): a page is a walk down one index, newest
-- first, whatever the table's size.
DROP INDEX audit_events_time;
DROP INDEX audit_events_action;
DROP INDEX audit_events_actor;
CREATE INDEX audit_events_time ON audit_events (tenant_id, occurred_at, seq);
CREATE INDEX audit_events_action ON audit_events (tenant_id, action, occurred_at, seq);
CREATE INDEX audit_events_actor ON audit_events (tenant_id, actor_id, occurred_at, seq);
CREATE INDEX audit_events_actor_label ON audit_events (tenant_id, actor_label, occurred_at, seq);
CREATE INDEX audit_events_actor_type ON audit_events (tenant_id, actor_type, occurred_at, seq);
CREATE INDEX audit_events_target ON audit_events (tenant_id, target_type, target_id, occurred_at, seq);
CREATE INDEX audit_events_target_id ON audit_events (tenant_id, target_id, occurred_at, seq);
CREATE INDEX audit_events_ip ON audit_events (tenant_id, ip_key, occurred_at, seq);
CREATE INDEX audit_events_outcome ON audit_events (tenant_id, outcome, occurred_at, seq);
CREATE INDEX audit_events_request ON audit_events (tenant_id, request_id);

-- Free text: a contentless FTS5 index keyed by the event's rowid. `chain` narrows a match to
-- one tenant inside the index; `body` holds the event's words.
CREATE VIRTUAL TABLE audit_text USING fts5(chain, body, content = '', contentless_delete = 1);
INSERT INTO audit_text (rowid, chain, body)
    SELECT rowid, tenant_id, action || ' ' || actor_type || ' ' || actor_id || ' ' || actor_label
        || ' ' || target_type || ' ' || target_id || ' ' || coalesce(before_json, '') || ' '
        || coalesce(after_json, '') || ' ' || coalesce(request_id, '') || ' ' || coalesce(ip, '')
    FROM audit_events;
CREATE TRIGGER audit_events_text AFTER INSERT ON audit_events
BEGIN
    INSERT INTO audit_text (rowid, chain, body) VALUES (new.rowid, new.tenant_id,
        new.action || ' ' || new.actor_type || ' ' || new.actor_id || ' ' || new.actor_label
        || ' ' || new.target_type || ' ' || new.target_id || ' ' || coalesce(new.before_json, '')
        || ' ' || coalesce(new.after_json, '') || ' ' || coalesce(new.request_id, '') || ' '
        || coalesce(new.ip, ''));
END;

-- The instance's Ed25519 checkpoint keys. The private half is sealed with the master key;
-- verification trusts a public key only after opening its private half, so a key row
-- written into the database by hand is not trusted.
CREATE TABLE audit_signing_keys (
    kid            TEXT PRIMARY KEY,
    public_key     BLOB NOT NULL,
    private_sealed BLOB NOT NULL,
    created_at     BIGINT NOT NULL
);

-- Signed checkpoints: per chain, on a schedule, also when nothing happened. Each names the
-- chain's newest event (sequence and hash) when it was signed and the previous checkpoint's
-- signature, so removing the newest events and rewinding the head shows.
CREATE TABLE audit_checkpoints (
    tenant_id      TEXT NOT NULL,
    number         BIGINT NOT NULL,
    last_seq       BIGINT NOT NULL,
    last_hash      BLOB NOT NULL,
    signed_at      BIGINT NOT NULL,
    kid            TEXT NOT NULL,
    prev_signature BLOB NOT NULL,
    signature      BLOB NOT NULL,
    PRIMARY KEY (tenant_id, number)
);
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints is append-only');
END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints is append-only');
END;

-- Retention: a chain's events up to `floor_seq`, the event a signed checkpoint
-- (`floor_number`) named, may be purged; nothing above the floor can be deleted.
-- Verification then starts from that checkpoint.
CREATE TABLE audit_floors (
    tenant_id    TEXT PRIMARY KEY,
    floor_number BIGINT NOT NULL,
    floor_seq    BIGINT NOT NULL,
    purged_at    BIGINT NOT NULL
);
DROP TRIGGER audit_events_no_delete;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN old.seq > COALESCE((SELECT floor_seq FROM audit_floors WHERE tenant_id = old.tenant_id), 0)
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
CREATE TRIGGER audit_events_text_purge AFTER DELETE ON audit_events
BEGIN
    DELETE FROM audit_text WHERE rowid = old.rowid;
END;
-- Days a tenant keeps its audit events; NULL: the deployment's default.
ALTER TABLE tenants ADD COLUMN audit_retention_days INTEGER;

-- The app's ingest requests by Idempotency-Key, kept a day: a retry gets the first answer.
CREATE TABLE audit_ingest_keys (
    tenant_id  TEXT NOT NULL,
    key        TEXT NOT NULL,
    body_hash  BLOB NOT NULL,
    response   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

-- SIEM streams: each delivers its tenant's chain from its cursor, at least once (the
-- events themselves are the outbox). Settings are JSON; the secret (an HMAC key, a bucket's
-- secret key) is sealed with the tenant's key and never shown again.
CREATE TABLE audit_streams (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL,
    name              TEXT NOT NULL,
    kind              TEXT NOT NULL,
    settings_json     TEXT NOT NULL,
    secret_sealed     BLOB,
    paused            BIGINT NOT NULL,
    cursor_seq        BIGINT NOT NULL,
    failures          BIGINT NOT NULL,
    next_attempt_at   BIGINT NOT NULL,
    lease_until       BIGINT NOT NULL,
    last_delivered_at BIGINT,
    last_error        TEXT,
    last_error_at     BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX audit_streams_tenant ON audit_streams (tenant_id, created_at);

-- Export jobs: a large export written in the background as gzip pieces (in the database,
-- so any node serves the download), fetched by a short-lived link whose token is stored
-- hashed, and dropped a day after it was made.
CREATE TABLE audit_exports (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    format          TEXT NOT NULL,
    filters_json    TEXT NOT NULL,
    status          TEXT NOT NULL,
    events          BIGINT NOT NULL,
    total           BIGINT,
    bytes           BIGINT NOT NULL,
    error           TEXT,
    lease_until     BIGINT NOT NULL,
    link_hash       BLOB,
    link_expires_at BIGINT,
    created_at      BIGINT NOT NULL,
    finished_at     BIGINT,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX audit_exports_tenant ON audit_exports (tenant_id, created_at);
CREATE TABLE audit_export_parts (
    export_id TEXT NOT NULL,
    n         BIGINT NOT NULL,
    data      BLOB NOT NULL,
    PRIMARY KEY (export_id, n)
);

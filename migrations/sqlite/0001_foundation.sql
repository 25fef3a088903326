-- Foundation: tenants, verified domains, per-tenant data keys, API and operator tokens,
-- hash-chained audit events. Timestamps are unix microseconds (UTC) in BIGINT so both
-- backends share one representation; ids are UUIDv7 text.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE tenants (
    id           TEXT PRIMARY KEY,
    slug         TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    public_token TEXT NOT NULL UNIQUE,
    status       TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'deleted')),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE tenant_domains (
    tenant_id          TEXT NOT NULL REFERENCES tenants(id),
    domain             TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('pending', 'verified')),
    verification_token TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    verified_at        BIGINT,
    PRIMARY KEY (tenant_id, domain)
);
-- A verified domain routes sign-ins, so it belongs to exactly one tenant.
CREATE UNIQUE INDEX tenant_domains_verified_unique ON tenant_domains (domain) WHERE status = 'verified';

CREATE TABLE tenant_keys (
    tenant_id     TEXT PRIMARY KEY REFERENCES tenants(id),
    master_key_id TEXT NOT NULL,
    wrapped_key   BLOB NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    name         TEXT NOT NULL,
    secret_hash  BLOB NOT NULL,
    scopes       TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    last_used_at BIGINT
);
CREATE INDEX api_tokens_tenant ON api_tokens (tenant_id, created_at);

CREATE TABLE operator_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_hash BLOB NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

-- One row per audit chain (a tenant, or 'operator'): the sequence and hash of the newest event.
CREATE TABLE audit_heads (
    tenant_id TEXT PRIMARY KEY,
    last_seq  BIGINT NOT NULL,
    last_hash BLOB NOT NULL
);

CREATE TABLE audit_events (
    tenant_id   TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    id          TEXT NOT NULL UNIQUE,
    occurred_at BIGINT NOT NULL,
    actor_type  TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    actor_label TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    before_json TEXT,
    after_json  TEXT,
    ip          TEXT,
    user_agent  TEXT,
    request_id  TEXT,
    prev_hash   BLOB NOT NULL,
    hash        BLOB NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX audit_events_time ON audit_events (tenant_id, occurred_at);
CREATE INDEX audit_events_action ON audit_events (tenant_id, action, seq);
CREATE INDEX audit_events_actor ON audit_events (tenant_id, actor_id, seq);

-- Append-only: the application never updates or deletes audit rows. Someone with direct
-- database access can drop these triggers; `gatehouse audit verify` then still detects the edit.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

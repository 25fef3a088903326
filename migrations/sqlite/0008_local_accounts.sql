-- One-time links that set a local account's password: an invitation, or an admin's reset.
-- Only the SHA-256 of the link's token is stored; a link is spent once, and a new link of
-- the same user voids the older ones.
CREATE TABLE password_links (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    user_id    TEXT NOT NULL REFERENCES users(id),
    purpose    TEXT NOT NULL CHECK (purpose IN ('invite', 'reset')),
    token_hash BLOB NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX password_links_user ON password_links (tenant_id, user_id);

-- What leaves Gatehouse (invitation emails first): the row commits with the change that
-- caused it; the delivery worker sends it at least once, with backoff. The payload is sealed
-- with the tenant's key, since an email may carry a one-time link.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    destination     TEXT NOT NULL,
    payload_sealed  BLOB NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    delivered_at    BIGINT,
    gave_up_at      BIGINT,
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE delivered_at IS NULL AND gave_up_at IS NULL;

-- Each destination's health, for the operator: last success, last error.
CREATE TABLE delivery_health (
    destination     TEXT PRIMARY KEY,
    last_success_at BIGINT,
    last_error_at   BIGINT,
    last_error      TEXT
);

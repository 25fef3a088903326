-- Setup links (issue 19): the operator hands a customer's IT admin a one-time, expiring link
-- that opens a short setup session for one tenant, limited to its SSO and SCIM pages. Only
-- SHA-256 hashes of the link's token and of the session's cookie are stored. Using the link
-- spends it (used_at); revoking it ends its session too.
CREATE TABLE setup_links (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id),
    label              TEXT NOT NULL,
    token_hash         BYTEA NOT NULL UNIQUE,
    created_by         TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
    used_at            BIGINT,
    session_hash       BYTEA UNIQUE,
    session_expires_at BIGINT,
    revoked_at         BIGINT
);
CREATE INDEX setup_links_tenant ON setup_links (tenant_id, created_at);

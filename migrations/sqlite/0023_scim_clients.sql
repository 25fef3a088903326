-- OAuth client credentials for IdPs' SCIM clients (issue 17, the IPSIE SCIM profile): a
-- tenant registers a client with a secret (kept hashed) or public keys (RFC 7523 client
-- assertions) and the IdP trades them for short-lived SCIM access tokens.
CREATE TABLE scim_clients (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    name        TEXT NOT NULL,
    secret_hash BLOB,
    jwks        TEXT,
    token_ttl_secs BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX scim_clients_tenant ON scim_clients (tenant_id, created_at);

-- Gatehouse as OIDC provider to the SaaS app: the apps the operator registered (OAuth
-- clients), the token signing keys (private halves sealed with the master key) and
-- authorization codes (single use, stored hashed, short-lived).

CREATE TABLE oauth_clients (
    id                        TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    -- SHA-256 of the client secret; NULL for a public client (PKCE alone).
    secret_hash               BYTEA,
    redirect_uris             TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    created_at                BIGINT NOT NULL,
    revoked_at                BIGINT
);

CREATE TABLE provider_keys (
    kid            TEXT PRIMARY KEY,
    private_sealed BYTEA NOT NULL,
    public_jwk     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    -- NULL for the signing key; a retired key stays in the JWKS until tokens it signed expire.
    retired_at     BIGINT
);

CREATE TABLE oauth_codes (
    code_hash      BYTEA PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    client_id      TEXT NOT NULL REFERENCES oauth_clients(id),
    user_id        TEXT NOT NULL REFERENCES users(id),
    session_id     TEXT NOT NULL REFERENCES sessions(id),
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    nonce          TEXT,
    code_challenge TEXT NOT NULL,
    auth_time      BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);
CREATE INDEX oauth_codes_expiry ON oauth_codes (expires_at);

-- Tokens an app can manage (RFC 6749 §6, RFC 7009, RFC 7662). An app opts in to refresh
-- tokens, and sets its access tokens' lifetime, at registration.
ALTER TABLE oauth_clients ADD COLUMN refresh_tokens BIGINT NOT NULL DEFAULT 0 CHECK (refresh_tokens IN (0, 1));
ALTER TABLE oauth_clients ADD COLUMN access_token_ttl_secs BIGINT NOT NULL DEFAULT 600;

-- Refresh tokens, stored as SHA-256, one row per token. Using one rotates it (the row is
-- marked used and a new one joins its family); presenting a used one again revokes the
-- whole family. A refresh token lives no longer than the session it came from, which also
-- ends it at sign-out, deactivation, suspension, revocation and the policy's lifetimes.
CREATE TABLE oauth_refresh_tokens (
    token_hash  BYTEA PRIMARY KEY,
    -- The first token's id: every rotation of one sign-in's token shares it.
    family_id   TEXT NOT NULL,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    client_id   TEXT NOT NULL REFERENCES oauth_clients(id),
    user_id     TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    scope       TEXT NOT NULL,
    auth_time   BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    revoked_at  BIGINT
);
CREATE INDEX oauth_refresh_tokens_family ON oauth_refresh_tokens (tenant_id, family_id);
CREATE INDEX oauth_refresh_tokens_expiry ON oauth_refresh_tokens (expires_at);

-- Access tokens revoked before they expire (RFC 7009), by their `jti`, kept until then.
CREATE TABLE oauth_revoked_access_tokens (
    jti         TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    expires_at  BIGINT NOT NULL
);
CREATE INDEX oauth_revoked_access_tokens_expiry ON oauth_revoked_access_tokens (expires_at);

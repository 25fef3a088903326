-- TOTP multi-factor authentication (RFC 6238): one authenticator per user, recovery codes,
-- and the second step of a sign-in that waits for a code.

-- A user's authenticator. The 160-bit secret is sealed with the tenant's data key.
CREATE TABLE mfa_totp (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    user_id       TEXT NOT NULL REFERENCES users(id),
    secret_sealed BLOB NOT NULL,
    created_at    BIGINT NOT NULL,
    -- Set by the first valid code; until then the enrolment is pending and signs nobody in.
    confirmed_at  BIGINT,
    -- The last time step a code was accepted for: only a later step passes (no replay).
    last_step     BIGINT,
    -- Code attempts since the last success, counted before each check.
    failures      BIGINT NOT NULL DEFAULT 0,
    -- No code is checked before this time (growing delays after 3 failures).
    retry_at      BIGINT,
    -- Locked after too many failures, until an administrator unlocks it.
    locked_at     BIGINT,
    PRIMARY KEY (tenant_id, user_id)
);

-- Recovery codes: SHA-256 of each (they carry 120 random bits), each usable once.
CREATE TABLE mfa_recovery_codes (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    user_id    TEXT NOT NULL REFERENCES users(id),
    code_hash  BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (tenant_id, user_id, code_hash)
);

-- A sign-in whose first factor passed and that waits for a second one. The browser holds
-- the token in a short-lived cookie; only its SHA-256 is stored.
CREATE TABLE mfa_challenges (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    user_id    TEXT NOT NULL REFERENCES users(id),
    token_hash BLOB NOT NULL UNIQUE,
    -- The first factor, as a session records it ('password').
    method     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX mfa_challenges_expiry ON mfa_challenges (expires_at);

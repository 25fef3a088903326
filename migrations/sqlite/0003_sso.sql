-- Single sign-on: the directory (users, their IdP identities, groups, memberships, role
-- assignments), SSO connections, login state between the redirect out and the answer in,
-- the SAML replay cache (in the database so it holds across nodes), and browser sessions.

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    -- Lower-cased; unique per tenant.
    email          TEXT NOT NULL,
    email_verified BIGINT NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    display_name   TEXT,
    given_name     TEXT,
    family_name    TEXT,
    locale         TEXT,
    timezone       TEXT,
    custom_json    TEXT NOT NULL DEFAULT '{}',
    status         TEXT NOT NULL CHECK (status IN ('active', 'pending', 'deactivated')),
    -- Who created the user: an SSO login (just in time), SCIM, or a local account.
    source         TEXT NOT NULL CHECK (source IN ('sso', 'scim', 'local')),
    -- Argon2id PHC string; only local accounts (the break-glass owner) have one.
    password_hash  TEXT,
    -- The tenant's break-glass owner: may always sign in with a password, even SSO-only.
    is_owner       BIGINT NOT NULL DEFAULT 0 CHECK (is_owner IN (0, 1)),
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    last_login_at  BIGINT
);
CREATE UNIQUE INDEX users_tenant_email ON users (tenant_id, email);

-- Tenant security policy. SSO-only: local passwords are off for everyone but the owner.
CREATE TABLE tenant_policies (
    tenant_id  TEXT PRIMARY KEY REFERENCES tenants(id),
    sso_only   BIGINT NOT NULL DEFAULT 0 CHECK (sso_only IN (0, 1)),
    updated_at BIGINT NOT NULL
);

-- A user as one connection knows them: (connection, subject) → user.
CREATE TABLE user_identities (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    connection_id TEXT NOT NULL,
    subject       TEXT NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users(id),
    created_at    BIGINT NOT NULL,
    last_login_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, connection_id, subject)
);
CREATE INDEX user_identities_user ON user_identities (tenant_id, user_id);

CREATE TABLE groups (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    -- The IdP's identifier for the group (a name, or an object id as Entra sends).
    external_id  TEXT NOT NULL,
    display_name TEXT NOT NULL,
    source       TEXT NOT NULL CHECK (source IN ('sso', 'scim')),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX groups_tenant_external ON groups (tenant_id, external_id);

CREATE TABLE group_members (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    group_id  TEXT NOT NULL REFERENCES groups(id),
    user_id   TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (tenant_id, group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (tenant_id, user_id);

-- Roles granted to a user; scope kind and name are '' for an unscoped role.
CREATE TABLE role_assignments (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    user_id    TEXT NOT NULL REFERENCES users(id),
    role       TEXT NOT NULL,
    scope_kind TEXT NOT NULL DEFAULT '',
    scope_name TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, role, scope_kind, scope_name)
);

CREATE TABLE sso_connections (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    name           TEXT NOT NULL,
    protocol       TEXT NOT NULL CHECK (protocol IN ('saml', 'oidc')),
    -- 'test': only admin test sign-ins; 'enabled': users sign in; 'disabled': nobody.
    status         TEXT NOT NULL CHECK (status IN ('test', 'enabled', 'disabled')),
    -- Protocol settings without secrets, as JSON.
    settings       TEXT NOT NULL,
    -- Secrets (OIDC client secret, SAML SP decryption keys) sealed with the tenant's data key.
    secrets_sealed BLOB,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE UNIQUE INDEX sso_connections_tenant_name ON sso_connections (tenant_id, name);

-- A sign-in between the redirect to the IdP and its answer. The id travels as RelayState
-- (SAML) or state (OIDC); rows are single-use and expire.
CREATE TABLE sso_login_states (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    connection_id TEXT NOT NULL REFERENCES sso_connections(id),
    request_id    TEXT NOT NULL,
    -- OIDC nonce and PKCE verifier, sealed; NULL for SAML.
    secrets_sealed BLOB,
    return_to     TEXT,
    -- SHA-256 of the value of a cookie set on the browser that started the sign-in; the
    -- answer is accepted only from that browser (no login CSRF with a stolen response).
    binding_hash  BLOB,
    test_mode     BIGINT NOT NULL DEFAULT 0 CHECK (test_mode IN (0, 1)),
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX sso_login_states_expiry ON sso_login_states (expires_at);

-- Assertion ids seen, kept until the assertion could no longer be accepted anyway.
CREATE TABLE saml_replay (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    connection_id TEXT NOT NULL,
    assertion_id  TEXT NOT NULL,
    expires_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, connection_id, assertion_id)
);
CREATE INDEX saml_replay_expiry ON saml_replay (expires_at);

-- Browser sessions: the cookie holds an opaque token; only its SHA-256 is stored.
CREATE TABLE sessions (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    user_id             TEXT NOT NULL REFERENCES users(id),
    token_hash          BLOB NOT NULL UNIQUE,
    -- How the user signed in: 'sso:<connection id>' or 'password'.
    method              TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    last_seen_at        BIGINT NOT NULL,
    idle_expires_at     BIGINT NOT NULL,
    absolute_expires_at BIGINT NOT NULL,
    revoked_at          BIGINT,
    ip                  TEXT,
    user_agent          TEXT
);
CREATE INDEX sessions_user ON sessions (tenant_id, user_id);

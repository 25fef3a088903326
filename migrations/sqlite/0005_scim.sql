-- SCIM 2.0 provisioning: the SCIM identity of users and groups (userName, externalId and the
-- resource as the client last wrote it), a version per resource for ETags, and the origin of
-- each role assignment, so that an SSO login and a SCIM group change each replace only the
-- roles they derived.

-- userName as the client wrote it; NULL for users SCIM does not manage.
ALTER TABLE users ADD COLUMN scim_user_name TEXT;
-- userName lower-cased: RFC 7643 makes userName case-insensitive and unique.
ALTER TABLE users ADD COLUMN scim_user_name_key TEXT;
ALTER TABLE users ADD COLUMN scim_external_id TEXT;
-- The other attributes the client wrote, as JSON (no id, meta, groups or password).
ALTER TABLE users ADD COLUMN scim_json TEXT;
-- Bumped on every change the SCIM representation shows; the ETag is W/"<version>".
ALTER TABLE users ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
CREATE UNIQUE INDEX users_tenant_scim_user_name ON users (tenant_id, scim_user_name_key);
CREATE INDEX users_tenant_scim_external_id ON users (tenant_id, scim_external_id);

ALTER TABLE groups ADD COLUMN scim_external_id TEXT;
ALTER TABLE groups ADD COLUMN scim_json TEXT;
ALTER TABLE groups ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
CREATE INDEX group_members_group ON group_members (tenant_id, group_id);

-- role_assignments gains `source` ('sso': derived at sign-in from the login's groups;
-- 'scim': derived from SCIM group memberships), part of the key. SQLite cannot change a
-- primary key in place, so the table is rebuilt.
CREATE TABLE role_assignments_new (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    user_id    TEXT NOT NULL REFERENCES users(id),
    role       TEXT NOT NULL,
    scope_kind TEXT NOT NULL DEFAULT '',
    scope_name TEXT NOT NULL DEFAULT '',
    source     TEXT NOT NULL DEFAULT 'sso' CHECK (source IN ('sso', 'scim')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, source, role, scope_kind, scope_name)
);
INSERT INTO role_assignments_new (tenant_id, user_id, role, scope_kind, scope_name, source, created_at)
    SELECT tenant_id, user_id, role, scope_kind, scope_name, 'sso', created_at FROM role_assignments;
DROP TABLE role_assignments;
ALTER TABLE role_assignments_new RENAME TO role_assignments;

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
-- 'scim': derived from SCIM group memberships), part of the key.
ALTER TABLE role_assignments ADD COLUMN source TEXT NOT NULL DEFAULT 'sso' CHECK (source IN ('sso', 'scim'));
ALTER TABLE role_assignments DROP CONSTRAINT role_assignments_pkey;
ALTER TABLE role_assignments ADD PRIMARY KEY (tenant_id, user_id, source, role, scope_kind, scope_name);

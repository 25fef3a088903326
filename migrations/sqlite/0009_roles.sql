-- Roles and permissions: role assignments gain the source 'manual' (an admin's assignment,
-- for users no IdP drives). SQLite cannot change a CHECK in place, so the table is rebuilt.
CREATE TABLE role_assignments_new (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    user_id    TEXT NOT NULL REFERENCES users(id),
    role       TEXT NOT NULL,
    scope_kind TEXT NOT NULL DEFAULT '',
    scope_name TEXT NOT NULL DEFAULT '',
    source     TEXT NOT NULL DEFAULT 'sso' CHECK (source IN ('sso', 'scim', 'manual')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, source, role, scope_kind, scope_name)
);
INSERT INTO role_assignments_new (tenant_id, user_id, role, scope_kind, scope_name, source, created_at)
    SELECT tenant_id, user_id, role, scope_kind, scope_name, source, created_at FROM role_assignments;
DROP TABLE role_assignments;
ALTER TABLE role_assignments_new RENAME TO role_assignments;
CREATE INDEX role_assignments_role ON role_assignments (tenant_id, role);

-- Roles and permissions: role assignments gain the source 'manual' (an admin's assignment,
-- for users no IdP drives).
ALTER TABLE role_assignments DROP CONSTRAINT role_assignments_source_check;
ALTER TABLE role_assignments ADD CONSTRAINT role_assignments_source_check
    CHECK (source IN ('sso', 'scim', 'manual'));
CREATE INDEX role_assignments_role ON role_assignments (tenant_id, role);

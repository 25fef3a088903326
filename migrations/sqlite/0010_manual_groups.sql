-- Groups an admin creates and fills by hand (source 'manual'), for users no IdP drives.
-- SQLite cannot change a CHECK in place: groups is rebuilt, and group_members with it (it
-- references groups; renaming the new tables points its foreign key at the new groups).
CREATE TABLE groups_new (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    -- The IdP's identifier for the group (a name, or an object id as Entra sends).
    external_id      TEXT NOT NULL,
    display_name     TEXT NOT NULL,
    source           TEXT NOT NULL CHECK (source IN ('sso', 'scim', 'manual')),
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    scim_external_id TEXT,
    scim_json        TEXT,
    version          BIGINT NOT NULL DEFAULT 1
);
INSERT INTO groups_new (id, tenant_id, external_id, display_name, source, created_at, updated_at,
                        scim_external_id, scim_json, version)
    SELECT id, tenant_id, external_id, display_name, source, created_at, updated_at,
           scim_external_id, scim_json, version FROM groups;
CREATE TABLE group_members_new (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    group_id  TEXT NOT NULL REFERENCES groups_new(id),
    user_id   TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (tenant_id, group_id, user_id)
);
INSERT INTO group_members_new (tenant_id, group_id, user_id)
    SELECT tenant_id, group_id, user_id FROM group_members;
DROP TABLE group_members;
DROP TABLE groups;
ALTER TABLE groups_new RENAME TO groups;
ALTER TABLE group_members_new RENAME TO group_members;
CREATE UNIQUE INDEX groups_tenant_external ON groups (tenant_id, external_id);
CREATE INDEX group_members_user ON group_members (tenant_id, user_id);
CREATE INDEX group_members_group ON group_members (tenant_id, group_id);

-- Plugins: uploaded components (operator-published when tenant_id is NULL, otherwise private
-- to one tenant; built-ins are operator-published rows marked builtin), each tenant's
-- pipeline (one plugin per stage, with its configuration sealed by the tenant's data key),
-- and each tenant's role catalogue as the role mapper sees it.

CREATE TABLE plugins (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT REFERENCES tenants(id),
    name        TEXT NOT NULL,
    version     TEXT NOT NULL,
    world       TEXT NOT NULL CHECK (world IN ('idp-adapter', 'attribute-mapper', 'role-mapper', 'scim-adapter')),
    sha256      TEXT NOT NULL,
    size        BIGINT NOT NULL,
    wasm        BLOB NOT NULL,
    builtin     BIGINT NOT NULL DEFAULT 0 CHECK (builtin IN (0, 1)),
    description TEXT,
    uploaded_by TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
-- One name+version per owner; the operator's namespace is the empty tenant id.
CREATE UNIQUE INDEX plugins_owner_name_version ON plugins (COALESCE(tenant_id, ''), name, version);
CREATE INDEX plugins_tenant ON plugins (tenant_id, name);

CREATE TABLE pipeline_stages (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    stage         TEXT NOT NULL CHECK (stage IN ('idp-adapter', 'attribute-mapper', 'role-mapper', 'scim-adapter')),
    plugin_id     TEXT NOT NULL REFERENCES plugins(id),
    config_sealed BLOB,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, stage)
);
CREATE INDEX pipeline_stages_plugin ON pipeline_stages (plugin_id);

CREATE TABLE tenant_catalogues (
    tenant_id  TEXT PRIMARY KEY REFERENCES tenants(id),
    catalogue  TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

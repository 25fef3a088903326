-- Safe change (issue 18). A connection may name its own IdP adapter, which its sign-ins use
-- instead of the tenant's idp-adapter stage; deleting the connection deletes it. Every
-- activation of a plugin version (a stage's or a connection adapter's, or a return to the
-- default) is kept in order per slot, with who made it and the replay it was gated on, so an
-- admin can see which version ran when and roll back to the one before.

CREATE TABLE connection_adapters (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    connection_id TEXT NOT NULL REFERENCES sso_connections(id) ON DELETE CASCADE,
    plugin_id     TEXT NOT NULL REFERENCES plugins(id),
    config_sealed BLOB,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, connection_id)
);
CREATE INDEX connection_adapters_plugin ON connection_adapters (plugin_id);

-- `slot` is a stage name (`role-mapper`) or `connection:<id>`. `plugin_id` is NULL for a
-- return to the default; the plugin's name and version are copied so the history still
-- reads after the version is deleted. `config_sealed` is sealed under the slot's purpose,
-- so a rollback restores the configuration and secrets exactly.
CREATE TABLE plugin_activations (
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    slot           TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    plugin_id      TEXT,
    plugin_name    TEXT,
    plugin_version TEXT,
    config_sealed  BLOB,
    kind           TEXT NOT NULL CHECK (kind IN ('assigned', 'reset', 'rolled_back')),
    actor_type     TEXT NOT NULL,
    actor_id       TEXT NOT NULL,
    actor_label    TEXT NOT NULL,
    replay         TEXT,
    activated_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, slot, seq)
);

-- What was assigned before this migration becomes each slot's first entry.
INSERT INTO plugin_activations (tenant_id, slot, seq, plugin_id, plugin_name, plugin_version,
    config_sealed, kind, actor_type, actor_id, actor_label, replay, activated_at)
SELECT s.tenant_id, s.stage, 1, s.plugin_id, p.name, p.version, s.config_sealed, 'assigned',
    'system', 'migration', 'migration', NULL, s.updated_at
FROM pipeline_stages s JOIN plugins p ON p.id = s.plugin_id;

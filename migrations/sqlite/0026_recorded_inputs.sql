-- Replay before activation (issue 18). Recent sign-in inputs (the raw identity, newest per
-- user and connection) and SCIM requests are kept sealed with the tenant's data key, bounded
-- per source in count and age, so a candidate plugin version can be replayed over them and
-- compared with the active one before it is activated.

-- `source` is `connection:<id>` for sign-ins or `scim`. `input_key` is a sha256 of the
-- connection and subject for a sign-in (one row per user, the newest kept) and a random id
-- for a SCIM request; it never holds the subject in clear.
CREATE TABLE recorded_inputs (
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    source         TEXT NOT NULL,
    input_key      TEXT NOT NULL,
    payload_sealed BLOB NOT NULL,
    recorded_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, source, input_key)
);
CREATE INDEX recorded_inputs_age ON recorded_inputs (tenant_id, source, recorded_at);

-- A tenant's choices, within the operator's bounds; no row means the operator's defaults.
CREATE TABLE recording_settings (
    tenant_id      TEXT PRIMARY KEY REFERENCES tenants(id),
    enabled        BIGINT NOT NULL CHECK (enabled IN (0, 1)),
    max_per_source BIGINT NOT NULL,
    max_age_days   BIGINT NOT NULL,
    require_replay BIGINT NOT NULL CHECK (require_replay IN (0, 1)),
    updated_at     BIGINT NOT NULL
);

-- A replay of a candidate (one or more slots) over the recorded inputs. `candidate_sealed`
-- holds the slots' plugin ids, configuration and secrets, so activating the replay activates
-- exactly what was replayed. The report names each slot's history position at replay time,
-- so a replay whose baseline changed cannot be activated.
CREATE TABLE plugin_replays (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    candidate_sealed BLOB NOT NULL,
    report           TEXT NOT NULL,
    actor_type       TEXT NOT NULL,
    actor_id         TEXT NOT NULL,
    actor_label      TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    activated_at     BIGINT
);
CREATE INDEX plugin_replays_tenant ON plugin_replays (tenant_id, created_at);

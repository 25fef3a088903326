-- IdP metadata that keeps itself current (issue 18). Per SAML connection made from a
-- metadata URL: when the metadata was last fetched, when it last changed what the connection
-- trusts, the last failure (the last good metadata stays in force), and when to fetch next.
-- Per connection: the certificate-expiry threshold (days) last warned about, for the IdP's
-- signing certificates and for the SP's own, so each threshold is warned once.
CREATE TABLE connection_health (
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    connection_id       TEXT NOT NULL REFERENCES sso_connections(id) ON DELETE CASCADE,
    metadata_checked_at BIGINT,
    metadata_changed_at BIGINT,
    metadata_error      TEXT,
    metadata_error_at   BIGINT,
    next_refresh_at     BIGINT,
    idp_warned_days     BIGINT,
    sp_warned_days      BIGINT,
    PRIMARY KEY (tenant_id, connection_id)
);
CREATE INDEX connection_health_due ON connection_health (next_refresh_at);

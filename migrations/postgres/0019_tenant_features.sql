-- Per-tenant add-on entitlements (issue 17): the parts of Gatehouse the operator has enabled
-- for a tenant, as a JSON array of feature names. Tenants that existed before get every
-- feature they could already use; a feature added later starts off for them.
ALTER TABLE tenants ADD COLUMN features TEXT NOT NULL
    DEFAULT '["audit_export","audit_streaming","custom_plugins","mfa","roles","scim","sso"]';

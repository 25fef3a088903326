-- The tenant security policy becomes one JSON document (validated by the host before it is
-- written); SSO-only moves into it. `mfa_required_since` is when MFA last became required,
-- the start of the grace period, kept by the host outside the document the admin edits.
ALTER TABLE tenant_policies ADD COLUMN document TEXT NOT NULL DEFAULT '{}';
ALTER TABLE tenant_policies ADD COLUMN mfa_required_since BIGINT;
UPDATE tenant_policies SET document = '{"sso_only":true}' WHERE sso_only = 1;
ALTER TABLE tenant_policies DROP COLUMN sso_only;

-- When a local password was last set, for the policy's optional password expiry.
ALTER TABLE users ADD COLUMN password_changed_at BIGINT;
UPDATE users SET password_changed_at = updated_at WHERE password_hash IS NOT NULL;

-- Groups an admin creates and fills by hand (source 'manual'), for users no IdP drives.
ALTER TABLE groups DROP CONSTRAINT groups_source_check;
ALTER TABLE groups ADD CONSTRAINT groups_source_check CHECK (source IN ('sso', 'scim', 'manual'));

-- Rotating a tenant's public token (issue 17): the token in its IdP-facing URLs (SAML,
-- OIDC callback, SCIM base, start links) can be replaced while the old one keeps working
-- for an overlap, so the IdPs can be updated without a sign-in outage.
ALTER TABLE tenants ADD COLUMN previous_public_token TEXT;
ALTER TABLE tenants ADD COLUMN previous_public_token_until BIGINT;
CREATE INDEX tenants_previous_public_token ON tenants (previous_public_token);

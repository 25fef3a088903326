-- RFC 8693 token exchange (issue 17): an app opts in to trading an ID token its user got
-- from the tenant's IdP for Gatehouse tokens. Off unless the operator registers it so.
ALTER TABLE oauth_clients ADD COLUMN token_exchange BIGINT NOT NULL DEFAULT 0 CHECK (token_exchange IN (0, 1));

-- Per connection (issue 17): just-in-time creation on or off, and a default role for the
-- users a connection creates, as JSON `{"jit": true, "default_role": null}`.
ALTER TABLE sso_connections ADD COLUMN provisioning TEXT NOT NULL DEFAULT '{}';

-- What the upstream IdP said of an SSO sign-in (issue 17, IPSIE): its `amr`, `acr`, whether
-- it proved MFA and when its session ends, as JSON; ID tokens carry them on.
ALTER TABLE sessions ADD COLUMN upstream_auth TEXT;

-- RFC 7523 client authentication (issue 17, IPSIE): an app may register public keys (a JWK
-- set) and sign its client assertions with them; each assertion's `jti` is used once.
ALTER TABLE oauth_clients ADD COLUMN jwks TEXT;
CREATE TABLE oauth_client_assertions (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX oauth_client_assertions_expiry ON oauth_client_assertions (expires_at);

-- Login initiated by a third party (OIDC Core section 4, IPSIE): where Gatehouse sends a
-- signed-in user to open an app, which then starts its own sign-in.
ALTER TABLE oauth_clients ADD COLUMN initiate_login_uri TEXT;

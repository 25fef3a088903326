-- DPoP (RFC 9449, issue 17): an app may be registered to require sender-constrained
-- tokens; a refresh token issued with a DPoP proof is bound to that key (its thumbprint).
ALTER TABLE oauth_clients ADD COLUMN dpop_bound BIGINT NOT NULL DEFAULT 0 CHECK (dpop_bound IN (0, 1));
ALTER TABLE oauth_refresh_tokens ADD COLUMN dpop_jkt TEXT;

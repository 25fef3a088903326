-- OpenID Connect Back-Channel Logout 1.0 (issue 17). An app may register a URI to be told,
-- by a signed logout token, when a session it got tokens in ends for any reason.
ALTER TABLE oauth_clients ADD COLUMN backchannel_logout_uri TEXT;

-- Which apps got tokens in which session: written when a code is redeemed, read when the
-- session ends (to queue one notice per app), dropped with the session.
CREATE TABLE oauth_session_apps (
    tenant_id  TEXT NOT NULL,
    session_id TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, session_id, client_id)
);

-- An outbox row whose payload is not secret (a logout notice names only ids) carries it in
-- clear here, with an empty `payload_sealed`.
ALTER TABLE outbox ADD COLUMN payload TEXT;

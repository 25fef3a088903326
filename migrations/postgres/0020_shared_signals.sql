-- OpenID Shared Signals Framework 1.0 (issue 17): Gatehouse transmits CAEP and RISC events
-- to the apps as signed SETs. A registered app (the receiver) manages its streams; a push
-- stream's SETs are outbox rows (destination `ssf:<stream id>`), a poll stream's wait in
-- ssf_poll_events until the app acknowledges them.
CREATE TABLE ssf_streams (
    id                TEXT PRIMARY KEY,
    client_id         TEXT NOT NULL REFERENCES oauth_clients(id),
    -- `push` (RFC 8935) or `poll` (RFC 8936).
    delivery          TEXT NOT NULL CHECK (delivery IN ('push', 'poll')),
    -- The receiver's URL (push only).
    endpoint_url      TEXT,
    -- The Authorization header value a push receiver asked for, sealed with the instance key.
    authorization_sealed BYTEA,
    -- JSON arrays of event type URIs: what the receiver asked for, and what it gets.
    events_requested  TEXT NOT NULL,
    events_delivered  TEXT NOT NULL,
    description       TEXT,
    -- `enabled`, `paused` (events are held) or `disabled` (events are dropped).
    status            TEXT NOT NULL CHECK (status IN ('enabled', 'paused', 'disabled')),
    reason            TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX ssf_streams_client ON ssf_streams (client_id);

-- Subjects a receiver removed from a stream (every subject is in a stream until removed).
CREATE TABLE ssf_removed_subjects (
    stream_id   TEXT NOT NULL REFERENCES ssf_streams(id) ON DELETE CASCADE,
    subject_key TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (stream_id, subject_key)
);

-- SETs waiting for a poll stream's receiver to fetch and acknowledge them.
CREATE TABLE ssf_poll_events (
    stream_id  TEXT NOT NULL REFERENCES ssf_streams(id) ON DELETE CASCADE,
    jti        TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (stream_id, jti)
);
CREATE INDEX ssf_poll_events_age ON ssf_poll_events (stream_id, created_at);

-- Directory lifecycle webhooks for the apps (issue 17): an app may register a URL to be
-- sent each tenant's user, group and role changes, signed with an HMAC key that is shown
-- once and kept sealed with the instance key. The deliveries are outbox rows.
ALTER TABLE oauth_clients ADD COLUMN webhook_url TEXT;
ALTER TABLE oauth_clients ADD COLUMN webhook_secret_sealed BYTEA;
CREATE INDEX outbox_destination ON outbox (destination, created_at);

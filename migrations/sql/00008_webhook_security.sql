-- Webhook security (issue 9). Each subscription records the signature
-- scheme its deliveries carry: subscriptions made before v2 keep v1, which
-- is what their receivers verify; new ones get v2, which also covers the
-- method, path and query. URLs are bounded like the API bounds them.

-- +goose Up
ALTER TABLE webhook_subscriptions
    ADD COLUMN signature_version smallint NOT NULL DEFAULT 1 CHECK (signature_version IN (1, 2));
ALTER TABLE webhook_subscriptions ALTER COLUMN signature_version SET DEFAULT 2;
ALTER TABLE webhook_subscriptions
    ADD CONSTRAINT webhook_subscriptions_url_length CHECK (length(url) <= 2048) NOT VALID;

-- +goose Down
ALTER TABLE webhook_subscriptions DROP CONSTRAINT webhook_subscriptions_url_length;
ALTER TABLE webhook_subscriptions DROP COLUMN signature_version;

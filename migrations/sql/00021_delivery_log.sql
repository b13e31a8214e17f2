-- A subscription's delivery log is read newest first, a page at a time
-- (the admin's webhooks screen): without this index a rarely used
-- subscription's page would scan every delivery.

-- +goose Up
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (subscription_id, id);

-- +goose Down
DROP INDEX webhook_deliveries_log;

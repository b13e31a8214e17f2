-- One clock: every stored time comes from qualdial's clock, passed with the
-- statement, never from the database's now(). Dropping the defaults makes a
-- statement that forgets its time fail instead of silently mixing clocks.

-- +goose Up
ALTER TABLE users ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE api_keys ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE campaigns ALTER COLUMN created_at DROP DEFAULT, ALTER COLUMN updated_at DROP DEFAULT;
ALTER TABLE imports ALTER COLUMN started_at DROP DEFAULT;
ALTER TABLE leads ALTER COLUMN created_at DROP DEFAULT, ALTER COLUMN updated_at DROP DEFAULT;
ALTER TABLE call_attempts ALTER COLUMN started_at DROP DEFAULT;
ALTER TABLE answers ALTER COLUMN answered_at DROP DEFAULT;
ALTER TABLE dnc ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE lead_events ALTER COLUMN at DROP DEFAULT;
ALTER TABLE webhook_subscriptions ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE webhook_deliveries ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE twilio_sessions ALTER COLUMN created_at DROP DEFAULT, ALTER COLUMN updated_at DROP DEFAULT;

-- +goose Down
ALTER TABLE users ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE api_keys ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE campaigns ALTER COLUMN created_at SET DEFAULT now(), ALTER COLUMN updated_at SET DEFAULT now();
ALTER TABLE imports ALTER COLUMN started_at SET DEFAULT now();
ALTER TABLE leads ALTER COLUMN created_at SET DEFAULT now(), ALTER COLUMN updated_at SET DEFAULT now();
ALTER TABLE call_attempts ALTER COLUMN started_at SET DEFAULT now();
ALTER TABLE answers ALTER COLUMN answered_at SET DEFAULT now();
ALTER TABLE dnc ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE lead_events ALTER COLUMN at SET DEFAULT now();
ALTER TABLE webhook_subscriptions ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE webhook_deliveries ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE twilio_sessions ALTER COLUMN created_at SET DEFAULT now(), ALTER COLUMN updated_at SET DEFAULT now();

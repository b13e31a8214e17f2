-- A Twilio call's session names the attempt it belongs to, so the webhook
-- that hears an answer saves the script's state on the attempt (and an
-- opt-out on the do-not-call list) in the same transaction as the session:
-- the call is settled from it even when the worker that placed it is gone.

-- +goose Up
ALTER TABLE twilio_sessions ADD COLUMN attempt_id bigint REFERENCES call_attempts (id) ON DELETE CASCADE;
CREATE INDEX twilio_sessions_attempt ON twilio_sessions (attempt_id) WHERE attempt_id IS NOT NULL;

-- +goose Down
ALTER TABLE twilio_sessions DROP COLUMN attempt_id;

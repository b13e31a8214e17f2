-- Twilio calls are driven by webhooks that any replica may serve: each
-- call's state (status, engine state, timeline) lives here, keyed by a
-- random token in the webhook URLs.

-- +goose Up
CREATE TABLE twilio_sessions (
    token      text PRIMARY KEY CHECK (length(token) >= 16),
    call_sid   text UNIQUE,
    data       jsonb NOT NULL CHECK (jsonb_typeof(data) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE twilio_sessions;

-- Calls per second per driver account (Twilio allows 1 by default), shared
-- by every campaign and every qualdial process.

-- +goose Up
CREATE TABLE driver_pacing (
    driver  text PRIMARY KEY,
    next_at timestamptz NOT NULL DEFAULT '-infinity'
);

-- +goose Down
DROP TABLE driver_pacing;

-- Calls-per-second pacing shared by every qualdial process: each dial takes
-- the next free slot of its campaign, 1/calls_per_second apart.

-- +goose Up
ALTER TABLE campaigns ADD COLUMN pace_next_at timestamptz NOT NULL DEFAULT '-infinity';

-- +goose Down
ALTER TABLE campaigns DROP COLUMN pace_next_at;

-- +goose Up
-- Caller-ID health: a campaign may present more numbers than its caller_id
-- (rotation, local presence), each at most caller_id_daily_cap times in any
-- 24 hours (0: no cap). Attempts are counted by the caller ID they
-- presented.
ALTER TABLE campaigns
    ADD COLUMN caller_ids text[] NOT NULL DEFAULT '{}'
        CHECK (cardinality(caller_ids) <= 100),
    ADD COLUMN caller_id_daily_cap integer NOT NULL DEFAULT 0
        CHECK (caller_id_daily_cap BETWEEN 0 AND 100000);
CREATE INDEX call_attempts_caller_id_started ON call_attempts (caller_id, started_at) WHERE caller_id IS NOT NULL;

-- +goose Down
DROP INDEX call_attempts_caller_id_started;
ALTER TABLE campaigns DROP COLUMN caller_ids, DROP COLUMN caller_id_daily_cap;

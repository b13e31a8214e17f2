-- Each campaign's rolling 30-day abandonment rate (47 CFR 64.1200(a)(7):
-- at most 3 % of answered calls per campaign per 30 days may go without a
-- message within 2 seconds of the answer), as the abandonment watch last
-- computed it, and why a campaign is in its status (the watch pauses a
-- campaign before it reaches the limit, and says so).

-- +goose Up
ALTER TABLE campaigns
    ADD COLUMN status_reason text CHECK (length(status_reason) <= 500),
    ADD COLUMN abandon_answered integer NOT NULL DEFAULT 0 CHECK (abandon_answered >= 0),
    ADD COLUMN abandon_late integer NOT NULL DEFAULT 0 CHECK (abandon_late >= 0),
    ADD COLUMN abandon_at timestamptz;
CREATE INDEX call_attempts_campaign_ended ON call_attempts (campaign_id, ended_at) WHERE ended_at IS NOT NULL;

-- +goose Down
DROP INDEX call_attempts_campaign_ended;
ALTER TABLE campaigns DROP COLUMN abandon_at, DROP COLUMN abandon_late, DROP COLUMN abandon_answered, DROP COLUMN status_reason;

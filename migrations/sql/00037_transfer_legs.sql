-- +goose Up
-- When an attempt's live transfer began, and whether its second leg went
-- out through the trunk (a number, not a SIP address of its own): while
-- the attempt is open, that leg holds a trunk channel, and the dispatcher
-- counts it against the trunk's limit.
ALTER TABLE call_attempts
    ADD COLUMN transfer_started_at timestamptz,
    ADD COLUMN transfer_via_trunk boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE call_attempts DROP COLUMN transfer_started_at, DROP COLUMN transfer_via_trunk;

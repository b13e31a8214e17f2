-- +goose Up
-- Live transfer of hot leads: where the attempt put the lead through (or
-- tried to), how it went, how long the person took to answer and how long
-- they talked, and who hung up.
ALTER TABLE call_attempts
    ADD COLUMN transfer_to text CHECK (length(transfer_to) <= 256),
    ADD COLUMN transfer_status text CHECK (transfer_status IN ('connected', 'no_answer', 'busy', 'failed', 'lead_hung_up', 'unsupported')),
    ADD COLUMN transfer_wait_ms integer CHECK (transfer_wait_ms >= 0),
    ADD COLUMN transfer_talk_ms integer CHECK (transfer_talk_ms >= 0),
    ADD COLUMN transfer_ended_by text CHECK (transfer_ended_by IN ('lead', 'agent', 'qualdial'));

-- +goose Down
ALTER TABLE call_attempts DROP COLUMN transfer_to, DROP COLUMN transfer_status, DROP COLUMN transfer_wait_ms,
    DROP COLUMN transfer_talk_ms, DROP COLUMN transfer_ended_by;

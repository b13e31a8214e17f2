-- What answering-machine detection made of each answered call, where the
-- driver listened (SIP after the answer; Twilio's answered_by): the
-- verdict (a machine's call has disposition machine, unless a key
-- overruled it), what decided it, and after how long. Kept to measure the
-- detection on real traffic: people hung up on are abandoned calls.
-- The caller ID each attempt presented, and its STIR/SHAKEN attestation
-- when the trunk reports one (A, B or C).

-- +goose Up
ALTER TABLE call_attempts
    ADD COLUMN amd_verdict text CHECK (amd_verdict IN ('human', 'machine', 'unsure')),
    ADD COLUMN amd_cause text CHECK (length(amd_cause) <= 64),
    ADD COLUMN amd_ms integer CHECK (amd_ms >= 0),
    ADD COLUMN caller_id text CHECK (length(caller_id) <= 32),
    ADD COLUMN attestation text CHECK (attestation IN ('A', 'B', 'C'));

-- +goose Down
ALTER TABLE call_attempts DROP COLUMN attestation, DROP COLUMN caller_id,
    DROP COLUMN amd_ms, DROP COLUMN amd_cause, DROP COLUMN amd_verdict;

-- How keys are taken per campaign, and for each call who ended it and how
-- its keys arrived: a media failure is never taken for the lead hanging up.

-- +goose Up
ALTER TABLE campaigns ADD COLUMN dtmf text NOT NULL DEFAULT 'auto' CHECK (dtmf IN ('auto', 'rfc4733', 'info', 'inband'));
ALTER TABLE call_attempts ADD COLUMN ended_by text CHECK (ended_by IN ('lead', 'qualdial', 'media_timeout', 'max_length', 'error'));
ALTER TABLE call_attempts ADD COLUMN dtmf_method text CHECK (dtmf_method IN ('rfc4733', 'info', 'inband', 'none'));

-- +goose Down
ALTER TABLE call_attempts DROP COLUMN dtmf_method, DROP COLUMN ended_by;
ALTER TABLE campaigns DROP COLUMN dtmf;

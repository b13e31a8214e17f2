-- A campaign's reports (its page's dispositions, answered leads, answers
-- per question and heatmap) read its attempts: without this index each
-- read scans every campaign's attempts.

-- +goose Up
CREATE INDEX call_attempts_campaign ON call_attempts (campaign_id, state);

-- +goose Down
DROP INDEX call_attempts_campaign;

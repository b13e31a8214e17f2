-- The dashboards count over leads: when a lead was first dialled and first
-- reached (a person answered) are kept on the lead, so the funnel and speed
-- to lead read one table instead of every lead's attempts. Attempts are
-- counted by when they started, sales follow-ups by when the lead became
-- sales-ready.

-- +goose Up
ALTER TABLE leads ADD COLUMN first_dialled_at timestamptz, ADD COLUMN reached_at timestamptz;
UPDATE leads l SET first_dialled_at = a.first, reached_at = a.reached
FROM (SELECT lead_id, min(started_at) AS first, min(answered_at) FILTER (WHERE disposition = 'answered') AS reached FROM call_attempts GROUP BY lead_id) a
WHERE a.lead_id = l.id;
CREATE INDEX leads_created ON leads (created_at);
CREATE INDEX call_attempts_started ON call_attempts (started_at);
CREATE INDEX leads_web_form_created ON leads (created_at) WHERE source = 'web_form';
CREATE INDEX leads_sales_ready ON leads ((coalesce(qualified_at, score_at))) WHERE sales_stage IS NOT NULL;

-- +goose Down
DROP INDEX leads_sales_ready;
DROP INDEX leads_web_form_created;
DROP INDEX call_attempts_started;
DROP INDEX leads_created;
ALTER TABLE leads DROP COLUMN reached_at, DROP COLUMN first_dialled_at;

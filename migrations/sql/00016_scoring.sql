-- One lead score (issue 12): behaviour points from activities, thresholds
-- that earn a call or route a lead to sales without one, and conversions (a
-- known lead submitting a form again).

-- +goose Up
ALTER TABLE campaigns
    -- Lead score (profile or call points + behaviour) that earns a
    -- qualification call; NULL: every lead is called.
    ADD COLUMN call_threshold integer CHECK (call_threshold BETWEEN -100000 AND 100000),
    -- Lead score that routes a lead to sales without a call; NULL: never.
    ADD COLUMN sales_threshold integer CHECK (sales_threshold BETWEEN -100000 AND 100000),
    -- Points per activity type: {"download": {"points": 10, "half_life_days": 30}};
    -- empty: the defaults (store.DefaultActivityPoints).
    ADD COLUMN activity_points jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(activity_points) = 'object'),
    -- The least time between two calls of a lead that a conversion or an
    -- activity re-engages.
    ADD COLUMN recall_interval interval NOT NULL DEFAULT '7 days' CHECK (recall_interval >= '0'),
    ADD CONSTRAINT campaigns_thresholds_order CHECK (sales_threshold IS NULL OR call_threshold IS NULL OR sales_threshold > call_threshold);

ALTER TABLE leads
    -- The lead score as of score_at: its last call's total (or, before a
    -- call, its profile points) plus its behaviour points then.
    ADD COLUMN score integer,
    ADD COLUMN score_at timestamptz,
    -- The last conversion (a form submitted again) and how many there were.
    ADD COLUMN converted_at timestamptz,
    ADD COLUMN conversions integer NOT NULL DEFAULT 0 CHECK (conversions >= 0);

-- A lead routed to sales by its score, without a call, has outcome 'scored'.
ALTER TABLE leads DROP CONSTRAINT leads_outcome_check;
ALTER TABLE leads ADD CONSTRAINT leads_outcome_check CHECK (outcome IN ('completed', 'incomplete', 'opted_out', 'scored'));

-- Activities name their lead by e-mail or external id, in any campaign.
CREATE INDEX leads_email ON leads (lower(email)) WHERE email IS NOT NULL;
CREATE INDEX leads_external_id ON leads (external_id) WHERE external_id IS NOT NULL;
-- An activity the sender names (its id) is recorded once per lead.
CREATE UNIQUE INDEX lead_events_activity_ref ON lead_events (lead_id, (data->>'ref'))
    WHERE kind = 'lead.activity' AND data ? 'ref';

-- +goose Down
DROP INDEX lead_events_activity_ref;
DROP INDEX leads_external_id;
DROP INDEX leads_email;
UPDATE leads SET outcome = NULL WHERE outcome = 'scored';
ALTER TABLE leads DROP CONSTRAINT leads_outcome_check;
ALTER TABLE leads ADD CONSTRAINT leads_outcome_check CHECK (outcome IN ('completed', 'incomplete', 'opted_out'));
ALTER TABLE leads DROP COLUMN conversions, DROP COLUMN converted_at, DROP COLUMN score_at, DROP COLUMN score;
ALTER TABLE campaigns DROP CONSTRAINT campaigns_thresholds_order;
ALTER TABLE campaigns DROP COLUMN recall_interval, DROP COLUMN activity_points, DROP COLUMN sales_threshold, DROP COLUMN call_threshold;

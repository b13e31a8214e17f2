-- The next-lead claim of one campaign (POST /v1/leads/next?campaign=):
-- its open leads, most urgent first, without walking every other
-- campaign's. The claim of any campaign keeps leads_sales_open.

-- +goose Up
CREATE INDEX leads_sales_open_campaign ON leads (campaign_id, sla_due_at, id) WHERE sales_stage = 'open';

-- +goose Down
DROP INDEX leads_sales_open_campaign;

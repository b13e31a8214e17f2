-- The HTTP API of issue 9: idempotency keys scoped per API key and tied to
-- the body they came with, import reports that say which charset was read,
-- what was accepted with a warning and how many accepted rows lack consent,
-- and indexes for the list endpoints.

-- +goose Up
-- An Idempotency-Key remembers the hash of the canonical body it came
-- with (a reuse with another body is refused), the lead it answered with and
-- the answer itself, which a retry gets again. lead_id and the answer are
-- NULL only inside the transaction that creates the key.
CREATE TABLE idempotency_keys (
    api_key_id      bigint NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    key             text NOT NULL CHECK (key <> '' AND length(key) <= 255),
    body_hash       bytea NOT NULL CHECK (octet_length(body_hash) = 32),
    lead_id         bigint REFERENCES leads (id) ON DELETE CASCADE,
    response_status smallint,
    response        jsonb,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (api_key_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- The import report: the charset the file was read in and where that came
-- from, rows accepted with a warning (and a few of them), and how many
-- accepted rows carry no consent.
ALTER TABLE imports ADD COLUMN charset text;
ALTER TABLE imports ADD COLUMN charset_source text CHECK (charset_source IN ('given', 'bom', 'detected'));
ALTER TABLE imports ADD COLUMN warnings integer NOT NULL DEFAULT 0 CHECK (warnings >= 0);
ALTER TABLE imports ADD COLUMN warning_samples jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(warning_samples) = 'array');
ALTER TABLE imports ADD COLUMN without_consent integer NOT NULL DEFAULT 0 CHECK (without_consent >= 0);

-- Lists: leads most urgent first (the order of GET /v1/leads), a
-- campaign's leads by status, campaigns newest first by status.
CREATE INDEX leads_urgency ON leads ((coalesce(sla_due_at, 'infinity'::timestamptz)), id);
CREATE INDEX leads_assigned ON leads (assigned_to) WHERE assigned_to IS NOT NULL;
CREATE INDEX campaigns_status ON campaigns (status, id);
CREATE INDEX dnc_created ON dnc (created_at, phone);

-- +goose Down
DROP INDEX dnc_created;
DROP INDEX campaigns_status;
DROP INDEX leads_assigned;
DROP INDEX leads_urgency;
ALTER TABLE imports DROP COLUMN without_consent, DROP COLUMN warning_samples, DROP COLUMN warnings,
    DROP COLUMN charset_source, DROP COLUMN charset;
DROP TABLE idempotency_keys;

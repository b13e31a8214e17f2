-- The lead lifecycle as the README promises it: a lead's status is its
-- progress (completed, not "qualified": the verdict is its class), consent
-- has one definition, nurture recalls start a new round of attempts, pacing
-- records when each INVITE went out, DNC changes and interrupted imports are
-- accounted for, and campaigns say which destinations they may call.

-- +goose Up
ALTER TABLE leads DROP CONSTRAINT leads_status_check;
UPDATE leads SET status = 'completed' WHERE status = 'qualified';
ALTER TABLE leads ADD CONSTRAINT leads_status_check CHECK (status IN (
    'new', 'queued', 'scheduled', 'dialing', 'retry_wait', 'blocked',
    'completed', 'opted_out', 'unreachable', 'rejected', 'invalid_number', 'failed'));

-- Consent counts when it says where it came from and when, and neither says
-- no: a form's "consent_source=no" is a refusal, not consent.
ALTER TABLE leads ADD COLUMN has_consent boolean GENERATED ALWAYS AS (
    consent_at IS NOT NULL
    AND nullif(btrim(consent_source), '') IS NOT NULL
    AND lower(btrim(consent_source)) NOT IN ('no', 'n', 'false', 'f', '0', 'off', 'none', 'declined', 'denied', 'refused', 'revoked', 'withdrawn', 'unsubscribed')
    AND lower(btrim(coalesce(consent_text, 'yes'))) NOT IN ('no', 'n', 'false', 'f', '0', 'off', 'none', 'declined', 'denied', 'refused', 'revoked', 'withdrawn', 'unsubscribed')
) STORED;

-- A round of attempts: max_attempts counts the attempts since the round
-- began (a nurture recall or a recycle starts a new one).
ALTER TABLE leads ADD COLUMN round_base integer NOT NULL DEFAULT 0 CHECK (round_base >= 0);
CREATE INDEX leads_recall_due ON leads (recall_at) WHERE recall_at IS NOT NULL;

-- When each INVITE went out (pacing is checked against these).
ALTER TABLE call_attempts ADD COLUMN dialed_at timestamptz;
ALTER TABLE campaigns ADD COLUMN pace_sent_at timestamptz;
ALTER TABLE driver_pacing ADD COLUMN sent_at timestamptz;

-- Destinations a campaign may call (phone number types and countries);
-- NULL countries means the campaign's default country only.
ALTER TABLE campaigns ADD COLUMN allowed_number_types text[] NOT NULL
    DEFAULT '{fixed_line,mobile,fixed_line_or_mobile,toll_free,voip}';
ALTER TABLE campaigns ADD COLUMN allowed_countries text[];

-- Who put a number on the do-not-call list, and every change of the list.
ALTER TABLE dnc ADD COLUMN actor text;
CREATE TABLE dnc_changes (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone  text NOT NULL,
    action text NOT NULL CHECK (action IN ('added', 'removed')),
    source text,
    reason text,
    actor  text NOT NULL CHECK (actor <> ''),
    at     timestamptz NOT NULL
);
CREATE INDEX dnc_changes_phone ON dnc_changes (phone, at);

-- Which process runs an import, and when it last made progress: an import
-- whose process died is settled as failed by the next one to start.
ALTER TABLE imports ADD COLUMN worker text;
ALTER TABLE imports ADD COLUMN updated_at timestamptz;
CREATE INDEX imports_running ON imports (id) WHERE status = 'running';

-- +goose Down
DROP INDEX imports_running;
ALTER TABLE imports DROP COLUMN updated_at, DROP COLUMN worker;
DROP TABLE dnc_changes;
ALTER TABLE dnc DROP COLUMN actor;
ALTER TABLE campaigns DROP COLUMN allowed_countries, DROP COLUMN allowed_number_types;
ALTER TABLE driver_pacing DROP COLUMN sent_at;
ALTER TABLE campaigns DROP COLUMN pace_sent_at;
ALTER TABLE call_attempts DROP COLUMN dialed_at;
DROP INDEX leads_recall_due;
ALTER TABLE leads DROP COLUMN round_base, DROP COLUMN has_consent;
ALTER TABLE leads DROP CONSTRAINT leads_status_check;
UPDATE leads SET status = 'qualified' WHERE status = 'completed';
ALTER TABLE leads ADD CONSTRAINT leads_status_check CHECK (status IN (
    'new', 'queued', 'scheduled', 'dialing', 'retry_wait', 'blocked',
    'qualified', 'opted_out', 'unreachable', 'rejected', 'invalid_number', 'failed'));

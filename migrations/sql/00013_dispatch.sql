-- The leads table is the dialing schedule. A lead waiting to be called
-- (queued, scheduled, retry_wait) always has its due time in
-- next_attempt_at; a dispatcher per driver claims due leads and hands each
-- to a dial job, whose id the lead keeps in dial_job while it is dialing (a
-- job whose id is not there any more may not call). Fresh leads from web
-- forms and the API (priority 0) go before list and retry work (1).
--
-- Existing waiting dial jobs are removed: their leads' rows now say when
-- they are due. Running ones are kept and moved to their driver's queue.

-- +goose Up
ALTER TABLE leads ADD COLUMN priority smallint NOT NULL DEFAULT 1 CHECK (priority IN (0, 1)),
    ADD COLUMN dial_job bigint;

UPDATE leads SET next_attempt_at = now()
WHERE status IN ('queued', 'scheduled', 'retry_wait') AND next_attempt_at IS NULL;

CREATE INDEX leads_due ON leads (campaign_id, priority, next_attempt_at, id)
    WHERE status IN ('queued', 'scheduled', 'retry_wait');
CREATE INDEX leads_dialing ON leads (campaign_id) WHERE status = 'dialing';

UPDATE leads l SET dial_job = j.id
FROM river_job j
WHERE j.kind = 'dial_lead' AND j.state = 'running' AND l.id = (j.args ->> 'lead_id')::bigint;

UPDATE river_job j SET queue = 'dial_' || c.driver
FROM leads l JOIN campaigns c ON c.id = l.campaign_id
WHERE j.kind = 'dial_lead' AND j.state = 'running' AND l.id = (j.args ->> 'lead_id')::bigint;

DELETE FROM river_job WHERE kind = 'dial_lead' AND state IN ('available', 'pending', 'retryable', 'scheduled');

-- A campaign edited, started, paused or finished wakes the dispatchers (the
-- send gate's pacing columns do not touch updated_at, so calls do not).
-- +goose StatementBegin
CREATE FUNCTION qualdial_campaign_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('qualdial_dispatch', NEW.id::text);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER campaigns_wake_dispatch AFTER UPDATE ON campaigns
    FOR EACH ROW WHEN (OLD.updated_at IS DISTINCT FROM NEW.updated_at OR OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION qualdial_campaign_changed();

-- +goose Down
DROP TRIGGER campaigns_wake_dispatch ON campaigns;
DROP FUNCTION qualdial_campaign_changed();
DROP INDEX leads_dialing;
DROP INDEX leads_due;
ALTER TABLE leads DROP COLUMN dial_job, DROP COLUMN priority;

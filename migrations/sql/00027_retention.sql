-- Retention and erasure (issue 15). A periodic job deletes, in batches,
-- what qualdial keeps only for a while (Twilio call sessions, settled
-- webhook deliveries, import rejects, old lead events); these indexes let
-- each batch find its rows without scanning the table.
--
-- A data-subject erasure (DELETE /v1/leads/{id}, qualdial lead erase)
-- removes a person's data from their leads and keeps only a hash of their
-- number on the do-not-call list (dnc_hashes): the number itself is gone,
-- yet a lead, an import row or a form with it is still refused. The hash is
-- qualdial_phone_hash: SHA-256 of a fixed product prefix and the E.164
-- number (store.PhoneHash computes the same). An erased lead keeps its row
-- — the non-personal facts its reports and compliance need (status, class,
-- scores, calls, answers, consent time and source) — with erased_at set and
-- 'erased:<id>' in place of its number.

-- +goose Up
-- +goose StatementBegin
-- The text's bytes (a number is ASCII) through bytea's input, backslashes
-- doubled so none is read as an escape: every function here is immutable,
-- so the planner inlines it (convert_to is only stable), which makes a
-- scrub of a large import against dnc_hashes several times faster.
CREATE FUNCTION qualdial_phone_hash(phone text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT sha256(('qualdial-dnc-v1:' || replace(phone, '\', '\\'))::bytea)
$$;
-- +goose StatementEnd

CREATE TABLE dnc_hashes (
    phone_hash bytea PRIMARY KEY CHECK (octet_length(phone_hash) = 32),
    -- The source of the DNC entry it replaces (opt_out, manual…), or
    -- erasure when the number was not on the list before.
    source     text NOT NULL CHECK (source <> ''),
    actor      text NOT NULL CHECK (actor <> ''),
    listed_at  timestamptz NOT NULL,    -- when the number went onto the list
    erased_at  timestamptz NOT NULL
);

ALTER TABLE leads ADD COLUMN erased_at timestamptz;
ALTER TABLE leads DROP CONSTRAINT leads_phone_check;
ALTER TABLE leads ADD CONSTRAINT leads_phone_check
    CHECK (phone ~ '^\+[1-9][0-9]{6,14}$' OR (erased_at IS NOT NULL AND phone = 'erased:' || id)) NOT VALID;
ALTER TABLE leads VALIDATE CONSTRAINT leads_phone_check;

-- What the retention job deletes by age.
CREATE INDEX twilio_sessions_updated ON twilio_sessions (updated_at);
CREATE INDEX webhook_deliveries_settled ON webhook_deliveries ((coalesce(delivered_at, created_at)))
    WHERE state IN ('delivered', 'failed');
CREATE INDEX dnc_changes_at ON dnc_changes (at);
-- Deleting an event deletes its deliveries (ON DELETE CASCADE): without
-- this index each deleted event would scan every delivery.
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

-- +goose Down
DROP INDEX webhook_deliveries_event;
DROP INDEX dnc_changes_at;
DROP INDEX webhook_deliveries_settled;
DROP INDEX twilio_sessions_updated;
-- Erased leads have no number to go back to: they go.
DELETE FROM leads WHERE erased_at IS NOT NULL;
ALTER TABLE leads DROP CONSTRAINT leads_phone_check;
ALTER TABLE leads ADD CONSTRAINT leads_phone_check CHECK (phone ~ '^\+[1-9][0-9]{6,14}$');
ALTER TABLE leads DROP COLUMN erased_at;
DROP TABLE dnc_hashes;
DROP FUNCTION qualdial_phone_hash(text);

-- Consent that proves itself: every time a lead is stored with consent, or
-- its consent changes, the snapshot is written here — the exact text and
-- version shown, the page, the IP, when it was given, when it was recorded,
-- and a SHA-256 of the form as stored (its fields and consent), so that a
-- later change of the lead cannot rewrite what was consented to. Rows are
-- never updated nor deleted, but by an erasure (which clears the IP and the
-- page, the person's data) — the trigger below refuses anything else. They
-- live as long as their lead (leads are never deleted by age).

-- +goose Up
CREATE TABLE consent_records (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lead_id     bigint NOT NULL REFERENCES leads (id),
    campaign_id bigint NOT NULL REFERENCES campaigns (id),
    source      text NOT NULL,
    text        text,
    version     text,
    page        text,
    ip          inet,
    given_at    timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL, -- the lead's updated_at: qualdial's clock
    form_sha256 text NOT NULL CHECK (form_sha256 ~ '^[0-9a-f]{64}$')
);
CREATE INDEX consent_records_lead ON consent_records (lead_id);

-- +goose StatementBegin
CREATE FUNCTION consent_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.has_consent AND NEW.erased_at IS NULL AND (TG_OP = 'INSERT'
        OR (OLD.consent_source, OLD.consent_text, OLD.consent_version, OLD.consent_at, OLD.consent_ip, OLD.consent_page)
            IS DISTINCT FROM (NEW.consent_source, NEW.consent_text, NEW.consent_version, NEW.consent_at, NEW.consent_ip, NEW.consent_page)) THEN
        INSERT INTO consent_records (lead_id, campaign_id, source, text, version, page, ip, given_at, recorded_at, form_sha256)
        VALUES (NEW.id, NEW.campaign_id, NEW.consent_source, NEW.consent_text, NEW.consent_version, NEW.consent_page, NEW.consent_ip,
            NEW.consent_at, NEW.updated_at, encode(sha256(convert_to(jsonb_build_object(
                'phone', NEW.phone, 'first_name', NEW.first_name, 'last_name', NEW.last_name, 'email', NEW.email,
                'company', NEW.company, 'source', NEW.source, 'external_id', NEW.external_id, 'attributes', NEW.attributes,
                'consent_source', NEW.consent_source, 'consent_text', NEW.consent_text, 'consent_version', NEW.consent_version,
                'consent_at', NEW.consent_at, 'consent_ip', host(NEW.consent_ip), 'consent_page', NEW.consent_page)::text, 'UTF8')), 'hex'));
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER leads_consent_record AFTER INSERT OR UPDATE ON leads FOR EACH ROW EXECUTE FUNCTION consent_record();

-- +goose StatementBegin
CREATE FUNCTION consent_records_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('qualdial.erasing', true) = 'on'
        AND (NEW.lead_id, NEW.campaign_id, NEW.source, NEW.text, NEW.version, NEW.given_at, NEW.recorded_at, NEW.form_sha256)
            IS NOT DISTINCT FROM (OLD.lead_id, OLD.campaign_id, OLD.source, OLD.text, OLD.version, OLD.given_at, OLD.recorded_at, OLD.form_sha256)
        AND NEW.ip IS NULL AND NEW.page IS NULL THEN
        RETURN NEW; -- an erasure clears the person's IP and page, nothing else
    END IF;
    RAISE EXCEPTION 'consent records are kept as given: % refused', TG_OP USING ERRCODE = 'integrity_constraint_violation';
END $$;
-- +goose StatementEnd
CREATE TRIGGER consent_records_immutable BEFORE UPDATE OR DELETE ON consent_records FOR EACH ROW EXECUTE FUNCTION consent_records_immutable();
CREATE TRIGGER consent_records_no_truncate BEFORE TRUNCATE ON consent_records FOR EACH STATEMENT EXECUTE FUNCTION consent_records_immutable();

-- The consent of leads stored before: one record each, recorded now.
INSERT INTO consent_records (lead_id, campaign_id, source, text, version, page, ip, given_at, recorded_at, form_sha256)
SELECT id, campaign_id, consent_source, consent_text, consent_version, consent_page, consent_ip, consent_at, updated_at,
    encode(sha256(convert_to(jsonb_build_object('phone', phone, 'consent_source', consent_source, 'consent_text', consent_text,
        'consent_version', consent_version, 'consent_at', consent_at, 'consent_ip', host(consent_ip), 'consent_page', consent_page)::text, 'UTF8')), 'hex')
FROM leads WHERE has_consent AND erased_at IS NULL;

-- +goose Down
DROP TRIGGER leads_consent_record ON leads;
DROP TABLE consent_records;
DROP FUNCTION consent_records_immutable();
DROP FUNCTION consent_record();

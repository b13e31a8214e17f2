-- The consent snapshot's trigger fired for every lead inserted or updated,
-- and did nothing for most: leads without consent, and every update that
-- leaves consent alone (each status change while dialling). With its
-- condition in WHEN instead, PostgreSQL tests it without calling the
-- function or queueing the after-trigger event: an import of leads
-- without consent, and dialling, no longer pay for it.

-- +goose Up
DROP TRIGGER leads_consent_record ON leads;
CREATE TRIGGER leads_consent_record_insert AFTER INSERT ON leads FOR EACH ROW
    WHEN (NEW.has_consent AND NEW.erased_at IS NULL)
    EXECUTE FUNCTION consent_record();
CREATE TRIGGER leads_consent_record_update AFTER UPDATE ON leads FOR EACH ROW
    WHEN (NEW.has_consent AND NEW.erased_at IS NULL
        AND (OLD.consent_source, OLD.consent_text, OLD.consent_version, OLD.consent_at, OLD.consent_ip, OLD.consent_page)
            IS DISTINCT FROM (NEW.consent_source, NEW.consent_text, NEW.consent_version, NEW.consent_at, NEW.consent_ip, NEW.consent_page))
    EXECUTE FUNCTION consent_record();

-- +goose Down
DROP TRIGGER leads_consent_record_update ON leads;
DROP TRIGGER leads_consent_record_insert ON leads;
CREATE TRIGGER leads_consent_record AFTER INSERT OR UPDATE ON leads FOR EACH ROW EXECUTE FUNCTION consent_record();

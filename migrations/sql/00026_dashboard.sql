-- The dashboards. Their figures are sums over a period of three rollups
-- kept exact by statement-level triggers, so a period of a million leads
-- reads a few thousand rows instead of every lead, call and answer:
--   lead_day_counts    the funnel of the leads that arrived each day (UTC)
--   attempt_day_counts the calls started each day, by script version,
--                      local weekday and hour, class and outcome
--   answer_day_counts  the answers of those calls
--   speed_day_counts   web-form leads by how long they waited for their
--                      first call, and (sales-ready ones) for a rep
-- Each trigger appends its change as rows of differences (new rows +1,
-- old rows -1; an update that moves no count writes nothing):
-- appending takes no lock on a shared counter, so concurrent calls never
-- wait on, or deadlock over, one another's counts. The dashboards sum the
-- rows; qualdial_compact_rollups(), run every minute, folds them into one
-- row per key. No foreign keys: deleting a campaign deletes its leads,
-- whose triggers then subtract them.
-- Leads also keep when they were first dialled and first reached (a person
-- answered), for the funnel and speed to lead.

-- +goose Up
ALTER TABLE leads ADD COLUMN first_dialled_at timestamptz, ADD COLUMN reached_at timestamptz;
UPDATE leads l SET first_dialled_at = a.first, reached_at = a.reached
FROM (SELECT lead_id, min(started_at) AS first, min(answered_at) FILTER (WHERE disposition = 'answered') AS reached
      FROM call_attempts GROUP BY lead_id) a
WHERE a.lead_id = l.id;
-- The last question an unfinished call answered: where it dropped off.
ALTER TABLE call_attempts ADD COLUMN last_question text;
UPDATE call_attempts a SET last_question = an.question
FROM (SELECT DISTINCT ON (attempt_id) attempt_id, question FROM answers ORDER BY attempt_id, seq DESC) an
WHERE an.attempt_id = a.id AND a.disposition = 'answered' AND a.outcome IS DISTINCT FROM 'completed';

-- The SLA per rep reads its leads directly, from this index alone.
CREATE INDEX leads_sales_ready ON leads ((coalesce(qualified_at, score_at)))
    INCLUDE (campaign_id, assigned_to, sla_status, qualified_at, score_at, contacted_at) WHERE sales_stage IS NOT NULL;

CREATE TABLE lead_day_counts (
    campaign_id     bigint NOT NULL,
    day             date NOT NULL,          -- the day (UTC) the leads arrived
    leads           integer NOT NULL,
    dialled         integer NOT NULL,
    reached         integer NOT NULL,
    completed       integer NOT NULL,
    sql             integer NOT NULL,
    accepted        integer NOT NULL,
    contacted       integer NOT NULL,
    won             integer NOT NULL,
    mql             integer NOT NULL,
    disqualified    integer NOT NULL,
    opted_out       integer NOT NULL,
    scored_to_sales integer NOT NULL
);
CREATE INDEX lead_day_counts_day ON lead_day_counts (day, campaign_id);
CREATE TABLE speed_day_counts (
    campaign_id bigint NOT NULL,
    day         date NOT NULL,              -- the day (UTC) the leads arrived
    kind        text NOT NULL CHECK (kind IN ('first_call', 'first_touch')),
    wait_ms     bigint NOT NULL,            -- qualdial_wait_ms; -1: not yet
    leads       integer NOT NULL
);
CREATE INDEX speed_day_counts_day ON speed_day_counts (day, campaign_id);
CREATE TABLE attempt_day_counts (
    campaign_id    bigint NOT NULL,
    day            date NOT NULL,           -- the day (UTC) the calls started
    script_id      text NOT NULL,           -- '' and 0: none
    script_version integer NOT NULL,
    local_weekday  smallint NOT NULL,       -- 0 and -1: the lead's zone unknown
    local_hour     smallint NOT NULL,
    class          text NOT NULL,           -- '': none
    outcome        text NOT NULL,           -- '': none
    answered       boolean NOT NULL,        -- disposition answered
    finished       boolean NOT NULL,
    last_question  text NOT NULL,           -- answered, not completed: the last question answered ('' before one)
    calls          integer NOT NULL
);
CREATE INDEX attempt_day_counts_day ON attempt_day_counts (day, campaign_id);
CREATE TABLE answer_day_counts (
    campaign_id    bigint NOT NULL,
    day            date NOT NULL,           -- the day (UTC) their calls started
    script_id      text NOT NULL,
    script_version integer NOT NULL,
    question       text NOT NULL,
    answer         text NOT NULL,           -- the keys without the finish key
    answers        integer NOT NULL
);
CREATE INDEX answer_day_counts_day ON answer_day_counts (day, campaign_id);

-- qualdial_wait_ms is a wait in milliseconds, rounded down to 10 ms under
-- a second, 100 ms under a minute, a second under an hour and a minute
-- beyond: percentiles read from the rollup are exact to that.
-- +goose StatementBegin
CREATE FUNCTION qualdial_wait_ms(w interval) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN w IS NULL THEN -1::bigint ELSE (
        SELECT CASE WHEN ms < 1000 THEN ms / 10 * 10 WHEN ms < 60000 THEN ms / 100 * 100
            WHEN ms < 3600000 THEN ms / 1000 * 1000 ELSE ms / 60000 * 60000 END
        FROM (SELECT greatest(floor(extract(epoch FROM w) * 1000), 0)::bigint AS ms) x) END
$$;
-- +goose StatementEnd

-- What one lead, one call and one answer count for, times sign (+1 or
-- -1): the rows the triggers append.
-- +goose StatementBegin
CREATE FUNCTION qualdial_lead_counts(l leads, sign integer) RETURNS SETOF lead_day_counts LANGUAGE sql IMMUTABLE AS $$
    SELECT l.campaign_id, (l.created_at AT TIME ZONE 'UTC')::date, sign,
        sign * (l.first_dialled_at IS NOT NULL)::int,
        sign * (l.reached_at IS NOT NULL)::int,
        sign * (l.outcome IS NOT DISTINCT FROM 'completed')::int,
        sign * (l.outcome IS NOT DISTINCT FROM 'completed' AND l.sales_stage IS NOT NULL)::int,
        sign * (l.outcome IS NOT DISTINCT FROM 'completed' AND l.sales_stage IS NOT NULL
            AND (l.accepted_at IS NOT NULL OR l.contacted_at IS NOT NULL))::int,
        sign * (l.outcome IS NOT DISTINCT FROM 'completed' AND l.sales_stage IS NOT NULL AND l.contacted_at IS NOT NULL)::int,
        sign * (l.outcome IS NOT DISTINCT FROM 'completed' AND l.sales_stage IS NOT DISTINCT FROM 'won')::int,
        sign * (l.outcome IS NOT DISTINCT FROM 'completed' AND l.sales_stage IS NULL AND l.route IS NOT DISTINCT FROM 'nurture')::int,
        sign * (l.outcome IS NOT DISTINCT FROM 'completed' AND l.sales_stage IS NULL AND l.route IS NOT DISTINCT FROM 'none')::int,
        sign * (l.status = 'opted_out')::int,
        sign * (l.outcome IS NOT DISTINCT FROM 'scored' AND l.sales_stage IS NOT NULL)::int
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION qualdial_lead_waits(l leads, sign integer) RETURNS SETOF speed_day_counts LANGUAGE sql IMMUTABLE AS $$
    SELECT l.campaign_id, (l.created_at AT TIME ZONE 'UTC')::date, 'first_call', qualdial_wait_ms(l.first_dialled_at - l.created_at), sign
    WHERE l.source = 'web_form'
    UNION ALL
    SELECT l.campaign_id, (l.created_at AT TIME ZONE 'UTC')::date, 'first_touch', qualdial_wait_ms(l.contacted_at - l.created_at), sign
    WHERE l.source = 'web_form' AND l.outcome IS NOT DISTINCT FROM 'completed' AND l.sales_stage IS NOT NULL
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION qualdial_attempt_counts(a call_attempts, sign integer) RETURNS SETOF attempt_day_counts LANGUAGE sql IMMUTABLE AS $$
    SELECT a.campaign_id, (a.started_at AT TIME ZONE 'UTC')::date, coalesce(a.script_id, ''), coalesce(a.script_version, 0),
        coalesce(a.local_weekday, 0)::smallint, coalesce(a.local_hour, -1)::smallint, coalesce(a.class, ''), coalesce(a.outcome, ''),
        coalesce(a.disposition = 'answered', false), a.state = 'finished', coalesce(a.last_question, ''), sign
$$;
-- +goose StatementEnd

-- Leads: an import's rows are counted per statement, grouped; an update
-- per row, and only when it changes what is counted (the trigger's WHEN):
-- a lead's many status updates cost nothing here.
-- +goose StatementBegin
CREATE FUNCTION qualdial_count_new_leads() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lead_day_counts
    SELECT c.campaign_id, c.day, sum(c.leads), sum(c.dialled), sum(c.reached), sum(c.completed), sum(c.sql), sum(c.accepted),
        sum(c.contacted), sum(c.won), sum(c.mql), sum(c.disqualified), sum(c.opted_out), sum(c.scored_to_sales)
    FROM new_rows n, qualdial_lead_counts(n, 1) c GROUP BY 1, 2;
    INSERT INTO speed_day_counts SELECT c.campaign_id, c.day, c.kind, c.wait_ms, sum(c.leads)
    FROM new_rows n, qualdial_lead_waits(n, 1) c GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION qualdial_count_old_leads() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lead_day_counts
    SELECT c.campaign_id, c.day, sum(c.leads), sum(c.dialled), sum(c.reached), sum(c.completed), sum(c.sql), sum(c.accepted),
        sum(c.contacted), sum(c.won), sum(c.mql), sum(c.disqualified), sum(c.opted_out), sum(c.scored_to_sales)
    FROM old_rows o, qualdial_lead_counts(o, -1) c GROUP BY 1, 2;
    INSERT INTO speed_day_counts SELECT c.campaign_id, c.day, c.kind, c.wait_ms, sum(c.leads)
    FROM old_rows o, qualdial_lead_waits(o, -1) c GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION qualdial_count_lead_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lead_day_counts SELECT * FROM qualdial_lead_counts(NEW, 1) UNION ALL SELECT * FROM qualdial_lead_counts(OLD, -1);
    INSERT INTO speed_day_counts SELECT * FROM qualdial_lead_waits(NEW, 1) UNION ALL SELECT * FROM qualdial_lead_waits(OLD, -1);
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- Calls and answers: one row each (a call is one insert, its answers one).
-- +goose StatementBegin
CREATE FUNCTION qualdial_count_attempt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO attempt_day_counts SELECT * FROM qualdial_attempt_counts(NEW, 1);
    END IF;
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO attempt_day_counts SELECT * FROM qualdial_attempt_counts(OLD, -1);
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- A call's answers are counted under its campaign, day and script, which
-- never change. Deleting a call deletes its answers by cascade, after the
-- call is gone: its answers are subtracted before, by the call's BEFORE
-- DELETE trigger (the answers' own trigger then finds no call).
-- +goose StatementBegin
CREATE FUNCTION qualdial_count_answer() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ans answers := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
BEGIN
    INSERT INTO answer_day_counts
    SELECT a.campaign_id, (a.started_at AT TIME ZONE 'UTC')::date, coalesce(a.script_id, ''), coalesce(a.script_version, 0),
        ans.question, rtrim(ans.keys, '#'), CASE WHEN TG_OP = 'DELETE' THEN -1 ELSE 1 END
    FROM call_attempts a WHERE a.id = ans.attempt_id;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION qualdial_uncount_answers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO answer_day_counts
    SELECT OLD.campaign_id, (OLD.started_at AT TIME ZONE 'UTC')::date, coalesce(OLD.script_id, ''), coalesce(OLD.script_version, 0),
        question, rtrim(keys, '#'), -count(*)::int
    FROM answers WHERE attempt_id = OLD.id GROUP BY 5, 6;
    RETURN OLD;
END $$;
-- +goose StatementEnd

-- qualdial_compact_rollups folds each rollup's rows into one per key (and
-- drops keys that sum to nothing). Rows appended meanwhile are left for
-- the next run; a run already going makes this one return at once.
-- +goose StatementBegin
CREATE FUNCTION qualdial_compact_rollups() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('qualdial_compact_rollups')) THEN
        RETURN;
    END IF;
    WITH gone AS (DELETE FROM lead_day_counts RETURNING *)
    INSERT INTO lead_day_counts
    SELECT campaign_id, day, sum(leads), sum(dialled), sum(reached), sum(completed), sum(sql), sum(accepted), sum(contacted), sum(won),
        sum(mql), sum(disqualified), sum(opted_out), sum(scored_to_sales)
    FROM gone GROUP BY 1, 2
    HAVING (sum(leads), sum(dialled), sum(reached), sum(completed), sum(sql), sum(accepted), sum(contacted), sum(won), sum(mql),
        sum(disqualified), sum(opted_out), sum(scored_to_sales)) <> (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    WITH gone AS (DELETE FROM speed_day_counts RETURNING *)
    INSERT INTO speed_day_counts SELECT campaign_id, day, kind, wait_ms, sum(leads) FROM gone GROUP BY 1, 2, 3, 4 HAVING sum(leads) <> 0;
    WITH gone AS (DELETE FROM attempt_day_counts RETURNING *)
    INSERT INTO attempt_day_counts
    SELECT campaign_id, day, script_id, script_version, local_weekday, local_hour, class, outcome, answered, finished, last_question, sum(calls)
    FROM gone GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 HAVING sum(calls) <> 0;
    WITH gone AS (DELETE FROM answer_day_counts RETURNING *)
    INSERT INTO answer_day_counts SELECT campaign_id, day, script_id, script_version, question, answer, sum(answers)
    FROM gone GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(answers) <> 0;
END $$;
-- +goose StatementEnd

CREATE TRIGGER leads_count_insert AFTER INSERT ON leads REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION qualdial_count_new_leads();
CREATE TRIGGER leads_count_delete AFTER DELETE ON leads REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION qualdial_count_old_leads();
CREATE TRIGGER leads_count_update AFTER UPDATE ON leads FOR EACH ROW
    WHEN ((OLD.campaign_id, OLD.created_at, OLD.source, OLD.first_dialled_at, OLD.reached_at IS NULL, OLD.outcome, OLD.route,
           OLD.sales_stage, OLD.accepted_at IS NULL, OLD.contacted_at, OLD.status = 'opted_out')
        IS DISTINCT FROM (NEW.campaign_id, NEW.created_at, NEW.source, NEW.first_dialled_at, NEW.reached_at IS NULL, NEW.outcome, NEW.route,
           NEW.sales_stage, NEW.accepted_at IS NULL, NEW.contacted_at, NEW.status = 'opted_out'))
    EXECUTE FUNCTION qualdial_count_lead_change();
CREATE TRIGGER call_attempts_count AFTER INSERT OR DELETE ON call_attempts FOR EACH ROW EXECUTE FUNCTION qualdial_count_attempt();
CREATE TRIGGER call_attempts_count_update AFTER UPDATE ON call_attempts FOR EACH ROW
    WHEN ((OLD.campaign_id, OLD.started_at, OLD.script_id, OLD.script_version, OLD.local_weekday, OLD.local_hour, OLD.class, OLD.outcome,
           OLD.disposition = 'answered', OLD.state = 'finished', OLD.last_question)
        IS DISTINCT FROM (NEW.campaign_id, NEW.started_at, NEW.script_id, NEW.script_version, NEW.local_weekday, NEW.local_hour, NEW.class,
           NEW.outcome, NEW.disposition = 'answered', NEW.state = 'finished', NEW.last_question))
    EXECUTE FUNCTION qualdial_count_attempt();
CREATE TRIGGER call_attempts_uncount_answers BEFORE DELETE ON call_attempts
    FOR EACH ROW EXECUTE FUNCTION qualdial_uncount_answers();
CREATE TRIGGER answers_count AFTER INSERT OR DELETE ON answers FOR EACH ROW EXECUTE FUNCTION qualdial_count_answer();

-- The rows there are now, counted as the triggers count them.
INSERT INTO lead_day_counts SELECT c.* FROM leads l, qualdial_lead_counts(l, 1) c;
INSERT INTO speed_day_counts SELECT w.* FROM leads l, qualdial_lead_waits(l, 1) w;
INSERT INTO attempt_day_counts SELECT c.* FROM call_attempts a, qualdial_attempt_counts(a, 1) c;
INSERT INTO answer_day_counts
SELECT a.campaign_id, (a.started_at AT TIME ZONE 'UTC')::date, coalesce(a.script_id, ''), coalesce(a.script_version, 0),
    an.question, rtrim(an.keys, '#'), 1
FROM answers an JOIN call_attempts a ON a.id = an.attempt_id;
SELECT qualdial_compact_rollups();

-- +goose Down
DROP TRIGGER answers_count ON answers;
DROP TRIGGER call_attempts_uncount_answers ON call_attempts;
DROP TRIGGER call_attempts_count_update ON call_attempts;
DROP TRIGGER call_attempts_count ON call_attempts;
DROP TRIGGER leads_count_update ON leads;
DROP TRIGGER leads_count_delete ON leads;
DROP TRIGGER leads_count_insert ON leads;
DROP FUNCTION qualdial_compact_rollups();
DROP FUNCTION qualdial_uncount_answers();
DROP FUNCTION qualdial_count_answer();
DROP FUNCTION qualdial_count_attempt();
DROP FUNCTION qualdial_count_lead_change();
DROP FUNCTION qualdial_count_old_leads();
DROP FUNCTION qualdial_count_new_leads();
DROP FUNCTION qualdial_attempt_counts(call_attempts, integer);
DROP FUNCTION qualdial_lead_waits(leads, integer);
DROP FUNCTION qualdial_lead_counts(leads, integer);
DROP FUNCTION qualdial_wait_ms(interval);
DROP TABLE answer_day_counts;
DROP TABLE attempt_day_counts;
DROP TABLE speed_day_counts;
DROP TABLE lead_day_counts;
DROP INDEX leads_sales_ready;
ALTER TABLE call_attempts DROP COLUMN last_question;
ALTER TABLE leads DROP COLUMN reached_at, DROP COLUMN first_dialled_at;

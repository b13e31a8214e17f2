-- Compliance timings per call (47 CFR 64.1200(b)(3)): how long after the
-- answer the identification started, and how long after it ended the
-- opt-out offer (the first question) started; the post-dial delay. NULL:
-- not measured (unanswered, or a driver that cannot tell). late marks an
-- attempt over the 2-second rule on either.

-- +goose Up
ALTER TABLE call_attempts
    ADD COLUMN answer_to_identify_ms integer CHECK (answer_to_identify_ms >= 0),
    ADD COLUMN identify_to_opt_out_ms integer CHECK (identify_to_opt_out_ms >= 0),
    ADD COLUMN post_dial_delay_ms integer CHECK (post_dial_delay_ms >= 0),
    ADD COLUMN compliance_late boolean GENERATED ALWAYS AS
        (coalesce(answer_to_identify_ms > 2000, false) OR coalesce(identify_to_opt_out_ms > 2000, false)) STORED;

-- +goose Down
ALTER TABLE call_attempts DROP COLUMN compliance_late, DROP COLUMN post_dial_delay_ms,
    DROP COLUMN identify_to_opt_out_ms, DROP COLUMN answer_to_identify_ms;

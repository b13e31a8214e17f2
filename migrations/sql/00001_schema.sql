-- qualdial's schema. Text columns with CHECK constraints stand in for enums so
-- that later migrations can extend a list without rewriting tables.

-- +goose Up

-- People who use qualdial (marketing, sales reps, admins).
CREATE TABLE users (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CHECK (name <> ''),
    email       text UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    disabled_at timestamptz
);

-- API keys: shown once, stored as a SHA-256 hash. A key may belong to a user
-- (a rep's key) or stand alone (a web form's intake key).
CREATE TABLE api_keys (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (name <> ''),
    role         text NOT NULL CHECK (role IN ('admin', 'marketing', 'sales', 'intake')),
    prefix       text NOT NULL UNIQUE,            -- the first characters, shown in listings and logs
    secret_hash  bytea NOT NULL UNIQUE CHECK (octet_length(secret_hash) = 32),
    hmac_secret  bytea,                           -- optional: intake requests must be signed with it
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- Campaigns: a script, a driver and the calling policy of DESIGN.md.
CREATE TABLE campaigns (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                 text NOT NULL UNIQUE CHECK (name <> ''),
    status               text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'paused', 'finished')),
    script_id            text NOT NULL CHECK (script_id <> ''),
    script_version       integer CHECK (script_version >= 1),   -- pinned when the campaign starts
    script_yaml          text,                                  -- the pinned script itself
    driver               text NOT NULL DEFAULT 'sip' CHECK (driver IN ('sip', 'twilio')),
    caller_id            text NOT NULL CHECK (caller_id <> ''),
    caller_name          text,
    default_country      text NOT NULL DEFAULT 'US' CHECK (default_country ~ '^[A-Z]{2}$'),
    -- Calling window in the lead's local time. ISO weekdays: 1 = Monday … 7 = Sunday.
    window_days          smallint[] NOT NULL DEFAULT '{1,2,3,4,5,6}'
                         CHECK (cardinality(window_days) BETWEEN 1 AND 7 AND window_days <@ '{1,2,3,4,5,6,7}'),
    window_start         time NOT NULL DEFAULT '09:00',
    window_end           time NOT NULL DEFAULT '20:00',
    max_attempts         integer NOT NULL DEFAULT 4 CHECK (max_attempts BETWEEN 1 AND 20),
    retry_busy           interval NOT NULL DEFAULT '15 minutes' CHECK (retry_busy >= '0'),
    retry_no_answer      interval NOT NULL DEFAULT '2 hours' CHECK (retry_no_answer >= '0'),
    retry_congestion     interval NOT NULL DEFAULT '10 minutes' CHECK (retry_congestion >= '0'),
    retry_incomplete     interval NOT NULL DEFAULT '1 day' CHECK (retry_incomplete >= '0'),
    retry_machine        interval NOT NULL DEFAULT '4 hours' CHECK (retry_machine >= '0'),
    ring_timeout         interval NOT NULL DEFAULT '25 seconds' CHECK (ring_timeout >= '15 seconds'),
    max_call_length      interval NOT NULL DEFAULT '5 minutes' CHECK (max_call_length BETWEEN '30 seconds' AND '1 hour'),
    max_concurrent_calls integer NOT NULL DEFAULT 10 CHECK (max_concurrent_calls >= 1),
    calls_per_second     numeric(6, 2) NOT NULL DEFAULT 1 CHECK (calls_per_second > 0),
    sla                  interval NOT NULL DEFAULT '24 hours' CHECK (sla > '0'),
    require_consent      boolean NOT NULL DEFAULT false,
    machine_detection    text NOT NULL DEFAULT 'off' CHECK (machine_detection IN ('off', 'hangup', 'message')),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    started_at           timestamptz,
    finished_at          timestamptz,
    -- Never outside 08:00-21:00 lead-local time.
    CHECK (window_start >= '08:00' AND window_end <= '21:00' AND window_start < window_end),
    CHECK (status = 'draft' OR script_version IS NOT NULL)
);

-- Call-list uploads and their report.
CREATE TABLE imports (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    filename    text,
    status      text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'failed')),
    total_rows  integer NOT NULL DEFAULT 0 CHECK (total_rows >= 0),
    accepted    integer NOT NULL DEFAULT 0 CHECK (accepted >= 0),
    duplicates  integer NOT NULL DEFAULT 0 CHECK (duplicates >= 0),
    on_dnc      integer NOT NULL DEFAULT 0 CHECK (on_dnc >= 0),
    rejected    integer NOT NULL DEFAULT 0 CHECK (rejected >= 0),
    error       text,
    created_by  bigint REFERENCES api_keys (id) ON DELETE SET NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);

-- Rows an import did not accept, with the reason, to hand back as CSV.
CREATE TABLE import_rejects (
    import_id  bigint NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    row_number integer NOT NULL CHECK (row_number >= 1),
    reason     text NOT NULL,
    raw        text NOT NULL,
    PRIMARY KEY (import_id, row_number)
);

-- Leads: one phone number in one campaign.
CREATE TABLE leads (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id      bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    phone            text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),   -- E.164
    first_name       text,
    last_name        text,
    email            text,
    company          text,
    time_zone        text,          -- IANA zone given with the lead
    region           text,          -- state/province, used for the time zone
    postal_code      text,
    source           text NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'web_form', 'import', 'cli', 'manual', 'recall')),
    external_id      text,          -- the CRM's or form's id: makes retries idempotent
    import_id        bigint REFERENCES imports (id) ON DELETE SET NULL,
    -- Consent captured with the lead.
    consent_source   text,
    consent_text     text,
    consent_version  text,
    consent_at       timestamptz,
    consent_ip       inet,
    consent_page     text,
    attributes       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
    -- Dialing progress.
    status           text NOT NULL DEFAULT 'new' CHECK (status IN (
                         'new', 'queued', 'scheduled', 'dialing', 'retry_wait', 'blocked',
                         'qualified', 'opted_out', 'unreachable', 'rejected', 'invalid_number', 'failed')),
    status_reason    text,          -- why it has not been called yet, or why it stopped
    next_attempt_at  timestamptz,
    attempt_count    integer NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
    last_attempt_at  timestamptz,
    -- Result of the last completed script.
    outcome          text CHECK (outcome IN ('completed', 'incomplete', 'opted_out')),
    class            text,
    route            text CHECK (route IN ('sales', 'nurture', 'none')),
    scores           jsonb CHECK (scores IS NULL OR jsonb_typeof(scores) = 'object'),
    total            integer,
    script_id        text,
    script_version   integer,
    qualified_at     timestamptz,
    recall_at        timestamptz,
    -- Sales follow-up (route sales).
    sales_stage      text CHECK (sales_stage IN ('open', 'accepted', 'contacted', 'won', 'lost', 'recycled')),
    sla_due_at       timestamptz,
    sla_status       text CHECK (sla_status IN ('pending', 'met', 'breached')),
    assigned_to      bigint REFERENCES users (id) ON DELETE SET NULL,
    accepted_at      timestamptz,
    contacted_at     timestamptz,
    closed_at        timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, phone),
    CHECK (sales_stage IS NULL OR sla_due_at IS NOT NULL),
    CHECK (sales_stage IS DISTINCT FROM 'accepted' OR assigned_to IS NOT NULL)
);
CREATE UNIQUE INDEX leads_campaign_external_id ON leads (campaign_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX leads_campaign_status ON leads (campaign_id, status);
CREATE INDEX leads_phone ON leads (phone);
-- The sales pull: open leads, most urgent first.
CREATE INDEX leads_sales_open ON leads (sla_due_at, id) WHERE sales_stage = 'open';
CREATE INDEX leads_sla_pending ON leads (sla_due_at) WHERE sla_status = 'pending';

-- Call attempts. A row is written before the INVITE: a crash mid-call leaves
-- it 'dialing' or 'in_progress', and the reconciler settles it without
-- dialing again.
CREATE TABLE call_attempts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lead_id          bigint NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    campaign_id      bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    attempt_no       integer NOT NULL CHECK (attempt_no >= 1),
    driver           text NOT NULL CHECK (driver IN ('sip', 'twilio')),
    state            text NOT NULL DEFAULT 'dialing' CHECK (state IN ('dialing', 'in_progress', 'finished')),
    disposition      text CHECK (disposition IN (
                         'answered', 'busy', 'no_answer', 'rejected', 'invalid_number',
                         'congestion', 'machine', 'canceled', 'failed')),
    ambiguous        boolean NOT NULL DEFAULT false,   -- the person may have been reached: never auto-redialed
    sip_code         integer CHECK (sip_code BETWEEN 100 AND 699),
    provider_code    integer,                          -- e.g. a Twilio error code
    reason           text,
    provider_call_id text,                             -- SIP Call-ID or Twilio CallSid
    outcome          text CHECK (outcome IN ('completed', 'incomplete', 'opted_out')),
    class            text,
    script_id        text,
    script_version   integer,
    engine_state     jsonb,                            -- for webhook-driven drivers
    worker           text,                             -- the process that placed the call
    started_at       timestamptz NOT NULL DEFAULT now(),
    answered_at      timestamptz,
    ended_at         timestamptz,
    UNIQUE (lead_id, attempt_no),
    CHECK (state <> 'finished' OR (disposition IS NOT NULL AND ended_at IS NOT NULL))
);
-- At most one unfinished attempt per lead: the guard against double dials.
CREATE UNIQUE INDEX call_attempts_one_open ON call_attempts (lead_id) WHERE state <> 'finished';
CREATE UNIQUE INDEX call_attempts_provider_call_id ON call_attempts (driver, provider_call_id) WHERE provider_call_id IS NOT NULL;
CREATE INDEX call_attempts_open ON call_attempts (started_at) WHERE state <> 'finished';

-- Answers given during an attempt (partial answers of incomplete calls too).
CREATE TABLE answers (
    attempt_id  bigint NOT NULL REFERENCES call_attempts (id) ON DELETE CASCADE,
    seq         integer NOT NULL CHECK (seq >= 1),
    lead_id     bigint NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    question    text NOT NULL,
    keys        text NOT NULL CHECK (keys ~ '^[0-9*#]+$'),
    value       bigint,
    points      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(points) = 'object'),
    answered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (attempt_id, seq),
    UNIQUE (attempt_id, question)
);
CREATE INDEX answers_lead ON answers (lead_id);

-- Do-not-call list, across all campaigns.
CREATE TABLE dnc (
    phone       text PRIMARY KEY CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    source      text NOT NULL CHECK (source IN ('opt_out', 'manual', 'import', 'api', 'carrier_block')),
    reason      text,
    campaign_id bigint REFERENCES campaigns (id) ON DELETE SET NULL,
    lead_id     bigint REFERENCES leads (id) ON DELETE SET NULL,
    created_by  bigint REFERENCES api_keys (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Every change of a lead: the audit trail and the source of reports.
CREATE TABLE lead_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lead_id    bigint NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL CHECK (actor <> ''),   -- system, api_key:12, user:3, worker:host/pid
    kind       text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.]*$'),
    data       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(data) = 'object')
);
CREATE INDEX lead_events_lead ON lead_events (lead_id, at);
CREATE INDEX lead_events_kind_at ON lead_events (kind, at);

-- +goose Down
DROP TABLE lead_events;
DROP TABLE dnc;
DROP TABLE answers;
DROP TABLE call_attempts;
DROP TABLE leads;
DROP TABLE import_rejects;
DROP TABLE imports;
DROP TABLE campaigns;
DROP TABLE api_keys;
DROP TABLE users;

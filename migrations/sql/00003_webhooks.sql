-- Outbound webhooks for CRMs: subscriptions, and one delivery per event and
-- subscription, written in the transaction of the event itself (an outbox).

-- +goose Up
CREATE TABLE webhook_subscriptions (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url        text NOT NULL CHECK (url ~ '^https?://'),
    events     text[] NOT NULL CHECK (cardinality(events) >= 1
               AND events <@ '{lead.qualified,lead.sla_breached,lead.opted_out,lead.contacted}'),
    secret     text NOT NULL CHECK (length(secret) >= 16),
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id bigint NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_id        bigint NOT NULL REFERENCES lead_events (id) ON DELETE CASCADE,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'enqueued', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (id) WHERE state = 'pending';

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhook_subscriptions;

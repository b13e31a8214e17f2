-- Every running qualdial process registers here under an id of its own
-- (host/pid/random: a restarted container is PID 1 on the same host name
-- again, so host and pid alone cannot tell it from its predecessor) and
-- says it is alive every few seconds. The reconciler counts a process as
-- gone when its row is stopped or its heartbeat is too old, and settles the
-- calls and hands back the leads it left; call_attempts.worker,
-- imports.worker and River's attempted_by name the same id. A process
-- found late is fenced: stopped_at is set, and its next heartbeat tells it
-- so. Stopped rows are deleted after a while.

-- +goose Up
CREATE TABLE instances (
    id           text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200),
    host         text NOT NULL,
    pid          integer NOT NULL,
    version      text NOT NULL DEFAULT '',
    started_at   timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL,
    stopped_at   timestamptz,
    stop_reason  text
);
CREATE INDEX instances_stopped ON instances (stopped_at) WHERE stopped_at IS NOT NULL;

-- +goose Down
DROP TABLE instances;

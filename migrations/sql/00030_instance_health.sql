-- A process may take another for dead only while it can tell: after the
-- database stalled, every heartbeat is late, the live processes' as much
-- as a dead one's. healthy_since is when this process's heartbeats last
-- resumed after a gap longer than max_gap_ms (a heartbeat missed); its
-- reconciler fences others only once it has itself been healthy for the
-- dead-after bound, with a heartbeat of its own within max_gap_ms.

-- +goose Up
ALTER TABLE instances
    ADD COLUMN healthy_since timestamptz,
    ADD COLUMN max_gap_ms bigint NOT NULL DEFAULT 20000 CHECK (max_gap_ms > 0);
UPDATE instances SET healthy_since = heartbeat_at;
ALTER TABLE instances ALTER COLUMN healthy_since SET NOT NULL;

-- +goose Down
ALTER TABLE instances DROP COLUMN max_gap_ms, DROP COLUMN healthy_since;

package store

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Instance is one running qualdial process as the instances table knows
// it: it registers when it starts, heartbeats while it runs, and is marked
// stopped when it shuts down cleanly — or by another process's reconciler
// once its heartbeat is too old.
type Instance struct {
	ID          string
	Host        string
	PID         int
	Version     string
	StartedAt   time.Time
	HeartbeatAt time.Time
	// StoppedAt is nil while it runs; StopReason says who stopped it.
	StoppedAt  *time.Time
	StopReason string
	// MaxGap is the longest gap between two of its heartbeats that keeps
	// it healthy (default 20s); HealthySince is when its heartbeats last
	// resumed after a longer one (at first, when it registered). Only a
	// process healthy for the dead-after bound fences others.
	MaxGap       time.Duration
	HealthySince time.Time
}

// defaultMaxGap is an instance's MaxGap when none is given: two default
// heartbeats.
const defaultMaxGap = 20 * time.Second

// NewInstanceID names a process: host/pid/8 random hex digits. Host and pid
// keep it readable in logs; the random part tells a restarted container
// (PID 1 on the same host name again) from its predecessor.
func NewInstanceID(host string, pid int) string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	if len(host) > 120 {
		host = host[:120]
	}
	return fmt.Sprintf("%s/%d/%s", host, pid, hex.EncodeToString(b[:]))
}

// processInstance is this process's instance id, made once.
var processInstance = sync.OnceValue(func() string {
	host, _ := os.Hostname()
	return NewInstanceID(host, os.Getpid())
})

// DefaultWorker names this process the way the dialer names its workers and
// the instances table its row: its instance id (host/pid/random), the same
// for the life of the process.
func DefaultWorker() string { return processInstance() }

// RegisterInstance records a starting process, alive and healthy now;
// in.MaxGap is kept (zero: 20s), the times are the store's clock's.
func (s *Store) RegisterInstance(ctx context.Context, in Instance) error {
	gap := cmp.Or(in.MaxGap, defaultMaxGap)
	if gap < time.Millisecond {
		return fmt.Errorf("register instance %s: max gap %s must be at least 1ms", in.ID, gap)
	}
	_, err := s.stamped(ctx, `INSERT INTO instances (id, host, pid, version, started_at, heartbeat_at, healthy_since, max_gap_ms)
		VALUES ($1, $2, $3, $4, $5, $5, $5, $6)`,
		func(now time.Time) []any { return []any{in.ID, in.Host, in.PID, in.Version, now, gap.Milliseconds()} })
	if err != nil {
		return fmt.Errorf("register instance %s: %w", in.ID, err)
	}
	return nil
}

// InstanceHeartbeat says that instance id is alive now; after a gap
// longer than its MaxGap since the last one, it is healthy only from now
// on. It returns false when its row is stopped (another process's
// reconciler found its heartbeat too old and settled its calls) or
// missing: the process must not take new work under that id.
func (s *Store) InstanceHeartbeat(ctx context.Context, id string) (alive bool, err error) {
	// SET reads the row's values from before the update.
	tag, err := s.stamped(ctx, `UPDATE instances SET heartbeat_at = $2,
			healthy_since = CASE WHEN $2::timestamptz - heartbeat_at > max_gap_ms * interval '1 millisecond' THEN $2::timestamptz ELSE healthy_since END
		WHERE id = $1 AND stopped_at IS NULL`, func(now time.Time) []any { return []any{id, now} })
	if err != nil {
		return false, fmt.Errorf("heartbeat of instance %s: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// stamped runs a statement that says "alive now" with the time taken once
// it holds a connection: a new connection can take seconds to open on a
// loaded host, and a heartbeat stamped before that would land already old
// — a process just started could be taken for dead at once.
func (s *Store) stamped(ctx context.Context, sql string, args func(now time.Time) []any) (pgconn.CommandTag, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	defer conn.Release()
	return conn.Exec(ctx, sql, args(s.now())...)
}

// StopInstance marks instance id stopped (a clean shutdown) with the
// reason; a row already stopped keeps its first reason.
func (s *Store) StopInstance(ctx context.Context, id, reason string) error {
	_, err := s.pool.Exec(ctx, `UPDATE instances SET stopped_at = $2, stop_reason = $3 WHERE id = $1 AND stopped_at IS NULL`,
		id, s.now(), reason)
	if err != nil {
		return fmt.Errorf("stop instance %s: %w", id, err)
	}
	return nil
}

// GetInstance reads instance id (ErrNotFound when it has no row).
func (s *Store) GetInstance(ctx context.Context, id string) (*Instance, error) {
	var in Instance
	var reason *string
	var gapMS int64
	err := s.pool.QueryRow(ctx, `SELECT id, host, pid, version, started_at, heartbeat_at, stopped_at, stop_reason, healthy_since, max_gap_ms
		FROM instances WHERE id = $1`, id).
		Scan(&in.ID, &in.Host, &in.PID, &in.Version, &in.StartedAt, &in.HeartbeatAt, &in.StoppedAt, &reason, &in.HealthySince, &gapMS)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("instance %s: %w", id, err)
	}
	if reason != nil {
		in.StopReason = *reason
	}
	in.MaxGap = time.Duration(gapMS) * time.Millisecond
	return &in, nil
}

// InstanceStates tells, of the given instance ids, which have a row
// (known) and which of those are gone: stopped, or without a heartbeat
// since staleBefore. A running row found stale is stopped in the same
// statement (fenced: its process, should it still run, learns so at its
// next heartbeat), so that a process is declared gone once and for all
// before its work is settled. Ids without a row are in neither map (a
// process from before instances, or one whose row was deleted).
//
// self is the instance asking. It judges a silent row only when it can
// tell a dead process from a database that stalled for everybody (see
// canJudge); until then a silent row is neither fenced nor gone.
func (s *Store) InstanceStates(ctx context.Context, self string, ids []string, staleBefore time.Time) (known, gone map[string]bool, err error) {
	known, gone = map[string]bool{}, map[string]bool{}
	if len(ids) == 0 {
		return known, gone, nil
	}
	rows, err := s.pool.Query(ctx, `WITH fenced AS (
			UPDATE instances SET `+fenceSet("$3")+`
			WHERE id = ANY($1) AND id <> $4 AND stopped_at IS NULL AND heartbeat_at < $2 AND `+canJudge("$4", "$2", "$3")+` RETURNING id)
		SELECT i.id, i.stopped_at IS NOT NULL OR f.id IS NOT NULL FROM instances i LEFT JOIN fenced f ON f.id = i.id WHERE i.id = ANY($1)`,
		ids, staleBefore, s.now(), self)
	if err != nil {
		return nil, nil, fmt.Errorf("instance states: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var g bool
		if err := rows.Scan(&id, &g); err != nil {
			return nil, nil, fmt.Errorf("instance states: %w", err)
		}
		known[id], gone[id] = true, g
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("instance states: %w", err)
	}
	return known, gone, nil
}

// fenceSet stops a silent instance at the time in the placeholder now,
// saying since when it was silent.
func fenceSet(now string) string {
	return `stopped_at = ` + now + `, stop_reason = 'no heartbeat since ' || to_char(heartbeat_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`
}

// canJudge is true when instance self may take another for dead: it runs,
// its own last heartbeat is within its max gap, and it has been healthy
// (no longer gap) since staleBefore. After a database stall every
// heartbeat is late; the first reconciler to run would otherwise fence
// every live process. Waiting until it has itself heartbeaten through the
// whole dead-after bound gives the others the time to heartbeat too.
func canJudge(self, staleBefore, now string) string {
	return `EXISTS (SELECT 1 FROM instances me WHERE me.id = ` + self + ` AND me.stopped_at IS NULL
		AND me.heartbeat_at >= ` + now + `::timestamptz - me.max_gap_ms * interval '1 millisecond'
		AND me.healthy_since <= ` + staleBefore + `)`
}

// FenceSilentInstances stops every running instance without a heartbeat
// since staleBefore, whether or not it holds work, and returns their ids:
// the table then lists as running only the processes alive. self is the
// instance asking; judged is false when it cannot tell yet (canJudge):
// nothing was fenced.
func (s *Store) FenceSilentInstances(ctx context.Context, self string, staleBefore time.Time) (ids []string, judged bool, err error) {
	err = s.pool.QueryRow(ctx, `WITH fenced AS (UPDATE instances SET `+fenceSet("$2")+`
			WHERE id <> $3 AND stopped_at IS NULL AND heartbeat_at < $1 AND `+canJudge("$3", "$1", "$2")+` RETURNING id)
		SELECT `+canJudge("$3", "$1", "$2")+`, coalesce((SELECT array_agg(id ORDER BY id) FROM fenced), '{}')`,
		staleBefore, s.now(), self).Scan(&judged, &ids)
	if err != nil {
		return nil, false, fmt.Errorf("fence silent instances: %w", err)
	}
	return ids, judged, nil
}

// PruneInstances deletes the rows of instances stopped, or silent, since
// before the given time (their calls were settled long ago) and returns
// how many.
func (s *Store) PruneInstances(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM instances WHERE coalesce(stopped_at, heartbeat_at) < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("prune instances: %w", err)
	}
	return tag.RowsAffected(), nil
}

package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
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
}

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

// RegisterInstance records a starting process, alive now.
func (s *Store) RegisterInstance(ctx context.Context, in Instance) error {
	now := s.now()
	_, err := s.pool.Exec(ctx, `INSERT INTO instances (id, host, pid, version, started_at, heartbeat_at) VALUES ($1, $2, $3, $4, $5, $5)`,
		in.ID, in.Host, in.PID, in.Version, now)
	if err != nil {
		return fmt.Errorf("register instance %s: %w", in.ID, err)
	}
	return nil
}

// InstanceHeartbeat says that instance id is alive now. It returns false
// when its row is stopped (another process's reconciler found its
// heartbeat too old and settled its calls) or missing: the process must
// not take new work under that id.
func (s *Store) InstanceHeartbeat(ctx context.Context, id string) (alive bool, err error) {
	tag, err := s.pool.Exec(ctx, `UPDATE instances SET heartbeat_at = $2 WHERE id = $1 AND stopped_at IS NULL`, id, s.now())
	if err != nil {
		return false, fmt.Errorf("heartbeat of instance %s: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
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
	err := s.pool.QueryRow(ctx, `SELECT id, host, pid, version, started_at, heartbeat_at, stopped_at, stop_reason FROM instances WHERE id = $1`, id).
		Scan(&in.ID, &in.Host, &in.PID, &in.Version, &in.StartedAt, &in.HeartbeatAt, &in.StoppedAt, &reason)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("instance %s: %w", id, err)
	}
	if reason != nil {
		in.StopReason = *reason
	}
	return &in, nil
}

// InstanceStates tells, of the given instance ids, which have a row
// (known) and which of those are gone: stopped, or without a heartbeat
// since staleBefore. A running row found stale is stopped in the same
// statement (fenced: its process, should it still run, learns so at its
// next heartbeat), so that a process is declared gone once and for all
// before its work is settled. Ids without a row are in neither map (a
// process from before instances, or one whose row was deleted).
func (s *Store) InstanceStates(ctx context.Context, ids []string, staleBefore time.Time) (known, gone map[string]bool, err error) {
	known, gone = map[string]bool{}, map[string]bool{}
	if len(ids) == 0 {
		return known, gone, nil
	}
	rows, err := s.pool.Query(ctx, `WITH fenced AS (
			UPDATE instances SET `+fenceSet("$3")+`
			WHERE id = ANY($1) AND stopped_at IS NULL AND heartbeat_at < $2 RETURNING id)
		SELECT i.id, i.stopped_at IS NOT NULL OR f.id IS NOT NULL FROM instances i LEFT JOIN fenced f ON f.id = i.id WHERE i.id = ANY($1)`,
		ids, staleBefore, s.now())
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

// FenceSilentInstances stops every running instance without a heartbeat
// since staleBefore, whether or not it holds work, and returns their ids:
// the table then lists as running only the processes alive.
func (s *Store) FenceSilentInstances(ctx context.Context, staleBefore time.Time) ([]string, error) {
	rows, err := s.pool.Query(ctx, `UPDATE instances SET `+fenceSet("$2")+`
		WHERE stopped_at IS NULL AND heartbeat_at < $1 RETURNING id`, staleBefore, s.now())
	if err != nil {
		return nil, fmt.Errorf("fence silent instances: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("fence silent instances: %w", err)
	}
	return ids, nil
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

package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/qualdial/qualdial/store"
)

// InstanceConfig configures this process's row in the instances table.
type InstanceConfig struct {
	// ID names this process in the table, in attempts, imports and River;
	// default store.DefaultWorker() (host/pid/random) for the process's
	// first instance, a new random one for any other. Give the same to
	// Config.Worker.
	ID string
	// Version is the build, shown with the row; default none.
	Version string
	// Heartbeat is how often the process says it is alive; default 10s.
	// Keep it well under the reconcilers' Config.DeadAfter.
	Heartbeat time.Duration
	// DeadAfter is this process's reconciler's Config.DeadAfter; default 3
	// heartbeats. It sets the longest gap between two heartbeats that keeps
	// the process healthy, the larger of 1.5 heartbeats and DeadAfter less
	// one heartbeat: a database stall shorter than that leaves every
	// heartbeat younger than DeadAfter, and after a longer one the
	// reconciler fences nobody until it has been healthy for DeadAfter
	// again.
	DeadAfter time.Duration
	// Fenced is called once if a heartbeat finds the row stopped: another
	// process's reconciler took this one for dead (its heartbeats did not
	// reach the database in time) and settled its calls. The process must
	// take no more work; nil: it is only logged.
	Fenced func()
	// Logger; nil discards.
	Logger *slog.Logger
}

// Instance is this process as the other processes see it: a row in the
// instances table kept alive by a heartbeat until Stop.
type Instance struct {
	cfg   InstanceConfig
	store *store.Store
	done  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

// StartInstance registers this process, alive now, and heartbeats every
// cfg.Heartbeat until Stop. Heartbeats take the store's clock, as the
// reconcilers' cutoffs do.
func StartInstance(ctx context.Context, st *store.Store, cfg InstanceConfig) (*Instance, error) {
	if cfg.ID == "" {
		cfg.ID = store.DefaultWorker()
		if started.Add(1) > 1 { // a second instance in one process (tests)
			host, _ := os.Hostname()
			cfg.ID = store.NewInstanceID(host, os.Getpid())
		}
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Heartbeat < 0 {
		return nil, fmt.Errorf("instance: heartbeat %s must be positive", cfg.Heartbeat)
	}
	if cfg.DeadAfter == 0 {
		cfg.DeadAfter = 3 * cfg.Heartbeat
	}
	if cfg.DeadAfter < 2*cfg.Heartbeat {
		return nil, fmt.Errorf("instance: dead-after %s must be at least twice the heartbeat %s", cfg.DeadAfter, cfg.Heartbeat)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	host, _ := os.Hostname()
	maxGap := max(cfg.Heartbeat*3/2, cfg.DeadAfter-cfg.Heartbeat)
	if err := st.RegisterInstance(ctx, store.Instance{ID: cfg.ID, Host: host, PID: os.Getpid(), Version: cfg.Version, MaxGap: maxGap}); err != nil {
		return nil, err
	}
	in := &Instance{cfg: cfg, store: st, done: make(chan struct{})}
	in.wg.Go(func() { in.beat(context.WithoutCancel(ctx)) })
	return in, nil
}

// started counts the instances this process started: the first is the
// process's own, store.DefaultWorker(), as its imports name it.
var started atomic.Int64

// DefaultHeartbeat is how often a process says it is alive unless told
// otherwise; DefaultDeadAfter (3 heartbeats) how long the others wait
// before they take it for dead.
const (
	DefaultHeartbeat = 10 * time.Second
	DefaultDeadAfter = 3 * DefaultHeartbeat
)

// ID is the instance's id.
func (in *Instance) ID() string { return in.cfg.ID }

func (in *Instance) beat(ctx context.Context) {
	t := time.NewTicker(in.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-in.done:
			return
		case <-t.C:
		}
		bctx, cancel := context.WithTimeout(ctx, in.cfg.Heartbeat)
		alive, err := in.store.InstanceHeartbeat(bctx, in.cfg.ID)
		cancel()
		switch {
		case err != nil:
			in.cfg.Logger.Warn("heartbeat failed", "instance", in.cfg.ID, "error", err)
		case !alive:
			in.cfg.Logger.Error("this process was taken for dead by another (its heartbeats were late) and its calls were settled: it takes no more work",
				"instance", in.cfg.ID)
			if in.cfg.Fenced != nil {
				in.cfg.Fenced()
			}
			return
		}
	}
}

// Stop ends the heartbeat and marks the row stopped: the process's work is
// done (call it after the queue stopped), so nothing of it is left to
// reconcile.
func (in *Instance) Stop(ctx context.Context) error {
	in.once.Do(func() { close(in.done) })
	in.wg.Wait()
	return in.store.StopInstance(ctx, in.cfg.ID, "stopped cleanly")
}

// WorkersGone tells which of the workers named (in attempts, imports, or
// River's attempted_by) are gone: their instance row is stopped or has had
// no heartbeat for deadAfter — such a row is stopped now, once for all, so
// a late process learns it was taken for dead — or, for a worker without a
// row (a process from before instances), it names a process of this host
// (host/pid) that no longer runs. self is the asking process's instance:
// it takes a silent process for dead only once it has itself been healthy
// for deadAfter (see store.InstanceStates).
func WorkersGone(ctx context.Context, st *store.Store, self string, workers []string, deadAfter time.Duration) (map[string]bool, error) {
	known, gone, err := st.InstanceStates(ctx, self, workers, st.Now().Add(-deadAfter))
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	for _, w := range workers {
		if !known[w] {
			gone[w] = processGone(w, host)
		}
	}
	return gone, nil
}

// WorkerGone is WorkersGone for one worker, as SettleInterruptedImports
// asks it; a worker whose state cannot be read is not gone.
func WorkerGone(ctx context.Context, st *store.Store, self string, deadAfter time.Duration) func(worker string) bool {
	return func(worker string) bool {
		gone, err := WorkersGone(ctx, st, self, []string{worker}, deadAfter)
		return err == nil && gone[worker]
	}
}

// processGone reports whether a worker name of a process from before
// instances ("host/pid") names a process of host that no longer runs. A
// process of another host is never known to be gone.
func processGone(worker, host string) bool {
	h, p, ok := strings.Cut(worker, "/")
	if !ok || h != host {
		return false
	}
	pid, err := strconv.Atoi(p)
	if err != nil || pid <= 0 {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

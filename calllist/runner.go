package calllist

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// errShutdown ends the imports still running when their runner closes.
var errShutdown = errors.New("interrupted: the server shut down before the import finished; nothing of it was kept — upload the file again")

// Runner runs the imports a server accepted in the background, each
// bounded in time: Close cancels the ones still running (each ends failed,
// saying why) and waits for them. The API and the web UI have one each.
type Runner struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	timeout time.Duration // one import's bound
	mu      sync.Mutex
	closed  bool
	wg      sync.WaitGroup
}

// NewRunner returns a Runner whose imports may take up to timeout each.
func NewRunner(timeout time.Duration) *Runner {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &Runner{ctx: ctx, cancel: cancel, timeout: timeout}
}

// Go runs an import in the background and says so — or, once closed, at
// once, where it fails for the shutdown, and says it did not.
func (b *Runner) Go(f func(ctx context.Context)) (background bool) {
	ctx, cancel := context.WithTimeoutCause(b.ctx, b.timeout,
		fmt.Errorf("stopped: the import took longer than %s; nothing of it was kept — split the file", b.timeout))
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		defer cancel()
		f(ctx)
		return false
	}
	b.wg.Go(func() {
		defer cancel()
		f(ctx)
	})
	b.mu.Unlock()
	return true
}

// Close cancels the imports still running and waits for them to record
// their end, until ctx ends. Idempotent.
func (b *Runner) Close(ctx context.Context) error {
	b.mu.Lock()
	b.closed = true
	b.cancel(errShutdown)
	b.mu.Unlock()
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("imports still running: %w", context.Cause(ctx))
	}
}

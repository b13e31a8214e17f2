package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/store"
)

// testCalls places the script editor's test calls ("Test call to my
// phone") through the SIP trunk, presenting callerID, outside any
// campaign: no lead, no attempt, but an opt-out is honoured (the number
// goes on the do-not-call list). Each call runs in the background, bounded
// by its longest length; close hangs up those still running and waits.
type testCalls struct {
	drv      dialer.Driver
	st       *store.Store
	callerID string
	log      *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// testCallLength bounds a test call once answered.
const testCallLength = 5 * time.Minute

func newTestCalls(drv dialer.Driver, st *store.Store, callerID string, log *slog.Logger) *testCalls {
	ctx, cancel := context.WithCancel(context.Background())
	return &testCalls{drv: drv, st: st, callerID: callerID, log: log, ctx: ctx, cancel: cancel}
}

// place calls phone (E.164) and runs the script over the call once it is
// answered; it returns when the call is answered (the call goes on without
// the request) or ended before that. ctx ending before the answer cancels
// the call on the wire.
func (t *testCalls) place(ctx context.Context, phone string, yaml []byte) (string, error) {
	sc, ds := ivr.Parse("script.yaml", yaml)
	if sc == nil {
		return "", fmt.Errorf("the script has errors: %v", ds.Errors())
	}
	req, err := dialer.DialRequest{To: phone, CallerID: t.callerID, RingTimeout: 25 * time.Second, MaxDuration: testCallLength,
		Language: sc.Language, Voice: sc.Voice, Logger: t.log}.Prepared()
	if err != nil {
		return "", err
	}
	// Ringing ends with the request or the server; an answered call only
	// with the server.
	dialCtx, stopDial := context.WithCancel(t.ctx)
	stop := context.AfterFunc(ctx, stopDial)
	call, err := t.drv.Dial(dialCtx, req)
	stop()
	if err != nil {
		stopDial()
		de := dialer.AsDialError(err)
		return "", fmt.Errorf("not answered: %s (%s)", de.Disposition, de.Reason)
	}
	log := t.log.With("call_id", call.ID(), "phone", dialer.MaskPhone(phone), "script", sc.String())
	t.wg.Go(func() {
		defer stopDial()
		out := dialer.RunCall(dialCtx, call, ivr.NewEngine(sc), dialer.RunOptions{OnEnd: func(ctx context.Context, st ivr.State) error {
			if st.Outcome != ivr.OutcomeOptedOut {
				return nil
			}
			_, err := t.st.AddDNC(context.WithoutCancel(ctx), t.st.Pool(), store.DNCEntry{Phone: phone, Source: store.DNCOptOut,
				Reason: "pressed the opt-out key on a test call"})
			return err
		}})
		log.Info("test call ended", "outcome", out.Result.Outcome, "class", out.Result.Class, "total", out.Result.Total, "ended_by", out.EndedBy,
			"error", out.Err)
	})
	return fmt.Sprintf("answered (call %s); the script runs now", call.ID()), nil
}

// placer is the web UI's TestCall: nil (no button) without test calls.
func (t *testCalls) placer() func(ctx context.Context, phone string, yaml []byte) (string, error) {
	if t == nil {
		return nil
	}
	return t.place
}

// close hangs up the test calls still running and waits for them, until
// ctx ends.
func (t *testCalls) close(ctx context.Context) error {
	t.cancel()
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return errors.New("test calls still ending")
	}
}

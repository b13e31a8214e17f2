package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer/sip"
	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/scripts"
	"github.com/qualdial/qualdial/store"
)

// TestTestCalls: the script editor's test call rings the number through
// the trunk and runs the script once answered, without the request; a
// busy phone is reported; pressing the opt-out key puts the number on the
// do-not-call list, as on a campaign's call; close hangs up the rest.
func TestTestCalls(t *testing.T) {
	t.Parallel()
	phone, err := softphone.Start(softphone.Config{Personas: map[string]softphone.Persona{
		"+12125550103": {Keys: "9"},
		"+12125550104": {Answer: "reject", Code: 486},
		"+12125550105": {Keys: "timeout,timeout,timeout,timeout,timeout,timeout"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	drv, err := sip.New(sip.Config{ListenAddr: "127.0.0.1:0", Trunk: phone.Addr().String(), Prompts: fixture.Hum(0)})
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	st := store.New(pgtest.DB(t), store.Config{Now: fixture.Clock()})
	tc := newTestCalls(drv, st, "+15550100", slog.New(slog.DiscardHandler))
	src, _ := scripts.Read("bant-en")

	// The request ends as soon as the call is answered: the call goes on.
	reqCtx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	msg, err := tc.place(reqCtx, "+12125550103", src)
	cancel()
	if err != nil || !strings.HasPrefix(msg, "answered (call ") {
		t.Fatalf("opt-out call: %q %v", msg, err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		on, err := store.OnDNC(t.Context(), st.Pool(), "+12125550103")
		if err != nil {
			t.Fatal(err)
		}
		if on {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the opt-out of a test call did not reach the do-not-call list")
		}
	}
	if _, err := tc.place(t.Context(), "+12125550104", src); err == nil || !strings.Contains(err.Error(), "not answered: busy") {
		t.Errorf("a busy phone: %v", err)
	}
	if _, err := tc.place(t.Context(), "+12125550104", []byte("id: x\n")); err == nil || !strings.Contains(err.Error(), "the script has errors") {
		t.Errorf("a broken script: %v", err)
	}
	// A call still running when the server stops is hung up.
	if _, err := tc.place(t.Context(), "+12125550105", src); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	if err := tc.close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// TestTestCallerIDFlag: serve refuses a test caller ID that is not a
// number, or that has no trunk to call through.
func TestTestCallerIDFlag(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--test-caller-id", "5550100", "--sip-trunk", "127.0.0.1:5060"}, "must be an E.164 number"},
		{[]string{"serve", "--test-caller-id", "+15550100"}, "needs --sip-trunk"},
	} {
		if code, _, errOut := runCLI(t, nil, c.args...); code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, %q", c.args, code, errOut)
		}
	}
}

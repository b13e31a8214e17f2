package sip_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/sip"
	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/ivr"
)

func bant(t *testing.T) *ivr.Engine {
	t.Helper()
	src, err := os.ReadFile("../../scripts/bant-en.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return ivr.NewEngine(ivr.MustParse("bant-en.yaml", src))
}

type bundle struct {
	driver *sip.Driver
	phone  *softphone.Phone
}

func setup(t *testing.T, dcfg sip.Config, pcfg softphone.Config) *bundle {
	t.Helper()
	if dcfg.ListenAddr == "" {
		dcfg.ListenAddr = "127.0.0.1:0"
	}
	if dcfg.Prompts == nil {
		dcfg.Prompts = fixture.Hum(300 * time.Millisecond)
	}
	d, err := sip.New(dcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	pcfg.ListenAddr = "127.0.0.1:0"
	p, err := softphone.Start(pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return &bundle{driver: d, phone: p}
}

func (b *bundle) dial(ctx context.Context, user string, ring time.Duration) (dialer.Call, error) {
	return b.driver.Dial(ctx, dialer.DialRequest{To: b.phone.URI(user), CallerID: "+15550100", CallerName: "Acme", RingTimeout: ring})
}

func TestFullBANTCallForEachDTMFMode(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{softphone.DTMFRFC4733, softphone.DTMFInfo, softphone.DTMFInband} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			b := setup(t, sip.Config{}, softphone.Config{Default: softphone.Persona{Keys: "1,1,1,1,120#,1", DTMF: mode}, Record: true})
			call, err := b.dial(t.Context(), "hot", 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			out := dialer.Run(t.Context(), call, bant(t), dialer.RunOptions{Lead: map[string]string{"first_name": "Ann"}})
			if out.Err != nil || out.Result.Class != "sql" || out.Result.Total != 90 {
				t.Fatalf("result %+v, err %v", out.Result, out.Err)
			}
			if got := out.KeysHeard(); !slices.Equal(got, []string{"1", "1", "1", "1", "120#", "1"}) {
				t.Fatalf("keys heard %v", got)
			}
			select {
			case <-call.Done():
			default:
				t.Error("call not done after Run")
			}
			waitFor(t, func() bool { c := b.phone.Calls(); return len(c) == 1 && c[0].ByeFrom == "caller" })
			rec := b.phone.Calls()[0]
			if rec.Invites != 1 || !rec.Answered || rec.Heard < 6*2400 {
				t.Errorf("softphone saw %+v", rec)
			}
		})
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if ok() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("condition not met within 4s")
}

func TestDialFailuresAreClassified(t *testing.T) {
	t.Parallel()
	b := setup(t, sip.Config{NoResponseTimeout: time.Second}, softphone.Config{Personas: map[string]softphone.Persona{
		"busy":     {Answer: "reject", Code: 486},
		"decline":  {Answer: "reject", Code: 603},
		"nobody":   {Answer: "reject", Code: 404},
		"down":     {Answer: "reject", Code: 503},
		"noanswer": {Answer: "noanswer"},
	}})
	for _, tc := range []struct {
		user      string
		want      dialer.Disposition
		code      int
		ambiguous bool
	}{
		{"busy", dialer.Busy, 486, false},
		{"decline", dialer.Rejected, 603, false},
		{"nobody", dialer.InvalidNumber, 404, false},
		{"down", dialer.Congestion, 503, false},
		{"noanswer", dialer.NoAnswer, 0, false},
	} {
		t.Run(tc.user, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			_, err := b.dial(t.Context(), tc.user, 1500*time.Millisecond)
			var de *dialer.DialError
			if !errors.As(err, &de) || de.Disposition != tc.want || (tc.code != 0 && de.SIPCode != tc.code) || de.Ambiguous != tc.ambiguous {
				t.Fatalf("got %v; want %s %d", err, tc.want, tc.code)
			}
			if tc.user == "noanswer" {
				if d := time.Since(start); d < 1400*time.Millisecond || d > 4*time.Second {
					t.Errorf("ring timeout took %s", d)
				}
				waitFor(t, func() bool {
					for _, r := range b.phone.Calls() {
						if r.User == "noanswer" && r.Canceled {
							return true
						}
					}
					return false
				})
			}
		})
	}
	t.Run("nothing listening", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		_, err := b.driver.Dial(t.Context(), dialer.DialRequest{To: "sip:lead@127.0.0.1:9", CallerID: "+15550100", RingTimeout: 5 * time.Second})
		var de *dialer.DialError
		if !errors.As(err, &de) || de.Disposition != dialer.Congestion {
			t.Fatalf("got %v; want congestion", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("gave up after %s; NoResponseTimeout is 1s", d)
		}
	})
	t.Run("bad targets", func(t *testing.T) {
		t.Parallel()
		_, err := b.driver.Dial(t.Context(), dialer.DialRequest{To: "5551234", CallerID: "+15550100"})
		var de *dialer.DialError
		if !errors.As(err, &de) || de.Disposition != dialer.InvalidNumber {
			t.Errorf("5551234: %v", err)
		}
		// No trunk for E.164 numbers: the driver's configuration, not the
		// number — never "invalid number", and said before any attempt.
		_, err = b.driver.Dial(t.Context(), dialer.DialRequest{To: "+15551234567", CallerID: "+15550100"})
		if !errors.As(err, &de) || de.Disposition != dialer.Failed || !errors.Is(err, dialer.ErrNotConfigured) {
			t.Errorf("+15551234567 without a trunk: %v", err)
		}
		if err := b.driver.CanDial("+15551234567"); !errors.Is(err, dialer.ErrNotConfigured) {
			t.Errorf("CanDial without a trunk: %v", err)
		}
		if err := b.driver.CanDial(b.phone.URI("x")); err != nil {
			t.Errorf("CanDial of a SIP URI: %v", err)
		}
		if _, err := b.driver.Dial(t.Context(), dialer.DialRequest{To: b.phone.URI("x")}); err == nil {
			t.Error("dialled without a caller ID")
		}
	})
}

func TestRemoteHangupMidPrompt(t *testing.T) {
	t.Parallel()
	b := setup(t, sip.Config{Prompts: fixture.Hum(2 * time.Second)}, softphone.Config{Default: softphone.Persona{Keys: "1,1,~hangup"}})
	call, err := b.dial(t.Context(), "leaver", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	out := dialer.Run(t.Context(), call, bant(t), dialer.RunOptions{})
	if out.Result.Outcome != ivr.OutcomeIncomplete || len(out.Result.Answers) != 2 || out.Result.Explanation.EndedAt != "budget" {
		t.Fatalf("result %+v", out.Result)
	}
	if rec := b.phone.Calls()[0]; rec.ByeFrom != "phone" {
		t.Errorf("BYE from %q", rec.ByeFrom)
	}
}

func TestBargeIn(t *testing.T) {
	t.Parallel()
	b := setup(t, sip.Config{Prompts: fixture.Hum(4 * time.Second)}, softphone.Config{Default: softphone.Persona{Keys: "~9"}})
	call, err := b.dial(t.Context(), "impatient", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	out := dialer.Run(t.Context(), call, bant(t), dialer.RunOptions{})
	if out.Result.Outcome != ivr.OutcomeOptedOut {
		t.Fatalf("result %+v", out.Result)
	}
	// The first turn has two 4 s prompts (identify + intro): the key came
	// within the first one and cut the rest.
	first, key := out.Timeline[0].At, time.Time{}
	for _, e := range out.Timeline {
		if e.Kind == "keys" {
			key = e.At
		}
	}
	if d := key.Sub(first); d > 3*time.Second {
		t.Errorf("key accepted %s after the prompts began; barge-in should cut them", d)
	}
}

func TestDigestAuth(t *testing.T) {
	t.Parallel()
	pcfg := softphone.Config{Username: "acme", Password: "s3cret", Default: softphone.Persona{Answer: "answer"}}
	good := setup(t, sip.Config{Username: "acme", Password: "s3cret"}, pcfg)
	call, err := good.dial(t.Context(), "auth", 5*time.Second)
	if err != nil {
		t.Fatalf("with the right password: %v", err)
	}
	call.Hangup(t.Context())
	if err := call.Hangup(t.Context()); err != nil {
		t.Errorf("second Hangup: %v", err)
	}

	bad := setup(t, sip.Config{Username: "acme", Password: "wrong"}, pcfg)
	_, err = bad.dial(t.Context(), "auth", 5*time.Second)
	var de *dialer.DialError
	if !errors.As(err, &de) || de.SIPCode != 403 || de.Disposition != dialer.Failed {
		t.Fatalf("with a wrong password: %v", err)
	}
}

func TestMediaTimeoutEndsTheCall(t *testing.T) {
	t.Parallel()
	b := setup(t, sip.Config{MediaTimeout: time.Second}, softphone.Config{Default: softphone.Persona{Silent: true}})
	call, err := b.dial(t.Context(), "silent", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out := dialer.Run(t.Context(), call, bant(t), dialer.RunOptions{})
	if out.Result.Outcome != ivr.OutcomeIncomplete || time.Since(start) > 5*time.Second {
		t.Fatalf("after %s: %+v", time.Since(start), out.Result)
	}
	if out.EndedBy != dialer.EndedByMediaTimeout {
		t.Errorf("ended by %q, want media_timeout (not the lead)", out.EndedBy)
	}
	waitFor(t, func() bool { c := b.phone.Calls(); return len(c) == 1 && c[0].ByeFrom == "caller" })
}

// The call says who ended it: the lead's BYE is the lead's, even when it
// comes while a prompt plays.
func TestEndedByLeadOnBye(t *testing.T) {
	t.Parallel()
	b := setup(t, sip.Config{}, softphone.Config{Default: softphone.Persona{Keys: "1,~hangup"}})
	call, err := b.dial(t.Context(), "quitter", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	out := dialer.RunCall(t.Context(), call, bant(t), dialer.RunOptions{})
	if out.EndedBy != dialer.EndedByLead || out.Result.Outcome != ivr.OutcomeIncomplete {
		t.Errorf("ended by %q, outcome %s; want lead, incomplete", out.EndedBy, out.Result.Outcome)
	}
	if er, ok := call.(dialer.EndReporter); !ok || er.EndedBy() != dialer.EndedByLead {
		t.Errorf("the SIP call does not report the lead's BYE (EndReporter %v)", ok)
	}
}

func TestCancelBeforeAnswer(t *testing.T) {
	t.Parallel()
	b := setup(t, sip.Config{}, softphone.Config{Default: softphone.Persona{Answer: "noanswer"}})
	ctx, cancel := context.WithTimeout(t.Context(), 800*time.Millisecond)
	defer cancel()
	_, err := b.dial(ctx, "shutdown", 20*time.Second)
	var de *dialer.DialError
	if !errors.As(err, &de) || de.Disposition != dialer.Canceled {
		t.Fatalf("got %v; want canceled", err)
	}
	waitFor(t, func() bool { c := b.phone.Calls(); return len(c) == 1 && c[0].Canceled })
}

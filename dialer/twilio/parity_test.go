package twilio_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/sip"
	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/dialer/twilio"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/internal/twiliotest"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// outcome is what must be the same whichever driver placed the call.
type outcome struct {
	disposition dialer.Disposition
	result      ivr.Result
}

func (o outcome) summary() string {
	var answers []string
	for _, a := range o.result.Answers {
		answers = append(answers, a.Question+"="+a.Keys)
	}
	return fmt.Sprintf("%s %s class=%s total=%d scores=%v answers=%v", o.disposition, o.result.Outcome, o.result.Class,
		o.result.Total, o.result.Scores, answers)
}

type twilioBundle struct {
	store  *store.Store
	driver *twilio.Driver
	fake   *twiliotest.Twilio
	hooks  *httptest.Server
}

func newTwilio(t *testing.T, personas map[string]twiliotest.Persona, machineDetection bool) *twilioBundle {
	t.Helper()
	st := store.New(pgtest.DB(t), store.Config{Now: fixture.Clock()})
	fake := twiliotest.New(t, personas)
	var handler http.Handler
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(hooks.Close)
	d, err := twilio.New(twilio.Config{AccountSID: fake.SID, AuthToken: fake.Token, PublicURL: hooks.URL, APIBaseURL: fake.URL(),
		Sessions: st, MachineDetection: machineDetection, Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	handler = d.Handler()
	return &twilioBundle{store: st, driver: d, fake: fake, hooks: hooks}
}

// bant is the shipped BANT script, waiting 2 s instead of 6 s for a key so
// that the cases with timeouts take seconds, not half a minute.
func bant(t *testing.T) ([]byte, *ivr.Engine) {
	t.Helper()
	src, err := os.ReadFile("../../scripts/bant-en.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(src, []byte("\n  timeout: 6s\n")) {
		t.Fatal("bant-en.yaml no longer waits 6s for a key: update the test")
	}
	src = bytes.Replace(src, []byte("\n  timeout: 6s\n"), []byte("\n  timeout: 2s\n"), 1)
	return src, ivr.NewEngine(ivr.MustParse("bant-en.yaml", src))
}

func place(t *testing.T, drv dialer.Driver, to string, src []byte, eng *ivr.Engine) outcome {
	t.Helper()
	call, err := drv.Dial(t.Context(), dialer.DialRequest{To: to, CallerID: "+15550100", RingTimeout: 15 * time.Second,
		Script: src, Lead: map[string]string{"first_name": "Ann"}, Language: "en-US"})
	if err != nil {
		var de *dialer.DialError
		if !errors.As(err, &de) {
			t.Fatalf("dial: %v", err)
		}
		return outcome{disposition: de.Disposition}
	}
	out := dialer.RunCall(t.Context(), call, eng, dialer.RunOptions{Lead: map[string]string{"first_name": "Ann"}})
	return outcome{disposition: dialer.Answered, result: out.Result}
}

// TestDriverParity runs the same scripts and key sequences through the SIP
// driver (to the softphone) and the Twilio driver (to the fake Twilio) and
// requires the same disposition, answers, scores and class.
func TestDriverParity(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		number string
		sip    softphone.Persona
		twilio twiliotest.Persona
	}{
		{"hot lead", "+12125550301", softphone.Persona{Keys: "1,1,1,1,120#,1"}, twiliotest.Persona{Steps: []string{"1", "1", "1", "1", "120#", "1"}}},
		{"warm lead, Twilio retries webhooks", "+12125550302", softphone.Persona{Keys: "1,1,2,2,40#,2"}, twiliotest.Persona{Steps: []string{"1", "1", "2", "2", "40#", "2"}, Retries: true}},
		{"student knock-out", "+12125550303", softphone.Persona{Keys: "1,2"}, twiliotest.Persona{Steps: []string{"1", "2"}}},
		{"opt-out", "+12125550304", softphone.Persona{Keys: "1,9"}, twiliotest.Persona{Steps: []string{"1", "9"}}},
		{"hang-up midway", "+12125550305", softphone.Persona{Keys: "1,1,1,hangup"}, twiliotest.Persona{Steps: []string{"1", "1", "1", "hangup"}}},
		{"wrong key then right", "+12125550306", softphone.Persona{Keys: "1,1,7,1,1,500#,1"}, twiliotest.Persona{Steps: []string{"1", "1", "7", "1", "1", "500#", "1"}}},
		{"no key, then answers", "+12125550307", softphone.Persona{Keys: "1,timeout,1,1,1,120#,3"}, twiliotest.Persona{Steps: []string{"1", "timeout", "1", "1", "1", "120#", "3"}}},
		{"busy", "+12125550308", softphone.Persona{Answer: "reject", Code: 486}, twiliotest.Persona{Answer: "busy"}},
		// Not answered: 480 at once instead of 15 s of ringing (the ring
		// timeout and its CANCEL are the SIP driver's own tests).
		{"no answer", "+12125550309", softphone.Persona{Answer: "reject", Code: 480}, twiliotest.Persona{Answer: "no-answer"}},
	}
	sipPersonas, twPersonas := map[string]softphone.Persona{}, map[string]twiliotest.Persona{}
	for _, c := range cases {
		sipPersonas[c.number], twPersonas[c.number] = c.sip, c.twilio
	}
	// t.Cleanup, not defer: the parallel subtests run after this function returns.
	phone, err := softphone.Start(softphone.Config{Personas: sipPersonas})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { phone.Close() })
	sd, err := sip.New(sip.Config{ListenAddr: "127.0.0.1:0", Trunk: phone.Addr().String(), Prompts: fixture.Hum(0)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sd.Close() })
	tw := newTwilio(t, twPersonas, false)
	src, eng := bant(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			viaSIP := place(t, sd, c.number, src, eng)
			viaTwilio := place(t, tw.driver, c.number, src, eng)
			if viaSIP.summary() != viaTwilio.summary() {
				t.Errorf("drivers disagree:\n  sip:    %s\n  twilio: %s", viaSIP.summary(), viaTwilio.summary())
			}
			if viaSIP.result.Explanation.Reason != viaTwilio.result.Explanation.Reason {
				t.Errorf("explanations differ:\n  sip:    %s\n  twilio: %s", viaSIP.result.Explanation.Reason, viaTwilio.result.Explanation.Reason)
			}
		})
	}
	t.Cleanup(func() {
		if tw.fake.Repeats() == 0 {
			t.Error("no webhook was repeated: the retry case did not run")
		}
		for _, form := range tw.fake.Calls() {
			if form.Get("From") != "+15550100" || form.Get("Timeout") != "15" || len(form["StatusCallbackEvent"]) != 4 {
				t.Errorf("Calls.json form %v", form)
			}
		}
	})
}

func TestMachineAndFinalFailures(t *testing.T) {
	t.Parallel()
	tw := newTwilio(t, map[string]twiliotest.Persona{
		"+12125550401": {Answer: "machine"},
		"+12125550402": {Answer: "failed", Code: 32203}, // carrier block: never call again
		"+12125550403": {Answer: "failed", Code: 13224}, // invalid number
	}, true)
	src, eng := bant(t)
	for number, want := range map[string]dialer.Disposition{"+12125550401": dialer.Machine, "+12125550402": dialer.Rejected, "+12125550403": dialer.InvalidNumber} {
		if got := place(t, tw.driver, number, src, eng); got.disposition != want {
			t.Errorf("%s: %s, want %s", number, got.disposition, want)
		}
	}
}

// TestAsyncMachineDetection: with machine detection on, calls are created
// with asynchronous detection, so a person hears the first prompt at once
// (no silence while Twilio listens); a machine is hung up on (hangup mode)
// or hears the identify line after its greeting's beep (message mode), and
// either is reported as the machine disposition.
func TestAsyncMachineDetection(t *testing.T) {
	t.Parallel()
	const person, machine, voicemail = "+12125550411", "+12125550412", "+12125550413"
	tw := newTwilio(t, map[string]twiliotest.Persona{
		person:  {Steps: []string{"1", "9"}},
		machine: {Answer: "machine"},
		// A greeting longer than two prompts' timeouts: the beep comes late.
		voicemail: {Answer: "machine", VerdictAfter: 3},
	}, true)
	voicemailDialed := make(chan struct{})
	held := false
	tw.fake.OnHear = func(to, text string) {
		if to == voicemail && !held && strings.Contains(text, "did not hear") {
			held = true
			select {
			case <-voicemailDialed:
			case <-time.After(time.Second):
			}
		}
	}
	src, eng := bant(t)
	dial := func(to, mode string) (dialer.Call, error) {
		return tw.driver.Dial(t.Context(), dialer.DialRequest{To: to, CallerID: "+15550100", RingTimeout: 15 * time.Second,
			Script: src, MachineDetection: mode, Language: "en-US"})
	}
	formOf := func(to string) url.Values {
		for _, f := range tw.fake.Calls() {
			if f.Get("To") == to {
				return f
			}
		}
		return nil
	}

	// A person: answered, the first prompt with no dead air, the script runs.
	call, err := dial(person, "hangup")
	if err != nil {
		t.Fatalf("person: %v", err)
	}
	out := dialer.RunCall(t.Context(), call, eng, dialer.RunOptions{})
	if out.Result.Outcome != ivr.OutcomeOptedOut {
		t.Errorf("person: %s", out.Result.Outcome)
	}
	ev := tw.fake.Events(person)
	if len(ev) < 3 || ev[0] != "answered" || !strings.HasPrefix(ev[1], "say:") || slices.Contains(ev, "silence:amd") || !slices.Contains(ev, "amd:human") {
		t.Errorf("person's call: %q", ev)
	}

	// A machine in hangup mode: hung up on by a REST update.
	if _, err := dial(machine, "hangup"); !isMachine(err) {
		t.Fatalf("machine: %v", err)
	}
	waitFor(t, func() bool { return slices.Contains(tw.fake.Events(machine), "hung up by qualdial") })
	if u := tw.fake.Updates(); len(u) != 1 || u[0].Get("Status") != "completed" {
		t.Errorf("the machine was not hung up on: updates %v", u)
	}

	// A voicemail in message mode: the identify line after the beep. The
	// greeting outlasts the first prompt's timeout: the replay is no sign
	// of a person, so Dial must still wait for the verdict. (The fake holds
	// the replay until Dial returns, or a second: Dial polls every 20 ms.)
	_, err = dial(voicemail, "message")
	close(voicemailDialed)
	if !isMachine(err) {
		t.Fatalf("voicemail: %v", err)
	}
	waitFor(t, func() bool {
		ev := tw.fake.Events(voicemail)
		return len(ev) > 0 && strings.HasPrefix(ev[len(ev)-1], "say:")
	})
	ev = tw.fake.Events(voicemail)
	beep := slices.Index(ev, "amd:machine_end_beep")
	if beep < 0 || len(ev[beep+1:]) != 1 || !strings.HasPrefix(ev[beep+1], "say:Hello, this is an automated call from Acme Software") {
		t.Errorf("voicemail's call: %q", ev)
	}

	for to, want := range map[string]string{person: "Enable", machine: "Enable", voicemail: "DetectMessageEnd"} {
		f := formOf(to)
		if f.Get("MachineDetection") != want || f.Get("AsyncAmd") != "true" || !strings.Contains(f.Get("AsyncAmdStatusCallback"), "/twilio/amd?s=") {
			t.Errorf("%s: Calls.json %v", to, f)
		}
	}
}

func isMachine(err error) bool {
	var de *dialer.DialError
	return errors.As(err, &de) && de.Disposition == dialer.Machine
}

// waitFor waits until cond holds, for what the fake does after Dial
// returned (it acts on its own goroutine).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 250 && !cond(); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if !cond() {
		t.Fatal("timed out")
	}
}

// Webhooks without a valid signature get 403; unknown calls 404.
func TestWebhookSecurity(t *testing.T) {
	t.Parallel()
	tw := newTwilio(t, map[string]twiliotest.Persona{}, false)
	form := url.Values{"CallSid": {"CA1"}, "CallStatus": {"in-progress"}}
	for _, tc := range []struct {
		name, path, sig string
		want            int
	}{
		{"no signature", "/twilio/voice?s=nope0000000000000000", "", 403},
		{"forged", "/twilio/voice?s=nope0000000000000000", "bm90IGEgc2lnbmF0dXJl", 403},
		{"signed for another URL", "/twilio/voice?s=nope0000000000000000", tw.fake.Sign("https://elsewhere.example/twilio/voice", form), 403},
		{"signed, unknown call", "/twilio/voice?s=nope0000000000000000", tw.fake.Sign(tw.hooks.URL+"/twilio/voice?s=nope0000000000000000", form), 404},
	} {
		req, _ := http.NewRequest("POST", tw.hooks.URL+tc.path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if tc.sig != "" {
			req.Header.Set("X-Twilio-Signature", tc.sig)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, res.StatusCode, tc.want)
		}
	}
	// Signed but malformed: 400 problem+json, never a 500 or a key heard.
	for name, tc := range map[string]struct{ path, digits string }{
		"digits that are not keys": {"/twilio/gather?s=nope0000000000000000&seq=1", "12a"},
		"a seq that is no number":  {"/twilio/gather?s=nope0000000000000000&seq=x", "1"},
	} {
		form := url.Values{"CallSid": {"CA1"}, "Digits": {tc.digits}}
		req, _ := http.NewRequest("POST", tw.hooks.URL+tc.path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", tw.fake.Sign(tw.hooks.URL+tc.path, form))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 400 || res.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s, want 400 problem+json", name, res.StatusCode, res.Header.Get("Content-Type"))
		}
	}
	if _, err := twilio.New(twilio.Config{AccountSID: "AC1", AuthToken: "x", PublicURL: "not a url", Sessions: nil}); err == nil {
		t.Error("bad config accepted")
	}
}

// TestDialCancelledWhileDetecting: a dial given up on after the answer,
// while machine detection still listens, hangs the call up (Twilio ignores
// Status=canceled for a call in progress).
func TestDialCancelledWhileDetecting(t *testing.T) {
	t.Parallel()
	const number = "+12125550421"
	tw := newTwilio(t, map[string]twiliotest.Persona{number: {Steps: []string{"1", "1", "1"}}}, true)
	ctx, cancel := context.WithCancel(t.Context())
	dialed := make(chan struct{})
	first := true
	tw.fake.OnHear = func(string, string) {
		if first { // the person hears the first prompt; the worker stops
			first = false
			cancel()
			<-dialed
		}
	}
	src, _ := bant(t)
	_, err := tw.driver.Dial(ctx, dialer.DialRequest{To: number, CallerID: "+15550100", Script: src, Language: "en-US"})
	close(dialed)
	var de *dialer.DialError
	if !errors.As(err, &de) || de.Disposition != dialer.Canceled {
		t.Fatalf("dial: %v", err)
	}
	waitFor(t, func() bool { return slices.Contains(tw.fake.Events(number), "hung up by qualdial") })
}

// TestRefusedByREST: a call Twilio refuses at Calls.json is classified by
// its error code, and its session is closed (nothing waits for a call that
// never existed).
func TestRefusedByREST(t *testing.T) {
	t.Parallel()
	const number = "+12125550431"
	tw := newTwilio(t, map[string]twiliotest.Persona{number: {Refuse: 21211}}, false)
	src, _ := bant(t)
	_, err := tw.driver.Dial(t.Context(), dialer.DialRequest{To: number, CallerID: "+15550100", Script: src, Language: "en-US"})
	var de *dialer.DialError
	if !errors.As(err, &de) || de.Disposition != dialer.InvalidNumber || de.ProviderCode != 21211 {
		t.Fatalf("dial: %v", err)
	}
	var open int
	if err := tw.store.Pool().QueryRow(t.Context(), `SELECT count(*) FROM twilio_sessions WHERE NOT coalesce((data->>'done')::boolean, false)`).Scan(&open); err != nil {
		t.Fatal(err)
	}
	if open != 0 {
		t.Errorf("%d sessions left open", open)
	}
}

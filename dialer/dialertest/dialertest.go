// Package dialertest is the conformance suite every dialer.Driver runs:
// the same leads pressing the same keys, through the same scripts, must give
// the same dispositions, answers, scores and classes whatever carries the
// call — SIP, Twilio, or a driver yet to come. A driver's test adds a
// Harness (how to make a lead of a Lead on its kind of network) and one
// call to Run.
//
// Expected results are not written down by hand: each case's answers are
// what the pure script engine gives for the lead's steps, so a driver that
// loses, doubles or reorders a key, or mistakes a key for a finish key, fails.
package dialertest

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/scripts"
)

// Lead is how a lead behaves, whatever the network.
type Lead struct {
	// Answer is "" (the lead answers), "busy" or "no_answer" (not answered:
	// the network says so at once — ringing out, and declines, which not
	// every network tells from busy, are each driver's own tests).
	Answer string
	// Steps says what the lead does at each question, in order: the keys
	// it presses when the prompts end ("1", "120#", "#"), "timeout"
	// (presses nothing) or "hangup". A step "hold:" before keys puts the
	// call on hold during the question and takes it off again before
	// pressing them ("hold:1"); networks without hold ignore it.
	Steps []string
	// Attestation is the STIR/SHAKEN attestation (A, B, C) the network
	// reports for the call's caller ID, each network its own way; empty:
	// it reports none, and none may be recorded.
	Attestation string
}

// Harness makes leads of Leads on a driver's network.
type Harness interface {
	// Start returns the driver under test, with each lead reachable at its
	// number (E.164). Everything it starts is stopped when t ends.
	Start(t *testing.T, leads map[string]Lead) dialer.Driver
}

// Case is one call of the suite.
type Case struct {
	Name   string
	Number string
	Lead   Lead
	// Script is "bant" (the shipped BANT script, waiting 2 s for a key) or
	// "hash" (a script with # as an answer of its own).
	Script string
	// Disposition is how the call must end.
	Disposition dialer.Disposition
	// Fields are the lead's fields besides first_name (a form's answers).
	Fields map[string]string
	// Transfer is how the live transfer of a "transfer…" script must end
	// (dialer.TransferConnected…); empty: no transfer.
	Transfer string
}

// Reps are the sales reps the transfer scripts put leads through to: a
// rep who answers, hears the whisper and hangs up, and one who is away.
var Reps = map[string]Lead{
	"+12125550320": {Steps: []string{"hangup"}},
	"+12125550321": {Answer: "no_answer"},
}

// transferTo are the reps of the transfer scripts.
var transferTo = map[string]string{"transfer": "+12125550320", "transfer-away": "+12125550321"}

// Cases are the suite's calls.
var Cases = []Case{
	{"hot lead", "+12125550301", Lead{Steps: []string{"1", "1", "1", "1", "120#", "1"}, Attestation: "A"}, "bant", dialer.Answered, nil, ""},
	{"warm lead", "+12125550302", Lead{Steps: []string{"1", "1", "2", "2", "40#", "2"}, Attestation: "B"}, "bant", dialer.Answered, nil, ""},
	{"student knock-out", "+12125550303", Lead{Steps: []string{"1", "2"}, Attestation: "C"}, "bant", dialer.Answered, nil, ""},
	{"opt-out", "+12125550304", Lead{Steps: []string{"1", "9"}}, "bant", dialer.Answered, nil, ""},
	{"hang-up midway", "+12125550305", Lead{Steps: []string{"1", "1", "1", "hangup"}}, "bant", dialer.Answered, nil, ""},
	{"wrong key then right", "+12125550306", Lead{Steps: []string{"1", "1", "7", "1", "1", "500#", "1"}}, "bant", dialer.Answered, nil, ""},
	{"no key, then answers", "+12125550307", Lead{Steps: []string{"1", "timeout", "1", "1", "1", "120#", "3"}}, "bant", dialer.Answered, nil, ""},
	{"# as an answer", "+12125550310", Lead{Steps: []string{"#", "12#"}}, "hash", dialer.Answered, nil, ""},
	{"* as an answer, then the opt-out alone", "+12125550311", Lead{Steps: []string{"*", "9#"}}, "hash", dialer.Answered, nil, ""},
	{"on hold during a question", "+12125550312", Lead{Steps: []string{"1", "hold:1", "1", "1", "120#", "1"}}, "bant", dialer.Answered, nil, ""},
	{"seats from the form: not asked", "+12125550313", Lead{Steps: []string{"1", "1", "1", "1", "1"}}, "bant", dialer.Answered,
		map[string]string{"seats": "120"}, ""},
	{"busy", "+12125550308", Lead{Answer: "busy"}, "bant", dialer.Busy, nil, ""},
	{"not answered", "+12125550309", Lead{Answer: "no_answer"}, "bant", dialer.NoAnswer, nil, ""},
	{"hot lead put through to a rep", "+12125550314", Lead{Steps: []string{"1", "1", "1", "1", "120#", "1"}}, "transfer", dialer.Answered, nil,
		dialer.TransferConnected},
	{"hot lead, rep away: call back", "+12125550315", Lead{Steps: []string{"1", "1", "1", "1", "120#", "1"}}, "transfer-away", dialer.Answered,
		nil, dialer.TransferNoAnswer},
}

//go:embed testdata/hash.yaml
var hashScript []byte

// Script returns a case's script: its YAML and engine.
func Script(name string) ([]byte, *ivr.Engine, error) {
	var src []byte
	switch name {
	case "bant":
		b, err := scripts.Read("bant-en")
		if err != nil {
			return nil, nil, err
		}
		// Two seconds for a key instead of six: cases with timeouts take
		// seconds, not half a minute.
		if !bytes.Contains(b, []byte("\n  timeout: 6s\n")) {
			return nil, nil, errors.New("bant-en.yaml no longer waits 6s for a key: update dialertest")
		}
		src = bytes.Replace(b, []byte("\n  timeout: 6s\n"), []byte("\n  timeout: 2s\n"), 1)
	case "hash":
		src = hashScript
	case "transfer", "transfer-away":
		b, _, err := Script("bant")
		if err != nil {
			return nil, nil, err
		}
		const sql = `  - {name: sql, when: "total >= 70 && budget > 0 && authority > 0", route: sales, sla: 24h, say: "A specialist will call you within one business day."}`
		if !bytes.Contains(b, []byte(sql)) {
			return nil, nil, errors.New("bant-en.yaml's sql class changed: update dialertest")
		}
		src = bytes.Replace(b, []byte(sql), []byte(`  - name: sql
    when: "total >= 70 && budget > 0 && authority > 0"
    route: sales
    say: "Let me connect you with a specialist."
    transfer: {to: "`+transferTo[name]+`", timeout: 5s, whisper: "Hot lead {{first_name}}, score {{total}}."}
`), 1)
	default:
		return nil, nil, fmt.Errorf("no script %q", name)
	}
	s, ds := ivr.Parse(name+".yaml", src)
	if s == nil {
		return nil, nil, ds.Err()
	}
	return src, ivr.NewEngine(s), nil
}

// Expected is what the pure engine gives for a lead's steps: the result a
// driver must reproduce.
func Expected(eng *ivr.Engine, lead Lead, fields map[string]string) ivr.Result {
	st, turn := eng.Start(fields)
	for _, step := range lead.Steps {
		if turn.Final || st.Done() {
			break
		}
		_, keys := holdStep(step)
		in := ivr.Input{Keys: keys}
		switch keys {
		case "timeout":
			in = ivr.Input{Timeout: true}
		case "hangup":
			in = ivr.Input{Hangup: true}
		}
		next, nextTurn, err := eng.Next(st, in)
		if err != nil {
			break
		}
		st, turn = next, nextTurn
	}
	if !st.Done() {
		st, _, _ = eng.Next(st, ivr.Input{Hangup: true}) // the steps ran out: the lead hangs up
	}
	return eng.Result(st)
}

// holdStep splits "hold:1" into (true, "1").
func holdStep(step string) (bool, string) {
	if k, ok := strings.CutPrefix(step, "hold:"); ok {
		return true, k
	}
	return false, step
}

// Hold reports whether a step puts the call on hold first, and the step
// without it.
func Hold(step string) (bool, string) { return holdStep(step) }

// fields are the lead's fields in every case.
var fields = map[string]string{"first_name": "Ann"}

// Run places every case through the driver the harness starts and checks
// the disposition, answers, scores, class and route against the engine's.
func Run(t *testing.T, h Harness) {
	leads := maps.Clone(Reps)
	for _, c := range Cases {
		leads[c.Number] = c.Lead
	}
	drv := h.Start(t, leads)
	for _, c := range Cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			src, eng, err := Script(c.Script)
			if err != nil {
				t.Fatal(err)
			}
			lead := maps.Clone(fields)
			maps.Copy(lead, c.Fields)
			req, err := dialer.DialRequest{To: c.Number, CallerID: "+15550100", CallerName: `Acme "Sales"`, RingTimeout: 15 * time.Second,
				Script: src, Lead: lead, Language: "en-US"}.Prepared()
			if err != nil {
				t.Fatal(err)
			}
			call, err := drv.Dial(t.Context(), req)
			if c.Disposition != dialer.Answered {
				var de *dialer.DialError
				if !errors.As(err, &de) || de.Disposition != c.Disposition {
					t.Fatalf("dial: %v; want %s", err, c.Disposition)
				}
				return
			}
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			out := dialer.RunCall(t.Context(), call, eng, dialer.RunOptions{Lead: lead})
			want := Expected(eng, c.Lead, lead)
			if got, exp := summary(out.Result), summary(want); got != exp {
				t.Errorf("result\n  got:  %s\n  want: %s\n  timeline: %v", got, exp, out.Timeline)
			}
			if out.Result.Explanation.Reason != want.Explanation.Reason {
				t.Errorf("explanation %q, want %q", out.Result.Explanation.Reason, want.Explanation.Reason)
			}
			wantEnd := dialer.EndedByQualdial
			if want.Outcome == ivr.OutcomeIncomplete {
				wantEnd = dialer.EndedByLead
			}
			if out.EndedBy != wantEnd {
				t.Errorf("ended by %q, want %q", out.EndedBy, wantEnd)
			}
			if out.Attestation != c.Lead.Attestation {
				t.Errorf("attestation %q, want %q", out.Attestation, c.Lead.Attestation)
			}
			switch {
			case c.Transfer == "" && out.Transfer != nil:
				t.Errorf("a transfer without one asked for: %+v", out.Transfer)
			case c.Transfer != "" && (out.Transfer == nil || out.Transfer.Status != c.Transfer || out.Transfer.To != transferTo[c.Script]):
				t.Errorf("transfer %+v, want %s to %s; timeline %v", out.Transfer, c.Transfer, transferTo[c.Script], out.Timeline)
			}
		})
	}
}

func summary(r ivr.Result) string {
	var answers []string
	for _, a := range r.Answers {
		from := ""
		if a.FromForm {
			from = "(form)"
		}
		answers = append(answers, a.Question+"="+a.Keys+from)
	}
	dims := make([]string, 0, len(r.Scores))
	for d, v := range r.Scores {
		dims = append(dims, fmt.Sprintf("%s:%d", d, v))
	}
	slices.Sort(dims)
	return fmt.Sprintf("%s class=%s route=%s total=%d scores=%v answers=%v", r.Outcome, r.Class, r.Route, r.Total, dims, answers)
}

package sip_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/amd/amdcorpus"
	"github.com/qualdial/qualdial/dialer/prompt"
	"github.com/qualdial/qualdial/dialer/sip"
	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/ivr"
)

// greetings are spoken once per test binary.
var greetings = sync.OnceValues(func() (map[string]greeting, error) {
	src := &prompt.Source{}
	ctx := context.Background()
	machine, beepEnd, err := amdcorpus.Greeting(ctx, src, "Hi, you've reached John Smith. I can't take your call right now. Please leave a message after the tone.", 1000, "en-us")
	if err != nil {
		return nil, err
	}
	hello, err := src.Speak(ctx, "Hello?", "en-US", "en-gb")
	if err != nil {
		return nil, err
	}
	screening, err := src.Speak(ctx, "Please say your name and the reason for your call, and I will see if this person is available.", "en-US", "en-us+f3")
	if err != nil {
		return nil, err
	}
	return map[string]greeting{"machine": {machine, beepEnd}, "hello": {hello, len(hello)}, "screening": {screening, len(screening)}}, nil
})

type greeting struct {
	pcm []int16
	end int // samples to the end of the beep (machine) or word
}

// needGreetings skips where espeak-ng is missing — but not in CI.
func needGreetings(t *testing.T) map[string]greeting {
	t.Helper()
	amdcorpus.Need(t)
	g, err := greetings()
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// energy is the mean absolute sample of pcm[from:to] (seconds).
func energy(pcm []int16, from, to time.Duration) float64 {
	i, j := int(from.Seconds()*8000), min(int(to.Seconds()*8000), len(pcm))
	if i >= j {
		return 0
	}
	sum := 0.0
	for _, s := range pcm[i:j] {
		sum += float64(max(s, -s))
	}
	return sum / float64(j-i)
}

// TestMachineDetectionOverSIP: a softphone answers with a voicemail
// greeting and beep, or with a person's "Hello?" and keys.
//   - hangup mode: the script stops at the verdict and the call is hung up
//     before the greeting is over; disposition machine in the outcome.
//   - message mode: nothing is played over the greeting; the voicemail
//     message starts after the beep and plays out.
//   - a person hears the questionnaire from the answer on, without waiting
//     for the verdict, and completes it.
//   - keys pressed over a machine-like greeting keep the call with the script.
func TestMachineDetectionOverSIP(t *testing.T) {
	t.Parallel()
	g := needGreetings(t)
	machine := g["machine"]
	greetingEnd := time.Duration(machine.end) * time.Second / 8000
	b := setup(t, sip.Config{Prompts: fixture.Hum(1500 * time.Millisecond)}, softphone.Config{Record: true, Personas: map[string]softphone.Persona{
		"machine":  {GreetingAudio: machine.pcm},
		"machine2": {GreetingAudio: machine.pcm},
		"person":   {GreetingAudio: g["hello"].pcm, Keys: "1,1,1,1,120#,1"},
		"presser":  {GreetingAudio: machine.pcm, Keys: "~1,~1,~1,~1,~120#,~1"},
		// Picks up over the machine: a key after the machine verdict (the
		// first press is taken as the overrule, not as an answer).
		"pickup": {GreetingAudio: machine.pcm, Keys: "1,1,1,1,1,120#,1"},
	}})
	call := func(user, mode string) (dialer.Outcome, softphone.Record) {
		t.Helper()
		eng := bant(t)
		st, _ := eng.Start(nil)
		c, err := b.driver.Dial(t.Context(), dialer.DialRequest{To: b.phone.URI(user), CallerID: "+15550100", RingTimeout: 5 * time.Second,
			MachineDetection: mode, Voicemail: eng.Voicemail(st)})
		if err != nil {
			t.Fatal(err)
		}
		out := dialer.Run(t.Context(), c, eng, dialer.RunOptions{})
		var rec softphone.Record
		waitFor(t, func() bool {
			for _, r := range b.phone.Calls() {
				if r.User == user && r.ByeFrom != "" {
					rec = r
					return true
				}
			}
			return false
		})
		return out, rec
	}

	t.Run("hangup", func(t *testing.T) {
		out, rec := call("machine", dialer.MachineHangup)
		if !out.AMD.IsMachine() || (out.AMD.Cause != "long_greeting" && out.AMD.Cause != "max_words") || out.AMD.MessageLeft {
			t.Fatalf("AMD %+v; want a machine by its greeting, no message", out.AMD)
		}
		if out.EndedBy != dialer.EndedByQualdial || rec.ByeFrom != "caller" || len(out.KeysHeard()) != 0 {
			t.Errorf("ended by %s, BYE from %s, keys %v", out.EndedBy, rec.ByeFrom, out.KeysHeard())
		}
		if i := slices.IndexFunc(out.Timeline, func(e dialer.Event) bool { return e.Kind == "machine" }); i < 0 {
			t.Errorf("no machine event in %+v", out.Timeline)
		}
		if d := rec.Ended.Sub(rec.Started); d > greetingEnd {
			t.Errorf("the call lasted %s: hung up after the greeting (%s) was over", d, greetingEnd)
		}
		if after := time.Duration(out.AMD.AfterMS) * time.Millisecond; after > 5*time.Second {
			t.Errorf("verdict after %s", after)
		}
	})

	t.Run("message", func(t *testing.T) {
		out, rec := call("machine2", dialer.MachineMessage)
		if !out.AMD.IsMachine() || out.AMD.GreetingEnd != "beep" || !out.AMD.MessageLeft {
			t.Fatalf("AMD %+v; want a machine, the beep found, the message left", out.AMD)
		}
		// The phone's recording starts at the answer: quiet from just after
		// the verdict to the end of the beep, the message after it.
		verdict := time.Duration(out.AMD.AfterMS) * time.Millisecond
		if e := energy(rec.Audio, verdict+300*time.Millisecond, greetingEnd); e > 50 {
			t.Errorf("audio played over the greeting and beep (%s to %s): mean level %.0f", verdict+300*time.Millisecond, greetingEnd, e)
		}
		if e := energy(rec.Audio, greetingEnd+500*time.Millisecond, greetingEnd+1500*time.Millisecond); e < 300 {
			t.Errorf("no message after the beep (%s): mean level %.0f", greetingEnd, e)
		}
	})

	t.Run("person", func(t *testing.T) {
		out, rec := call("person", dialer.MachineHangup)
		if out.AMD == nil || out.AMD.Verdict != "human" || out.AMD.IsMachine() {
			t.Fatalf("AMD %+v; want human", out.AMD)
		}
		if out.Result.Outcome != ivr.OutcomeCompleted || out.Result.Class != "sql" {
			t.Errorf("result %+v", out.Result)
		}
		// The identification started at the answer, not after the verdict.
		if e := energy(rec.Audio, 100*time.Millisecond, 600*time.Millisecond); e < 300 {
			t.Errorf("nothing played in the first half second (mean level %.0f): the person waited for the verdict", e)
		}
	})

	t.Run("keys overrule", func(t *testing.T) {
		out, _ := call("presser", dialer.MachineHangup)
		if out.AMD.IsMachine() || out.Result.Outcome != ivr.OutcomeCompleted {
			t.Fatalf("AMD %+v, result %+v; want the script completed", out.AMD, out.Result)
		}
	})

	t.Run("a key after the machine verdict", func(t *testing.T) {
		out, _ := call("pickup", dialer.MachineMessage)
		if out.AMD == nil || out.AMD.Verdict != "machine" || !out.AMD.Overruled || out.AMD.IsMachine() || out.AMD.MessageLeft {
			t.Fatalf("AMD %+v; want a machine verdict overruled by the key, no message", out.AMD)
		}
		if out.Result.Class != "sql" || out.Timings.ReIdentified.IsZero() {
			t.Errorf("result %+v, identification said again at %v; want the questionnaire from the identification on", out.Result, out.Timings.ReIdentified)
		}
	})
}

// TestCallScreeningIsAnswered: without machine detection, a phone that
// screens the call ("Please say your name and the reason for your call")
// gets the identification again once it has asked, and then the question;
// the person then answers the questionnaire. A person's "Hello?" does not
// make qualdial repeat itself.
func TestCallScreeningIsAnswered(t *testing.T) {
	t.Parallel()
	g := needGreetings(t)
	b := setup(t, sip.Config{Prompts: fixture.Hum(time.Second)}, softphone.Config{Personas: map[string]softphone.Persona{
		"screened": {GreetingAudio: g["screening"].pcm, Keys: "timeout,1,1,1,1,120#,1"},
		"hello":    {GreetingAudio: g["hello"].pcm, Keys: "1,1,1,1,120#,1"},
	}})
	run := func(user string) dialer.Outcome {
		t.Helper()
		c, err := b.driver.Dial(t.Context(), dialer.DialRequest{To: b.phone.URI(user), CallerID: "+15550100", RingTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return dialer.Run(t.Context(), c, bant(t), dialer.RunOptions{})
	}
	out := run("screened")
	asked := time.Duration(g["screening"].end) * time.Second / 8000
	tm := out.Timings
	if tm.ReIdentified.IsZero() || tm.ReIdentified.Sub(tm.Answered) < asked {
		t.Errorf("identification said again at %v after the answer; want once the screening question (%s) was over", tm.ReIdentified.Sub(tm.Answered), asked)
	}
	if out.Result.Class != "sql" {
		t.Errorf("after the screening: %+v", out.Result)
	}
	if out := run("hello"); !out.Timings.ReIdentified.IsZero() || out.Result.Class != "sql" {
		t.Errorf("a person's Hello?: said again at %v, result %+v", out.Timings.ReIdentified, out.Result)
	}
}

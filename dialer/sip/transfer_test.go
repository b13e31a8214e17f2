package sip_test

import (
	"log/slog"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/sip"
	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/ivr"
)

// hotLead are the keys of a sales-ready (sql) lead in bant-en.
const hotLead = "1,1,1,1,250#,1"

// transferring is bant-en whose sql class transfers the lead to to.
func transferring(t *testing.T, to, timeout string) *ivr.Engine {
	t.Helper()
	src, err := os.ReadFile("../../scripts/bant-en.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const sql = `  - {name: sql, when: "total >= 70 && budget > 0 && authority > 0", route: sales, sla: 24h, say: "A specialist will call you within one business day."}`
	y := strings.Replace(string(src), sql, `  - name: sql
    when: "total >= 70 && budget > 0 && authority > 0"
    route: sales
    say: "Let me connect you with a specialist now."
    transfer: {to: "`+to+`", timeout: `+timeout+`, whisper: "Hot lead: {{first_name}}, score {{total}}."}
`, 1)
	s, ds := ivr.Parse("hot.yaml", []byte(y))
	if s == nil {
		t.Fatal(ds)
	}
	return ivr.NewEngine(s)
}

// tone is a 1 kHz tone: the person's voice, told apart from the prompts'
// 440 Hz hum.
func tone(d time.Duration) []int16 {
	out := make([]int16, int(d.Seconds()*8000))
	for i := range out {
		out[i] = int16(8000 * math.Sin(2*math.Pi*1000*float64(i)/8000))
	}
	return out
}

// power is the Goertzel power of freq in a frame of 8 kHz samples.
func power(frame []int16, freq float64) float64 {
	k := 2 * math.Cos(2*math.Pi*freq/8000)
	var s1, s2 float64
	for _, v := range frame {
		s0 := float64(v) + k*s1 - s2
		s2, s1 = s1, s0
	}
	return s1*s1 + s2*s2 - k*s1*s2
}

// toneFrames counts the 20 ms frames of audio dominated by 1 kHz.
func toneFrames(audio []int16) int {
	n := 0
	for i := 0; i+160 <= len(audio); i += 160 {
		f := audio[i : i+160]
		if p := power(f, 1000); p > 1e9 && p > 10*power(f, 440) {
			n++
		}
	}
	return n
}

// TestTransferConnectsTheLead: a sales-ready lead is put through to a
// second softphone (the sales rep) while still on the line: the rep hears
// the whisper first, then the lead and the rep hear each other until the
// lead hangs up, and both legs end.
func TestTransferConnectsTheLead(t *testing.T) {
	t.Parallel()
	agent, err := softphone.Start(softphone.Config{ListenAddr: "127.0.0.1:0", Record: true,
		Default: softphone.Persona{Ring: time.Second, Keys: "timeout", GreetingAudio: tone(5 * time.Second)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Close() })
	// The lead answers, waits through "let me connect you", and hangs up
	// once the rep has spoken.
	var logs fixture.SyncBuffer
	b := setup(t, sip.Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))},
		softphone.Config{Default: softphone.Persona{Keys: hotLead + ",timeout,hangup"}, Record: true})
	call, err := b.dial(t.Context(), "ann", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	out := dialer.Run(t.Context(), call, transferring(t, agent.URI("sales"), "10s"), dialer.RunOptions{Lead: map[string]string{"first_name": "Ann"}})
	// The rep's leg logs its own number and Call-ID in a group of their
	// own, beside the lead's call's (never the same key twice in a line).
	legAnswered := false
	for _, line := range strings.Split(logs.String(), "\n") {
		legAnswered = legAnswered || (strings.Contains(line, `"msg":"call answered"`) && strings.Contains(line, `"transfer_leg":{"to":`))
	}
	if !legAnswered {
		t.Errorf("no \"call answered\" line of the rep's leg with its transfer_leg group:\n%s", logs.String())
	}
	tr := out.Transfer
	if out.Result.Class != "sql" || tr == nil || tr.Status != dialer.TransferConnected || tr.EndedBy != "lead" ||
		tr.WaitMS == nil || *tr.WaitMS < 900 || tr.TalkMS == nil || *tr.TalkMS < 1000 {
		t.Fatalf("result %s, transfer %+v, err %v", out.Result.Class, tr, out.Err)
	}
	// Both phones have written down their calls (the lead's once its BYE
	// is through).
	waitFor(t, func() bool {
		c := agent.Calls()
		return len(c) == 1 && c[0].ByeFrom == "caller" && !c[0].Ended.IsZero()
	})
	waitFor(t, func() bool { c := b.phone.Calls(); return len(c) == 1 && !c[0].Ended.IsZero() })
	rep, lead := agent.Calls()[0], b.phone.Calls()[0]
	if rep.User != "sales" || rep.From != "+15550100" || rep.Invites != 1 || rep.Heard < 2400 {
		t.Errorf("the rep's phone saw %+v", rep)
	}
	// The lead heard the rep (the 1 kHz tone) after the transfer: over a
	// second of it.
	if n := toneFrames(lead.Audio); n < 50 {
		t.Errorf("the lead heard %d frames of the rep's voice", n)
	}
	// The rep heard nothing of the questionnaire: the whisper, then the lead.
	if n := toneFrames(rep.Audio); n != 0 {
		t.Errorf("the rep heard its own voice back: %d frames", n)
	}
	var kinds []string
	for _, e := range out.Timeline {
		if strings.HasPrefix(e.Kind, "transfer") {
			kinds = append(kinds, e.Kind)
		}
	}
	if strings.Join(kinds, ",") != "transfer,transfer_connected" {
		t.Errorf("timeline %v", kinds)
	}
}

// TestTransferFallsBack: when the rep does not answer in time, is busy, or
// the lead hangs up while it rings, nobody is put through: the lead hears
// the fallback (a call back within the hour) unless it is gone, and the
// rep's phone stops ringing (CANCEL).
func TestTransferFallsBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		rep    softphone.Persona
		lead   string
		status string
	}{
		{"no answer", softphone.Persona{Answer: "noanswer"}, hotLead, dialer.TransferNoAnswer},
		{"busy", softphone.Persona{Answer: "reject", Code: 486}, hotLead, dialer.TransferBusy},
		{"lead hangs up", softphone.Persona{Answer: "noanswer"}, hotLead + ",hangup", dialer.TransferLeadHungUp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			agent, err := softphone.Start(softphone.Config{ListenAddr: "127.0.0.1:0", Default: tc.rep})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { agent.Close() })
			b := setup(t, sip.Config{}, softphone.Config{Default: softphone.Persona{Keys: tc.lead}})
			call, err := b.dial(t.Context(), "ann", 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			out := dialer.Run(t.Context(), call, transferring(t, agent.URI("sales"), "5s"), dialer.RunOptions{})
			if out.Transfer == nil || out.Transfer.Status != tc.status || out.Transfer.TalkMS != nil {
				t.Fatalf("transfer %+v", out.Transfer)
			}
			fallback := false
			for _, e := range out.Timeline {
				fallback = fallback || (e.Kind == "prompt" && e.Text == ivr.DefaultFallbackSay)
			}
			if fallback != (tc.status != dialer.TransferLeadHungUp) {
				t.Errorf("fallback said: %v; timeline %+v", fallback, out.Timeline)
			}
			waitFor(t, func() bool { c := agent.Calls(); return len(c) == 1 && (tc.rep.Answer != "noanswer" || c[0].Canceled) })
			rep := agent.Calls()[0]
			if rep.Answered || (tc.rep.Answer == "noanswer" && !rep.Canceled) {
				t.Errorf("the rep's phone: %+v", rep)
			}
		})
	}
}

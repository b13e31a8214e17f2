package sip

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/media"
	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/sipptest"
	"github.com/qualdial/qualdial/ivr"
)

// dialLead calls a sipp lead running the scenario and returns the call.
func dialLead(t *testing.T, scenario string) *call {
	t.Helper()
	peer := sipptest.StartScenario(t, scenario)
	d, err := New(Config{ListenAddr: "127.0.0.1:0", Prompts: fixture.Hum(0)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Close()
		peer.Wait(t)
	})
	c, err := d.Dial(t.Context(), dialer.DialRequest{To: peer.URI, CallerID: "+15550100", RingTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Hangup(t.Context()) })
	return c.(*call)
}

// keys collects one turn's keys: up to max, until wait passes without one.
func keys(t *testing.T, c *call, max int, wait time.Duration) string {
	t.Helper()
	in, err := c.Turn(t.Context(), ivr.Turn{Question: "keys", MaxDigits: max, Timeout: ivr.Duration(wait)})
	if err != nil || in.Hangup {
		t.Fatalf("turn: %+v, %v", in, err)
	}
	return in.Keys
}

// pcap writes a generated stream for sipp to play.
func pcap(t *testing.T, s *sipptest.Stream) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lead.pcap")
	if err := sipptest.WritePCAP(path, s.Packets()); err != nil {
		t.Fatal(err)
	}
	return path
}

// Gateways send one press several ways at once; each press must be heard
// once. sipp plays RTP generated here (one SSRC: audio frames and RFC 4733
// events, with the habits of real gateways) and sends SIP INFO.
func TestSippGatewayKeysHeardOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		press sipptest.Press
		info  bool
	}{
		{"RFC 4733 and the tone left in the audio", sipptest.Press{ToneToo: true}, false},
		{"50 ms of tone leaked before the events", sipptest.Press{Leak: 50 * time.Millisecond}, false},
		{"SIP INFO after the events", sipptest.Press{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := sipptest.NewStream(media.PCMU, 101)
			s.Quiet(300 * time.Millisecond)
			var starts []time.Duration
			for _, k := range []byte("12") {
				p := tc.press
				p.Key = k
				starts = append(starts, s.Press(p))
				s.Quiet(600 * time.Millisecond)
			}
			steps := []string{sipptest.Pause(300 * time.Millisecond), sipptest.PlayPCAP(pcap(t, s))}
			if tc.info {
				// Each INFO 150 ms after its press started: after its End packets.
				steps = append(steps, sipptest.Pause(starts[0]+150*time.Millisecond), sipptest.Info('1', 1),
					sipptest.Pause(starts[1]-starts[0]), sipptest.Info('2', 2))
			}
			steps = append(steps, sipptest.Pause(s.Now()))
			c := dialLead(t, sipptest.Lead(steps...))
			if got := keys(t, c, 8, 2*time.Second); got != "12" {
				t.Fatalf("pressed 1,2; heard %q", got)
			}
			if m := c.media.DTMFMethod(); m != "rfc4733" {
				t.Errorf("DTMF method %q, want rfc4733", m)
			}
		})
	}
}

// A press whose End packets are all lost is heard while the audio goes on
// — not only when the next press starts — and only once.
func TestSippPressWithoutEndIsHeard(t *testing.T) {
	t.Parallel()
	s := sipptest.NewStream(media.PCMU, 101)
	s.Quiet(300 * time.Millisecond)
	first := s.Press(sipptest.Press{Key: '7', NoEnd: true})
	s.Quiet(1500 * time.Millisecond) // audio flows on
	second := s.Press(sipptest.Press{Key: '8'})
	s.Quiet(500 * time.Millisecond)
	c := dialLead(t, sipptest.Lead(sipptest.Pause(300*time.Millisecond), sipptest.PlayPCAP(pcap(t, s)), sipptest.Pause(s.Now())))
	if got := keys(t, c, 1, 3*time.Second); got != "7" {
		t.Fatalf("first key %q, want 7", got)
	}
	heard7 := time.Now()
	if got := keys(t, c, 1, 3*time.Second); got != "8" {
		t.Fatalf("second key %q, want 8", got)
	}
	// 7 came EventFlushAfter after its last packet, long before 8 was
	// pressed (1.5 s later); heard only when 8 started, the two would be
	// moments apart.
	gap := time.Since(heard7)
	t.Logf("7 and 8 heard %s apart, pressed %s apart", gap, second-first)
	if gap < (second-first)/2 {
		t.Errorf("7 and 8 heard %s apart, pressed %s apart: 7 waited for the next press", gap, second-first)
	}
	if got := keys(t, c, 8, time.Second); got != "" {
		t.Errorf("then %q, want nothing more", got)
	}
}

// Late copies of a press's End packet, arriving during the next press,
// are not heard as presses again (120# was heard as 1210#).
func TestSippLateEndPackets(t *testing.T) {
	t.Parallel()
	s := sipptest.NewStream(media.PCMU, 101)
	s.Quiet(300 * time.Millisecond)
	for _, k := range []byte("120#") {
		s.Press(sipptest.Press{Key: k, LateEnd: true})
		s.Quiet(300 * time.Millisecond)
	}
	c := dialLead(t, sipptest.Lead(sipptest.Pause(300*time.Millisecond), sipptest.PlayPCAP(pcap(t, s)), sipptest.Pause(s.Now())))
	if got := keys(t, c, 8, 2*time.Second); got != "120#" {
		t.Fatalf("pressed 120#, heard %q", got)
	}
}

// The softphone imitates the same gateways, through a whole script: one
// key per question, then a number ending in #.
func TestSoftphoneGatewayKeysHeardOnce(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("testdata/sipp-lead.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		per  softphone.Persona
	}{
		{"RFC 4733 and the tone left in the audio", softphone.Persona{ToneToo: true}},
		{"50 ms of tone leaked before the events", softphone.Persona{Leak: 50 * time.Millisecond}},
		{"SIP INFO before the events", softphone.Persona{InfoToo: true}},
		{"all three", softphone.Persona{ToneToo: true, Leak: 60 * time.Millisecond, InfoToo: true}},
		{"End packets lost", softphone.Persona{DropEnd: true}},
		{"a late End during the next press", softphone.Persona{LateEnd: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.per.Keys = "1,2,120#"
			phone, err := softphone.Start(softphone.Config{Default: tc.per})
			if err != nil {
				t.Fatal(err)
			}
			defer phone.Close()
			d, err := New(Config{ListenAddr: "127.0.0.1:0", Prompts: fixture.Hum(300 * time.Millisecond)})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			c, err := d.Dial(t.Context(), dialer.DialRequest{To: phone.URI("lead"), CallerID: "+15550100", RingTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			out := dialer.Run(t.Context(), c, ivr.NewEngine(ivr.MustParse("sipp-lead.yaml", src)), dialer.RunOptions{})
			if got := out.KeysHeard(); !slices.Equal(got, []string{"1", "2", "120#"}) {
				t.Fatalf("pressed 1, 2, 120#; heard %v", got)
			}
			if m := c.(*call).media.DTMFMethod(); m != "rfc4733" {
				t.Errorf("DTMF method %q, want rfc4733", m)
			}
		})
	}
}

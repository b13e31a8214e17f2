package softphone_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/prompt"
	"github.com/qualdial/qualdial/dialer/sip"
	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/ivr"
)

func TestLoadPersonas(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte(`
"+15550001": {keys: "1,~2,120#,timeout,hangup", dtmf: info}
"+15550002": {answer: reject, code: 603}
"+15550003": {answer: noanswer}
"+15550004": {answer: reject, code: 486, answer_after: 1, keys: "1"}
"+15550005": {keys: "hold:1,~hold:2#", hold_for: 5s}
"+15550006": {keys: "9", attestation: B}
default: {keys: "9"}
`), 0o644)
	ps, err := softphone.LoadPersonas(good)
	if err != nil || len(ps) != 7 || ps["+15550006"].Attestation != "B" || ps["+15550002"].Code != 603 || ps["+15550001"].DTMF != "info" || ps["+15550005"].HoldFor != 5*time.Second {
		t.Fatalf("%v %+v", err, ps)
	}
	for body, want := range map[string]string{
		`x: {answer: maybe}`:   `answer "maybe"`,
		`x: {dtmf: morse}`:     `dtmf "morse"`,
		`x: {keys: "1,,2"}`:    `keys item 2`,
		`x: {keys: "12x"}`:     `keys item 1 "12x"`,
		`x: {keys: "1,hold:"}`: `keys item 2`,
		`x: {code: 200}`:       `code 200`,
		`x: {attestation: d}`:  `attestation "d": use A, B or C`,
		`x: [not, a, persona]`: `cannot unmarshal`,
	} {
		bad := filepath.Join(dir, "bad.yaml")
		os.WriteFile(bad, []byte(body), 0o644)
		if _, err := softphone.LoadPersonas(bad); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}

// A busy-then-answer lead rejects the first call and answers the next, and
// the recording holds the prompts it heard.
func TestBusyThenAnswerAndRecording(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p, err := softphone.Start(softphone.Config{RecordDir: dir, Personas: map[string]softphone.Persona{
		"retry": {Answer: "reject", Code: 486, AnswerAfter: 1, Keys: "9"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	d, err := sip.New(sip.Config{ListenAddr: "127.0.0.1:0", Prompts: fixture.Hum(0)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	req := dialer.DialRequest{To: p.URI("retry"), CallerID: "+15550100", RingTimeout: 5 * time.Second}
	if _, err := d.Dial(t.Context(), req); dialer.AsDialError(err).Disposition != dialer.Busy {
		t.Fatalf("first call: %v", err)
	}
	call, err := d.Dial(t.Context(), req)
	if err != nil {
		t.Fatalf("second call: %v", err)
	}
	src, _ := os.ReadFile("../../scripts/bant-en.yaml")
	out := dialer.Run(t.Context(), call, ivr.NewEngine(ivr.MustParse("bant-en.yaml", src)), dialer.RunOptions{})
	if out.Result.Outcome != ivr.OutcomeOptedOut {
		t.Fatalf("second call: %+v", out.Result)
	}
	var rec softphone.Record
	for i := 0; i < 100; i++ {
		if calls := p.Calls(); len(calls) == 2 && calls[1].File != "" {
			rec = calls[1]
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rec.File == "" || !rec.Answered || rec.Pressed[0] != "9" {
		t.Fatalf("records %+v", p.Calls())
	}
	f, err := os.Open(rec.File)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcm, err := prompt.DecodeWAV(f)
	if err != nil || len(pcm) < 3*2400 {
		t.Fatalf("recording: %d samples, %v", len(pcm), err)
	}
}

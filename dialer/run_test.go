package dialer

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/qualdial/qualdial/ivr"
)

// scriptedCall is a hand-written fake: it answers each turn from a list.
type scriptedCall struct {
	inputs  []ivr.Input
	errAt   int // 1-based turn that fails, 0 for none
	turns   []ivr.Turn
	hangups int
	done    chan struct{}
}

func (c *scriptedCall) ID() string { return "fake" }
func (c *scriptedCall) Turn(ctx context.Context, t ivr.Turn) (ivr.Input, error) {
	c.turns = append(c.turns, t)
	if t.Final {
		return ivr.Input{}, nil
	}
	if len(c.turns) == c.errAt {
		return ivr.Input{}, errors.New("rtp socket closed")
	}
	if len(c.inputs) == 0 {
		return ivr.Input{Hangup: true}, nil
	}
	in := c.inputs[0]
	c.inputs = c.inputs[1:]
	return in, nil
}
func (c *scriptedCall) Hangup(context.Context) error { c.hangups++; return nil }
func (c *scriptedCall) Done() <-chan struct{}        { return c.done }

func engine(t *testing.T) *ivr.Engine {
	t.Helper()
	src, err := os.ReadFile("../scripts/bant-en.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return ivr.NewEngine(ivr.MustParse("bant-en.yaml", src))
}

func keys(ks ...string) []ivr.Input {
	var out []ivr.Input
	for _, k := range ks {
		out = append(out, ivr.Input{Keys: k})
	}
	return out
}

func TestRun(t *testing.T) {
	t.Parallel()
	e := engine(t)
	fixed := func() time.Time { return time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC) }

	c := &scriptedCall{inputs: keys("1", "1", "1", "1", "120#", "1")}
	out := Run(t.Context(), c, e, RunOptions{Lead: map[string]string{"first_name": "Ann"}, Now: fixed})
	if out.Err != nil || out.Result.Class != "sql" || c.hangups != 1 || !c.turns[len(c.turns)-1].Final {
		t.Fatalf("complete run: %+v, hangups %d", out.Result, c.hangups)
	}
	if got := out.KeysHeard(); !slices.Equal(got, []string{"1", "1", "1", "1", "120#", "1"}) {
		t.Errorf("keys heard %v", got)
	}
	if out.Timeline[0].Kind != "prompt" || out.Timeline[0].At != fixed() {
		t.Errorf("timeline starts %+v", out.Timeline[0])
	}

	c = &scriptedCall{inputs: append(keys("1", "1"), ivr.Input{Timeout: true}, ivr.Input{Keys: "2"})}
	out = Run(t.Context(), c, e, RunOptions{})
	if out.Result.Outcome != ivr.OutcomeIncomplete || len(out.Result.Answers) != 3 || c.hangups != 1 {
		t.Fatalf("hang-up midway: %+v", out.Result)
	}

	c = &scriptedCall{inputs: keys("1", "1", "1"), errAt: 3}
	out = Run(t.Context(), c, e, RunOptions{})
	if out.Err == nil || out.Result.Outcome != ivr.OutcomeIncomplete || len(out.Result.Answers) != 2 {
		t.Fatalf("failure mid-call: err %v, %+v", out.Err, out.Result)
	}
}

func TestClassifySIP(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]Disposition{
		200: Answered, 486: Busy, 600: Busy, 408: NoAnswer, 480: NoAnswer, 487: NoAnswer,
		603: Rejected, 404: InvalidNumber, 484: InvalidNumber, 604: InvalidNumber,
		500: Congestion, 502: Congestion, 503: Congestion, 488: Failed, 401: Failed,
	} {
		if got := ClassifySIP(code); got != want {
			t.Errorf("ClassifySIP(%d) = %s, want %s", code, got, want)
		}
	}
	if !Rejected.Final() || !InvalidNumber.Final() || Busy.Final() || NoAnswer.Final() {
		t.Error("Final() wrong")
	}
	de := AsDialError(errors.New("boom"))
	if de.Disposition != Failed || !de.Ambiguous {
		t.Errorf("unclassified error: %+v", de)
	}
}

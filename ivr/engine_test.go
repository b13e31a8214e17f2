package ivr

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func baseEngine(t testing.TB) *Engine {
	t.Helper()
	s, ds := Parse("base.yaml", []byte(baseScript))
	if s == nil {
		t.Fatalf("base script: %v", ds)
	}
	return NewEngine(s)
}

// inputs turns "1,25#,timeout,hangup" into inputs.
func inputs(spec string) []Input {
	var out []Input
	for _, item := range strings.Split(spec, ",") {
		switch item {
		case "timeout":
			out = append(out, Input{Timeout: true})
		case "hangup":
			out = append(out, Input{Hangup: true})
		default:
			out = append(out, Input{Keys: item})
		}
	}
	return out
}

// play runs inputs through the engine, failing if the script is still
// waiting when they run out, and returns the final state and turn.
func play(t *testing.T, e *Engine, spec string) (State, Turn) {
	t.Helper()
	st, turn := e.Start(map[string]string{"first_name": "Ann"})
	for i, in := range inputs(spec) {
		if turn.Final {
			t.Fatalf("input %d (%+v) after the script ended", i+1, in)
		}
		var err error
		st, turn, err = e.Next(st, in)
		if err != nil {
			t.Fatalf("input %d: %v", i+1, err)
		}
	}
	if !turn.Final {
		t.Fatalf("script still waiting at question %s after %q", turn.Question, spec)
	}
	return st, turn
}

func TestEngineRuns(t *testing.T) {
	t.Parallel()
	e := baseEngine(t)
	for _, tc := range []struct {
		keys    string
		outcome Outcome
		class   string
		route   string
		total   int
		answers int
		end     string // EndedAt for incomplete/opted-out
		final   []string
	}{
		{"1,25#", OutcomeCompleted, "hot", RouteSales, 30, 2, "", []string{"We will call you today.", "Thank you. Goodbye."}},
		{"1,5#", OutcomeCompleted, "cold", RouteNurture, 10, 2, "", []string{"Thank you. Goodbye."}},
		{"1,9999", OutcomeCompleted, "hot", RouteSales, 30, 2, "", nil},                      // max digits reached, no finish key
		{"1,0#", OutcomeCompleted, "cold", RouteNurture, 10, 2, "", nil},                     // zero is a number
		{"2", OutcomeCompleted, "out", RouteNone, 0, 1, "", []string{"Thank you. Goodbye."}}, // knock-out
		{"9", OutcomeOptedOut, ClassOptedOut, RouteNone, 0, 0, "q1", []string{"Goodbye."}},
		{"1,9#", OutcomeOptedOut, ClassOptedOut, RouteNone, 10, 1, "q2", []string{"Goodbye."}},
		{"1,9", OutcomeOptedOut, ClassOptedOut, RouteNone, 10, 1, "q2", nil},
		{"7,7", OutcomeIncomplete, ClassIncomplete, RouteNone, 0, 0, "q1", []string{}},
		{"12,1,25#", OutcomeCompleted, "hot", RouteSales, 30, 2, "", nil}, // two keys at a one-key question
		{"1,timeout,timeout", OutcomeIncomplete, ClassIncomplete, RouteNone, 10, 1, "q2", []string{}},
		{"1,hangup", OutcomeIncomplete, ClassIncomplete, RouteNone, 10, 1, "q2", []string{}},
		{"hangup", OutcomeIncomplete, ClassIncomplete, RouteNone, 0, 0, "q1", []string{}},
		{"1,12345#,10#", OutcomeCompleted, "hot", RouteSales, 30, 2, "", nil},            // too many digits, then valid
		{"1,#,timeout", OutcomeIncomplete, ClassIncomplete, RouteNone, 10, 1, "q2", nil}, // finish key alone
		{"1,1*2#,9", OutcomeOptedOut, ClassOptedOut, RouteNone, 10, 1, "q2", nil},        // star inside a number
	} {
		t.Run(tc.keys, func(t *testing.T) {
			t.Parallel()
			st, turn := play(t, e, tc.keys)
			r := e.Result(st)
			if r.Outcome != tc.outcome || r.Class != tc.class || r.Route != tc.route || r.Total != tc.total || len(r.Answers) != tc.answers {
				t.Fatalf("got outcome=%s class=%s route=%s total=%d answers=%d; want %s %s %s %d %d",
					r.Outcome, r.Class, r.Route, r.Total, len(r.Answers), tc.outcome, tc.class, tc.route, tc.total, tc.answers)
			}
			if r.Explanation.EndedAt != tc.end {
				t.Errorf("ended_at = %q, want %q", r.Explanation.EndedAt, tc.end)
			}
			if r.ScriptID != "t" || r.ScriptVersion != 1 {
				t.Errorf("script = %s v%d", r.ScriptID, r.ScriptVersion)
			}
			sum := 0
			for _, v := range r.Scores {
				sum += v
			}
			if sum != r.Total || len(r.Scores) != 2 {
				t.Errorf("scores %v do not add up to total %d or miss a dimension", r.Scores, r.Total)
			}
			if tc.final != nil {
				var said []string
				for _, p := range turn.Prompts {
					said = append(said, p.Text)
				}
				if said == nil {
					said = []string{}
				}
				if !reflect.DeepEqual(said, tc.final) {
					t.Errorf("final prompts %q, want %q", said, tc.final)
				}
			}
		})
	}
}

func TestResultDetails(t *testing.T) {
	t.Parallel()
	e := baseEngine(t)
	st, _ := play(t, e, "1,25#")
	r := e.Result(st)
	if r.SLA.Std() != 24*time.Hour {
		t.Errorf("SLA = %s", r.SLA)
	}
	if r.Explanation.Rule != "total >= 30" || !strings.Contains(r.Explanation.Reason, "total 30 (budget 10, need 20) matched class hot") {
		t.Errorf("explanation = %+v", r.Explanation)
	}
	want := []Contribution{{Question: "q1", Keys: "1", Dimension: "budget", Points: 10}, {Question: "q2", Keys: "25#", Dimension: "need", Points: 20}}
	if !reflect.DeepEqual(r.Explanation.Contributions, want) {
		t.Errorf("contributions = %+v", r.Explanation.Contributions)
	}
	if v := r.Answers[1].Value; v == nil || *v != 25 {
		t.Errorf("numeric answer value = %v", v)
	}
	if r.Answers[0].Value != nil {
		t.Error("a one-key answer has a numeric value")
	}

	st, _ = play(t, e, "1,5#")
	if r := e.Result(st); r.RecallAfter.Std() != 30*24*time.Hour || r.Explanation.Rule != "true" {
		t.Errorf("cold: recall=%s rule=%q", r.RecallAfter, r.Explanation.Rule)
	}
	st, _ = play(t, e, "2")
	if r := e.Result(st); !strings.HasPrefix(r.Explanation.Reason, "knock-out: key 2 at question q1") {
		t.Errorf("knock-out reason = %q", r.Explanation.Reason)
	}
	// A run abandoned mid-way (the driver lost the call) scores as incomplete.
	st, _ = e.Start(nil)
	st, _, _ = e.Next(st, Input{Keys: "1"})
	if r := e.Result(st); r.Outcome != OutcomeIncomplete || r.Total != 10 || r.Explanation.EndedAt != "q2" {
		t.Errorf("abandoned run: %+v", r)
	}
	// Answers always carry a points object, never null.
	b, _ := json.Marshal(e.Result(st))
	if strings.Contains(string(b), `"points":null`) || !strings.Contains(string(b), `"outcome":"incomplete"`) {
		t.Errorf("result JSON: %s", b)
	}
}

func TestTurns(t *testing.T) {
	t.Parallel()
	e := baseEngine(t)
	st, turn := e.Start(map[string]string{"first_name": "  Ann ", "email": "ann@example.com"})
	if len(turn.Prompts) != 2 || turn.Prompts[0].Kind != PromptIdentify || turn.Prompts[1].Kind != PromptQuestion {
		t.Fatalf("first turn prompts: %+v", turn.Prompts)
	}
	if got := turn.Prompts[1].Text; !strings.HasPrefix(got, "Hello Ann. Press 1") || !turn.Prompts[1].Personalized {
		t.Errorf("rendered prompt %q (personalized %v)", got, turn.Prompts[1].Personalized)
	}
	if turn.Question != "q1" || turn.Attempt != 1 || turn.MaxDigits != 1 || turn.FinishOn != "" || turn.Timeout.Std() != 5*time.Second || turn.Final {
		t.Errorf("first turn: %+v", turn)
	}
	if !reflect.DeepEqual(st.Vars, map[string]string{"first_name": "Ann"}) {
		t.Errorf("state keeps lead fields %v; want only the ones the script uses", st.Vars)
	}

	st2, turn, _ := e.Next(st, Input{Keys: "4"})
	if turn.Question != "q1" || turn.Attempt != 2 || len(turn.Prompts) != 2 || turn.Prompts[0].Text != "Sorry." || turn.Prompts[0].Kind != PromptInvalid {
		t.Errorf("replay after invalid key: %+v", turn)
	}
	_, turn, _ = e.Next(st, Input{Timeout: true})
	if turn.Attempt != 2 || len(turn.Prompts) != 1 || turn.Prompts[0].Kind != PromptQuestion {
		t.Errorf("replay after timeout (no no_input text): %+v", turn)
	}
	_, turn, _ = e.Next(st2, Input{Keys: "1"})
	if turn.Question != "q2" || turn.Attempt != 1 || turn.MaxDigits != 4 || turn.FinishOn != "#" {
		t.Errorf("digits turn: %+v", turn)
	}

	// Without the lead's name, the placeholder default is used.
	_, turn = e.Start(nil)
	if got := turn.Prompts[1].Text; !strings.HasPrefix(got, "Hello there. Press 1") {
		t.Errorf("default placeholder: %q", got)
	}
}

func TestNextIsPureAndStateSurvivesJSON(t *testing.T) {
	t.Parallel()
	e := baseEngine(t)
	direct, _ := play(t, e, "7,1,25#")

	st, _ := e.Start(map[string]string{"first_name": "Ann"})
	for _, in := range inputs("7,1,25#") {
		before, _ := json.Marshal(st)
		next, _, err := e.Next(st, in)
		if err != nil {
			t.Fatal(err)
		}
		after, _ := json.Marshal(st)
		if string(before) != string(after) {
			t.Fatalf("Next modified its input state:\n%s\n%s", before, after)
		}
		// A webhook driver stores the state between turns.
		b, _ := json.Marshal(next)
		st = State{}
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(e.Result(st), e.Result(direct)) {
		t.Fatalf("result after JSON round trips differs:\n%+v\n%+v", e.Result(st), e.Result(direct))
	}
	if b, _ := json.Marshal(st); len(b) > 400 {
		t.Errorf("state is %d bytes of JSON; it should stay small: %s", len(b), b)
	}
}

func TestNextErrors(t *testing.T) {
	t.Parallel()
	e := baseEngine(t)
	st, _ := play(t, e, "2")
	if _, _, err := e.Next(st, Input{Keys: "1"}); !errors.Is(err, ErrEnded) {
		t.Errorf("Next after the end: %v", err)
	}
	st, _ = e.Start(nil)
	other := st
	other.ScriptVersion = 2
	if _, _, err := e.Next(other, Input{Keys: "1"}); !errors.Is(err, ErrStateMismatch) {
		t.Errorf("Next with another version's state: %v", err)
	}
	other = st
	other.Question = "nope"
	if _, _, err := e.Next(other, Input{Keys: "1"}); !errors.Is(err, ErrStateMismatch) {
		t.Errorf("Next with an unknown question: %v", err)
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ text, want string }{
		{"Hi {{first_name}}, press 1.", "Hi Ann, press 1."},
		{"Hi {{last_name}}, press 1.", "Hi, press 1."},
		{"Hello {{ company | your team }}.", "Hello your team."},
		{"Hello {{company}}.", "Hello."},
		{"No placeholders  here .", "No placeholders  here ."},
	} {
		if got := render(tc.text, map[string]string{"first_name": "Ann"}); got != tc.want {
			t.Errorf("render(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

// TestExampleFromDesign parses the script format example of DESIGN.md, so
// the documented contract keeps working.
func TestExampleFromDesign(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join("testdata", "design-example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s, ds := Parse("design-example.yaml", src)
	if s == nil {
		t.Fatalf("DESIGN.md example rejected: %v", ds)
	}
	e := NewEngine(s)
	for keys, class := range map[string]string{"1,1,1,120#,1,2": "sql", "1,2,2,120#,1,2": "mql", "1,1,1,120#,1,1": "disqualified"} {
		st, _ := play(t, e, keys)
		if r := e.Result(st); r.Class != class || r.Outcome != OutcomeCompleted {
			t.Errorf("keys %s: class %s (%s), want %s", keys, r.Class, r.Outcome, class)
		}
	}
	if q := s.Question("student"); q == nil || q.Audio != "prompts/bant-en/student.wav" {
		t.Errorf("audio key not loaded: %+v", q)
	}
}

package ivr

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// inputFromByte maps one fuzz byte to an input: any key, a number, a
// timeout or a hang-up.
func inputFromByte(b byte) Input {
	keys := "0123456789*#"
	switch {
	case b < 200:
		return Input{Keys: string(keys[int(b)%len(keys)])}
	case b < 230:
		return Input{Keys: []string{"10#", "120#", "9#", "#", "0", "99999", "1*#", "250#"}[int(b)%8]}
	case b < 250:
		return Input{Timeout: true}
	}
	return Input{Hangup: true}
}

// checkRun drives e with the fuzz bytes and checks the invariants every run
// must keep, whatever the person presses.
func checkRun(t *testing.T, e *Engine, data []byte) {
	s := e.Script()
	// A validated script cannot loop: each question is asked at most
	// retries+1 times per visit and visited at most once.
	bound := 0
	for _, q := range s.Questions {
		r := *s.Defaults.Retries
		if q.Retries != nil {
			r = *q.Retries
		}
		bound += r + 1
	}
	st, turn := e.Start(map[string]string{"first_name": "Zoë"})
	turns := 0
	for i := 0; !turn.Final; i++ {
		in := Input{Hangup: true}
		if i < len(data) {
			in = inputFromByte(data[i])
		}
		var err error
		st, turn, err = e.Next(st, in)
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		turns++
		if turns > bound {
			t.Fatalf("run did not end within %d turns", bound)
		}
		if !turn.Final && (turn.MaxDigits < 1 || turn.Timeout <= 0 || len(turn.Prompts) == 0) {
			t.Fatalf("unusable turn %+v", turn)
		}
	}
	if !st.Done() {
		t.Fatal("final turn but state not done")
	}
	if _, _, err := e.Next(st, Input{Keys: "1"}); !errors.Is(err, ErrEnded) {
		t.Fatalf("Next after the end: %v", err)
	}
	r := e.Result(st)
	sum, seen := 0, map[string]bool{}
	for _, v := range r.Scores {
		sum += v
	}
	for _, a := range r.Answers {
		if seen[a.Question] {
			t.Fatalf("question %s answered twice", a.Question)
		}
		seen[a.Question] = true
	}
	switch {
	case sum != r.Total:
		t.Fatalf("total %d != sum of scores %d", r.Total, sum)
	case r.Class == "" || r.Route == "" || r.Explanation.Reason == "":
		t.Fatalf("result without class, route or reason: %+v", r)
	case r.Outcome == OutcomeCompleted && s.Class(r.Class) == nil:
		t.Fatalf("completed with class %q that the script does not define", r.Class)
	case r.Outcome == OutcomeOptedOut && r.Class != ClassOptedOut, r.Outcome == OutcomeIncomplete && r.Class != ClassIncomplete:
		t.Fatalf("outcome %s with class %s", r.Outcome, r.Class)
	}
}

func shippedScripts(f *testing.F) []*Engine {
	files, _ := filepath.Glob(filepath.Join("..", "scripts", "*.yaml"))
	engines := []*Engine{}
	for _, file := range append(files, filepath.Join("testdata", "base.yaml"), filepath.Join("testdata", "design-example.yaml")) {
		src, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		s, ds := Parse(file, src)
		if s == nil {
			f.Fatalf("%v", ds)
		}
		engines = append(engines, NewEngine(s))
	}
	if len(engines) < 7 {
		f.Fatalf("found %d scripts, want the 5 shipped and 2 test ones", len(engines))
	}
	return engines
}

func FuzzEngine(f *testing.F) {
	engines := shippedScripts(f)
	for _, seed := range []string{"", "\x01\x01\x01\x01\xd1\x01", "\x09", "\xf0\xf0\xf0\xf0", "\x05\x05\x05", "\x01\xff", "\x01\x02\x03\xd2\x01\x01\x02"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data string) {
		for _, e := range engines {
			checkRun(t, e, []byte(data))
		}
	})
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "scripts", "*.yaml"))
	files = append(files, filepath.Join("testdata", "base.yaml"))
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src, []byte("\x01\x01\x01\x01\xd1\x01"))
	}
	f.Add([]byte("id: x\nquestions: [{id: a, keys: {'1': {next: a}}}]"), []byte{1})
	f.Add([]byte("&a [*a]"), []byte{0})
	f.Fuzz(func(t *testing.T, src, keys []byte) {
		s, ds := Parse("fuzz.yaml", src)
		if s == nil {
			if !ds.HasErrors() {
				t.Fatal("script rejected without an error")
			}
			return
		}
		if ds.HasErrors() {
			t.Fatal("script accepted with errors")
		}
		checkRun(t, NewEngine(s), keys)
	})
}

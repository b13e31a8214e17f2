package ivr

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// laughs is a "billion laughs" script: nine levels of nine aliases each,
// 9^9 values once expanded, in a field the decoder reads.
func laughs() string {
	var b strings.Builder
	b.WriteString(baseScript)
	b.WriteString("x0: &l0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	for i := 1; i <= 8; i++ {
		prev := "*l" + string(rune('0'+i-1))
		b.WriteString("x" + string(rune('0'+i)) + ": &l" + string(rune('0'+i)) + " [" + strings.TrimSuffix(strings.Repeat(prev+",", 9), ",") + "]\n")
	}
	return strings.Replace(b.String(), "dimensions: [budget, need]\n", "", 1) + "dimensions: *l8\n"
}

// diagnosticsBomb is the 21 KB script behind issue 9: a question whose
// answers alias long names, listed thousands of times by alias. Before the
// limits it took minutes and gigabytes and gave 60,000 diagnostics (40 MB).
func diagnosticsBomb() string {
	var b strings.Builder
	b.WriteString("id: x\nversion: 1\ndimensions: [budget]\n")
	b.WriteString("description: &s {" + strings.Repeat("x", 1000) + ": 1}\n")
	b.WriteString(`start: &k {"1": {next: ` + strings.Repeat("y", 2000) + `, score: *s}, "2": {next: zz, score: *s}, "3": {next: zz, score: *s}, "4": {next: zz, score: *s}}` + "\n")
	b.WriteString("defaults: &q {id: a, say: hi, keys: *k}\n")
	b.WriteString("questions: [" + strings.TrimSuffix(strings.Repeat("*q,", 6000), ",") + "]\n")
	return b.String()
}

// TestAliasBombsRejected: alias bombs are refused before they are decoded
// or walked, with one error naming the limit, and parsing them allocates
// a bounded amount of memory. (Not parallel, so the allocation count is
// this test's alone.)
func TestAliasBombsRejected(t *testing.T) {
	for name, src := range map[string]string{"billion laughs": laughs(), "diagnostics bomb": diagnosticsBomb()} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			s, ds := Parse("bomb.yaml", []byte(src))
			runtime.ReadMemStats(&after)
			if s != nil {
				t.Fatal("bomb accepted")
			}
			if len(ds) != 1 || !strings.Contains(ds[0].String(), "bomb.yaml:1: script has more than 20000 YAML nodes (the limit) once its aliases (*name) are expanded") {
				t.Fatalf("want one error naming the node limit, got %d:\n%.2000s", len(ds), ds)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("parsing a %d-byte bomb allocated %d MB", len(src), alloc>>20)
			}
		})
	}
}

// TestAliasesWithinLimitsStillWork: anchors reused a few times are fine.
func TestAliasesWithinLimitsStillWork(t *testing.T) {
	t.Parallel()
	src := edit(t, `"1": {score: {budget: 10}, next: q2}`, `"1": {score: &ten {budget: 10}, next: q2}`,
		"- {min: 10, max: 9999, score: {need: 20}, next: bye}", "- {min: 10, max: 9999, score: *ten, next: bye}")
	if s, ds := Parse("alias.yaml", []byte(src)); s == nil || len(ds) != 0 {
		t.Fatalf("diagnostics: %v", ds)
	}
}

func TestAliasCycleRejected(t *testing.T) {
	t.Parallel()
	src := edit(t, "endings:\n  bye: {say: \"Thank you. Goodbye.\"}", "endings: &e\n  bye: {say: \"Thank you. Goodbye.\"}\n  again: *e")
	s, ds := Parse("cycle.yaml", []byte(src))
	if s != nil || !strings.Contains(ds.String(), "alias *e is used inside its own anchor &e") {
		t.Fatalf("want a cycle error, got script %v and\n%s", s != nil, ds)
	}
}

func TestScriptSizeLimit(t *testing.T) {
	t.Parallel()
	src := baseScript + "description: \"" + strings.Repeat("a", MaxScriptSize) + "\"\n"
	s, ds := Parse("big.yaml", []byte(src))
	if s != nil || len(ds) != 1 || !strings.Contains(ds[0].Message, "the limit is 262144 bytes (256 KiB)") {
		t.Fatalf("want one error naming the limit, got %v", ds)
	}
}

// TestDiagnosticsCapped: a script with hundreds of mistakes gets the first
// MaxDiagnostics and a count of the rest, errors before warnings, so the
// API's 422 stays small; long names are cut in messages.
func TestDiagnosticsCapped(t *testing.T) {
	t.Parallel()
	var extra strings.Builder
	for i := range 300 {
		fmt.Fprintf(&extra, "unknown_%d_%s: 1\n", i, strings.Repeat("z", 600))
	}
	// A warning early in the file (an unannounced key) must not push the
	// errors out.
	src := edit(t, "Press 1 for yes, 2 for no", "Press 1 for yes") + extra.String()
	s, ds := Parse("typos.yaml", []byte(src))
	if s != nil {
		t.Fatal("accepted")
	}
	if len(ds) != MaxDiagnostics+1 {
		t.Fatalf("%d diagnostics, want %d", len(ds), MaxDiagnostics+1)
	}
	for _, d := range ds[:MaxDiagnostics] {
		if d.Severity != SeverityError {
			t.Fatalf("a warning was kept while errors were left out: %v", d)
		}
		if len(d.Message) > maxMessage {
			t.Fatalf("message of %d bytes", len(d.Message))
		}
	}
	last := ds[len(ds)-1]
	if last.Severity != SeverityError || last.Message != "…and 251 more (250 errors, 1 warnings) not shown; fix the ones above first" {
		t.Fatalf("summary %v", last)
	}
	if n := len(ds.String()); n > 30000 {
		t.Fatalf("diagnostics are %d bytes", n)
	}
}

// TestShippedScriptsLoadClean: every shipped script loads with no
// diagnostic at all under the limits.
func TestShippedScriptsLoadClean(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join("..", "scripts", "*.yaml"))
	if len(files) < 5 {
		t.Fatalf("found %d shipped scripts", len(files))
	}
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if s, ds := Parse(file, src); s == nil || len(ds) != 0 {
			t.Errorf("%s: %v", file, ds)
		}
	}
}

// TestUnknownNamesAreCheapToReport: a script of long, unknown next targets
// (no aliases, under the size limit) is reported with bounded work; the
// "did you mean" search used to be quadratic in the names' length.
func TestUnknownNamesAreCheapToReport(t *testing.T) {
	var b strings.Builder
	b.WriteString("id: x\nversion: 1\ndimensions: [budget]\nquestions:\n")
	for i := range 1500 {
		fmt.Fprintf(&b, "- {id: q%058d, say: s, keys: {'1': {next: n%058d}}}\n", i, i)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s, ds := Parse("names.yaml", []byte(b.String()))
	runtime.ReadMemStats(&after)
	if s != nil || len(ds) != MaxDiagnostics+1 {
		t.Fatalf("%d diagnostics", len(ds))
	}
	// Assert on the work, not the time: each distance computed allocates
	// two rows, so comparing every unknown name with every question
	// (2.25 million pairs here) shows as millions of allocations.
	if m := after.Mallocs - before.Mallocs; m > 1_000_000 {
		t.Errorf("%d allocations: the \"did you mean\" search is not bounded", m)
	}
}

func TestEditDistanceAtMost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		k    int
		want int
	}{
		{"authority", "authorty", 2, 1}, {"budget", "budjet", 2, 1}, {"q1", "q2", 2, 1}, {"abc", "abc", 2, 0},
		{"timeline", "timelines", 2, 1}, {"", "ab", 2, 2}, {"", "abc", 2, 3}, {"kitten", "sitting", 2, 3},
		{"kitten", "sitting", 3, 3}, {"abcdef", "badcfe", 2, 3}, {"ab", "ba", 2, 2}, {"x", "y", 0, 1},
	} {
		if got := editDistanceAtMost(tc.a, tc.b, tc.k); got != tc.want {
			t.Errorf("editDistanceAtMost(%q, %q, %d) = %d, want %d", tc.a, tc.b, tc.k, got, tc.want)
		}
	}
}

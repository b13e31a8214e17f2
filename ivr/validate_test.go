package ivr

import (
	_ "embed"
	"fmt"
	"strings"
	"testing"
)

//go:embed testdata/base.yaml
var baseScript string

// edit returns the base script with old replaced by new, failing the test if
// old is not there exactly once.
func edit(t *testing.T, pairs ...string) string {
	t.Helper()
	s := baseScript
	for i := 0; i+1 < len(pairs); i += 2 {
		if n := strings.Count(s, pairs[i]); n != 1 {
			t.Fatalf("base script has %q %d times, want once", pairs[i], n)
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

func TestBaseScriptIsClean(t *testing.T) {
	t.Parallel()
	s, ds := Parse("base.yaml", []byte(baseScript))
	if s == nil || len(ds) != 0 {
		t.Fatalf("base script: %v", ds)
	}
	if got := s.Placeholders(); len(got) != 1 || got[0] != "first_name" {
		t.Errorf("Placeholders() = %v, want [first_name]", got)
	}
}

// TestValidationErrors covers every rule DESIGN.md lists, and the others,
// each with the exact file:line it must report.
func TestValidationErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		edits []string
		want  string // "line: message fragment"
	}{
		{"unknown next target", []string{"next: q2}", "next: qq2}"}, `13: question "q1" key 1: next "qq2" is not a question or an ending (did you mean "q2"?)`},
		{"unreachable question", []string{"next: q2}", "next: bye}"}, `15: question "q2" is unreachable from start "q1"`},
		{"key is the opt-out key", []string{`"2": {class: out`, `"9": {class: out`}, `14: question "q1": key "9" is the opt-out key`},
		{"missing identify", []string{`identify: "This is Acme calling about your demo request."`, ``}, `1: missing identify`},
		{"missing opt_out", []string{`opt_out: {key: "9", say: "Goodbye."}`, ``}, `1: missing opt_out`},
		{"opt_out without say", []string{`opt_out: {key: "9", say: "Goodbye."}`, `opt_out: {key: "9"}`}, `5: opt_out needs say`},
		{"opt_out key not a key", []string{`opt_out: {key: "9"`, `opt_out: {key: "x"`}, `5: opt_out key "x" must be one key`},
		{"unknown dimension in score", []string{"score: {budget: 10}", "score: {budjet: 10}"}, `13: question "q1" key 1: score names unknown dimension "budjet" (did you mean "budget"?)`},
		{"unknown dimension in when", []string{`when: "total >= 30"`, `when: "total >= 30 && timeline > 0"`}, `24: class "hot": when "total >= 30 && timeline > 0" does not compile: unknown name timeline`},
		{"when does not compile", []string{`when: "total >= 30"`, `when: "total >="`}, `24: class "hot": when "total >=" does not compile`},
		{"when is not boolean", []string{`when: "total >= 30"`, `when: "total + 1"`}, `24: class "hot": when "total + 1" does not compile`},
		{"no class always matches", []string{`{name: cold, when: "true"`, `{name: cold, when: "need > 0"`}, `23: no class always matches`},
		{"invalid duration", []string{"timeout: 5s", "timeout: 5 seconds"}, `7: invalid duration "5 seconds"`},
		{"invalid sla", []string{"sla: 24h", "sla: tomorrow"}, `24: invalid duration "tomorrow"`},
		{"key outside 0-9 * #", []string{`"2": {class: out`, `"A": {class: out`}, `14: question "q1": key "A" is not a phone key`},
		{"two-key answer", []string{`"2": {class: out`, `"12": {class: out`}, `14: question "q1": key "12" is not a phone key`},
		{"duplicate question", []string{"  - id: q2\n", "  - id: q1\n"}, `15: question "q1" is defined twice (first at line 10)`},
		{"question named like an ending", []string{"  - id: q2\n", "  - id: bye\n", "next: q2}", "next: bye}"}, `15: question "bye" has the same name as an ending`},
		{"loop back", []string{"next: bye}\n      - {min: 0", "next: q1}\n      - {min: 0"}, `19: question "q2": next "q1" loops back to an earlier question`},
		{"answer without next", []string{"score: {budget: 10}, next: q2}", "score: {budget: 10}}"}, `13: question "q1" key 1: needs next`},
		{"next to itself", []string{"score: {budget: 10}, next: q2}", "score: {budget: 10}, next: q1}"}, `13: question "q1" key 1: next points back to the same question`},
		{"knock-out class undefined", []string{"{class: out, next: bye}", "{class: gone, next: bye}"}, `14: question "q1" key 2: class "gone" is not defined under classes`},
		{"knock-out with reserved class", []string{"{class: out, next: bye}", "{class: opted_out, next: bye}"}, `14: question "q1" key 2: class "opted_out" is reserved`},
		{"knock-out next is a question", []string{"{class: out, next: bye}", "{class: out, next: q2}"}, `14: question "q1" key 2: a knock-out class ends the script, so next must name an ending`},
		{"class with reserved name", []string{"{name: out,", "{name: incomplete,", "{class: out,", "{class: cold,"}, `25: class name "incomplete" is reserved`},
		{"duplicate class", []string{"{name: out,", "{name: hot,", "{class: out,", "{class: cold,"}, `25: class "hot" is defined twice (first at line 24)`},
		{"bad route", []string{"route: nurture", "route: marketing"}, `26: class "cold" has route "marketing"; use sales, nurture or none`},
		{"missing route", []string{", route: nurture", ""}, `26: class "cold" needs a route`},
		{"digits without ranges", []string{"    ranges:\n      - {min: 10, max: 9999, score: {need: 20}, next: bye}\n      - {min: 0, max: 8, score: {need: 0}, next: bye}\n", ""}, `15: question "q2" has digits but no ranges`},
		{"digits max too large", []string{"digits: {max: 4", "digits: {max: 19"}, `17: question "q2": digits max 19 must be between 1 and 18`},
		{"finish_on a digit", []string{`finish_on: "#"`, `finish_on: "5"`}, `17: question "q2": finish_on "5" must be # or *`},
		{"range min above max", []string{"{min: 10, max: 9999", "{min: 10000, max: 9999"}, `19: question "q2": range min 10000 is above max 9999`},
		{"keys and digits", []string{`    digits: {max: 4, finish_on: "#"}`, "    digits: {max: 4, finish_on: \"#\"}\n    keys: {\"1\": {next: bye}}"}, `15: question "q2" has both keys and digits`},
		{"no answers", []string{"    keys:\n      \"1\": {score: {budget: 10}, next: q2}\n      \"2\": {class: out, next: bye}\n", ""}, `10: question "q1" has no answers`},
		{"unclosed placeholder", []string{"Hello {{first_name|there}}.", "Hello {{first_name."}, `10: question "q1": "Hello {{first_name. Press`},
		{"bad placeholder name", []string{"Hello {{first_name|there}}.", "Hello {{First Name}}."}, `10: question "q1": placeholder {{First Name}} must name a lead field`},
		{"unknown field", []string{"score: {budget: 10}, next: q2}", "sccore: {budget: 10}, next: q2}"}, `13: unknown field "sccore" in keys "1" (known fields: class, label, next, score)`},
		{"label too long", []string{"score: {budget: 10}, next: q2}", "score: {budget: 10}, next: q2, label: " + strings.Repeat("x", 61) + "}"}, `13: question "q1" key 1: label must be one line of at most 60 characters (it has 61)`},
		{"label on two lines", []string{"score: {budget: 10}, next: q2}", `score: {budget: 10}, next: q2, label: "budget\napproved"}`}, `13: question "q1" key 1: label must be one line`},
		{"unknown top-level field", []string{"start: q1", "begin: q1"}, `8: unknown field "begin" in script`},
		{"wrong type", []string{"version: 1", "version: one"}, "2: cannot unmarshal !!str `one` into a whole number"},
		{"version zero", []string{"version: 1", "version: 0"}, `2: version must be a whole number from 1`},
		{"bad id", []string{"id: t", "id: My Script"}, `1: id "My Script" must be lower case`},
		{"missing id", []string{"id: t\n", ""}, `1: missing id`},
		{"start unknown", []string{"start: q1", "start: q0"}, `8: start "q0" is not a question (did you mean "q1"?)`},
		{"retries too many", []string{"retries: 1", "retries: 9"}, `7: defaults retries 9 must be between 0 and 5`},
		{"timeout too long", []string{"timeout: 5s", "timeout: 2m"}, `7: defaults timeout 2m must be between 1s and 1m`},
		{"dimension total", []string{"dimensions: [budget, need]", "dimensions: [budget, need, total]"}, `6: dimension name "total" is reserved`},
		{"dimension twice", []string{"dimensions: [budget, need]", "dimensions: [budget, need, budget]"}, `6: dimension "budget" is listed twice`},
		{"no dimensions", []string{"dimensions: [budget, need]", "dimensions: []"}, `6: missing dimensions`},
		{"yaml syntax", []string{"  bye: {say:", "  bye: {say: [oops"}, `22: YAML syntax: ',' or ']' must be specified`},
		{"yaml indentation", []string{"\n    keys:\n      \"1\": {score", "\n   keys:\n      \"1\": {score"}, `12: YAML syntax: `},
		{"not a mapping", []string{baseScript, "- just\n- a list\n"}, `1: a script must be a mapping`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := edit(t, tc.edits...)
			s, ds := Parse("broken.yaml", []byte(src))
			if s != nil {
				t.Fatalf("Parse accepted the script; diagnostics: %v", ds)
			}
			want := "broken.yaml:" + tc.want
			for _, d := range ds.Errors() {
				if strings.HasPrefix(d.String(), want) {
					return
				}
			}
			t.Fatalf("no error starting with\n  %s\ngot:\n%s", want, ds)
		})
	}
}

func TestValidationWarnings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		edits []string
		want  string
	}{
		{"key not announced", []string{"Press 1 for yes, 2 for no", "Press 1 for yes"}, `10: warning: question "q1" does not announce key(s) 2 in its prompt`},
		{"opt-out not offered first", []string{", or 9 to stop these calls.", "."}, `10: warning: first question "q1" does not offer the opt-out key "9"`},
		{"class after catch-all", []string{`  - {name: cold, when: "true", route: nurture, recall_after: 30d}`, "  - {name: cold, when: \"true\", route: nurture, recall_after: 30d}\n  - {name: late, when: \"need > 0\", route: none}"}, `27: warning: class "late" is unreachable: class "cold" before it always matches`},
		{"class that never matches", []string{"{class: out, next: bye}", "{class: cold, next: bye}"}, `25: warning: class "out" is unreachable: its rule never holds`},
		{"shadowed range", []string{"{min: 0, max: 8,", "{min: 100, max: 200,"}, `20: warning: question "q2": range 100-200 never matches`},
		{"range covers opt-out", []string{"{min: 0, max: 8,", "{min: 0, max: 9,"}, `20: warning: question "q2": entering 9 alone opts the person out`},
		{"unused ending", []string{"  bye: {say: \"Thank you. Goodbye.\"}", "  bye: {say: \"Thank you. Goodbye.\"}\n  spare: {say: \"Bye.\"}"}, `23: warning: ending "spare" is never used`},
		{"sla off sales", []string{"route: nurture, recall_after: 30d", "route: nurture, sla: 1h"}, `26: warning: class "cold" has an sla but route nurture`},
		{"no language", []string{"language: en-US\n", ""}, `1: warning: no language`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, ds := Parse("warn.yaml", []byte(edit(t, tc.edits...)))
			if s == nil {
				t.Fatalf("warnings must not reject the script: %v", ds)
			}
			want := "warn.yaml:" + tc.want
			for _, d := range ds.Warnings() {
				if strings.HasPrefix(d.String(), want) {
					return
				}
			}
			t.Fatalf("no warning starting with\n  %s\ngot:\n%s", want, ds)
		})
	}
}

func TestDiagnosticsAreSortedAndAllReported(t *testing.T) {
	t.Parallel()
	src := edit(t, "version: 1", "version: 0", "next: q2}", "next: q3}", `when: "total >= 30"`, `when: "total >="`)
	_, ds := Parse("many.yaml", []byte(src))
	errs := ds.Errors()
	if len(errs) < 3 {
		t.Fatalf("want at least 3 errors, got %v", errs)
	}
	for i := 1; i < len(errs); i++ {
		if errs[i].Line < errs[i-1].Line {
			t.Fatalf("diagnostics not sorted by line: %v", errs)
		}
	}
	if err := ds.Err(); err == nil || !strings.Contains(err.Error(), "many.yaml:2:") {
		t.Fatalf("Err() = %v", err)
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"6s": "6s", "24h": "24h", "30d": "30d", "1d12h": "36h", "90m": "90m", "1h30m": "90m", "90s": "1m30s", "2d": "48h"} {
		d, err := ParseDuration(in)
		if err != nil {
			t.Errorf("ParseDuration(%q): %v", in, err)
			continue
		}
		if got := fmt.Sprint(Duration(d)); got != want {
			t.Errorf("Duration(%q) = %s, want %s", in, got, want)
		}
	}
	for _, bad := range []string{"", "soon", "-5s", "xd", "99999d"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}

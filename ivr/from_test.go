package ivr

import (
	"testing"
)

// TestFromForm: a question whose `from:` field the lead already has is not
// asked; its answer is taken from the field, marked as such, and scores the
// same as keys would.
func TestFromForm(t *testing.T) {
	t.Parallel()
	src := edit(t, `  - id: q1
`, `  - id: q1
    from: interested
`, `  - id: q2
`, `  - id: q2
    from: company_size
`)
	s, ds := Parse("from.yaml", []byte(src))
	if s == nil || ds.HasErrors() {
		t.Fatalf("script: %v", ds)
	}
	e := NewEngine(s)
	for _, tc := range []struct {
		name     string
		lead     map[string]string
		asked    string // the question the first turn asks ("" when the run is already over)
		keys     string // what the lead then presses
		fromForm []string
		class    string
		total    int
	}{
		{"both from the form: nothing asked", map[string]string{"interested": "1", "company_size": "1,200"}, "", "", []string{"q1", "q2"}, "hot", 30},
		{"the first from the form", map[string]string{"interested": "1"}, "q2", "25#", []string{"q1"}, "hot", 30},
		{"not one of the keys: asked", map[string]string{"interested": "yes please"}, "q1", "1,25#", nil, "hot", 30},
		{"no number in the field: asked", map[string]string{"interested": "1", "company_size": "a few"}, "q2", "5#", []string{"q1"}, "cold", 10},
		{"a knock-out from the form", map[string]string{"interested": "2"}, "", "", []string{"q1"}, "out", 0},
		{"nothing on the form", nil, "q1", "1,5#", nil, "cold", 10},
	} {
		st, turn := e.Start(tc.lead)
		if turn.Question != tc.asked || turn.Prompts[0].Kind != PromptIdentify {
			t.Errorf("%s: first turn asks %q (%v), want %q after the identification", tc.name, turn.Question, turn.Prompts, tc.asked)
			continue
		}
		if tc.keys != "" {
			for _, in := range inputs(tc.keys) {
				var err error
				if st, turn, err = e.Next(st, in); err != nil {
					t.Fatal(err)
				}
			}
		}
		r := e.Result(st)
		var fromForm []string
		for _, a := range r.Answers {
			if a.FromForm {
				fromForm = append(fromForm, a.Question)
			}
		}
		if !turn.Final || r.Class != tc.class || r.Total != tc.total || len(fromForm) != len(tc.fromForm) {
			t.Errorf("%s: final %v class %s total %d, from the form %v; want %s %d %v", tc.name, turn.Final, r.Class, r.Total, fromForm,
				tc.class, tc.total, tc.fromForm)
		}
	}
	if _, ds := Parse("bad.yaml", []byte(edit(t, `  - id: q1
`, `  - id: q1
    from: Company Size
`))); !ds.HasErrors() {
		t.Error("a from: that is not a field name is accepted")
	}
}

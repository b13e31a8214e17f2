package ivr

import (
	"reflect"
	"strings"
	"testing"
)

// profileRules give the base script explicit points from the lead's
// fields.
const profileRules = `profile:
  - name: senior
    when: "lead.job_title matches '(?i)(^|[^a-z])(director|head|vp|chief)([^a-z]|$)'"
    score: {budget: 15}
  - name: big_company
    when: "number(lead.company_size) >= 200"
    score: {need: 10}
  - name: free_mail
    when: "lead.email matches '@(gmail|yahoo|hotmail)[.]'"
    score: {budget: -5}
  - name: strict_size
    when: "int(lead.company_size) > 5"
    score: {need: 1}
`

func profileEngine(t *testing.T) *Engine {
	t.Helper()
	s, ds := Parse("profile.yaml", []byte(baseScript+profileRules))
	if s == nil || ds.HasErrors() {
		t.Fatalf("profile script: %v", ds)
	}
	return NewEngine(s)
}

func TestProfileRules(t *testing.T) {
	t.Parallel()
	e := profileEngine(t)
	if got := e.Script().ProfileFields(); !reflect.DeepEqual(got, []string{"company_size", "email", "job_title"}) {
		t.Errorf("ProfileFields() = %v", got)
	}
	for _, tc := range []struct {
		name string
		lead map[string]string
		want []string // rules that hold, in script order
	}{
		{"no fields", nil, nil},
		{"senior title", map[string]string{"job_title": "Head of Sales"}, []string{"senior"}},
		{"title word inside another word", map[string]string{"job_title": "Overhead analyst"}, nil},
		{"size with separators and words (int() fails on them)", map[string]string{"company_size": "1,200 employees"}, []string{"big_company"}},
		{"a range counts from its first number", map[string]string{"company_size": "200-500"}, []string{"big_company"}},
		{"small company", map[string]string{"company_size": "50"}, []string{"strict_size"}},
		// int("") fails at run time: the rule does not hold, the others still run.
		{"a failing rule does not hold", map[string]string{"email": "ann@gmail.com"}, []string{"free_mail"}},
		{"all of them", map[string]string{"job_title": "VP Marketing", "company_size": "250", "email": "vp@yahoo.co.uk"},
			[]string{"senior", "big_company", "free_mail", "strict_size"}},
	} {
		var got []string
		for _, h := range e.Profile(tc.lead) {
			got = append(got, h.Rule)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: rules %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestProfileScores: the profile's points count with the answers', decide
// the class, and the explanation lists every rule that held.
func TestProfileScores(t *testing.T) {
	t.Parallel()
	e := profileEngine(t)
	lead := map[string]string{"first_name": "Ann", "job_title": "Director, IT", "company_size": "300"}
	// 1 → budget 10, then 5# → need 0: 10 points from the call, 26 from the
	// profile (senior 15 + big_company 10 + strict_size 1): hot.
	st, turn := e.Start(lead)
	var err error
	for _, in := range inputs("1,5#") {
		if st, turn, err = e.Next(st, in); err != nil {
			t.Fatal(err)
		}
	}
	if !turn.Final {
		t.Fatal("the script did not end")
	}
	r := e.Result(st)
	if r.Total != 36 || r.Scores["budget"] != 25 || r.Scores["need"] != 11 || r.Class != "hot" {
		t.Errorf("result total %d scores %v class %s; want 36, budget 25, need 11, hot", r.Total, r.Scores, r.Class)
	}
	var rules []string
	for _, c := range r.Explanation.Contributions {
		if c.Rule != "" {
			rules = append(rules, c.Rule+":"+c.Dimension)
		}
	}
	if strings.Join(rules, ",") != "senior:budget,big_company:need,strict_size:need" || len(r.Explanation.Profile) != 3 ||
		r.Explanation.Profile[0].When == "" {
		t.Errorf("explanation %+v", r.Explanation)
	}
	// Without the profile the same keys are cold.
	st, _ = e.Start(map[string]string{"first_name": "Ann"})
	for _, in := range inputs("1,5#") {
		st, _, _ = e.Next(st, in)
	}
	if r := e.Result(st); r.Total != 10 || r.Class != "cold" || len(r.Explanation.Profile) != 0 {
		t.Errorf("without a profile: total %d class %s", r.Total, r.Class)
	}
}

func TestProfileValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, rules, want string
	}{
		{"unknown dimension", "profile:\n  - {name: a, when: \"true\", score: {budjet: 5}}\n",
			`profile rule "a" scores "budjet", which is not a dimension (did you mean "budget"?)`},
		{"no when", "profile:\n  - {name: a, score: {budget: 5}}\n", `profile rule "a" needs a when`},
		{"no points", "profile:\n  - {name: a, when: \"true\"}\n", `profile rule "a" gives no points`},
		{"does not compile", "profile:\n  - {name: a, when: \"lead.title >=\", score: {budget: 5}}\n", `profile rule "a": when "lead.title >=" does not compile`},
		{"not a bool", "profile:\n  - {name: a, when: \"lead.title\", score: {budget: 5}}\n", `profile rule "a": when "lead.title" does not compile`},
		{"twice", "profile:\n  - {name: a, when: \"true\", score: {budget: 5}}\n  - {name: a, when: \"false\", score: {budget: 5}}\n",
			`profile rule "a" is defined twice`},
		{"bad name", "profile:\n  - {name: Senior Title, when: \"true\", score: {budget: 5}}\n", `profile rule name "Senior Title" must be a lower-case name`},
	} {
		_, ds := Parse("p.yaml", []byte(baseScript+tc.rules))
		found := false
		for _, d := range ds.Errors() {
			// The rules start after the base script's lines: the error names
			// the rule's own line.
			if strings.Contains(d.Message, tc.want) && d.Line > strings.Count(baseScript, "\n") {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: diagnostics %v; want %q at the rule's line", tc.name, ds, tc.want)
		}
	}
}

func TestLeadNumber(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]float64{"": 0, "n/a": 0, "250": 250, "1,200": 1200, "1 200 people": 1200, "about 50-200": 50,
		"2.5k": 2.5, "10.": 10, "$3,000,000": 3000000} {
		if got := leadNumber(in); got != want {
			t.Errorf("leadNumber(%q) = %v, want %v", in, got, want)
		}
	}
}

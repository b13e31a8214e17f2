package ivr

import (
	"fmt"
	"maps"
	"strings"

	"github.com/expr-lang/expr"
)

// Result is the scored outcome of a run.
type Result struct {
	ScriptID      string  `json:"script_id"`
	ScriptVersion int     `json:"script_version"`
	Outcome       Outcome `json:"outcome"`
	// Class is a script class, or opted_out / incomplete.
	Class string `json:"class"`
	// Route is sales, nurture or none.
	Route string `json:"route"`
	// SLA is the class's follow-up deadline (route sales); zero means the
	// campaign's.
	SLA Duration `json:"sla,omitempty"`
	// RecallAfter asks for a new qualification call after this long.
	RecallAfter Duration `json:"recall_after,omitempty"`
	Total       int      `json:"total"`
	// Scores has every dimension of the script, scored or not.
	Scores      map[string]int `json:"scores"`
	Answers     []Answer       `json:"answers"`
	Explanation Explanation    `json:"explanation"`
	// Transfer is the class's live transfer, when it has one: what the
	// driver was asked to do (its result is the call's, not the script's).
	Transfer *Transfer `json:"-"`
}

// Explanation tells how the class was reached.
type Explanation struct {
	// Reason is one sentence for people.
	Reason string `json:"reason"`
	// Rule is the matched class's `when` ("true" for a catch-all), or empty.
	Rule string `json:"rule,omitempty"`
	// EndedAt is the question where an incomplete or opted-out run ended.
	EndedAt string `json:"ended_at,omitempty"`
	// Contributions lists every profile rule's and every answer's points.
	Contributions []Contribution `json:"contributions"`
	// Profile lists the profile rules that held for the lead.
	Profile []ProfileHit `json:"profile"`
}

// Contribution is the points one answer, or one profile rule, gave one
// dimension.
type Contribution struct {
	Question string `json:"question,omitempty"`
	Keys     string `json:"keys,omitempty"`
	// Rule names the profile rule, for points from the lead's fields.
	Rule      string `json:"rule,omitempty"`
	Dimension string `json:"dimension"`
	Points    int    `json:"points"`
	// FromForm: the answer came from the lead's field (the question was
	// not asked).
	FromForm bool `json:"from_form,omitempty"`
}

// scores sums the points of the profile rules that held and of the answers
// per dimension; every dimension is present.
func scores(s *Script, profile []ProfileHit, answers []Answer) map[string]int {
	out := make(map[string]int, len(s.Dimensions))
	for _, d := range s.Dimensions {
		out[d] = 0
	}
	for _, h := range profile {
		for d, p := range h.Points {
			out[d] += p
		}
	}
	for _, a := range answers {
		for d, p := range a.Points {
			out[d] += p
		}
	}
	return out
}

func total(sc map[string]int) int {
	t := 0
	for _, v := range sc {
		t += v
	}
	return t
}

// classify returns the first class whose rule holds for the scores. A rule
// that fails to evaluate (say, a division by zero) does not match.
func (e *Engine) classify(sc map[string]int) *Class {
	env := make(map[string]any, len(sc)+1)
	for d, v := range sc {
		env[d] = v
	}
	env["total"] = total(sc)
	for i := range e.script.Classes {
		cl := &e.script.Classes[i]
		if cl.always {
			return cl
		}
		if cl.program == nil {
			continue
		}
		if ok, err := expr.Run(cl.program, env); err == nil && ok == true {
			return cl
		}
	}
	// Validation guarantees a catch-all; this keeps a hand-built script safe.
	return &Class{Name: "unclassified", Route: RouteNone}
}

// Result scores a run. For a run that has not ended (the call dropped
// without the driver telling the engine) the outcome is incomplete.
func (e *Engine) Result(st State) Result {
	s := e.script
	sc := scores(s, st.Profile, st.Answers)
	r := Result{
		ScriptID:      s.ID,
		ScriptVersion: s.Version,
		Outcome:       st.Outcome,
		Total:         total(sc),
		Scores:        sc,
		Answers:       make([]Answer, len(st.Answers)),
		Route:         RouteNone,
	}
	for i, a := range st.Answers {
		a.Points = maps.Clone(a.Points)
		if a.Points == nil {
			a.Points = map[string]int{}
		}
		r.Answers[i] = a
	}
	r.Explanation.Contributions = contributions(s, st.Profile, st.Answers)
	r.Explanation.Profile = make([]ProfileHit, len(st.Profile))
	for i, h := range st.Profile {
		h.Points = maps.Clone(h.Points)
		r.Explanation.Profile[i] = h
	}
	switch st.Outcome {
	case OutcomeCompleted:
		cl := s.classes[st.Class]
		if cl == nil {
			cl = e.classify(sc)
		}
		r.Class, r.Route, r.SLA, r.RecallAfter, r.Transfer = cl.Name, cl.Route, cl.SLA, cl.RecallAfter, cl.Transfer
		if st.KnockOut {
			last := st.Answers[len(st.Answers)-1]
			r.Explanation.Reason = fmt.Sprintf("knock-out: key %s at question %s sets class %s", last.Keys, last.Question, cl.Name)
		} else {
			r.Explanation.Rule = strings.TrimSpace(cl.When)
			if r.Explanation.Rule == "" {
				r.Explanation.Rule = "true"
			}
			r.Explanation.Reason = fmt.Sprintf("%s matched class %s (rule: %s)", describeScores(s, sc), cl.Name, r.Explanation.Rule)
		}
	case OutcomeOptedOut:
		r.Class = ClassOptedOut
		r.Explanation.EndedAt = st.EndedAt
		r.Explanation.Reason = fmt.Sprintf("pressed the opt-out key %s at question %s", s.OptOut.Key, st.EndedAt)
	default:
		r.Outcome, r.Class = OutcomeIncomplete, ClassIncomplete
		r.Explanation.EndedAt = st.EndedAt
		if r.Explanation.EndedAt == "" {
			r.Explanation.EndedAt = st.Question
		}
		switch st.End {
		case EndNoInput:
			r.Explanation.Reason = fmt.Sprintf("no key pressed at question %s after the retries", r.Explanation.EndedAt)
		case EndInvalid:
			r.Explanation.Reason = fmt.Sprintf("no valid key at question %s after the retries", r.Explanation.EndedAt)
		case EndMaxTurns:
			r.Explanation.Reason = fmt.Sprintf("stopped after %d turns", MaxTurns)
		default:
			r.Explanation.Reason = fmt.Sprintf("hung up at question %s with %d of %d questions answered", r.Explanation.EndedAt, len(st.Answers), len(s.Questions))
		}
	}
	return r
}

func contributions(s *Script, profile []ProfileHit, answers []Answer) []Contribution {
	out := []Contribution{}
	for _, h := range profile {
		for _, d := range s.Dimensions {
			if p, ok := h.Points[d]; ok {
				out = append(out, Contribution{Rule: h.Rule, Dimension: d, Points: p})
			}
		}
	}
	for _, a := range answers {
		for _, d := range s.Dimensions { // script order, stable
			if p, ok := a.Points[d]; ok {
				out = append(out, Contribution{Question: a.Question, Keys: a.Keys, Dimension: d, Points: p, FromForm: a.FromForm})
			}
		}
	}
	return out
}

func describeScores(s *Script, sc map[string]int) string {
	parts := make([]string, len(s.Dimensions))
	for i, d := range s.Dimensions {
		parts[i] = fmt.Sprintf("%s %d", d, sc[d])
	}
	return fmt.Sprintf("total %d (%s)", total(sc), strings.Join(parts, ", "))
}

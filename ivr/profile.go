package ivr

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
	"go.yaml.in/yaml/v3"
)

// ProfileRule gives explicit points: what the lead told us before the call
// (a form's job title, company size, country, e-mail domain), scored on the
// script's dimensions before the first question.
type ProfileRule struct {
	// Name labels the rule in explanations; default "profile N".
	Name string `yaml:"name"`
	// When is an expression over `lead`, the lead's fields as strings
	// (`lead.job_title matches '(?i)director|vp'`); a field the lead does
	// not have is "". number(s) reads the first number in a field ("1,200
	// employees" → 1200, "" → 0).
	When string `yaml:"when"`
	// Score adds points per dimension (negative allowed) when When holds.
	Score map[string]int `yaml:"score"`

	Line int `yaml:"-"`

	program *vm.Program
	fields  []string // lead fields When reads
}

// Fields lists the lead fields the rule reads, sorted.
func (r *ProfileRule) Fields() []string { return slices.Clone(r.fields) }

// UnmarshalYAML records the rule's line.
func (r *ProfileRule) UnmarshalYAML(n *yaml.Node) error {
	type plain ProfileRule
	r.Line = n.Line
	return n.Decode((*plain)(r))
}

// ProfileHit is a profile rule that held for a lead, with its points.
type ProfileHit struct {
	Rule   string         `json:"rule"`
	When   string         `json:"when"`
	Points map[string]int `json:"points"`
}

// ProfileFields lists the lead fields the profile rules read, sorted.
func (s *Script) ProfileFields() []string { return slices.Clone(s.profileFields) }

// profileEnv is the environment profile rules are compiled against.
func profileEnv() map[string]any {
	return map[string]any{"lead": map[string]string{}}
}

// numberFunc is number(s): the first number written in s, 0 when none.
var numberFunc = expr.Function("number", func(params ...any) (any, error) {
	s, _ := params[0].(string)
	return leadNumber(s), nil
}, new(func(string) float64))

// leadNumber reads the first number in a field: digits with thousands
// separators (1,200 or 1 200) and an optional decimal point.
func leadNumber(s string) float64 {
	start := strings.IndexAny(s, "0123456789")
	if start < 0 {
		return 0
	}
	var b strings.Builder
	for i := start; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch >= '0' && ch <= '9', ch == '.':
			b.WriteByte(ch)
		case (ch == ',' || ch == ' ') && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
		default:
			i = len(s)
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(b.String(), "."), 64)
	if err != nil {
		return 0
	}
	return v
}

// validateProfile compiles the profile rules and checks their dimensions,
// and records the lead fields they read.
func validateProfile(c *collector, s *Script, dims map[string]bool) {
	fields := map[string]bool{}
	names := map[string]int{}
	for i := range s.Profile {
		r := &s.Profile[i]
		if r.Name == "" {
			r.Name = fmt.Sprintf("profile %d", i+1)
		} else if !namePattern.MatchString(r.Name) {
			c.errorf(r.Line, "profile rule name %q must be a lower-case name (letters, digits, _)", r.Name)
		}
		if first, ok := names[r.Name]; ok {
			c.errorf(r.Line, "profile rule %q is defined twice (first at line %d)", r.Name, first)
		}
		names[r.Name] = r.Line
		if strings.TrimSpace(r.When) == "" {
			c.errorf(r.Line, "profile rule %q needs a when, e.g. \"lead.job_title matches '(?i)director'\"", r.Name)
			continue
		}
		if len(r.Score) == 0 {
			c.errorf(r.Line, "profile rule %q gives no points: add score, e.g. {authority: 10}", r.Name)
		}
		for d := range r.Score {
			if !dims[d] {
				c.errorf(r.Line, "profile rule %q scores %q, which is not a dimension%s", r.Name, d, s.suggest(d, s.Dimensions))
			}
		}
		prog, err := expr.Compile(r.When, expr.Env(profileEnv()), numberFunc, expr.AsBool(), expr.MaxNodes(500))
		if err != nil {
			c.errorf(r.Line, "profile rule %q: when %q does not compile: %s", r.Name, r.When, firstLine(err.Error()))
			continue
		}
		r.program = prog
		r.fields = slices.Compact(slices.Sorted(slices.Values(leadFieldsOf(prog.Node()))))
		for _, f := range r.fields {
			fields[f] = true
		}
	}
	s.profileFields = slices.Sorted(maps.Keys(fields))
}

// leadFieldsOf lists the `lead.x` and `lead["x"]` fields an expression
// reads.
func leadFieldsOf(n ast.Node) []string {
	var v fieldVisitor
	ast.Walk(&n, &v)
	return v.fields
}

type fieldVisitor struct{ fields []string }

func (v *fieldVisitor) Visit(node *ast.Node) {
	m, ok := (*node).(*ast.MemberNode)
	if !ok {
		return
	}
	if id, ok := m.Node.(*ast.IdentifierNode); ok && id.Value == "lead" {
		if p, ok := m.Property.(*ast.StringNode); ok {
			v.fields = append(v.fields, p.Value)
		}
	}
}

// Profile scores a lead's fields with the script's profile rules: the rules
// that hold, in script order. A rule that fails to evaluate does not hold.
func (e *Engine) Profile(lead map[string]string) []ProfileHit {
	s := e.script
	if len(s.Profile) == 0 {
		return nil
	}
	fields := make(map[string]string, len(s.profileFields))
	for _, f := range s.profileFields {
		fields[f] = strings.TrimSpace(lead[f])
	}
	env := map[string]any{"lead": fields}
	var hits []ProfileHit
	for i := range s.Profile {
		r := &s.Profile[i]
		if r.program == nil {
			continue
		}
		if ok, err := expr.Run(r.program, env); err == nil && ok == true {
			hits = append(hits, ProfileHit{Rule: r.Name, When: r.When, Points: maps.Clone(r.Score)})
		}
	}
	return hits
}

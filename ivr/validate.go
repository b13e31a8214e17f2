package ivr

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
)

// Defaults applied when a script leaves them out.
const (
	DefaultTimeout  = 6 * time.Second
	DefaultRetries  = 2
	DefaultLanguage = "en-US"

	maxRetries = 5
	maxTimeout = 60 * time.Second
	// maxDigitsPerAnswer keeps numeric answers within int64.
	maxDigitsPerAnswer = 18
)

// Reserved outcome classes that scripts may not define themselves.
const (
	ClassOptedOut   = "opted_out"
	ClassIncomplete = "incomplete"
)

var (
	scriptIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	namePattern     = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	languagePattern = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)
)

func isKey(k string) bool { return len(k) == 1 && strings.Contains("0123456789*#", k) }

// validate checks everything DESIGN.md lists, fills in defaults and
// compiles the class expressions. It only reports; Parse decides.
func validate(c *collector, s *Script) {
	validateHeader(c, s)
	s.questions = make(map[string]*Question, len(s.Questions))
	s.classes = make(map[string]*Class, len(s.Classes))
	dims := validateDimensions(c, s)
	validateClasses(c, s, dims)
	validateProfile(c, s, dims)
	validateEndings(c, s)
	for i := range s.Questions {
		validateQuestion(c, s, &s.Questions[i], dims)
	}
	if len(s.Questions) == 0 {
		c.errorf(s.line("questions"), "script has no questions")
		return
	}
	if s.Start == "" {
		s.Start = s.Questions[0].ID
	} else if s.questions[s.Start] == nil {
		c.errorf(s.line("start"), "start %q is not a question%s", s.Start, s.suggest(s.Start, s.targets()))
	}
	validateFlow(c, s)
	validateTexts(c, s)
	validateFrom(c, s)
	warnUnreachableClasses(c, s)
}

// warnUnreachableClasses reports classes that no run can end in: their rule
// never holds (or an earlier class always matches) and no knock-out names them.
func warnUnreachableClasses(c *collector, s *Script) {
	knockOuts := map[string]bool{}
	for _, q := range s.Questions {
		for _, a := range q.actions() {
			knockOuts[a.Class] = true
		}
	}
	for _, cl := range s.Classes {
		switch {
		case knockOuts[cl.Name]:
		case cl.shadowedBy != "":
			c.warnf(cl.Line, "class %q is unreachable: class %q before it always matches, and no knock-out answer sets it", cl.Name, cl.shadowedBy)
		case cl.never:
			c.warnf(cl.Line, "class %q is unreachable: its rule never holds and no knock-out answer sets it", cl.Name)
		}
	}
}

func validateHeader(c *collector, s *Script) {
	switch {
	case s.ID == "":
		c.errorf(1, "missing id: every script needs a unique id, like bant-en")
	case !scriptIDPattern.MatchString(s.ID):
		c.errorf(s.line("id"), "id %q must be lower case letters, digits, '.', '_' or '-'", s.ID)
	}
	if s.Version < 1 {
		c.errorf(s.line("version"), "version must be a whole number from 1 (bump it on every change)")
	}
	switch {
	case s.Language == "":
		c.warnf(1, "no language: prompts will be spoken as %s", DefaultLanguage)
		s.Language = DefaultLanguage
	case !languagePattern.MatchString(s.Language):
		c.errorf(s.line("language"), "language %q must be a language tag like en-US or ru-RU", s.Language)
	}
	if strings.TrimSpace(s.Identify) == "" {
		c.errorf(s.line("identify"), "missing identify: the call must start by saying who is calling and why")
	}
	switch {
	case s.OptOut.Line == 0:
		c.errorf(1, "missing opt_out: every script needs an opt-out key, e.g. opt_out: {key: \"9\", say: \"We will not call you again. Goodbye.\"}")
	case !isKey(s.OptOut.Key):
		c.errorf(s.OptOut.Line, "opt_out key %q must be one key: 0-9, * or #", s.OptOut.Key)
	}
	if s.OptOut.Line != 0 && strings.TrimSpace(s.OptOut.Say) == "" {
		c.errorf(s.OptOut.Line, "opt_out needs say: confirm to the person that they will not be called again")
	}
	d := &s.Defaults
	if d.Timeout == 0 {
		d.Timeout = Duration(DefaultTimeout)
	} else if d.Timeout.Std() < time.Second || d.Timeout.Std() > maxTimeout {
		c.errorf(d.Line, "defaults timeout %s must be between 1s and %s", d.Timeout, Duration(maxTimeout))
	}
	if d.Retries == nil {
		d.Retries = new(DefaultRetries)
	} else if *d.Retries < 0 || *d.Retries > maxRetries {
		c.errorf(d.Line, "defaults retries %d must be between 0 and %d", *d.Retries, maxRetries)
	}
}

func validateDimensions(c *collector, s *Script) map[string]bool {
	dims := make(map[string]bool, len(s.Dimensions))
	if len(s.Dimensions) == 0 {
		c.errorf(s.line("dimensions"), "missing dimensions: list what answers score, e.g. dimensions: [budget, authority, need, timeline]")
	}
	for _, d := range s.Dimensions {
		switch {
		case !namePattern.MatchString(d):
			c.errorf(s.line("dimensions"), "dimension %q must be a lower-case name (letters, digits, _)", d)
		case d == "total":
			c.errorf(s.line("dimensions"), "dimension name \"total\" is reserved for the sum of all dimensions")
		case dims[d]:
			c.errorf(s.line("dimensions"), "dimension %q is listed twice", d)
		}
		dims[d] = true
	}
	return dims
}

func validateClasses(c *collector, s *Script, dims map[string]bool) {
	env := map[string]any{"total": 0}
	for d := range dims {
		env[d] = 0
	}
	catchAll := ""
	for i := range s.Classes {
		cl := &s.Classes[i]
		switch {
		case cl.Name == "":
			c.errorf(cl.Line, "class needs a name")
		case cl.Name == ClassOptedOut || cl.Name == ClassIncomplete:
			c.errorf(cl.Line, "class name %q is reserved for calls that end without completing the script", cl.Name)
		case !namePattern.MatchString(cl.Name):
			c.errorf(cl.Line, "class name %q must be a lower-case name (letters, digits, _)", cl.Name)
		case s.classes[cl.Name] != nil:
			c.errorf(cl.Line, "class %q is defined twice (first at line %d)", cl.Name, s.classes[cl.Name].Line)
		default:
			s.classes[cl.Name] = cl
		}
		switch cl.Route {
		case RouteSales, RouteNurture, RouteNone:
		case "":
			c.errorf(cl.Line, "class %q needs a route: sales, nurture or none", cl.Name)
		default:
			c.errorf(cl.Line, "class %q has route %q; use sales, nurture or none", cl.Name, cl.Route)
		}
		if cl.SLA != 0 && cl.Route != RouteSales {
			c.warnf(cl.Line, "class %q has an sla but route %s: only route sales has a follow-up deadline", cl.Name, cl.Route)
		}
		if t := cl.Transfer; t != nil {
			validateTransfer(c, cl, t)
		}
		if strings.TrimSpace(cl.When) == "" {
			cl.always = true
		} else {
			prog, err := expr.Compile(cl.When, expr.Env(env), expr.AsBool(), expr.MaxNodes(500))
			if err != nil {
				c.errorf(cl.Line, "class %q: when %q does not compile: %s", cl.Name, cl.When, firstLine(err.Error()))
				continue
			}
			cl.program = prog
			if b, ok := prog.Node().(*ast.BoolNode); ok {
				cl.always, cl.never = b.Value, !b.Value
			}
		}
		if catchAll != "" {
			cl.shadowedBy = catchAll
		} else if cl.always {
			catchAll = cl.Name
		}
	}
	if catchAll == "" {
		c.errorf(s.line("classes"), "no class always matches: end the list with a catch-all, e.g. {name: disqualified, when: \"true\", route: none}")
	}
}

func validateEndings(c *collector, s *Script) {
	for _, name := range sortedKeys(s.Endings) {
		e := s.Endings[name]
		if !namePattern.MatchString(name) {
			c.errorf(e.Line, "ending name %q must be a lower-case name (letters, digits, _)", name)
		}
		if strings.TrimSpace(e.Say) == "" && e.Audio == "" {
			c.warnf(e.Line, "ending %q says nothing before hanging up", name)
		}
	}
}

func validateQuestion(c *collector, s *Script, q *Question, dims map[string]bool) {
	switch {
	case q.ID == "":
		c.errorf(q.Line, "question needs an id")
	case !namePattern.MatchString(q.ID):
		c.errorf(q.Line, "question id %q must be a lower-case name (letters, digits, _)", q.ID)
	case s.questions[q.ID] != nil:
		c.errorf(q.Line, "question %q is defined twice (first at line %d)", q.ID, s.questions[q.ID].Line)
	case hasEnding(s, q.ID):
		c.errorf(q.Line, "question %q has the same name as an ending; `next` would be ambiguous", q.ID)
	default:
		s.questions[q.ID] = q
	}
	if strings.TrimSpace(q.Say) == "" && q.Audio == "" {
		c.errorf(q.Line, "question %q needs say: the prompt text", q.ID)
	}
	if q.Timeout != 0 && (q.Timeout.Std() < time.Second || q.Timeout.Std() > maxTimeout) {
		c.errorf(q.Line, "question %q: timeout %s must be between 1s and %s", q.ID, q.Timeout, Duration(maxTimeout))
	}
	if q.Retries != nil && (*q.Retries < 0 || *q.Retries > maxRetries) {
		c.errorf(q.Line, "question %q: retries %d must be between 0 and %d", q.ID, *q.Retries, maxRetries)
	}
	switch {
	case q.Digits != nil && len(q.Keys) > 0:
		c.errorf(q.Line, "question %q has both keys and digits: use keys for one-key answers, digits+ranges for numbers", q.ID)
	case q.Digits != nil:
		validateDigits(c, s, q, dims)
	case len(q.Keys) > 0:
		if len(q.Ranges) > 0 {
			c.errorf(q.Line, "question %q has ranges without digits: ranges score multi-digit numbers", q.ID)
		}
		for _, k := range sortedKeys(q.Keys) {
			a := q.Keys[k]
			switch {
			case !isKey(k):
				c.errorf(a.Line, "question %q: key %q is not a phone key (0-9, * or #)", q.ID, k)
			case k == s.OptOut.Key:
				c.errorf(a.Line, "question %q: key %q is the opt-out key, which must work at every question", q.ID, k)
			}
			validateAction(c, s, q, &a, dims, "key "+k)
		}
	default:
		c.errorf(q.Line, "question %q has no answers: give it keys (one key) or digits and ranges (a number)", q.ID)
	}
}

func validateDigits(c *collector, s *Script, q *Question, dims map[string]bool) {
	d := q.Digits
	if d.Max < 1 || d.Max > maxDigitsPerAnswer {
		c.errorf(d.Line, "question %q: digits max %d must be between 1 and %d", q.ID, d.Max, maxDigitsPerAnswer)
	}
	if d.Min == 0 {
		d.Min = 1
	}
	if d.Min < 1 || (d.Max >= 1 && d.Min > d.Max) {
		c.errorf(d.Line, "question %q: digits min %d must be between 1 and max (%d)", q.ID, d.Min, d.Max)
	}
	if d.FinishOn != "" && d.FinishOn != "#" && d.FinishOn != "*" {
		c.errorf(d.Line, "question %q: finish_on %q must be # or *", q.ID, d.FinishOn)
	}
	if d.FinishOn != "" && d.FinishOn == s.OptOut.Key {
		c.errorf(d.Line, "question %q: finish_on %q is the opt-out key", q.ID, d.FinishOn)
	}
	if len(q.Ranges) == 0 {
		c.errorf(q.Line, "question %q has digits but no ranges: list what each number range scores", q.ID)
	}
	optOut, optOutIsDigit := int64(-1), false
	if n, err := parseNumber(s.OptOut.Key); err == nil {
		optOut, optOutIsDigit = n, true
	}
	for i := range q.Ranges {
		r := &q.Ranges[i]
		if r.Min > r.Max {
			c.errorf(r.Line, "question %q: range min %d is above max %d", q.ID, r.Min, r.Max)
		}
		if r.Min < 0 {
			c.errorf(r.Line, "question %q: range min %d is negative; keys can only enter whole numbers from 0", q.ID, r.Min)
		}
		for j := range i {
			p := q.Ranges[j]
			if p.Min <= r.Min && r.Max <= p.Max {
				c.warnf(r.Line, "question %q: range %d-%d never matches: range %d-%d at line %d comes first", q.ID, r.Min, r.Max, p.Min, p.Max, p.Line)
				break
			}
		}
		if optOutIsDigit && r.Min <= optOut && optOut <= r.Max && !announces(q.Say, s.OptOut.Key) {
			c.warnf(r.Line, "question %q: entering %d alone opts the person out, so it cannot answer range %d-%d; say so in the prompt (\"press %d alone to stop these calls\") or change the range", q.ID, optOut, r.Min, r.Max, optOut)
		}
		validateAction(c, s, q, &r.Action, dims, fmt.Sprintf("range %d-%d", r.Min, r.Max))
	}
}

func validateAction(c *collector, s *Script, q *Question, a *Action, dims map[string]bool, what string) {
	if n := utf8.RuneCountInString(a.Label); n > MaxLabelLength || strings.ContainsAny(a.Label, "\r\n") {
		c.errorf(a.Line, "question %q %s: label must be one line of at most %d characters (it has %d): a few words such as \"budget approved\"", q.ID, what, MaxLabelLength, n)
	}
	for _, d := range sortedKeys(a.Score) {
		if !dims[d] {
			c.errorf(a.Line, "question %q %s: score names unknown dimension %q%s", q.ID, what, d, s.suggest(d, s.Dimensions))
		}
	}
	if a.Class != "" {
		switch {
		case a.Class == ClassOptedOut || a.Class == ClassIncomplete:
			c.errorf(a.Line, "question %q %s: class %q is reserved; the opt-out key and hang-ups set it", q.ID, what, a.Class)
		case s.classes[a.Class] == nil:
			c.errorf(a.Line, "question %q %s: class %q is not defined under classes%s", q.ID, what, a.Class, s.suggest(a.Class, classNames(s)))
		}
		if a.Next != "" && !hasEnding(s, a.Next) {
			c.errorf(a.Line, "question %q %s: a knock-out class ends the script, so next must name an ending, not %q", q.ID, what, a.Next)
		}
		return
	}
	switch {
	case a.Next == "":
		c.errorf(a.Line, "question %q %s: needs next (a question or an ending) or a knock-out class", q.ID, what)
	case a.Next == q.ID:
		c.errorf(a.Line, "question %q %s: next points back to the same question", q.ID, what)
	case !slices.Contains(s.targets(), a.Next):
		c.errorf(a.Line, "question %q %s: next %q is not a question or an ending%s", q.ID, what, a.Next, s.suggest(a.Next, s.targets()))
	}
}

// validateFlow reports questions that cannot be reached from start and
// loops between questions: a qualification call must always move forward.
func validateFlow(c *collector, s *Script) {
	if s.questions[s.Start] == nil {
		return
	}
	const (
		unvisited = iota
		visiting
		done
	)
	state := make(map[string]int, len(s.Questions))
	var visit func(id string)
	visit = func(id string) {
		q := s.questions[id]
		if q == nil {
			return
		}
		state[id] = visiting
		for _, a := range q.actions() {
			switch state[a.Next] {
			case unvisited:
				visit(a.Next)
			case visiting:
				c.errorf(a.Line, "question %q: next %q loops back to an earlier question; a script must always move forward", id, a.Next)
			}
		}
		state[id] = done
	}
	visit(s.Start)
	for i := range s.Questions {
		q := &s.Questions[i]
		if q.ID != "" && state[q.ID] == unvisited && s.questions[q.ID] == q {
			c.errorf(q.Line, "question %q is unreachable from start %q", q.ID, s.Start)
		}
	}
	used := map[string]bool{}
	for _, q := range s.Questions {
		for _, a := range q.actions() {
			used[a.Next] = true
		}
	}
	for _, name := range sortedKeys(s.Endings) {
		if !used[name] {
			c.warnf(s.Endings[name].Line, "ending %q is never used by any next", name)
		}
	}
}

// validateTexts checks placeholders in every spoken text, and warns when a
// question does not announce its keys (people cannot guess them).
func validateTexts(c *collector, s *Script) {
	vars := map[string]bool{}
	check := func(line int, what, text string) {
		_, holders, err := parseText(text)
		if err != nil {
			c.errorf(line, "%s: %s", what, err)
		}
		for _, h := range holders {
			vars[h.Name] = true
		}
	}
	check(s.line("identify"), "identify", s.Identify)
	check(s.line("voicemail"), "voicemail", s.Voicemail)
	check(s.OptOut.Line, "opt_out say", s.OptOut.Say)
	check(s.Defaults.Line, "defaults invalid", s.Defaults.Invalid)
	check(s.Defaults.Line, "defaults no_input", s.Defaults.NoInput)
	check(s.Defaults.Line, "defaults goodbye", s.Defaults.Goodbye)
	for _, q := range s.Questions {
		check(q.Line, fmt.Sprintf("question %q", q.ID), q.Say)
		check(q.Line, fmt.Sprintf("question %q invalid", q.ID), q.Invalid)
		if q.Say == "" {
			continue
		}
		var missing []string
		for _, k := range sortedKeys(q.Keys) {
			if !announces(q.Say, k) {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			c.warnf(q.Line, "question %q does not announce key(s) %s in its prompt", q.ID, strings.Join(missing, ", "))
		}
		if q.ID == s.Start && !announces(s.Identify+" "+q.Say, s.OptOut.Key) {
			c.warnf(q.Line, "first question %q does not offer the opt-out key %q", q.ID, s.OptOut.Key)
		}
	}
	for _, name := range sortedKeys(s.Endings) {
		check(s.Endings[name].Line, fmt.Sprintf("ending %q", name), s.Endings[name].Say)
	}
	for _, cl := range s.Classes {
		check(cl.Line, fmt.Sprintf("class %q say", cl.Name), cl.Say)
		if t := cl.Transfer; t != nil {
			check(cl.Line, fmt.Sprintf("class %q transfer fallback_say", cl.Name), t.FallbackSay)
			// The whisper may also name the class and the total.
			check(cl.Line, fmt.Sprintf("class %q transfer whisper", cl.Name),
				strings.NewReplacer("{{class}}", "", "{{total}}", "").Replace(t.Whisper))
		}
	}
	s.vars = sortedKeys(vars)
}

// announces reports whether a prompt text mentions a key, by the key itself
// or, for * and #, by its common names.
func announces(text, key string) bool {
	lower := strings.ToLower(text)
	names := map[string][]string{
		"#": {"#", "pound", "hash", "решётк", "решетк"},
		"*": {"*", "star", "asterisk", "звёздочк", "звездочк"},
	}
	if alts, ok := names[key]; ok {
		for _, a := range alts {
			if strings.Contains(lower, a) {
				return true
			}
		}
		return false
	}
	// A digit counts when it stands alone, not inside a longer number.
	for i := strings.Index(lower, key); i >= 0; {
		before := i == 0 || lower[i-1] < '0' || lower[i-1] > '9'
		after := i+1 >= len(lower) || lower[i+1] < '0' || lower[i+1] > '9'
		if before && after {
			return true
		}
		j := strings.Index(lower[i+1:], key)
		if j < 0 {
			break
		}
		i += j + 1
	}
	return false
}

// actions returns every answer's action, in a stable order.
func (q *Question) actions() []Action {
	out := make([]Action, 0, len(q.Keys)+len(q.Ranges))
	for _, k := range sortedKeys(q.Keys) {
		out = append(out, q.Keys[k])
	}
	for _, r := range q.Ranges {
		out = append(out, r.Action)
	}
	return out
}

func hasEnding(s *Script, name string) bool {
	_, ok := s.Endings[name]
	return ok
}

// targets are the names `next` may use.
func (s *Script) targets() []string {
	out := make([]string, 0, len(s.Questions)+len(s.Endings))
	for _, q := range s.Questions {
		out = append(out, q.ID)
	}
	return append(out, sortedKeys(s.Endings)...)
}

func classNames(s *Script) []string {
	out := make([]string, 0, len(s.Classes))
	for _, cl := range s.Classes {
		out = append(out, cl.Name)
	}
	return out
}

// suggest returns ` (did you mean "x"?)` for the closest candidate within
// two edits, or "". It costs O(len(got)) per candidate, so long names cannot
// make validation quadratic in their length, and it stops suggesting after
// MaxDiagnostics calls (only that many diagnostics are returned), so a
// script full of unknown names cannot make it quadratic in their number.
func (s *Script) suggest(got string, candidates []string) string {
	if s.suggested++; s.suggested > MaxDiagnostics {
		return ""
	}
	const within = 2
	best, bestDist := "", within+1
	for _, cand := range candidates {
		if d := editDistanceAtMost(got, cand, bestDist-1); d < bestDist {
			best, bestDist = cand, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistanceAtMost returns the Levenshtein distance of a and b if it is at
// most k, else k+1. Only the band of cells within k of the diagonal can be
// at most k, so only those are computed.
func editDistanceAtMost(a, b string, k int) int {
	out := k + 1
	if k < 0 || len(a)-len(b) > k || len(b)-len(a) > k {
		return out
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = min(j, out)
	}
	for i := 1; i <= len(a); i++ {
		lo, hi := max(1, i-k), min(len(b), i+k)
		cur[lo-1] = out
		if lo == 1 {
			cur[0] = min(i, out)
		}
		for j := lo; j <= hi; j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost, out)
		}
		if hi < len(b) {
			cur[hi+1] = out
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], out)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// validateFrom checks the lead fields `from:` questions read, and records
// them for the engine.
func validateFrom(c *collector, s *Script) {
	var fields []string
	for i := range s.Questions {
		q := &s.Questions[i]
		if q.From == "" {
			continue
		}
		if !namePattern.MatchString(q.From) {
			c.errorf(q.Line, "question %q: from %q must be a lead field name (lower-case letters, digits, _)", q.ID, q.From)
			continue
		}
		if !slices.Contains(fields, q.From) {
			fields = append(fields, q.From)
		}
	}
	slices.Sort(fields)
	s.fromFields = fields
}

var (
	// transferE164 and transferSIP are the destinations a transfer may
	// name: a number the trunk routes, or a SIP URI without anything that
	// could reach a header or another parameter.
	transferE164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	transferSIP  = regexp.MustCompile(`^sips?:[A-Za-z0-9._+\-]{1,64}@[A-Za-z0-9.\-]{1,253}(:[0-9]{1,5})?$`)
)

// Transfer bounds.
const (
	minTransferTimeout = Duration(5 * time.Second)
	maxTransferTimeout = Duration(2 * time.Minute)
	maxWhisper         = 500
)

// validateTransfer checks a class's transfer and fills its defaults.
func validateTransfer(c *collector, cl *Class, t *Transfer) {
	if cl.Route != RouteSales {
		c.errorf(cl.Line, "class %q has a transfer but route %q: only a sales-ready lead is transferred (route sales)", cl.Name, cl.Route)
	}
	switch {
	case t.To == "":
		c.errorf(cl.Line, "class %q transfer needs to: an E.164 number (+15550100) or a SIP URI (sip:sales@pbx.example.com)", cl.Name)
	case !transferE164.MatchString(t.To) && !transferSIP.MatchString(t.To):
		c.errorf(cl.Line, "class %q transfer to %q: use an E.164 number (+15550100) or a SIP URI (sip:sales@pbx.example.com)", cl.Name, t.To)
	}
	if t.Timeout == 0 {
		t.Timeout = DefaultTransferTimeout
	}
	if t.Timeout < minTransferTimeout || t.Timeout > maxTransferTimeout {
		c.errorf(cl.Line, "class %q transfer timeout %s: use %s to %s", cl.Name, t.Timeout, minTransferTimeout, maxTransferTimeout)
	}
	if t.Fallback == "" {
		t.Fallback = FallbackCallback
	}
	if t.Fallback != FallbackCallback {
		c.errorf(cl.Line, "class %q transfer fallback %q: use callback", cl.Name, t.Fallback)
	}
	if t.FallbackSay == "" {
		t.FallbackSay = DefaultFallbackSay
	}
	if t.FallbackSLA == 0 {
		t.FallbackSLA = DefaultFallbackSLA
	}
	if t.FallbackSLA < Duration(time.Minute) || t.FallbackSLA > Duration(30*24*time.Hour) {
		c.errorf(cl.Line, "class %q transfer fallback_sla %s: use 1m to 30d", cl.Name, t.FallbackSLA)
	}
	if strings.TrimSpace(t.Whisper) == "" {
		c.warnf(cl.Line, "class %q transfer has no whisper: the person answering hears nothing of the lead before it is put through", cl.Name)
	}
	if len(t.Whisper) > maxWhisper {
		c.errorf(cl.Line, "class %q transfer whisper is %d characters; keep it under %d (it is said before the lead is put through)", cl.Name, len(t.Whisper), maxWhisper)
	}
}

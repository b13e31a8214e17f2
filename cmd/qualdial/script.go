package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qualdial/qualdial/dialer/prompt"
	"github.com/qualdial/qualdial/dialer/twilio"
	"github.com/qualdial/qualdial/intake"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/scoring"
	"github.com/qualdial/qualdial/store"

	"github.com/spf13/cobra"

	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/scripts"
)

func (e *env) scriptCommand() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "script",
		Short: "Check, dry-run and list qualification scripts",
	})
	cmd.AddCommand(e.scriptCheckCommand(), e.scriptSimulateCommand(), e.scriptListCommand())
	return cmd
}

// readScript reads a script file; a name that is not a file but is the id of
// a shipped script ("bant-en") reads the shipped one. A name close to a
// shipped script's id gets a suggestion.
func readScript(name string) (string, []byte, error) {
	data, err := os.ReadFile(name)
	if err == nil {
		return name, data, nil
	}
	if errors.Is(err, fs.ErrNotExist) && !strings.ContainsAny(name, `/\`) {
		if shipped, serr := scripts.Read(name); serr == nil {
			return "scripts/" + strings.TrimSuffix(name, ".yaml") + ".yaml", shipped, nil
		}
		ids := make([]string, 0, len(scripts.Names()))
		for _, n := range scripts.Names() {
			ids = append(ids, strings.TrimSuffix(n, ".yaml"))
		}
		if s := suggest(strings.TrimSuffix(name, ".yaml"), ids); len(s) > 0 {
			return "", nil, fmt.Errorf("%w, and no shipped script has that id (did you mean %s?)", err, strings.Join(s, " or "))
		}
	}
	return "", nil, err
}

// loadScript reads and parses a script that must be valid: its errors are
// printed and the command exits 1.
func (e *env) loadScript(name string) (string, *ivr.Script, error) {
	file, data, err := readScript(name)
	if err != nil {
		return "", nil, err
	}
	s, ds := ivr.Parse(file, data)
	if s == nil {
		fmt.Fprintln(e.stderr, ds.Errors())
		return "", nil, exitError{code: 1}
	}
	return file, s, nil
}

func (e *env) scriptCheckCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE…",
		Short: "Validate scripts; errors print as file:line: message and exit 1",
		Long: `Validate qualification scripts. Each problem is printed as "file:line: message";
warnings are printed too but do not fail. A FILE that does not exist but names a
shipped script (bant-en, bant-ru, anum-en, champ-en, faint-en) checks that one.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			failed := false
			for _, name := range args {
				file, data, err := readScript(name)
				if err != nil {
					fmt.Fprintf(e.stderr, "%s: %v\n", name, err)
					failed = true
					continue
				}
				s, ds := ivr.Parse(file, data)
				for _, d := range ds {
					fmt.Fprintln(e.stderr, d)
				}
				if s == nil {
					failed = true
					continue
				}
				if _, ok := twilio.VoiceFor(s.Language, s.Voice); !ok {
					fmt.Fprintf(e.stderr, "%s:%d: warning: language %q has no Twilio voice: over Twilio it would be spoken by %s (%s)\n",
						file, keyLine(data, "language"), s.Language, twilio.DefaultVoice.Voice, twilio.DefaultVoice.Language)
				}
				if err := e.promptSource(file, nil).CanSpeak(cmd.Context(), s.Language, s.Voice); err != nil && !errors.Is(err, prompt.ErrNoTTS) {
					fmt.Fprintf(e.stderr, "%s:%d: warning: %v: SIP campaigns on this script will not start, and qualdial call refuses it\n",
						file, keyLine(data, "language"), err)
				}
				for _, w := range profileFieldWarnings(s) {
					fmt.Fprintf(e.stderr, "%s:%s\n", file, w)
				}
				fmt.Fprintf(e.stdout, "%s: ok: %s, %d questions, dimensions %s, classes %s\n",
					file, s, len(s.Questions), strings.Join(s.Dimensions, ", "), classList(s))
			}
			if failed {
				return exitError{code: 1}
			}
			return nil
		},
	}
}

// keyLine is the line of a top-level key in a YAML file (1 when absent).
func keyLine(data []byte, key string) int {
	for i, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, key+":") {
			return i + 1
		}
	}
	return 1
}

func classList(s *ivr.Script) string {
	names := make([]string, len(s.Classes))
	for i, c := range s.Classes {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

func (e *env) scriptListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the scripts shipped with qualdial",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, name := range scripts.Names() {
				data, err := scripts.Read(name)
				if err != nil {
					return err
				}
				s := ivr.MustParse(name, data)
				fmt.Fprintf(e.stdout, "%-10s v%d  %-6s %s\n", s.ID, s.Version, s.Language, s.Description)
			}
			return nil
		},
	}
}

func (e *env) scriptSimulateCommand() *cobra.Command {
	var (
		keys       string
		asJSON     bool
		leadKVs    []string
		activities []string
		pointKVs   []string
		callAt     int
		salesAt    int
	)
	cmd := &cobra.Command{
		Use:   "simulate FILE --keys 1,2,120#,timeout,hangup",
		Short: "Dry-run a script with key presses and print the transcript and result",
		Long: `Dry-run a script as if a lead answered the call. --keys lists one item per turn:
the keys pressed for that question (e.g. 1, or 120# for a number), "timeout" for no
key, or "hangup". If the items run out before the script ends, the lead hangs up.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, s, err := e.loadScript(args[0])
			if err != nil {
				return err
			}
			inputs, err := parseInputs(keys)
			if err != nil {
				return err
			}
			lead, err := parseLead(leadKVs)
			if err != nil {
				return err
			}
			table, err := parsePoints(pointKVs)
			if err != nil {
				return err
			}
			now := time.Now() // ages are relative: only now − at counts
			acts, err := parseActivities(activities, table, now)
			if err != nil {
				return err
			}
			var th scoring.Thresholds
			if cmd.Flags().Changed("call-threshold") {
				th.Call = &callAt
			}
			if cmd.Flags().Changed("sales-threshold") {
				th.Sales = &salesAt
			}
			if th.Call != nil && th.Sales != nil && salesAt <= callAt {
				return fmt.Errorf("--sales-threshold %d must be above --call-threshold %d (as a campaign's): a score that goes to sales without a call has earned a call", salesAt, callAt)
			}
			sim := simulate(ivr.NewEngine(s), lead, inputs)
			score := leadScoreOf(sim.Result, acts, th, now)
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					ivr.Result
					LeadScore leadScore `json:"lead_score"`
				}{sim.Result, score})
			}
			sim.print(e.stdout)
			if len(acts) > 0 || th.Call != nil || th.Sales != nil {
				score.print(e.stdout)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&keys, "keys", "", "comma-separated inputs, one per turn: keys (1, 120#), timeout or hangup")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON (stable snake_case fields)")
	cmd.Flags().StringArrayVar(&leadKVs, "lead", nil, "a lead field for {{placeholders}} and profile rules, as name=value (repeatable), e.g. job_title=CTO")
	cmd.Flags().StringArrayVar(&activities, "activity", nil, "something the lead did, as type or type@age (repeatable), e.g. download@10d, webinar, unsubscribe@2d")
	cmd.Flags().StringArrayVar(&pointKVs, "points", nil, "an activity type's points, as type=points or type=points/half-life-days (repeatable; the rest take the defaults), e.g. demo_request=40/30")
	cmd.Flags().IntVar(&callAt, "call-threshold", 0, "the campaign's call threshold: a lead score that earns a qualification call")
	cmd.Flags().IntVar(&salesAt, "sales-threshold", 0, "the campaign's sales threshold: a lead score that goes to sales without a call")
	return cmd
}

// parsePoints reads --points type=points[/half-life-days] over the default
// activity points table.
func parsePoints(kvs []string) (scoring.Table, error) {
	t := scoring.DefaultTable()
	for _, kv := range kvs {
		typ, v, ok := strings.Cut(kv, "=")
		pts, days, _ := strings.Cut(v, "/")
		p, err1 := strconv.Atoi(strings.TrimSpace(pts))
		d, err2 := 0, error(nil)
		if days != "" {
			d, err2 = strconv.Atoi(strings.TrimSpace(days))
		}
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("--points %q: use type=points or type=points/half-life-days, e.g. webinar=15/30", kv)
		}
		t[strings.TrimSpace(typ)] = scoring.Rule{Points: p, HalfLifeDays: d}
	}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("--points: %w", err)
	}
	return t, nil
}

// parseActivities reads --activity type[@age]: the activity happened age
// ago (7d, 36h; default now), worth what the table says.
func parseActivities(items []string, t scoring.Table, now time.Time) ([]scoring.Activity, error) {
	var out []scoring.Activity
	for _, item := range items {
		typ, age, _ := strings.Cut(strings.TrimSpace(item), "@")
		rule, ok := t[typ]
		if !ok {
			return nil, fmt.Errorf("--activity %q: no points for type %q; give them with --points %s=N (known: %s)", item, typ, typ,
				strings.Join(slices.Sorted(maps.Keys(t)), ", "))
		}
		var ago time.Duration
		if age != "" {
			d, err := ivr.ParseDuration(age)
			if err != nil || d < 0 {
				return nil, fmt.Errorf("--activity %q: the age after @ is a duration, e.g. 10d or 36h", item)
			}
			ago = d
		}
		out = append(out, scoring.Activity{Type: typ, Points: rule.Points, At: now.Add(-ago), HalfLife: rule.HalfLife()})
	}
	return out, nil
}

// leadScore is the whole lead score of a simulation: explicit (profile),
// implicit (activities) and the call, with what the thresholds do.
type leadScore struct {
	Profile    int                `json:"profile"`
	Behavior   int                `json:"behavior"`
	Activities []activityValue    `json:"activities"`
	Call       int                `json:"call"`
	BeforeCall int                `json:"before_call"`
	Total      int                `json:"total"`
	Thresholds scoring.Thresholds `json:"thresholds"`
	// Decision is what the thresholds do with the score before a call.
	Decision scoring.Action `json:"decision"`
	Why      string         `json:"why"`
}

// activityValue is an activity's points now.
type activityValue struct {
	Type   string  `json:"type"`
	Age    string  `json:"age"`
	Points int     `json:"points"`
	Now    float64 `json:"now"`
}

func leadScoreOf(r ivr.Result, acts []scoring.Activity, th scoring.Thresholds, now time.Time) leadScore {
	ls := leadScore{Profile: queue.ProfilePoints(r.Explanation.Profile), Behavior: scoring.Behavior(acts, now), Thresholds: th,
		Activities: []activityValue{}}
	for _, a := range acts {
		age := "now"
		if now.After(a.At) {
			age = ivr.Duration(now.Sub(a.At)).String() + " ago"
		}
		ls.Activities = append(ls.Activities, activityValue{Type: a.Type, Age: age, Points: a.Points,
			Now: math.Round(a.Value(now)*10) / 10})
	}
	ls.BeforeCall = ls.Profile + ls.Behavior
	ls.Call = r.Total - ls.Profile
	ls.Total = r.Total + ls.Behavior
	d := scoring.Decide(scoring.Input{Situation: scoring.Unscheduled, Before: math.MinInt32, After: ls.BeforeCall, Thresholds: th, Now: now})
	ls.Decision, ls.Why = d.Action, d.Why
	if d.Action != scoring.ScheduleCall { // no call: what the lead has is what it scores
		ls.Call, ls.Total = 0, ls.BeforeCall
	}
	return ls
}

func (ls leadScore) print(w io.Writer) {
	fmt.Fprintln(w)
	fmt.Fprintf(w, "lead score\n")
	fmt.Fprintf(w, "  explicit  %+d (profile rules)\n", ls.Profile)
	fmt.Fprintf(w, "  implicit  %+d (activities", ls.Behavior)
	for _, a := range ls.Activities {
		fmt.Fprintf(w, "; %s %s %+d → %+.1f", a.Type, a.Age, a.Points, a.Now)
	}
	fmt.Fprintln(w, ")")
	fmt.Fprintf(w, "  before the call %d: %s (%s)\n", ls.BeforeCall, ls.Decision, ls.Why)
	switch ls.Decision {
	case scoring.ScheduleCall:
		fmt.Fprintf(w, "  call      %+d (answers)\n", ls.Call)
		fmt.Fprintf(w, "  total     %d (the call's class decides the route after a call)\n", ls.Total)
	case scoring.RouteToSales:
		fmt.Fprintf(w, "  total     %d: with sales without a call (the transcript above is what a call would have been)\n", ls.Total)
	default:
		fmt.Fprintf(w, "  total     %d: not called until activity lifts it (the transcript above is what a call would be)\n", ls.Total)
	}
}

func parseInputs(s string) ([]ivr.Input, error) {
	var out []ivr.Input
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		switch strings.ToLower(item) {
		case "timeout", "t", "":
			out = append(out, ivr.Input{Timeout: true})
		case "hangup", "h":
			out = append(out, ivr.Input{Hangup: true})
		default:
			if strings.Trim(item, "0123456789*#") != "" {
				return nil, fmt.Errorf("--keys item %d %q: use phone keys (0-9, *, #), timeout or hangup", i+1, item)
			}
			out = append(out, ivr.Input{Keys: item})
		}
	}
	return out, nil
}

func parseLead(kvs []string) (map[string]string, error) {
	lead := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("--lead %q: use name=value, e.g. --lead first_name=Ann", kv)
		}
		lead[strings.TrimSpace(k)] = v
	}
	return lead, nil
}

// simulation is a dry run: what was said, what was pressed, and the result.
type simulation struct {
	Steps  []simStep
	Result ivr.Result
	// RanOut is set when the inputs ended before the script did.
	RanOut bool
}

type simStep struct {
	Turn  ivr.Turn
	Input *ivr.Input
	// Answer is the answer the input produced, if any.
	Answer *ivr.Answer
	// Note says what the input did when it produced no answer.
	Note string
	// Form are the answers taken from the lead's fields after it (questions
	// with from: that were not asked).
	Form []ivr.Answer
}

func simulate(eng *ivr.Engine, lead map[string]string, inputs []ivr.Input) simulation {
	var sim simulation
	st, turn := eng.Start(lead)
	form := st.Answers // questions the form answered before the first one asked
	for {
		step := simStep{Turn: turn, Form: form}
		form = nil
		if turn.Final {
			sim.Steps = append(sim.Steps, step)
			break
		}
		in := ivr.Input{Hangup: true}
		if len(inputs) > 0 {
			in, inputs = inputs[0], inputs[1:]
		} else {
			sim.RanOut = true
		}
		step.Input = &in
		before := len(st.Answers)
		next, nextTurn, err := eng.Next(st, in)
		if err != nil { // cannot happen for a state this loop produced
			break
		}
		switch {
		case len(next.Answers) > before:
			step.Answer = &next.Answers[before]
			form = next.Answers[before+1:]
		case next.Outcome == ivr.OutcomeOptedOut:
			step.Note = "  → opt-out"
		case next.Outcome == ivr.OutcomeIncomplete && !in.Hangup:
			step.Note = "  → no valid answer after the retries: call ends"
		case in.Keys != "":
			step.Note = "  → not accepted"
		}
		sim.Steps = append(sim.Steps, step)
		st, turn = next, nextTurn
	}
	sim.Result = eng.Result(st)
	return sim
}

func (sim simulation) print(w io.Writer) {
	for _, step := range sim.Steps {
		for _, a := range step.Form {
			fmt.Fprintf(w, "  form  %s=%s (question %s, not asked)%s\n", a.Question, strings.TrimSuffix(a.Keys, "#"), a.Question, points(&a))
		}
		for _, p := range step.Turn.Prompts {
			fmt.Fprintf(w, "  say   %-10s %s\n", "["+string(p.Kind)+"]", p.Text)
		}
		if step.Input == nil {
			continue
		}
		wait := fmt.Sprintf("(question %s, try %d, up to %d key(s), %s)", step.Turn.Question, step.Turn.Attempt, step.Turn.MaxDigits, step.Turn.Timeout)
		switch in := *step.Input; {
		case in.Hangup && sim.RanOut && step.Answer == nil:
			fmt.Fprintf(w, "  hangup (no more --keys) %s\n", wait)
		case in.Hangup:
			fmt.Fprintf(w, "  hangup %s\n", wait)
		case in.Timeout:
			fmt.Fprintf(w, "  timeout %s%s\n", wait, step.Note)
		default:
			fmt.Fprintf(w, "  press %s %s%s%s\n", in.Keys, wait, points(step.Answer), step.Note)
		}
	}
	r := sim.Result
	fmt.Fprintln(w)
	fmt.Fprintf(w, "script   %s v%d\n", r.ScriptID, r.ScriptVersion)
	fmt.Fprintf(w, "outcome  %s\n", r.Outcome)
	fmt.Fprintf(w, "class    %s (route %s", r.Class, r.Route)
	if r.SLA != 0 {
		fmt.Fprintf(w, ", sla %s", r.SLA)
	}
	if r.RecallAfter != 0 {
		fmt.Fprintf(w, ", recall after %s", r.RecallAfter)
	}
	fmt.Fprintln(w, ")")
	fmt.Fprintf(w, "total    %d\n", r.Total)
	for _, c := range r.Explanation.Contributions {
		if c.Rule != "" {
			fmt.Fprintf(w, "         %+d %s (profile %s)\n", c.Points, c.Dimension, c.Rule)
			continue
		}
		if c.FromForm {
			fmt.Fprintf(w, "         %+d %s (question %s, from the form: %s)\n", c.Points, c.Dimension, c.Question, strings.TrimSuffix(c.Keys, "#"))
			continue
		}
		fmt.Fprintf(w, "         %+d %s (question %s, keys %s)\n", c.Points, c.Dimension, c.Question, c.Keys)
	}
	fmt.Fprintf(w, "why      %s\n", r.Explanation.Reason)
}

func points(a *ivr.Answer) string {
	if a == nil || len(a.Points) == 0 {
		return ""
	}
	var parts []string
	for d, p := range a.Points {
		parts = append(parts, fmt.Sprintf("%+d %s", p, d))
	}
	slices.Sort(parts)
	return "  → " + strings.Join(parts, ", ")
}

// profileFieldWarnings checks the lead fields profile rules read: a field
// scripts are not given, or another name of a lead field, is never set
// ("line: warning: …").
func profileFieldWarnings(s *ivr.Script) []string {
	var out []string
	for i := range s.Profile {
		r := &s.Profile[i]
		for _, f := range r.Fields() {
			if slices.Contains(store.ScriptFields, f) {
				continue
			}
			switch c := intake.Canonical(f); {
			case c != "" && slices.Contains(store.ScriptFields, c):
				out = append(out, fmt.Sprintf("%d: warning: profile rule %q reads lead.%s, which is never set: it is the lead's %s (lead.%s)",
					r.Line, r.Name, f, c, c))
			case c != "":
				out = append(out, fmt.Sprintf("%d: warning: profile rule %q reads lead.%s, which scripts are not given (scripts read %s and the lead's other fields)",
					r.Line, r.Name, f, strings.Join(store.ScriptFields, ", ")))
			}
		}
	}
	return out
}

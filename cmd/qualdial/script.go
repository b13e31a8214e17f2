package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/qualdial/qualdial/dialer/prompt"
	"github.com/qualdial/qualdial/dialer/twilio"
	"github.com/qualdial/qualdial/intake"
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
		keys    string
		asJSON  bool
		leadKVs []string
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
			sim := simulate(ivr.NewEngine(s), lead, inputs)
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(sim.Result)
			}
			sim.print(e.stdout)
			return nil
		},
	}
	cmd.Flags().StringVar(&keys, "keys", "", "comma-separated inputs, one per turn: keys (1, 120#), timeout or hangup")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON (stable snake_case fields)")
	cmd.Flags().StringArrayVar(&leadKVs, "lead", nil, "a lead field for {{placeholders}} and profile rules, as name=value (repeatable), e.g. job_title=CTO")
	return cmd
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
}

func simulate(eng *ivr.Engine, lead map[string]string, inputs []ivr.Input) simulation {
	var sim simulation
	st, turn := eng.Start(lead)
	for {
		step := simStep{Turn: turn}
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
			step.Answer = &next.Answers[len(next.Answers)-1]
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

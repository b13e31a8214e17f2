package ivr

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/vm"
	"go.yaml.in/yaml/v3"
)

// Script is a qualification script as written in YAML. Values returned by
// [Parse] without errors are validated and must not be modified: an [Engine]
// reads them concurrently.
type Script struct {
	// ID identifies the script; results record it.
	ID string `yaml:"id"`
	// Version must be bumped on every change; results record it.
	Version int `yaml:"version"`
	// Language is the BCP 47 language of the prompts (TTS voice), e.g. en-US.
	Language string `yaml:"language"`
	// Voice optionally names a TTS voice (espeak-ng voice or Twilio voice).
	Voice string `yaml:"voice"`
	// Description is free text for the people who maintain the script.
	Description string `yaml:"description"`
	// Identify is spoken first on every call: who is calling and why.
	Identify string `yaml:"identify"`
	// Voicemail is the message left on an answering machine when the
	// campaign's machine_detection is message: who called, why, and a
	// number to call back or to stop the calls. Empty: the identify line.
	// Never the questionnaire.
	Voicemail string `yaml:"voicemail"`
	// OptOut is the key that works at every question and ends the call with
	// the lead on the do-not-call list.
	OptOut OptOut `yaml:"opt_out"`
	// Dimensions are the names points are scored on (BANT: budget,
	// authority, need, timeline).
	Dimensions []string `yaml:"dimensions"`
	// Defaults apply to every question that does not override them.
	Defaults Defaults `yaml:"defaults"`
	// Start names the first question; empty means the first one listed.
	Start string `yaml:"start"`
	// Questions are asked one per turn.
	Questions []Question `yaml:"questions"`
	// Endings are what is said before hanging up; `next` may name one.
	Endings map[string]Ending `yaml:"endings"`
	// Classes classify a completed run; the first whose `when` holds wins.
	Classes []Class `yaml:"classes"`
	// Profile gives explicit points from the lead's fields (a form's job
	// title, company size…) before the first question; they count in the
	// scores the classes read.
	Profile []ProfileRule `yaml:"profile"`

	// File is the name the script was parsed from, used in diagnostics.
	File string `yaml:"-"`

	lines     map[string]int // top-level key → line
	questions map[string]*Question
	classes   map[string]*Class
	vars      []string // placeholder names used anywhere in the script
	// profileFields are the lead fields the profile rules read.
	profileFields []string
	// fromFields are the lead fields `from:` questions read.
	fromFields []string
	suggested  int // "did you mean" searches made by validation
}

// OptOut is the do-not-call key.
type OptOut struct {
	// Key is one of 0-9 * #; it may not be used as an answer anywhere.
	Key string `yaml:"key"`
	// Say is the goodbye spoken after the number is put on the DNC list.
	Say string `yaml:"say"`
	// Audio optionally names recorded audio for Say.
	Audio string `yaml:"audio"`

	Line int `yaml:"-"`
}

// Defaults are per-question settings that questions may override.
type Defaults struct {
	// Timeout is how long to wait for a key after the prompt ends (default 6s).
	Timeout Duration `yaml:"timeout"`
	// Retries is how many times a question is replayed after no key or an
	// invalid key before the call ends as incomplete (default 2, at most 5).
	Retries *int `yaml:"retries"`
	// Invalid is said before the question is replayed after an invalid key.
	Invalid string `yaml:"invalid"`
	// NoInput is said before the question is replayed after no key at all.
	NoInput string `yaml:"no_input"`
	// Goodbye is said when the call ends as incomplete after the retries.
	Goodbye string `yaml:"goodbye"`

	Line int `yaml:"-"`
}

// Question is one turn of the questionnaire. It is answered either by a
// single key (Keys) or by a number entered with several keys (Digits+Ranges).
type Question struct {
	// ID names the question; `next` and results refer to it.
	ID string `yaml:"id"`
	// Say is the prompt text. It may contain {{field}} placeholders filled
	// from the lead, with an optional default: {{first_name|there}}.
	Say string `yaml:"say"`
	// Audio optionally names recorded prompt audio; Say stays the transcript.
	Audio string `yaml:"audio"`
	// Keys maps a single key to what it does.
	Keys map[string]Action `yaml:"keys"`
	// Digits makes the question a multi-digit numeric answer.
	Digits *Digits `yaml:"digits"`
	// Ranges map the number entered to points; the first match wins.
	Ranges []Range `yaml:"ranges"`
	// Timeout overrides Defaults.Timeout.
	Timeout Duration `yaml:"timeout"`
	// Retries overrides Defaults.Retries.
	Retries *int `yaml:"retries"`
	// Invalid overrides Defaults.Invalid.
	Invalid string `yaml:"invalid"`
	// From names a lead field that may already answer the question (a
	// form's company_size): when the lead has it and it is a valid answer —
	// one of the keys, or a number in the ranges — the question is not
	// asked and the answer is taken from the field (Answer.FromForm).
	From string `yaml:"from"`

	Line int `yaml:"-"`
}

// Action is what an answer does: add points, then go on to a question or an
// ending, or end the script at once with a knock-out class.
type Action struct {
	// Score adds points per dimension (negative allowed).
	Score map[string]int `yaml:"score"`
	// Next names the next question or an ending.
	Next string `yaml:"next"`
	// Class ends the script with this class (a knock-out answer).
	Class string `yaml:"class"`
	// Label optionally says what the answer means, in a few words for the
	// pages (the lead page, the sales inbox): "budget approved". For a
	// range, it follows the number entered: "seats" reads "500 seats".
	// At most MaxLabelLength characters, one line.
	Label string `yaml:"label"`

	Line int `yaml:"-"`
}

// Digits configures a multi-digit answer.
type Digits struct {
	// Min is the fewest digits accepted (default 1).
	Min int `yaml:"min"`
	// Max is the most digits collected (1-18).
	Max int `yaml:"max"`
	// FinishOn is the key that ends the entry early, usually "#".
	FinishOn string `yaml:"finish_on"`

	Line int `yaml:"-"`
}

// Range maps a numeric answer in [Min, Max] to an Action.
type Range struct {
	Min    int64 `yaml:"min"`
	Max    int64 `yaml:"max"`
	Action `yaml:",inline"`
}

// Ending is a final prompt before hanging up.
type Ending struct {
	Say   string `yaml:"say"`
	Audio string `yaml:"audio"`

	Line int `yaml:"-"`
}

// Class is a classification rule.
type Class struct {
	// Name of the class, e.g. sql, mql, disqualified.
	Name string `yaml:"name"`
	// When is an expression over the dimension names and `total`; empty
	// means always.
	When string `yaml:"when"`
	// Route is where the lead goes: sales, nurture or none.
	Route string `yaml:"route"`
	// SLA is the sales follow-up deadline after qualification (route sales);
	// zero means the campaign's SLA.
	SLA Duration `yaml:"sla"`
	// RecallAfter schedules a new qualification call (route nurture).
	RecallAfter Duration `yaml:"recall_after"`
	// Say is spoken to the lead when this class is reached, before the ending.
	Say string `yaml:"say"`
	// Transfer hands a lead of this class (route sales) to a person while
	// it is still on the line; nil: none.
	Transfer *Transfer `yaml:"transfer"`

	Line int `yaml:"-"`

	program    *vm.Program // compiled When; nil means always
	always     bool        // When is constant true
	never      bool        // When is constant false
	shadowedBy string      // an earlier class that always matches
}

// Transfer is a class's live transfer: after the class's say, the lead is
// connected to To, whom Whisper is said to first; when nobody answers
// within Timeout, the lead hears FallbackSay (and then the ending) and the
// lead's sales deadline becomes FallbackSLA.
type Transfer struct {
	// To is an E.164 number (through the trunk) or a SIP URI.
	To string `yaml:"to" json:"to"`
	// Whisper is said to the person answering, before the lead is put
	// through: who the lead is and why they are hot ({{placeholders}} of
	// the lead, and {{class}} and {{total}}).
	Whisper string `yaml:"whisper" json:"whisper"`
	// Timeout is how long the person's phone rings; default 30s.
	Timeout Duration `yaml:"timeout" json:"timeout"`
	// Fallback is what happens when nobody answers: callback (the only
	// one: the lead is told, and sales must call back within FallbackSLA).
	Fallback string `yaml:"fallback" json:"fallback"`
	// FallbackSay is said to the lead then; default DefaultFallbackSay.
	FallbackSay string `yaml:"fallback_say" json:"fallback_say"`
	// FallbackSLA is the sales deadline then; default 1h.
	FallbackSLA Duration `yaml:"fallback_sla" json:"fallback_sla"`
}

// Transfer defaults.
const (
	DefaultTransferTimeout = Duration(30 * time.Second)
	DefaultFallbackSLA     = Duration(time.Hour)
	DefaultFallbackSay     = "All our specialists are busy right now. A specialist will call you back within the hour."
	FallbackCallback       = "callback"
)

// Routes a class may name.
const (
	RouteSales   = "sales"
	RouteNurture = "nurture"
	RouteNone    = "none"
)

// Duration is a time.Duration written as "6s", "24h" or "30d" in scripts and
// marshalled to JSON the same way.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d compactly: 24h, 90s, 30d.
func (d Duration) String() string {
	td := time.Duration(d)
	switch {
	case td == 0:
		return "0s"
	case td%(24*time.Hour) == 0 && td > 48*time.Hour:
		return strconv.FormatInt(int64(td/(24*time.Hour)), 10) + "d"
	case td%time.Hour == 0:
		return strconv.FormatInt(int64(td/time.Hour), 10) + "h"
	case td%time.Minute == 0:
		return strconv.FormatInt(int64(td/time.Minute), 10) + "m"
	}
	return td.String()
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDuration parses Go durations ("90s", "1h30m") and whole days ("30d",
// "1d12h").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 || n > 3650 {
			return 0, fmt.Errorf("invalid duration %q: days must be a whole number from 0 to 3650", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: use a number with a unit, like 6s, 15m, 24h or 30d", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	return days + v, nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError(n, "a duration must be a value like 6s or 24h")
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return typeError(n, err.Error())
	}
	*d = Duration(v)
	return nil
}

// typeError reports a decoding problem the way yaml.v3 does, so that all of
// them are collected in one pass.
func typeError(n *yaml.Node, msg string) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, msg)}}
}

// UnmarshalYAML decodes a OptOut and records its line.
func (o *OptOut) UnmarshalYAML(n *yaml.Node) error {
	type plain OptOut
	o.Line = n.Line
	return n.Decode((*plain)(o))
}

// UnmarshalYAML decodes a Defaults and records its line.
func (d *Defaults) UnmarshalYAML(n *yaml.Node) error {
	type plain Defaults
	d.Line = n.Line
	return n.Decode((*plain)(d))
}

// UnmarshalYAML decodes a Question and records its line.
func (q *Question) UnmarshalYAML(n *yaml.Node) error {
	type plain Question
	q.Line = n.Line
	return n.Decode((*plain)(q))
}

// UnmarshalYAML decodes a Action and records its line.
func (a *Action) UnmarshalYAML(n *yaml.Node) error {
	type plain Action
	a.Line = n.Line
	return n.Decode((*plain)(a))
}

// UnmarshalYAML decodes a Digits and records its line.
func (d *Digits) UnmarshalYAML(n *yaml.Node) error {
	type plain Digits
	d.Line = n.Line
	return n.Decode((*plain)(d))
}

// UnmarshalYAML decodes a Range and records its line.
func (r *Range) UnmarshalYAML(n *yaml.Node) error {
	var raw struct {
		Min   int64          `yaml:"min"`
		Max   int64          `yaml:"max"`
		Score map[string]int `yaml:"score"`
		Next  string         `yaml:"next"`
		Class string         `yaml:"class"`
	}
	if err := n.Decode(&raw); err != nil {
		return err
	}
	*r = Range{Min: raw.Min, Max: raw.Max, Action: Action{Score: raw.Score, Next: raw.Next, Class: raw.Class, Line: n.Line}}
	return nil
}

// UnmarshalYAML decodes a Ending and records its line.
func (e *Ending) UnmarshalYAML(n *yaml.Node) error {
	type plain Ending
	e.Line = n.Line
	return n.Decode((*plain)(e))
}

// UnmarshalYAML decodes a Class and records its line.
func (c *Class) UnmarshalYAML(n *yaml.Node) error {
	type plain Class
	c.Line = n.Line
	return n.Decode((*plain)(c))
}

// Question returns the question with the given id, or nil.
func (s *Script) Question(id string) *Question { return s.questions[id] }

// Class returns the class with the given name, or nil.
func (s *Script) Class(name string) *Class { return s.classes[name] }

// Placeholders lists the lead fields the script's texts refer to, sorted.
func (s *Script) Placeholders() []string { return append([]string(nil), s.vars...) }

// maxDigits is how many keys a question collects.
func (q *Question) maxDigits() int {
	if q.Digits != nil {
		return q.Digits.Max
	}
	return 1
}

func (q *Question) finishOn() string {
	if q.Digits != nil {
		return q.Digits.FinishOn
	}
	return ""
}

// Prompts lists every prompt the script may play, as played to a lead
// without any fields (placeholder defaults), with its recorded audio where
// the script names one, without duplicates: what must be playable before a
// campaign calls anyone.
func (s *Script) Prompts() []Prompt {
	seen := map[string]bool{}
	var out []Prompt
	add := func(kind PromptKind, text, audio string) {
		p := Prompt{Kind: kind, Text: render(text, nil), Audio: audio}
		if p.Text == "" && p.Audio == "" || seen[p.Text+"\x00"+p.Audio] {
			return
		}
		seen[p.Text+"\x00"+p.Audio] = true
		out = append(out, p)
	}
	add(PromptIdentify, s.Identify, "")
	add(PromptVoicemail, s.Voicemail, "")
	for _, q := range s.Questions {
		add(PromptQuestion, q.Say, q.Audio)
		add(PromptInvalid, q.Invalid, "")
	}
	add(PromptInvalid, s.Defaults.Invalid, "")
	add(PromptNoInput, s.Defaults.NoInput, "")
	add(PromptGoodbye, s.Defaults.Goodbye, "")
	add(PromptOptOut, s.OptOut.Say, s.OptOut.Audio)
	for _, c := range s.Classes {
		add(PromptClass, c.Say, "")
	}
	for _, name := range sortedKeys(s.Endings) {
		add(PromptEnding, s.Endings[name].Say, s.Endings[name].Audio)
	}
	return out
}

// Texts lists every text the script may say, as said to a lead without any
// fields (placeholder defaults), without duplicates: what `qualdial prompts
// render` turns into audio.
func (s *Script) Texts() []string {
	seen := map[string]bool{}
	var out []string
	add := func(t string) {
		if t = render(t, nil); t != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	add(s.Identify)
	add(s.Voicemail)
	for _, q := range s.Questions {
		add(q.Say)
		add(q.Invalid)
	}
	add(s.Defaults.Invalid)
	add(s.Defaults.NoInput)
	add(s.Defaults.Goodbye)
	add(s.OptOut.Say)
	for _, c := range s.Classes {
		add(c.Say)
	}
	for _, name := range sortedKeys(s.Endings) {
		add(s.Endings[name].Say)
	}
	return out
}

package ivr

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// MaxTurns bounds a run: after this many inputs it ends as incomplete, even
// though a validated script (which cannot loop) never gets near it.
const MaxTurns = 200

// Outcome is how a run ended.
type Outcome string

const (
	// OutcomeCompleted: the script reached an ending or a knock-out class.
	OutcomeCompleted Outcome = "completed"
	// OutcomeIncomplete: the person hung up, or gave no valid key after the retries.
	OutcomeIncomplete Outcome = "incomplete"
	// OutcomeOptedOut: the person pressed the opt-out key.
	OutcomeOptedOut Outcome = "opted_out"
)

// Why a run ended as incomplete.
const (
	EndHangup   = "hangup"
	EndNoInput  = "no_input"
	EndInvalid  = "invalid"
	EndMaxTurns = "max_turns"
)

// Errors returned by [Engine.Next].
var (
	// ErrEnded is returned for input after the run has ended.
	ErrEnded = errors.New("the script has already ended")
	// ErrStateMismatch is returned for a state that another script (or
	// another version of this one) produced.
	ErrStateMismatch = errors.New("state does not belong to this script")
)

// Input is what the person did during one turn. Exactly one of Keys,
// Timeout and Hangup is meaningful; Hangup wins over the others.
type Input struct {
	// Keys pressed, in order, including the finish key if one was pressed.
	Keys string `json:"keys,omitempty"`
	// Timeout: no key before the timeout.
	Timeout bool `json:"timeout,omitempty"`
	// Hangup: the person hung up.
	Hangup bool `json:"hangup,omitempty"`
}

// PromptKind says why a prompt is played.
type PromptKind string

// Prompt kinds.
const (
	PromptIdentify PromptKind = "identify"
	PromptQuestion PromptKind = "question"
	PromptInvalid  PromptKind = "invalid"
	PromptNoInput  PromptKind = "no_input"
	PromptClass    PromptKind = "class"
	PromptEnding   PromptKind = "ending"
	PromptOptOut   PromptKind = "opt_out"
	PromptGoodbye  PromptKind = "goodbye"
	// PromptVoicemail is the message left on an answering machine.
	PromptVoicemail PromptKind = "voicemail"
	// PromptWhisper is said to the person a lead is transferred to;
	// PromptFallback to the lead when nobody answered.
	PromptWhisper  PromptKind = "whisper"
	PromptFallback PromptKind = "fallback"
)

// Prompt is one thing to say.
type Prompt struct {
	Kind PromptKind `json:"kind"`
	// Text with the lead's fields filled in.
	Text string `json:"text"`
	// Audio names recorded audio for the text, if the script gives one.
	Audio string `json:"audio,omitempty"`
	// Personalized is set when Text was filled from lead fields: recorded
	// Audio then says the generic version.
	Personalized bool `json:"personalized,omitempty"`
	// Generic is Text as said to a lead without any fields (placeholder
	// defaults): what pre-rendered audio says. Set when Personalized.
	Generic string `json:"generic,omitempty"`
}

// Turn tells the driver what to do next: play Prompts in order, then, unless
// Final, collect up to MaxDigits keys (stopping early at FinishOn) and wait
// at most Timeout after the prompts for the first key.
type Turn struct {
	// Question waiting for an answer; empty on the final turn.
	Question string `json:"question,omitempty"`
	// Attempt is 1 for the first ask, 2… for replays.
	Attempt   int      `json:"attempt,omitempty"`
	Prompts   []Prompt `json:"prompts"`
	MaxDigits int      `json:"max_digits,omitempty"`
	FinishOn  string   `json:"finish_on,omitempty"`
	Timeout   Duration `json:"timeout,omitempty"`
	// Final: play the prompts, then hang up.
	Final bool `json:"final,omitempty"`
	// Transfer, on a final turn: after the prompts, connect the lead to a
	// person (see TransferTurn) instead of hanging up.
	Transfer *TransferTurn `json:"transfer,omitempty"`
}

// TransferTurn is a live transfer to carry out: call To (ringing at most
// Timeout), say Whisper to whoever answers, then connect the lead. When
// that fails, play Fallback to the lead (the fallback line and the
// ending), then hang up.
type TransferTurn struct {
	To       string   `json:"to"`
	Whisper  Prompt   `json:"whisper"`
	Timeout  Duration `json:"timeout"`
	Fallback []Prompt `json:"fallback"`
}

// Answer is a valid answer to one question.
type Answer struct {
	Question string `json:"question"`
	// Keys as pressed, including the finish key.
	Keys string `json:"keys"`
	// Value is the number entered, for digits questions.
	Value *int64 `json:"value,omitempty"`
	// Points added per dimension (may be empty, never nil in results).
	Points map[string]int `json:"points"`
	// FromForm: the question was not asked; the answer is the lead's field
	// its `from:` names.
	FromForm bool `json:"from_form,omitempty"`
}

// State is the progress of one run. It is a plain value: store it as JSON
// between turns and hand it back to [Engine.Next].
type State struct {
	ScriptID      string `json:"script_id"`
	ScriptVersion int    `json:"script_version"`
	// Question currently asked; empty once the run has ended.
	Question string `json:"question,omitempty"`
	// Attempt at the current question, from 1.
	Attempt int      `json:"attempt,omitempty"`
	Answers []Answer `json:"answers,omitempty"`
	// Turns counts inputs received.
	Turns int `json:"turns"`
	// Outcome is empty while the run goes on.
	Outcome Outcome `json:"outcome,omitempty"`
	// Class set by a knock-out answer or by the class rules at the end.
	Class string `json:"class,omitempty"`
	// KnockOut is set when Class came from a knock-out answer.
	KnockOut bool `json:"knock_out,omitempty"`
	// End says why an incomplete run ended (hangup, no_input, invalid, max_turns).
	End string `json:"end,omitempty"`
	// EndedAt is the question at which an opted-out or incomplete run ended.
	EndedAt string `json:"ended_at,omitempty"`
	// Vars are the lead fields the script's texts use.
	Vars map[string]string `json:"vars,omitempty"`
	// Profile lists the profile rules that held for the lead at the start:
	// their points count with the answers'.
	Profile []ProfileHit `json:"profile,omitempty"`
	// Form holds the lead's fields that `from:` questions read.
	Form map[string]string `json:"form,omitempty"`
}

// Done reports whether the run has ended.
func (st State) Done() bool { return st.Outcome != "" }

// Engine runs one parsed script. It is immutable and safe for concurrent
// use; every call is a pure function of its arguments.
type Engine struct {
	script *Script
}

// NewEngine returns an engine for a script returned by [Parse] without
// errors.
func NewEngine(s *Script) *Engine { return &Engine{script: s} }

// Script returns the engine's script.
func (e *Engine) Script() *Script { return e.script }

// Start begins a run. lead holds the lead's fields for {{placeholders}};
// only the fields the script uses are kept in the state.
func (e *Engine) Start(lead map[string]string) (State, Turn) {
	s := e.script
	st := State{ScriptID: s.ID, ScriptVersion: s.Version, Question: s.Start, Attempt: 1, Profile: e.Profile(lead)}
	for _, name := range s.vars {
		if v := strings.TrimSpace(lead[name]); v != "" {
			if st.Vars == nil {
				st.Vars = make(map[string]string, len(s.vars))
			}
			st.Vars[name] = v
		}
	}
	for _, name := range s.fromFields {
		if v := strings.TrimSpace(lead[name]); v != "" {
			if st.Form == nil {
				st.Form = make(map[string]string, len(s.fromFields))
			}
			st.Form[name] = v
		}
	}
	st, turn := e.enter(st, s.questions[s.Start])
	turn.Prompts = append([]Prompt{e.prompt(st, PromptIdentify, s.Identify, "")}, turn.Prompts...)
	return st, turn
}

// Voicemail is the message to leave on an answering machine for the run
// st (its lead's placeholders filled): the script's voicemail, else its
// identify line.
func (e *Engine) Voicemail(st State) Prompt {
	text := e.script.Voicemail
	if strings.TrimSpace(text) == "" {
		text = e.script.Identify
	}
	return e.prompt(st, PromptVoicemail, text, "")
}

// enter moves the run to question q: it is asked, unless the lead's form
// already answers it, in which case the answer is taken and the run goes
// on from there.
func (e *Engine) enter(st State, q *Question) (State, Turn) {
	st.Question, st.Attempt = q.ID, 1
	if keys, ok := q.formKeys(st.Form); ok {
		if action, value, ok := q.match(keys); ok {
			return e.answer(st, q, action, keys, value, true)
		}
	}
	return st, e.ask(st, q)
}

// formKeys turns the lead's field a question's `from:` names into the keys
// that answer it: the key itself, or the number (then the finish key) of a
// digits question.
func (q *Question) formKeys(form map[string]string) (string, bool) {
	v, ok := form[q.From]
	if q.From == "" || !ok {
		return "", false
	}
	if q.Digits == nil {
		return v, hasKey(q.Keys, v)
	}
	if strings.IndexAny(v, "0123456789") < 0 {
		return "", false
	}
	n := leadNumber(v)
	if n != float64(int64(n)) || n < 0 {
		return "", false
	}
	return strconv.FormatInt(int64(n), 10) + q.Digits.FinishOn, true
}

func hasKey(keys map[string]Action, k string) bool { _, ok := keys[k]; return ok }

// Next applies the person's input to the state and returns the new state and
// the next turn. The given state is not modified.
func (e *Engine) Next(st State, in Input) (State, Turn, error) {
	s := e.script
	if st.ScriptID != s.ID || st.ScriptVersion != s.Version {
		return st, Turn{}, fmt.Errorf("%w: state is for %s v%d, engine runs %s", ErrStateMismatch, st.ScriptID, st.ScriptVersion, s)
	}
	if st.Done() {
		return st, Turn{}, ErrEnded
	}
	q := s.questions[st.Question]
	if q == nil {
		return st, Turn{}, fmt.Errorf("%w: unknown question %q", ErrStateMismatch, st.Question)
	}
	st.Answers = slices.Clone(st.Answers)
	st.Turns++
	switch {
	case in.Hangup:
		return e.incomplete(st, EndHangup, nil)
	case st.Turns > MaxTurns:
		return e.incomplete(st, EndMaxTurns, nil)
	case in.Keys == "" || in.Timeout:
		return e.retry(st, q, EndNoInput)
	case strings.TrimSuffix(in.Keys, q.finishOn()) == s.OptOut.Key:
		st.Outcome, st.EndedAt, st.Question, st.Attempt = OutcomeOptedOut, q.ID, "", 0
		return st, e.final(e.prompt(st, PromptOptOut, s.OptOut.Say, s.OptOut.Audio)), nil
	}
	action, value, ok := q.match(in.Keys)
	if !ok {
		return e.retry(st, q, EndInvalid)
	}
	st, turn := e.answer(st, q, action, in.Keys, value, false)
	return st, turn, nil
}

// answer records a valid answer to q and moves on: to the next question,
// or to the end of the run.
func (e *Engine) answer(st State, q *Question, action Action, keys string, value *int64, fromForm bool) (State, Turn) {
	s := e.script
	st.Answers = append(slices.Clone(st.Answers), Answer{Question: q.ID, Keys: keys, Value: value, Points: maps.Clone(action.Score),
		FromForm: fromForm})
	st.Attempt = 1
	if next := s.questions[action.Next]; next != nil && action.Class == "" {
		return e.enter(st, next)
	}
	// An ending or a knock-out: the run is complete.
	st.Question, st.Attempt, st.Outcome = "", 0, OutcomeCompleted
	if action.Class != "" {
		st.Class, st.KnockOut = action.Class, true
	} else {
		st.Class = e.classify(scores(s, st.Profile, st.Answers)).Name
	}
	var prompts, ending []Prompt
	cl := s.classes[st.Class]
	if cl != nil && cl.Say != "" {
		prompts = append(prompts, e.prompt(st, PromptClass, cl.Say, ""))
	}
	if end, ok := s.Endings[action.Next]; ok {
		ending = append(ending, e.prompt(st, PromptEnding, end.Say, end.Audio))
	}
	if cl == nil || cl.Transfer == nil {
		return st, e.final(append(prompts, ending...)...)
	}
	// A live transfer: the ending is said only if nobody answers.
	t := cl.Transfer
	vars := maps.Clone(st.Vars)
	if vars == nil {
		vars = map[string]string{}
	}
	vars["class"], vars["total"] = cl.Name, strconv.Itoa(total(scores(s, st.Profile, st.Answers)))
	turn := e.final(prompts...)
	turn.Transfer = &TransferTurn{To: t.To, Timeout: t.Timeout,
		Whisper:  Prompt{Kind: PromptWhisper, Text: render(t.Whisper, vars)},
		Fallback: append([]Prompt{e.prompt(st, PromptFallback, t.FallbackSay, "")}, ending...)}
	return st, turn
}

// match finds the action for the keys pressed at q.
func (q *Question) match(keys string) (Action, *int64, bool) {
	if q.Digits == nil {
		a, ok := q.Keys[keys]
		return a, nil, ok
	}
	digits := strings.TrimSuffix(keys, q.Digits.FinishOn)
	if len(digits) < q.Digits.Min || len(digits) > q.Digits.Max {
		return Action{}, nil, false
	}
	n, err := parseNumber(digits)
	if err != nil {
		return Action{}, nil, false
	}
	for _, r := range q.Ranges {
		if r.Min <= n && n <= r.Max {
			return r.Action, &n, true
		}
	}
	return Action{}, nil, false
}

// parseNumber accepts only the digits 0-9.
func parseNumber(s string) (int64, error) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return strconv.ParseInt(s, 10, 64)
}

// retry replays q after no key or an invalid key, or ends the run when the
// retries are used up.
func (e *Engine) retry(st State, q *Question, why string) (State, Turn, error) {
	retries := *e.script.Defaults.Retries
	if q.Retries != nil {
		retries = *q.Retries
	}
	if st.Attempt > retries {
		return e.incomplete(st, why, q)
	}
	st.Attempt++
	turn := e.ask(st, q)
	text, kind := q.Invalid, PromptInvalid
	if text == "" {
		text = e.script.Defaults.Invalid
	}
	if why == EndNoInput {
		text, kind = e.script.Defaults.NoInput, PromptNoInput
	}
	if text != "" {
		turn.Prompts = append([]Prompt{e.prompt(st, kind, text, "")}, turn.Prompts...)
	}
	return st, turn, nil
}

func (e *Engine) incomplete(st State, why string, q *Question) (State, Turn, error) {
	st.Outcome, st.End, st.EndedAt, st.Question, st.Attempt = OutcomeIncomplete, why, st.Question, "", 0
	if q == nil || e.script.Defaults.Goodbye == "" { // nobody is listening after a hang-up
		return st, e.final(), nil
	}
	return st, e.final(e.prompt(st, PromptGoodbye, e.script.Defaults.Goodbye, "")), nil
}

func (e *Engine) ask(st State, q *Question) Turn {
	timeout := q.Timeout
	if timeout == 0 {
		timeout = e.script.Defaults.Timeout
	}
	return Turn{
		Question:  q.ID,
		Attempt:   st.Attempt,
		Prompts:   []Prompt{e.prompt(st, PromptQuestion, q.Say, q.Audio)},
		MaxDigits: q.maxDigits(),
		FinishOn:  q.finishOn(),
		Timeout:   timeout,
	}
}

func (e *Engine) final(prompts ...Prompt) Turn {
	if prompts == nil {
		prompts = []Prompt{}
	}
	return Turn{Prompts: prompts, Final: true}
}

func (e *Engine) prompt(st State, kind PromptKind, text, audio string) Prompt {
	p := Prompt{Kind: kind, Text: render(text, st.Vars), Audio: audio}
	if strings.Contains(text, "{{") {
		p.Personalized, p.Generic = true, render(text, nil)
	}
	return p
}

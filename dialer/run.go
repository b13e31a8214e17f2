package dialer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/qualdial/qualdial/ivr"
)

// Event is one moment of a call's timeline.
type Event struct {
	At time.Time `json:"at"`
	// Kind: prompt, keys, timeout, hangup, machine, error, transfer and
	// transfer_<status> (TransferConnected…).
	Kind     string `json:"kind"`
	Question string `json:"question,omitempty"`
	Text     string `json:"text,omitempty"`
	Keys     string `json:"keys,omitempty"`
}

// Outcome is what Run returns: the engine's final state and result and what
// happened when.
type Outcome struct {
	State    ivr.State
	Result   ivr.Result
	Timeline []Event
	// EndedBy says who ended the call: EndedByLead, EndedByQualdial,
	// EndedByMediaTimeout, EndedByMaxLength or EndedByError — so a media
	// failure is never reported as the lead hanging up.
	EndedBy string
	// DTMFMethod is how the call's keys arrived (rfc4733, info, inband, or
	// none when no key was pressed), where the driver can tell.
	DTMFMethod string
	// Timings are the call's moments, where the driver reports them.
	Timings Timings
	// AMD is machine detection's verdict, where the driver listened after
	// the answer (nil: it did not). AMD.IsMachine: the call was a
	// machine's, the script stopped at the verdict (the disposition is
	// then Machine, not Answered).
	AMD *AMD
	// Transfer is how the live transfer the script asked for went (nil:
	// it asked for none, or the call ended before).
	Transfer *TransferResult
	// Attestation is the STIR/SHAKEN attestation of the call's caller ID
	// (A, B or C) as the trunk or provider reported it; empty: not
	// reported.
	Attestation string
	// Err is a telephony failure mid-call (the state then ends as
	// incomplete, with the answers given so far).
	Err error
}

// RunOptions are Run's optional inputs.
type RunOptions struct {
	// Lead fills the script's {{placeholders}}.
	Lead map[string]string
	// Now is the clock of the timeline; nil means time.Now.
	Now func() time.Time
	// OnEnd runs once the script has ended, before its final prompts are
	// played: an opt-out is written to the do-not-call list before the
	// goodbye. Its error is kept in Outcome.Err; the goodbye still plays.
	OnEnd func(ctx context.Context, st ivr.State) error
	// OnTurn runs after every answer, timeout or hang-up with the script's
	// new state, so the caller can keep what was heard so far (a crash
	// mid-call is then settled from it). It runs on the call's goroutine
	// between turns: keep it short and bounded.
	OnTurn func(ctx context.Context, st ivr.State)
	// OnTransfer runs once the script has asked for a live transfer to to,
	// before the call places its second leg (a trunk that counts channels
	// must count it from then on). It runs on the call's goroutine, with
	// the lead waiting: keep it short and bounded.
	OnTransfer func(ctx context.Context, to string)
}

// Run plays an engine's script over an answered call, turn by turn, until
// the script ends or the call does, then hangs up. It owns the call: nothing
// else may use it meanwhile. The returned outcome always has a result; a
// call that ends mid-script is incomplete with the answers so far.
func Run(ctx context.Context, call Call, eng *ivr.Engine, opts RunOptions) Outcome {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	var out Outcome
	st, turn := eng.Start(opts.Lead)
	ended := false
	out.EndedBy = EndedByQualdial // unless the call ends otherwise below
	for {
		if turn.Final && !ended && opts.OnEnd != nil {
			ended = true
			if err := opts.OnEnd(ctx, st); err != nil {
				out.Err = errors.Join(out.Err, err)
			}
		}
		for _, p := range turn.Prompts {
			out.Timeline = append(out.Timeline, Event{At: now(), Kind: "prompt", Question: turn.Question, Text: p.Text})
		}
		in, err := call.Turn(ctx, turn)
		if turn.Final {
			if turn.Transfer != nil && err == nil && !in.Hangup {
				if opts.OnTransfer != nil {
					opts.OnTransfer(ctx, turn.Transfer.To)
				}
				transfer(ctx, call, *turn.Transfer, &out, now)
			}
			break
		}
		machine := false
		if ar, ok := call.(AMDReporter); ok && in.Hangup {
			if a := ar.AMD(); a.IsMachine() {
				machine = true
				text := a.Cause
				if a.GreetingEnd != "" {
					text += fmt.Sprintf("; greeting over (%s), message left: %v", a.GreetingEnd, a.MessageLeft)
				}
				out.Timeline = append(out.Timeline, Event{At: now(), Kind: "machine", Question: turn.Question, Text: text})
			}
		}
		if err != nil {
			out.Err = err
			in = ivr.Input{Hangup: true}
			out.EndedBy = EndedByError
			if ctx.Err() != nil {
				out.EndedBy = EndedByQualdial // stopped by qualdial (shutdown)
			}
			out.Timeline = append(out.Timeline, Event{At: now(), Kind: "error", Question: turn.Question, Text: err.Error()})
		}
		switch {
		case machine && out.Err == nil:
			out.EndedBy = EndedByQualdial // hung up on the machine
		case in.Hangup && out.Err == nil:
			out.EndedBy = EndedByLead
			out.Timeline = append(out.Timeline, Event{At: now(), Kind: "hangup", Question: turn.Question})
		case in.Timeout || (in.Keys == "" && !in.Hangup):
			in = ivr.Input{Timeout: true}
			out.Timeline = append(out.Timeline, Event{At: now(), Kind: "timeout", Question: turn.Question})
		case in.Keys != "":
			out.Timeline = append(out.Timeline, Event{At: now(), Kind: "keys", Question: turn.Question, Keys: in.Keys})
		}
		next, nextTurn, nerr := eng.Next(st, in)
		if nerr != nil { // only for foreign states; cannot happen here
			out.Err = errors.Join(out.Err, nerr)
			break
		}
		st, turn = next, nextTurn
		if opts.OnTurn != nil {
			opts.OnTurn(ctx, st)
		}
		if in.Hangup {
			break
		}
	}
	if !ended && opts.OnEnd != nil {
		if err := opts.OnEnd(ctx, st); err != nil {
			out.Err = errors.Join(out.Err, err)
		}
	}
	_ = call.Hangup(context.WithoutCancel(ctx))
	reportCall(call, &out)
	out.State = st
	out.Result = eng.Result(st)
	return out
}

// KeysHeard joins every key press of a timeline, e.g. "1,1,120#".
func (o Outcome) KeysHeard() []string {
	var keys []string
	for _, e := range o.Timeline {
		if e.Kind == "keys" {
			keys = append(keys, e.Keys)
		}
	}
	return keys
}

// transfer carries out a live transfer at the end of the script: through
// the call's Transferer, else it is unsupported. A lead not put through
// hears the fallback (a call back, and the ending).
func transfer(ctx context.Context, call Call, t ivr.TransferTurn, out *Outcome, now func() time.Time) {
	out.Timeline = append(out.Timeline, Event{At: now(), Kind: "transfer", Text: t.To})
	res := TransferResult{To: t.To, Status: TransferUnsupported}
	if tr, ok := call.(Transferer); ok {
		res = tr.Transfer(ctx, t)
	}
	out.Transfer = &res
	text := res.Status
	if res.SIPCode != 0 {
		text += fmt.Sprintf(" (%d %s)", res.SIPCode, res.Reason)
	}
	out.Timeline = append(out.Timeline, Event{At: now(), Kind: "transfer_" + res.Status, Text: text})
	if res.Status == TransferConnected || res.Status == TransferLeadHungUp {
		return
	}
	for _, p := range t.Fallback {
		out.Timeline = append(out.Timeline, Event{At: now(), Kind: "prompt", Text: p.Text})
	}
	_, _ = call.Turn(ctx, ivr.Turn{Prompts: t.Fallback, Final: true})
}

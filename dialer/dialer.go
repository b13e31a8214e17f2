// Package dialer is the seam between qualification and telephony. A [Driver]
// places a call and returns it answered or fails with a classified
// [*DialError]; a [Call] plays one script turn at a time and reports the keys
// pressed, a timeout or a hang-up; [Run] drives an ivr engine over a call.
// The SIP and Twilio drivers implement it in subpackages.
package dialer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/qualdial/qualdial/ivr"
)

// Driver places outbound calls.
type Driver interface {
	// Dial calls req.To and returns once the call is answered. Any other
	// end is a *DialError with its disposition. Cancelling ctx before the
	// answer abandons the call on the wire (SIP CANCEL).
	Dial(ctx context.Context, req DialRequest) (Call, error)
}

// ErrNotConfigured means a driver cannot place a call of this kind at all
// as configured (no SIP trunk for phone numbers): nothing about the lead, so
// no attempt of the lead should be spent on it.
var ErrNotConfigured = errors.New("not configured for this call")

// Preflight is implemented by drivers that can tell, before an attempt is
// written, that they cannot call a destination at all as configured. The
// error wraps ErrNotConfigured.
type Preflight interface {
	CanDial(to string) error
}

// DialRequest says whom to call and how.
type DialRequest struct {
	// To is a SIP URI, or an E.164 number the driver routes via its trunk.
	To string
	// CallerID is the number presented (required by law for telemarketing).
	CallerID string
	// CallerName is the display name, optional.
	CallerName string
	// RingTimeout is how long to let it ring; at least 15 s in campaigns.
	RingTimeout time.Duration
	// MaxDuration caps the answered call; zero means the driver's default.
	MaxDuration time.Duration
	// Language and Voice pick the text-to-speech voice for prompts.
	Language, Voice string
	// Logger is the call's logger (with lead and attempt ids); nil: driver's.
	Logger *slog.Logger
	// Script and Lead are the script (YAML) and lead fields of the call,
	// for drivers whose calls run the script away from the caller's
	// goroutine (webhook-driven, see Runner). Others ignore them.
	Script []byte
	Lead   map[string]string
	// MachineDetection is MachineOff, MachineHangup (hang up on answering
	// machines) or MachineMessage (leave Voicemail once the greeting is
	// over, then hang up); empty means the driver's default. A person is
	// never kept waiting for the verdict: the script starts at the answer.
	MachineDetection string
	// Voicemail is the message left on a machine in MachineMessage mode:
	// the script's voicemail, or identify line, for this lead (see
	// ivr.Engine.Voicemail). Drivers that run the script themselves take
	// it from Script.
	Voicemail ivr.Prompt
	// DTMF is how keys are taken: DTMFAuto (the default), DTMFRFC4733,
	// DTMFInfo or DTMFInband. Drivers that cannot choose ignore it.
	DTMF string
	// AttemptID is the caller's record of this call (0: none). Drivers
	// whose calls run away from the caller (webhook-driven) keep it with
	// the call's state, so what the call hears is saved on the attempt —
	// and an opt-out honoured — even when the caller is gone.
	AttemptID int64
}

// Runner is a Call that runs the script itself — a webhook-driven call,
// whose turns are answered by HTTP handlers on any replica. Use RunCall,
// which picks Runner or the turn loop of Run.
type Runner interface {
	RunScript(ctx context.Context, eng *ivr.Engine, opts RunOptions) Outcome
}

// RunCall runs the script over the call: by the call itself when it is a
// Runner, else turn by turn with Run.
func RunCall(ctx context.Context, call Call, eng *ivr.Engine, opts RunOptions) Outcome {
	r, ok := call.(Runner)
	if !ok {
		return Run(ctx, call, eng, opts)
	}
	out := r.RunScript(ctx, eng, opts)
	if out.EndedBy == "" {
		switch {
		case out.Err != nil:
			out.EndedBy = EndedByError
		case out.Result.Outcome == ivr.OutcomeIncomplete:
			out.EndedBy = EndedByLead
		default:
			out.EndedBy = EndedByQualdial
		}
	}
	reportCall(call, &out)
	return out
}

// EndReporter is a Call that knows who ended it (EndedBy…), once it has
// ended.
type EndReporter interface {
	EndedBy() string
}

// DTMFReporter is a Call that knows how its keys arrived (rfc4733, info,
// inband, or none).
type DTMFReporter interface {
	DTMFMethod() string
}

// Timings are the moments of an answered call, as the driver saw them on
// its own clock (for durations only); a zero time was not seen.
type Timings struct {
	// Sent is when the call went out (INVITE sent, or the call created).
	Sent time.Time
	// Ringing is the first provisional response (180/183); zero without one.
	Ringing time.Time
	// Answered is the answer (200 OK).
	Answered time.Time
	// Identify and IdentifyEnd are when the identification's audio started
	// and ended; OptOutOffer when the first question's started (scripts
	// offer the opt-out key there).
	Identify, IdentifyEnd, OptOutOffer time.Time
	// ReIdentified is when the identification was said again, to a phone
	// that screened the call (zero: never).
	ReIdentified time.Time
	// Ended is when the call ended.
	Ended time.Time
}

// Machine detection modes (DialRequest.MachineDetection, a campaign's
// machine_detection).
const (
	MachineOff     = "off"
	MachineHangup  = "hangup"
	MachineMessage = "message"
)

// AMD is what answering-machine detection made of an answered call.
type AMD struct {
	// Verdict is human, machine or unsure (no verdict in time: treated as
	// a person).
	Verdict string `json:"verdict"`
	// Cause says what decided it: long_greeting, max_words, long_word,
	// after_greeting_silence, initial_silence, max_time, keys (a key
	// pressed before any verdict) on SIP, or the provider's answered_by
	// (Twilio).
	Cause string `json:"cause"`
	// AfterMS is how long after the answer the verdict came.
	AfterMS int64 `json:"after_ms"`
	// Overruled: a key was pressed, so the call stayed with the script
	// although the verdict said machine.
	Overruled bool `json:"overruled,omitempty"`
	// GreetingEnd says how the end of a machine's greeting was found in
	// message mode (beep, silence, max_wait); MessageLeft whether the
	// whole message then played.
	GreetingEnd string `json:"greeting_end,omitempty"`
	MessageLeft bool   `json:"message_left,omitempty"`
}

// IsMachine reports whether the call ended as an answering machine's.
func (a *AMD) IsMachine() bool { return a != nil && a.Verdict == "machine" && !a.Overruled }

// AMDReporter is a Call that detected machines itself after the answer.
type AMDReporter interface {
	AMD() *AMD
}

// Transferer is a Call that can put its party through to someone else
// while it is on the line (a live transfer): it calls t.To, says t.Whisper
// to whoever answers, then connects both until one of them hangs up or ctx
// ends. It does not play the fallback: Run does, when the result is not
// TransferConnected.
type Transferer interface {
	Transfer(ctx context.Context, t ivr.TransferTurn) TransferResult
}

// Transfer statuses (TransferResult.Status).
const (
	// TransferConnected: the person answered, heard the whisper, and was
	// put through to the lead.
	TransferConnected = "connected"
	// TransferNoAnswer, TransferBusy, TransferFailed: nobody was put
	// through; the lead heard the fallback.
	TransferNoAnswer = "no_answer"
	TransferBusy     = "busy"
	TransferFailed   = "failed"
	// TransferLeadHungUp: the lead hung up before being put through.
	TransferLeadHungUp = "lead_hung_up"
	// TransferUnsupported: the driver cannot transfer; the lead heard the
	// fallback.
	TransferUnsupported = "unsupported"
)

// TransferResult is how a live transfer went.
type TransferResult struct {
	To     string `json:"to"`
	Status string `json:"status"`
	// SIPCode and Reason of the other leg's final response, when it failed.
	SIPCode int    `json:"sip_code,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// WaitMS is from the start of the transfer to the person's answer;
	// TalkMS how long the lead and the person were connected.
	WaitMS *int64 `json:"wait_ms,omitempty"`
	TalkMS *int64 `json:"talk_ms,omitempty"`
	// EndedBy says who hung up the connected call: lead or agent.
	EndedBy string `json:"ended_by,omitempty"`
}

// TimingReporter is a Call that knows when its moments happened.
type TimingReporter interface {
	Timings() Timings
}

// reportCall takes what the call itself knows of how it went.
func reportCall(call Call, out *Outcome) {
	if tr, ok := call.(TimingReporter); ok {
		out.Timings = tr.Timings()
	}
	if er, ok := call.(EndReporter); ok {
		if e := er.EndedBy(); e != "" {
			out.EndedBy = e
		}
	}
	if dr, ok := call.(DTMFReporter); ok {
		out.DTMFMethod = dr.DTMFMethod()
	}
	if ar, ok := call.(AMDReporter); ok {
		out.AMD = ar.AMD()
	}
	if ar, ok := call.(AttestationReporter); ok {
		out.Attestation = ar.Attestation()
	}
}

// AttestationReporter is a Call whose network reported the STIR/SHAKEN
// attestation of its caller ID (A, B, C; empty: it did not).
type AttestationReporter interface {
	Attestation() string
}

// Attestation reads a STIR/SHAKEN attestation as networks report it: a
// level ("A", "b") or a verification status that names one
// ("TN-Validation-Passed-A"). It returns A, B or C, or "" for anything
// else — a status without a level included: a level is recorded only when
// the network stated it.
func Attestation(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	if rest, ok := strings.CutPrefix(s, "TN-VALIDATION-PASSED-"); ok {
		s = rest
	}
	switch s {
	case "A", "B", "C":
		return s
	}
	return ""
}

// Call is an answered call. Its methods may be called from one goroutine at
// a time (the one that owns the call), except Hangup and Done.
type Call interface {
	// ID is the provider's call id (SIP Call-ID, Twilio CallSid).
	ID() string
	// Turn plays the turn's prompts and, unless it is final, collects up
	// to MaxDigits keys: stopping at FinishOn, and waiting Timeout for the
	// first key after the prompts end (and between keys). A key pressed
	// during the prompts stops them (barge-in) and counts. A hang-up is
	// reported as Input{Hangup: true} with a nil error.
	Turn(ctx context.Context, t ivr.Turn) (ivr.Input, error)
	// Hangup ends the call. It is idempotent, safe after the far end hung
	// up, and uses its own short timeout, so it works on a cancelled ctx.
	Hangup(ctx context.Context) error
	// Done is closed when the call has ended for any reason.
	Done() <-chan struct{}
}

// Disposition is how a dial attempt ended, classified once, here.
type Disposition string

// Dispositions.
const (
	Answered      Disposition = "answered"
	Busy          Disposition = "busy"
	NoAnswer      Disposition = "no_answer"
	Rejected      Disposition = "rejected" // declined: never retried
	InvalidNumber Disposition = "invalid_number"
	Congestion    Disposition = "congestion"
	Machine       Disposition = "machine"
	Canceled      Disposition = "canceled"
	Failed        Disposition = "failed"
)

// Final reports whether the number must not be retried automatically.
func (d Disposition) Final() bool { return d == Rejected || d == InvalidNumber }

// DialError is a call that was not answered (or failed while being set up).
type DialError struct {
	Disposition Disposition
	// SIPCode and Reason of the final response, when there was one.
	SIPCode int
	Reason  string
	// ProviderCode is a provider's own error code (e.g. Twilio's).
	ProviderCode int
	// Ambiguous: the person may have been reached (no final response, or a
	// failure after the answer). Never redial automatically.
	Ambiguous bool
	Err       error
}

func (e *DialError) Error() string {
	msg := string(e.Disposition)
	if e.SIPCode != 0 {
		msg += fmt.Sprintf(" (%d %s)", e.SIPCode, e.Reason)
	}
	if e.Ambiguous {
		msg += " [ambiguous]"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *DialError) Unwrap() error { return e.Err }

// ClassifySIP maps a final SIP response to a disposition. 2xx is Answered.
func ClassifySIP(code int) Disposition {
	switch {
	case code >= 200 && code < 300:
		return Answered
	case code == 486 || code == 600:
		return Busy
	case code == 408 || code == 480 || code == 487:
		return NoAnswer
	case code == 603 || code == 607 || code == 608:
		return Rejected
	case code == 404 || code == 484 || code == 604 || code == 410 || code == 485:
		return InvalidNumber
	case code == 500 || code == 502 || code == 503 || code == 504:
		return Congestion
	}
	return Failed
}

// AsDialError returns err's *DialError, or wraps an unclassified error as
// an ambiguous failure: when in doubt, assume the phone may have rung.
func AsDialError(err error) *DialError {
	var de *DialError
	if errors.As(err, &de) {
		return de
	}
	return &DialError{Disposition: Failed, Ambiguous: true, Err: err}
}

// MaskPhone hides a phone number in logs but for its first two and last two
// characters: +1********67. SIP URIs keep their host.
func MaskPhone(s string) string {
	if rest, ok := strings.CutPrefix(s, "sip:"); ok {
		if user, host, ok := strings.Cut(rest, "@"); ok {
			return "sip:" + MaskPhone(user) + "@" + host
		}
		return s
	}
	if len(s) <= 5 {
		return s
	}
	return s[:2] + strings.Repeat("*", len(s)-4) + s[len(s)-2:]
}

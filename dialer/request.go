package dialer

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The rules every driver applies to a call, written once.
const (
	// DefaultRingTimeout is how long a call rings when the request says
	// nothing.
	DefaultRingTimeout = 25 * time.Second
	// MinRingTimeout is the least a campaign lets a call ring (rules on
	// call abandonment ask for 15 seconds or four rings).
	MinRingTimeout = 15 * time.Second
	// DefaultMaxDuration caps an answered call when the request says
	// nothing — the same as a campaign's default.
	DefaultMaxDuration = 5 * time.Minute
	// LongestCall is the most any call may last.
	LongestCall = time.Hour
	// MaxCallerName is the longest display name sent with a call.
	MaxCallerName = 64
)

// DTMF methods: how the keys a person presses reach qualdial. DTMFAuto
// takes RFC 4733 events when the far end sends them, else SIP INFO, else
// tones in the audio — one of them per call, so one press is one key.
const (
	DTMFAuto    = "auto"
	DTMFRFC4733 = "rfc4733"
	DTMFInfo    = "info"
	DTMFInband  = "inband"
)

// DTMFModes lists the accepted DTMF settings.
var DTMFModes = []string{DTMFAuto, DTMFRFC4733, DTMFInfo, DTMFInband}

// Who ended a call (Outcome.EndedBy): the person, qualdial (the script
// ended, or qualdial was stopped), no audio from the far end for too long,
// the maximum call length, or an error.
const (
	EndedByLead         = "lead"
	EndedByQualdial     = "qualdial"
	EndedByMediaTimeout = "media_timeout"
	EndedByMaxLength    = "max_length"
	EndedByError        = "error"
)

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// IsE164 reports whether s is a phone number in E.164 form (+ and 7–15
// digits).
func IsE164(s string) bool { return e164.MatchString(s) }

// Prepared checks a request and fills in its defaults — the same for every
// driver, so no driver decides them alone. Anything invalid is a *DialError
// classified Failed: nothing was sent.
func (r DialRequest) Prepared() (DialRequest, error) {
	fail := func(format string, args ...any) (DialRequest, error) {
		err := fmt.Errorf(format, args...)
		return r, &DialError{Disposition: Failed, Reason: err.Error(), Err: err}
	}
	switch {
	case r.To == "":
		return fail("no number to call")
	case !IsE164(r.To) && !strings.HasPrefix(r.To, "sip:") && !strings.HasPrefix(r.To, "sips:"):
		return fail("cannot call %q: give an E.164 number (+12125550123) or a SIP URI", MaskPhone(r.To))
	case len(r.To) > 256 || strings.IndexFunc(r.To, func(c rune) bool { return c <= ' ' || c == 0x7f || c == '"' || c == '<' || c == '>' }) >= 0:
		// A SIP URI goes into the Request-Line and the To header: no
		// spaces, line breaks or other controls that could start a header.
		return fail("cannot call %q: a SIP URI has no spaces, quotes, angle brackets or control characters, and at most 256 characters", MaskPhone(r.To))
	case r.CallerID == "":
		return fail("no caller ID: one is required to place calls")
	case !IsE164(r.CallerID):
		return fail("caller ID %q is not an E.164 number (+15550100)", r.CallerID)
	}
	if err := CheckCallerName(r.CallerName); err != nil {
		return fail("caller name: %v", err)
	}
	switch {
	case r.RingTimeout == 0:
		r.RingTimeout = DefaultRingTimeout
	case r.RingTimeout < 0:
		return fail("ring timeout %s is negative", r.RingTimeout)
	}
	switch {
	case r.MaxDuration == 0:
		r.MaxDuration = DefaultMaxDuration
	case r.MaxDuration < time.Second || r.MaxDuration > LongestCall:
		return fail("maximum call length %s: give one from 1s up to %s", r.MaxDuration, LongestCall)
	}
	switch r.MachineDetection {
	case "", MachineOff, MachineHangup, MachineMessage:
	default:
		return fail("machine detection %q: use %s, %s or %s", r.MachineDetection, MachineOff, MachineHangup, MachineMessage)
	}
	switch r.DTMF {
	case "":
		r.DTMF = DTMFAuto
	case DTMFAuto, DTMFRFC4733, DTMFInfo, DTMFInband:
	default:
		return fail("DTMF method %q: use %s", r.DTMF, strings.Join(DTMFModes, ", "))
	}
	return r, nil
}

// CheckCallerName says what is wrong with a display name: nothing for ""
// or one line of printable text up to MaxCallerName characters. Quotes and
// backslashes are allowed (drivers escape them); line breaks and other
// control characters never are — they would end a SIP header.
func CheckCallerName(name string) error {
	if !utf8.ValidString(name) {
		return errors.New("not valid UTF-8")
	}
	if n := utf8.RuneCountInString(name); n > MaxCallerName {
		return fmt.Errorf("%d characters; at most %d", n, MaxCallerName)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("contains the control character %U: one line of text only", r)
		}
	}
	return nil
}

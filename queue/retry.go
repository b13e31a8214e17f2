package queue

import (
	"fmt"
	"time"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/store"
)

// RetryPolicy is how a campaign retries definite non-answers.
type RetryPolicy struct {
	MaxAttempts int
	Busy        time.Duration
	NoAnswer    time.Duration
	Congestion  time.Duration
	Incomplete  time.Duration
	Machine     time.Duration
}

// DefaultRetryPolicy is the retry policy of a campaign created without one
// (store.CampaignDefaults, DESIGN.md's: 4 attempts; busy 15 m, no answer
// 2 h, congestion 10 m, incomplete 1 day, machine 4 h).
var DefaultRetryPolicy = func() RetryPolicy { d := store.CampaignDefaults(); return policy(&d) }()

// Verdict is what happens to a lead after an attempt.
type Verdict struct {
	// Retry: call again at RetryAt (before the calling window is applied).
	Retry   bool
	RetryAt time.Time
	// Status is the lead's status when it is not retried.
	Status store.LeadStatus
	Reason string
}

// Lead statuses set by the dialer (store owns them): a lead's progress.
// Whether it is sales-ready is its class (sql, mql, disqualified…), never
// its status.
const (
	StatusQueued        = store.LeadQueued
	StatusScheduled     = store.LeadScheduled
	StatusDialing       = store.LeadDialing
	StatusRetryWait     = store.LeadRetryWait
	StatusBlocked       = store.LeadBlocked
	StatusCompleted     = store.LeadCompleted
	StatusOptedOut      = store.LeadOptedOut
	StatusUnreachable   = store.LeadUnreachable
	StatusRejected      = store.LeadRejected
	StatusInvalidNumber = store.LeadInvalidNumber
	StatusFailed        = store.LeadFailed
)

// Decide applies the policy to an attempt that ended at `ended` with a
// disposition (and, when answered, an outcome). attempts counts the attempts
// made so far, this one included. Timers start from the real attempt.
func (p RetryPolicy) Decide(d dialer.Disposition, outcome string, ambiguous bool, attempts int, ended time.Time) Verdict {
	var delay time.Duration
	switch {
	case d == dialer.Answered && outcome == "opted_out":
		return Verdict{Status: StatusOptedOut, Reason: "pressed the opt-out key"}
	case d == dialer.Answered && outcome == "completed":
		return Verdict{Status: StatusCompleted, Reason: "answered the questionnaire"}
	case d == dialer.Rejected:
		return Verdict{Status: StatusRejected, Reason: "declined the call: never called again"}
	case d == dialer.InvalidNumber:
		return Verdict{Status: StatusInvalidNumber, Reason: "the number does not exist"}
	case d == dialer.Busy:
		delay = p.Busy
	case d == dialer.NoAnswer:
		delay = p.NoAnswer
	case d == dialer.Congestion && !ambiguous:
		delay = p.Congestion
	case d == dialer.Machine:
		delay = p.Machine
	default:
		// Answered but incomplete (hung up midway, no valid key), or an
		// ambiguous end: the person may have been reached, so never now —
		// only after the incomplete delay, as a new attempt.
		delay = p.Incomplete
	}
	if attempts >= p.MaxAttempts {
		return Verdict{Status: StatusUnreachable, Reason: "no answer after the maximum number of attempts"}
	}
	why := string(d)
	switch {
	case d == dialer.Answered:
		why = "answered but not completed"
	case ambiguous:
		why += ", and the person may have been reached"
	}
	return Verdict{Retry: true, RetryAt: ended.Add(delay), Status: StatusRetryWait, Reason: fmt.Sprintf("%s: called again in %s", why, delay)}
}

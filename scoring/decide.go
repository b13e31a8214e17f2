package scoring

import (
	"fmt"
	"time"
)

// Situation is where a lead stands, as far as its score may act on it.
type Situation string

// Situations.
const (
	// Unscheduled: never called and not in the schedule — a lead waiting
	// for its score to earn a call.
	Unscheduled Situation = "unscheduled"
	// Waiting: in the schedule (queued, scheduled, waiting for a retry).
	Waiting Situation = "waiting"
	// OnCall: handed to a dialer or on a call; the call decides.
	OnCall Situation = "on_call"
	// Nurture: called and not ready (routed to nurture, recycled by sales,
	// or never reached): a conversion or a score crossing the call
	// threshold calls it again.
	Nurture Situation = "nurture"
	// Sales: with sales, not contacted yet.
	Sales Situation = "sales"
	// Contacted: with sales and contacted; the rep sees a conversion on
	// the lead, the score no longer acts.
	Contacted Situation = "contacted"
	// KnockedOut: opted out, disqualified by a call, on the do-not-call
	// list, blocked, won or lost — the score acts no more.
	KnockedOut Situation = "knocked_out"
)

// Thresholds are a campaign's: nil means not set.
type Thresholds struct {
	// Call: a lead score at least this earns a qualification call; nil:
	// every lead is called.
	Call *int `json:"call"`
	// Sales: a lead score rising to at least this routes a lead never
	// called to sales without a call; nil: only a call does.
	Sales *int `json:"sales"`
}

// BelowCallThreshold is how a lead held out of the schedule by its score
// says so in its status reason ("score 12 is below the call threshold 20").
const BelowCallThreshold = "below the call threshold"

// Input is a change of a lead's score and what the lead is.
type Input struct {
	Situation Situation
	// Before and After are the lead score before and after the change.
	Before, After int
	Thresholds
	// Conversion: the change is the lead converting again (a form).
	Conversion bool
	// Called: the lead completed a qualification call; after one, the
	// call's class routes it, and the sales threshold no longer does.
	Called bool
	// NotBefore is the earliest a new call may start (the last call plus
	// the campaign's re-call interval); zero: any time.
	NotBefore time.Time
	Now       time.Time
}

// Action is what a score change does to a lead.
type Action string

// Actions.
const (
	None         Action = "none"
	ScheduleCall Action = "call_scheduled"  // put in the schedule for a qualification call
	HoldCall     Action = "call_held"       // taken out of the schedule: below the call threshold
	RouteToSales Action = "routed_to_sales" // sales-ready without a call; the SLA clock starts
	RestartSLA   Action = "sla_restarted"   // with sales already: follow-up due from this conversion
)

// Decision is the action, when (a scheduled call's earliest time) and why,
// in words for the lead's status and the API.
type Decision struct {
	Action Action
	At     time.Time
	Why    string
}

// Decide applies the thresholds to a change of a lead's score. Only a
// knock-out, a call in progress or a closed sale stops it; the pre-dial
// checks (do-not-call, consent, window, caps) still rule any call it
// schedules.
func Decide(in Input) Decision {
	call, sales := in.Call, in.Sales
	switch in.Situation {
	case KnockedOut:
		return Decision{Action: None, Why: "knocked out: the score no longer acts"}
	case OnCall:
		return Decision{Action: None, Why: "on a call: the call decides"}
	case Contacted:
		return Decision{Action: None, Why: "contacted by sales already"}
	case Sales:
		if in.Conversion {
			return Decision{Action: RestartSLA, Why: "converted again: sales follow-up due within the SLA from now"}
		}
		return Decision{Action: None, Why: "already with sales"}
	}
	if sales != nil && !in.Called && in.Before < *sales && in.After >= *sales {
		return Decision{Action: RouteToSales, Why: fmt.Sprintf("score %d reached the sales threshold %d", in.After, *sales)}
	}
	schedule := func(why string) Decision {
		at := in.Now
		if in.NotBefore.After(at) {
			at = in.NotBefore
			why += fmt.Sprintf("; not before %s (the re-call interval)", at.UTC().Format(time.RFC3339))
		}
		return Decision{Action: ScheduleCall, At: at, Why: why}
	}
	below := func() Decision {
		return Decision{Action: None, Why: fmt.Sprintf("score %d is %s %d", in.After, BelowCallThreshold, *call)}
	}
	switch in.Situation {
	case Unscheduled:
		if call == nil {
			return schedule("every lead is called (no call threshold)")
		}
		if in.After >= *call {
			return schedule(fmt.Sprintf("score %d reached the call threshold %d", in.After, *call))
		}
		return below()
	case Waiting:
		if call != nil && in.After < *call {
			return Decision{Action: HoldCall, Why: fmt.Sprintf("score %d fell %s %d: call held", in.After, BelowCallThreshold, *call)}
		}
		return Decision{Action: None, Why: "already in the schedule"}
	case Nurture:
		switch {
		case in.Conversion && call == nil:
			return schedule("converted again")
		case in.Conversion && in.After >= *call:
			return schedule(fmt.Sprintf("converted again with score %d (call threshold %d)", in.After, *call))
		case !in.Conversion && call != nil && in.Before < *call && in.After >= *call:
			return schedule(fmt.Sprintf("score %d crossed the call threshold %d", in.After, *call))
		case call != nil && in.After < *call:
			return below()
		}
		return Decision{Action: None, Why: "in nurture: a conversion or a score crossing the call threshold calls it again"}
	}
	return Decision{Action: None, Why: "unknown situation " + string(in.Situation)}
}

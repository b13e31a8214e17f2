package store

// The values of the lifecycle columns, owned here: the schema's CHECK
// constraints list the same.

// LeadStatus is how far a lead's calls got (leads.status). Whether it is
// sales-ready is its class (sql, mql, disqualified…), never its status.
type LeadStatus string

// Lead statuses.
const (
	LeadNew           LeadStatus = "new"
	LeadQueued        LeadStatus = "queued"         // due at next_attempt_at
	LeadScheduled     LeadStatus = "scheduled"      // may not be called before next_attempt_at
	LeadDialing       LeadStatus = "dialing"        // handed to a dial job, or on a call
	LeadRetryWait     LeadStatus = "retry_wait"     // called again at next_attempt_at
	LeadBlocked       LeadStatus = "blocked"        // never called: DNC, consent, destination
	LeadCompleted     LeadStatus = "completed"      // answered the questionnaire: see its class
	LeadOptedOut      LeadStatus = "opted_out"      // pressed the opt-out key
	LeadUnreachable   LeadStatus = "unreachable"    // no answer after max_attempts
	LeadRejected      LeadStatus = "rejected"       // declined the call (603)
	LeadInvalidNumber LeadStatus = "invalid_number" // the number does not exist
	LeadFailed        LeadStatus = "failed"         // could not be dialled at all
)

// LeadStatuses lists every lead status.
var LeadStatuses = []LeadStatus{LeadNew, LeadQueued, LeadScheduled, LeadDialing, LeadRetryWait, LeadBlocked, LeadCompleted,
	LeadOptedOut, LeadUnreachable, LeadRejected, LeadInvalidNumber, LeadFailed}

// Waiting reports whether a lead of this status is in the schedule: it is
// called when its next_attempt_at comes.
func (s LeadStatus) Waiting() bool {
	return s == LeadQueued || s == LeadScheduled || s == LeadRetryWait
}

// CampaignStatus is where a campaign is in its life (campaigns.status).
type CampaignStatus string

// Campaign statuses: only an active campaign is dialled.
const (
	CampaignDraft    CampaignStatus = "draft"
	CampaignActive   CampaignStatus = "active"
	CampaignPaused   CampaignStatus = "paused"
	CampaignFinished CampaignStatus = "finished"
)

// CampaignStatuses lists every campaign status.
var CampaignStatuses = []CampaignStatus{CampaignDraft, CampaignActive, CampaignPaused, CampaignFinished}

// SalesStage is where a sales-ready lead is with sales (leads.sales_stage).
type SalesStage string

// Sales stages.
const (
	StageOpen      SalesStage = "open"
	StageAccepted  SalesStage = "accepted"
	StageContacted SalesStage = "contacted"
	StageWon       SalesStage = "won"
	StageLost      SalesStage = "lost"
	StageRecycled  SalesStage = "recycled"
)

// SalesStages lists every sales stage.
var SalesStages = []SalesStage{StageOpen, StageAccepted, StageContacted, StageWon, StageLost, StageRecycled}

// WorkingStages are the sales stages a rep still works on: a lead in one
// may be assigned, and shows in the sales inbox.
var WorkingStages = []SalesStage{StageOpen, StageAccepted, StageContacted}

// DriverName names the telephony a campaign calls with (campaigns.driver).
type DriverName string

// Drivers.
const (
	DriverSIP    DriverName = "sip"
	DriverTwilio DriverName = "twilio"
)

// EventKind names a change in a lead's audit trail (lead_events.kind).
type EventKind string

// Event kinds.
const (
	EventLeadCreated     EventKind = "lead.created"
	EventLeadStatus      EventKind = "lead.status"
	EventLeadBlocked     EventKind = "lead.blocked"
	EventLeadConsent     EventKind = "lead.consent"
	EventLeadRechecked   EventKind = "lead.rechecked"
	EventLeadRecalled    EventKind = "lead.recalled"
	EventCallStarted     EventKind = "call.started"
	EventCallEnded       EventKind = "call.ended"
	EventLeadQualified   EventKind = "lead.qualified"
	EventLeadOptedOut    EventKind = "lead.opted_out"
	EventLeadSLABreached EventKind = "lead.sla_breached"
	EventLeadAssigned    EventKind = "lead.assigned"
	EventLeadContacted   EventKind = "lead.contacted"
	EventLeadTransferred EventKind = "lead.transferred" // a live transfer: data {to, status, wait_ms, talk_ms}
	EventLeadWon         EventKind = "lead.won"
	EventLeadLost        EventKind = "lead.lost"
	EventLeadRecycled    EventKind = "lead.recycled"
	EventLeadReleased    EventKind = "lead.released"
	EventLeadNote        EventKind = "lead.note"      // a rep's note: data {"text": …}
	EventLeadActivity    EventKind = "lead.activity"  // something the lead did, with its points
	EventLeadConverted   EventKind = "lead.converted" // a known lead submitted a form again
	EventLeadScored      EventKind = "lead.scored"    // a threshold acted on the lead's score
	EventDNCAdded        EventKind = "dnc.added"
	EventDNCRemoved      EventKind = "dnc.removed"
)

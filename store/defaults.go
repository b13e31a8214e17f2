package store

import (
	"slices"
	"time"

	"github.com/qualdial/qualdial/intake"
)

// The defaults of DESIGN.md ("Leads, outcomes, SLA"), in one place. The
// campaigns table's column defaults hold the same values, as the database's
// safety net for rows written by other means; a test compares the two.

// DefaultNumberCapPer24h is how many calls one number may get in 24 hours
// across all campaigns unless the process is told otherwise.
const DefaultNumberCapPer24h = 3

// CampaignDefaults returns the calling policy of a campaign created without
// any setting: only its policy fields are set (no name, script, caller ID
// or id). Each call returns a new value; its slices are the caller's.
func CampaignDefaults() Campaign {
	return Campaign{
		Driver:             "sip",
		DefaultCountry:     "US",
		WindowDays:         []int{1, 2, 3, 4, 5, 6}, // Monday to Saturday (ISO weekdays)
		WindowStart:        9 * time.Hour,
		WindowEnd:          20 * time.Hour,
		MaxAttempts:        4,
		RetryBusy:          15 * time.Minute,
		RetryNoAnswer:      2 * time.Hour,
		RetryCongest:       10 * time.Minute,
		RetryIncompl:       24 * time.Hour,
		RetryMachine:       4 * time.Hour,
		RingTimeout:        25 * time.Second,
		MaxCallLength:      5 * time.Minute,
		MaxConcurrent:      10,
		CallsPerSecond:     1,
		SLA:                24 * time.Hour,
		RequireConsent:     false,
		Purpose:            "unspecified",
		MachineDetection:   "off",
		DTMF:               "auto",
		AllowedNumberTypes: slices.Clone(intake.DefaultDestinations("").Types),
		Scoring:            Scoring{RecallInterval: 7 * 24 * time.Hour},
	}
}

// withDefaults fills every setting p leaves unset (its zero value; nil for
// the retry delays and number types) from CampaignDefaults.
// AllowedCountries stays nil: that means the default country only.
func (p CampaignParams) withDefaults() CampaignParams {
	d := CampaignDefaults()
	def := func(v *string, dv string) {
		if *v == "" {
			*v = dv
		}
	}
	def(&p.DefaultCountry, d.DefaultCountry)
	if p.Driver == "" {
		p.Driver = d.Driver
	}
	def(&p.MachineDetection, d.MachineDetection)
	def(&p.Purpose, d.Purpose)
	def(&p.DTMF, d.DTMF)
	if len(p.WindowDays) == 0 {
		p.WindowDays = d.WindowDays
	}
	for _, f := range []struct{ v, dv *time.Duration }{
		{&p.WindowStart, &d.WindowStart}, {&p.WindowEnd, &d.WindowEnd}, {&p.RingTimeout, &d.RingTimeout},
		{&p.MaxCallLength, &d.MaxCallLength}, {&p.SLA, &d.SLA}, {&p.RecallInterval, &d.RecallInterval},
	} {
		if *f.v == 0 {
			*f.v = *f.dv
		}
	}
	for _, f := range []struct {
		v  **time.Duration
		dv time.Duration
	}{
		{&p.RetryBusy, d.RetryBusy}, {&p.RetryNoAnswer, d.RetryNoAnswer}, {&p.RetryCongest, d.RetryCongest},
		{&p.RetryIncompl, d.RetryIncompl}, {&p.RetryMachine, d.RetryMachine},
	} {
		if *f.v == nil {
			*f.v = &f.dv
		}
	}
	if p.MaxAttempts == 0 {
		p.MaxAttempts = d.MaxAttempts
	}
	if p.MaxConcurrent == 0 {
		p.MaxConcurrent = d.MaxConcurrent
	}
	if p.CallsPerSecond == 0 {
		p.CallsPerSecond = d.CallsPerSecond
	}
	if p.AllowedNumberTypes == nil {
		p.AllowedNumberTypes = d.AllowedNumberTypes
	}
	return p
}

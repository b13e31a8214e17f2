// Package scoring is the lead score outside the call: behaviour points from
// activities (page views, downloads, webinars, e-mail clicks, unsubscribes)
// with their decay, and the campaign thresholds that act on the score — a
// qualification call earned, a lead routed to sales without a call, a call
// called off.
//
// Like ivr, it is pure: no I/O, no clock (the caller passes now), no
// goroutines. The lead score is
//
//	base + behaviour
//
// where base is the lead's last call total (profile rules and answers), or
// its profile points before any call, and behaviour is the sum of its
// activities' points, each halved every half-life since it happened.
package scoring

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Activity is one thing a lead did, with the points it earned when it was
// recorded and how they decay.
type Activity struct {
	Type   string
	Points int
	At     time.Time
	// HalfLife halves the points every HalfLife since At; 0: no decay.
	HalfLife time.Duration
}

// Value is the activity's points at now: halved every half-life since it
// happened. An activity dated after now counts in full.
func (a Activity) Value(now time.Time) float64 {
	if a.HalfLife <= 0 || !now.After(a.At) {
		return float64(a.Points)
	}
	return float64(a.Points) * math.Exp2(-float64(now.Sub(a.At))/float64(a.HalfLife))
}

// Behavior is a lead's behaviour points at now: the sum of its activities'
// decayed points, rounded to the nearest point (halves away from zero).
func Behavior(acts []Activity, now time.Time) int {
	var sum float64
	for _, a := range acts {
		sum += a.Value(now)
	}
	return int(math.Round(sum))
}

// Rule is what one activity type is worth in a campaign.
type Rule struct {
	// Points earned (negative: lost) per activity of the type.
	Points int `json:"points"`
	// HalfLifeDays halves the points every N days; 0: they never fade.
	HalfLifeDays int `json:"half_life_days,omitempty"`
}

// HalfLife is the rule's half-life as a duration.
func (r Rule) HalfLife() time.Duration { return time.Duration(r.HalfLifeDays) * 24 * time.Hour }

// Table is a campaign's points per activity type.
type Table map[string]Rule

// The activity types every campaign knows; a campaign may add its own.
const (
	PageView    = "page_view"
	PricingView = "pricing_view"
	Download    = "download"
	Webinar     = "webinar"
	EmailOpen   = "email_open"
	EmailClick  = "email_click"
	FormSubmit  = "form_submit"
	Unsubscribe = "unsubscribe"
)

// DefaultTable is the points table of a campaign that sets none: interest
// fades (two weeks for a click, a month for content), an unsubscribe costs
// points and fades slowly.
func DefaultTable() Table {
	return Table{
		PageView:    {Points: 1, HalfLifeDays: 14},
		PricingView: {Points: 10, HalfLifeDays: 14},
		Download:    {Points: 8, HalfLifeDays: 30},
		Webinar:     {Points: 15, HalfLifeDays: 30},
		EmailOpen:   {Points: 1, HalfLifeDays: 14},
		EmailClick:  {Points: 3, HalfLifeDays: 14},
		FormSubmit:  {Points: 10, HalfLifeDays: 30},
		Unsubscribe: {Points: -20, HalfLifeDays: 90},
	}
}

// Limits of a points table.
const (
	MaxRules        = 100
	MaxPoints       = 1000
	MaxHalfLifeDays = 3650
)

var typePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// ValidType reports whether s may name an activity type: lower-case
// letters, digits and _, starting with a letter, at most 40 long.
func ValidType(s string) bool { return typePattern.MatchString(s) }

// Validate checks a points table, naming every problem.
func (t Table) Validate() error {
	if len(t) > MaxRules {
		return fmt.Errorf("has %d activity types; at most %d", len(t), MaxRules)
	}
	var problems []string
	for _, typ := range slices.Sorted(maps.Keys(t)) {
		r := t[typ]
		switch {
		case !ValidType(typ):
			problems = append(problems, fmt.Sprintf("%q is not an activity type name (lower-case letters, digits and _, e.g. pricing_view)", typ))
		case r.Points < -MaxPoints || r.Points > MaxPoints:
			problems = append(problems, fmt.Sprintf("%s: points %d is outside -%d…%d", typ, r.Points, MaxPoints, MaxPoints))
		case r.HalfLifeDays < 0 || r.HalfLifeDays > MaxHalfLifeDays:
			problems = append(problems, fmt.Sprintf("%s: half_life_days %d is outside 0…%d (0: no decay)", typ, r.HalfLifeDays, MaxHalfLifeDays))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

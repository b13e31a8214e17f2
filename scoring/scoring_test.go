package scoring

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func TestBehaviorDecays(t *testing.T) {
	for _, tc := range []struct {
		name string
		acts []Activity
		now  time.Time
		want int
	}{
		{"none", nil, t0, 0},
		{"no decay", []Activity{{Points: 10, At: t0.Add(-400 * day)}}, t0, 10},
		{"one half-life", []Activity{{Points: 10, At: t0.Add(-30 * day), HalfLife: 30 * day}}, t0, 5},
		{"two half-lives", []Activity{{Points: 20, At: t0.Add(-28 * day), HalfLife: 14 * day}}, t0, 5},
		{"negative decays too", []Activity{{Points: -20, At: t0.Add(-90 * day), HalfLife: 90 * day}}, t0, -10},
		{"future counts in full", []Activity{{Points: 8, At: t0.Add(time.Hour), HalfLife: day}}, t0, 8},
		{"sum then round", []Activity{{Points: 1, At: t0.Add(-14 * day), HalfLife: 14 * day}, {Points: 1, At: t0.Add(-14 * day), HalfLife: 14 * day}}, t0, 1},
		{"halves round away from zero", []Activity{{Points: 1, At: t0.Add(-14 * day), HalfLife: 14 * day}}, t0, 1},
		{"mixed", []Activity{
			{Points: 15, At: t0.Add(-30 * day), HalfLife: 30 * day}, // 7.5
			{Points: 10, At: t0.Add(-day)},                          // 10
			{Points: -20, At: t0},                                   // -20
		}, t0, -3}, // -2.5 rounds to -3
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Behavior(tc.acts, tc.now); got != tc.want {
				t.Errorf("Behavior = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestBehaviorIsMonotoneInTime(t *testing.T) {
	acts := []Activity{{Points: 40, At: t0, HalfLife: 7 * day}, {Points: -10, At: t0, HalfLife: 7 * day}}
	prev := Behavior(acts, t0)
	for d := 1; d <= 200; d++ {
		got := Behavior(acts, t0.Add(time.Duration(d)*day))
		if got > prev || got < 0 {
			t.Fatalf("day %d: %d after %d", d, got, prev)
		}
		prev = got
	}
	if prev != 0 {
		t.Errorf("after 200 days: %d, want 0", prev)
	}
}

func TestTableValidate(t *testing.T) {
	if err := DefaultTable().Validate(); err != nil {
		t.Fatalf("default table: %v", err)
	}
	for _, tc := range []struct {
		table Table
		want  string
	}{
		{Table{"Pricing": {Points: 1}}, `"Pricing" is not an activity type name`},
		{Table{"demo": {Points: 5000}}, "demo: points 5000 is outside"},
		{Table{"demo": {Points: 1, HalfLifeDays: -1}}, "demo: half_life_days -1"},
	} {
		err := tc.table.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%v) = %v, want %q", tc.table, err, tc.want)
		}
	}
	big := Table{}
	for i := range MaxRules + 1 {
		big["t"+strings.Repeat("x", i%30)+string(rune('a'+i%26))+string(rune('a'+i/26))] = Rule{Points: 1}
	}
	if err := big.Validate(); err == nil {
		t.Error("a table over the limit passed")
	}
}

func ptr(v int) *int { return &v }

func TestDecide(t *testing.T) {
	call, sales := ptr(30), ptr(80)
	both := Thresholds{Call: call, Sales: sales}
	later := t0.Add(3 * day)
	for _, tc := range []struct {
		name string
		in   Input
		want Action
		at   time.Time
		why  string
	}{
		{"knocked out stays out", Input{Situation: KnockedOut, After: 500, Thresholds: both, Conversion: true}, None, time.Time{}, "knocked out"},
		{"a call decides", Input{Situation: OnCall, After: 500, Thresholds: both}, None, time.Time{}, "on a call"},
		{"new lead below the call threshold waits", Input{Situation: Unscheduled, After: 29, Thresholds: both}, None, time.Time{}, "below the call threshold 30"},
		{"new lead reaching it is called", Input{Situation: Unscheduled, Before: 29, After: 30, Thresholds: both}, ScheduleCall, t0, "reached the call threshold 30"},
		{"no call threshold: called", Input{Situation: Unscheduled}, ScheduleCall, t0, "no call threshold"},
		{"sales threshold routes without a call", Input{Situation: Unscheduled, Before: 70, After: 80, Thresholds: both}, RouteToSales, time.Time{}, "sales threshold 80"},
		{"sales threshold alone", Input{Situation: Waiting, Before: 10, After: 90, Thresholds: Thresholds{Sales: sales}}, RouteToSales, time.Time{}, ""},
		{"recycled, never called, rising again", Input{Situation: Nurture, Before: 60, After: 85, Thresholds: both}, RouteToSales, time.Time{}, ""},
		{"a called lead: the call routed it", Input{Situation: Nurture, Before: 60, After: 85, Thresholds: both, Called: true}, None, time.Time{}, "in nurture"},
		{"a falling score never routes", Input{Situation: Waiting, Before: 95, After: 85, Thresholds: both}, None, time.Time{}, "already in the schedule"},
		{"already above: no crossing", Input{Situation: Unscheduled, Before: 85, After: 86, Thresholds: both}, ScheduleCall, t0, "reached the call threshold"},
		{"waiting lead falls below: held", Input{Situation: Waiting, Before: 35, After: 15, Thresholds: both}, HoldCall, time.Time{}, "fell below"},
		{"waiting lead above stays", Input{Situation: Waiting, Before: 35, After: 40, Thresholds: both}, None, time.Time{}, "already in the schedule"},
		{"waiting lead, no threshold", Input{Situation: Waiting, After: -50}, None, time.Time{}, ""},
		{"nurture crossing is called again", Input{Situation: Nurture, Before: 25, After: 31, Thresholds: both}, ScheduleCall, t0, "crossed"},
		{"nurture already above: an activity does not call", Input{Situation: Nurture, Before: 40, After: 45, Thresholds: both}, None, time.Time{}, "in nurture"},
		{"nurture converting above is called", Input{Situation: Nurture, Before: 40, After: 45, Thresholds: both, Conversion: true}, ScheduleCall, t0, "converted again"},
		{"nurture converting below is not", Input{Situation: Nurture, Before: 10, After: 20, Thresholds: both, Conversion: true}, None, time.Time{}, "below"},
		{"nurture converting, no threshold", Input{Situation: Nurture, Conversion: true}, ScheduleCall, t0, "converted again"},
		{"nurture activity, no threshold", Input{Situation: Nurture, After: 100}, None, time.Time{}, ""},
		{"re-call interval rules", Input{Situation: Nurture, After: 45, Thresholds: both, Conversion: true, NotBefore: later}, ScheduleCall, later, "re-call interval"},
		{"sales lead converting restarts the SLA", Input{Situation: Sales, After: 10, Thresholds: both, Conversion: true}, RestartSLA, time.Time{}, "converted again"},
		{"contacted lead converting", Input{Situation: Contacted, After: 90, Thresholds: both, Conversion: true}, None, time.Time{}, "contacted"},
		{"sales lead activity", Input{Situation: Sales, After: 10, Thresholds: both}, None, time.Time{}, "already with sales"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Now = t0
			d := Decide(tc.in)
			if d.Action != tc.want || !d.At.Equal(tc.at) || !strings.Contains(d.Why, tc.why) {
				t.Errorf("Decide = %+v, want %s at %v (%q)", d, tc.want, tc.at, tc.why)
			}
		})
	}
}

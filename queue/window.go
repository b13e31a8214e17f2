package queue

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// Window is when a campaign may call: on these ISO weekdays (1 = Monday …
// 7 = Sunday), from Start to End lead-local time (clock offsets from
// midnight). DESIGN.md's legal bounds, 08:00–21:00, are enforced by the
// database and by Validate.
type Window struct {
	Days       []int
	Start, End time.Duration
}

// Legal bounds of any calling window.
const (
	earliest = 8 * time.Hour
	latest   = 21 * time.Hour
)

// DefaultWindow is Monday–Saturday 09:00–20:00.
var DefaultWindow = Window{Days: []int{1, 2, 3, 4, 5, 6}, Start: 9 * time.Hour, End: 20 * time.Hour}

// Validate reports a window that is empty or outside 08:00–21:00.
func (w Window) Validate() error {
	if len(w.Days) == 0 {
		return fmt.Errorf("calling window has no days")
	}
	for _, d := range w.Days {
		if d < 1 || d > 7 {
			return fmt.Errorf("calling window day %d: use 1 (Monday) to 7 (Sunday)", d)
		}
	}
	if w.Start < earliest || w.End > latest || w.Start >= w.End {
		return fmt.Errorf("calling window %s–%s must lie within 08:00–21:00 and end after it starts", Clock(w.Start), Clock(w.End))
	}
	return nil
}

// Clock formats a time of day (an offset from midnight) as HH:MM.
func Clock(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d.Hours()), int(d.Minutes())%60)
}

// String formats the window as "Mon-Sat 09:00-20:00"-like text.
func (w Window) String() string {
	names := []string{"", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
	var ds []string
	for _, d := range w.Days {
		if d >= 1 && d <= 7 {
			ds = append(ds, names[d])
		}
	}
	return strings.Join(ds, ",") + " " + Clock(w.Start) + "-" + Clock(w.End)
}

// openIn reports whether the window is open at t in one zone.
func (w Window) openIn(t time.Time, loc *time.Location) bool {
	local := t.In(loc)
	wd := int(local.Weekday())
	if wd == 0 {
		wd = 7
	}
	if !slices.Contains(w.Days, wd) {
		return false
	}
	// Wall clock, not time since midnight: DST days have 23 or 25 hours.
	since := time.Duration(local.Hour())*time.Hour + time.Duration(local.Minute())*time.Minute + time.Duration(local.Second())*time.Second
	return since >= w.Start && since < w.End
}

// Open reports whether the window is open at t in every zone: a lead whose
// zone is uncertain may be called only when it is legal everywhere it may be.
func (w Window) Open(t time.Time, zones []*time.Location) bool {
	for _, z := range zones {
		if !w.openIn(t, z) {
			return false
		}
	}
	return len(zones) > 0
}

// NextOpen returns the first moment at or after t when the window is open
// in every zone, and false when there is none within 8 days (the zones'
// windows never overlap). Opening times are taken in local wall-clock time,
// so they follow daylight-saving changes.
func (w Window) NextOpen(t time.Time, zones []*time.Location) (time.Time, bool) {
	if w.Open(t, zones) {
		return t, true
	}
	// The joint window opens when some zone's window opens.
	var candidates []time.Time
	for _, z := range zones {
		local := t.In(z)
		for day := 0; day <= 8; day++ {
			y, m, d := local.AddDate(0, 0, day).Date()
			start := time.Date(y, m, d, int(w.Start.Hours()), int(w.Start.Minutes())%60, 0, 0, z)
			if start.After(t) {
				candidates = append(candidates, start)
			}
		}
	}
	slices.SortFunc(candidates, func(a, b time.Time) int { return a.Compare(b) })
	for _, c := range candidates {
		if w.Open(c, zones) {
			return c, true
		}
	}
	return time.Time{}, false
}

// Zones decides which time zones a lead may be in: its explicit zone, else
// its region (US states, Canadian provinces), else what its phone number
// says — all of them when the number spans several zones.
func Zones(explicit, region, country, e164 string) ([]*time.Location, error) {
	if explicit != "" {
		loc, err := time.LoadLocation(explicit)
		if err != nil {
			return nil, fmt.Errorf("time zone %q: %w", explicit, err)
		}
		return []*time.Location{loc}, nil
	}
	if name, ok := regionZones[strings.ToUpper(strings.TrimSpace(country))+"-"+strings.ToUpper(strings.TrimSpace(region))]; ok {
		loc, err := time.LoadLocation(name)
		if err != nil {
			return nil, err
		}
		return []*time.Location{loc}, nil
	}
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return nil, fmt.Errorf("phone %s: %w", e164, err)
	}
	names, err := phonenumbers.GetTimezonesForNumber(num)
	if err != nil {
		return nil, err
	}
	var out []*time.Location
	for _, n := range names {
		if n == "Etc/Unknown" {
			continue
		}
		if loc, err := time.LoadLocation(n); err == nil {
			out = append(out, loc)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no time zone known for %s: give the lead a time_zone", e164)
	}
	return out, nil
}

// regionZones maps COUNTRY-REGION to the zone of most of the region (US
// states and Canadian provinces; split states take their majority zone).
var regionZones = map[string]string{
	"US-AL": "America/Chicago", "US-AK": "America/Anchorage", "US-AZ": "America/Phoenix", "US-AR": "America/Chicago",
	"US-CA": "America/Los_Angeles", "US-CO": "America/Denver", "US-CT": "America/New_York", "US-DE": "America/New_York",
	"US-DC": "America/New_York", "US-FL": "America/New_York", "US-GA": "America/New_York", "US-HI": "Pacific/Honolulu",
	"US-ID": "America/Boise", "US-IL": "America/Chicago", "US-IN": "America/Indiana/Indianapolis", "US-IA": "America/Chicago",
	"US-KS": "America/Chicago", "US-KY": "America/New_York", "US-LA": "America/Chicago", "US-ME": "America/New_York",
	"US-MD": "America/New_York", "US-MA": "America/New_York", "US-MI": "America/Detroit", "US-MN": "America/Chicago",
	"US-MS": "America/Chicago", "US-MO": "America/Chicago", "US-MT": "America/Denver", "US-NE": "America/Chicago",
	"US-NV": "America/Los_Angeles", "US-NH": "America/New_York", "US-NJ": "America/New_York", "US-NM": "America/Denver",
	"US-NY": "America/New_York", "US-NC": "America/New_York", "US-ND": "America/Chicago", "US-OH": "America/New_York",
	"US-OK": "America/Chicago", "US-OR": "America/Los_Angeles", "US-PA": "America/New_York", "US-RI": "America/New_York",
	"US-SC": "America/New_York", "US-SD": "America/Chicago", "US-TN": "America/Chicago", "US-TX": "America/Chicago",
	"US-UT": "America/Denver", "US-VT": "America/New_York", "US-VA": "America/New_York", "US-WA": "America/Los_Angeles",
	"US-WV": "America/New_York", "US-WI": "America/Chicago", "US-WY": "America/Denver",
	"CA-AB": "America/Edmonton", "CA-BC": "America/Vancouver", "CA-MB": "America/Winnipeg", "CA-NB": "America/Moncton",
	"CA-NL": "America/St_Johns", "CA-NS": "America/Halifax", "CA-ON": "America/Toronto", "CA-PE": "America/Halifax",
	"CA-QC": "America/Toronto", "CA-SK": "America/Regina", "CA-YT": "America/Whitehorse", "CA-NT": "America/Yellowknife",
	"CA-NU": "America/Iqaluit",
}

package queue

import (
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestWindowNextOpen(t *testing.T) {
	t.Parallel()
	ny, la, berlin := zone(t, "America/New_York"), zone(t, "America/Los_Angeles"), zone(t, "Europe/Berlin")
	w := DefaultWindow // Mon–Sat 09:00–20:00
	at := func(loc *time.Location, s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, tc := range []struct {
		name  string
		now   time.Time
		zones []*time.Location
		want  time.Time
	}{
		{"open now", at(ny, "2026-11-23 10:00"), []*time.Location{ny}, at(ny, "2026-11-23 10:00")},
		{"before 9", at(ny, "2026-11-23 07:30"), []*time.Location{ny}, at(ny, "2026-11-23 09:00")},
		{"after 20", at(ny, "2026-11-23 20:00"), []*time.Location{ny}, at(ny, "2026-11-24 09:00")},
		{"saturday evening skips sunday", at(ny, "2026-11-28 20:30"), []*time.Location{ny}, at(ny, "2026-11-30 09:00")},
		{"sunday", at(ny, "2026-11-29 12:00"), []*time.Location{ny}, at(ny, "2026-11-30 09:00")},
		// 10:00 in New York is 07:00 in Los Angeles: both open at 09:00 LA (12:00 NY).
		{"two zones: the later one opens", at(ny, "2026-11-23 10:00"), []*time.Location{ny, la}, at(la, "2026-11-23 09:00")},
		// At 19:30 NY, LA is open but NY closes at 20:00; next joint opening is 09:00 LA the next day.
		{"two zones after NY closes", at(ny, "2026-11-23 20:30"), []*time.Location{ny, la}, at(la, "2026-11-24 09:00")},
		// DST starts 2026-03-08 in the US: 09:00 local is 13:00 UTC after, 14:00 UTC before.
		{"DST spring forward", at(ny, "2026-03-08 03:30"), []*time.Location{ny}, at(ny, "2026-03-09 09:00")},
		{"DST week", at(ny, "2026-03-09 08:59"), []*time.Location{ny}, time.Date(2026, 3, 9, 13, 0, 0, 0, time.UTC)},
		{"DST fall back", at(ny, "2026-10-31 21:00"), []*time.Location{ny}, time.Date(2026, 11, 2, 14, 0, 0, 0, time.UTC)},
	} {
		got, ok := w.NextOpen(tc.now, tc.zones)
		if !ok || !got.Equal(tc.want) {
			t.Errorf("%s: NextOpen(%s) = %s %v, want %s", tc.name, tc.now, got, ok, tc.want)
		}
	}
	// New York and Berlin never share 09:00–20:00 on a weekday… they do:
	// 15:00–20:00 Berlin is 09:00–14:00 New York. A window of 18:00–21:00
	// does not overlap at all.
	if got, ok := w.NextOpen(at(ny, "2026-11-23 06:00"), []*time.Location{ny, berlin}); !ok || !got.Equal(at(ny, "2026-11-23 09:00")) {
		t.Errorf("NY+Berlin: %s %v", got, ok)
	}
	late := Window{Days: []int{1, 2, 3, 4, 5}, Start: 18 * time.Hour, End: 21 * time.Hour}
	if got, ok := late.NextOpen(at(ny, "2026-11-23 06:00"), []*time.Location{ny, berlin}); ok {
		t.Errorf("disjoint windows open at %s", got)
	}
}

func TestWindowValidate(t *testing.T) {
	t.Parallel()
	for _, w := range []Window{
		{Days: nil, Start: 9 * time.Hour, End: 20 * time.Hour},
		{Days: []int{0}, Start: 9 * time.Hour, End: 20 * time.Hour},
		{Days: []int{1}, Start: 7 * time.Hour, End: 20 * time.Hour},
		{Days: []int{1}, Start: 9 * time.Hour, End: 22 * time.Hour},
		{Days: []int{1}, Start: 12 * time.Hour, End: 10 * time.Hour},
	} {
		if err := w.Validate(); err == nil {
			t.Errorf("%v accepted", w)
		}
	}
	if err := DefaultWindow.Validate(); err != nil {
		t.Error(err)
	}
}

func TestZones(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		explicit, region, country, phone string
		want                             []string
	}{
		{"Europe/Paris", "CA", "US", "+12125550123", []string{"Europe/Paris"}},
		{"", "CA", "US", "+12125550123", []string{"America/Los_Angeles"}},
		{"", "", "", "+12125550123", []string{"America/New_York"}},
		{"", "", "", "+442071234567", []string{"Europe/London"}},
	} {
		zs, err := Zones(tc.explicit, tc.region, tc.country, tc.phone)
		if err != nil || len(zs) != len(tc.want) || zs[0].String() != tc.want[0] {
			t.Errorf("%+v: %v %v", tc, zs, err)
		}
	}
	// A toll-free number spans many zones: calls need all of them open.
	if zs, err := Zones("", "", "", "+18005550123"); err != nil || len(zs) < 4 {
		t.Errorf("toll-free: %d zones, %v", len(zs), err)
	}
	if _, err := Zones("Mars/Olympus", "", "", "+12125550123"); err == nil {
		t.Error("unknown zone accepted")
	}
}

func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	p := DefaultRetryPolicy
	end := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		d         dialer.Disposition
		outcome   string
		ambiguous bool
		attempts  int
		retryIn   time.Duration // 0: no retry
		status    string
	}{
		{dialer.Busy, "", false, 1, 15 * time.Minute, StatusRetryWait},
		{dialer.NoAnswer, "", false, 2, 2 * time.Hour, StatusRetryWait},
		{dialer.Congestion, "", false, 1, 10 * time.Minute, StatusRetryWait},
		{dialer.Congestion, "", true, 1, 24 * time.Hour, StatusRetryWait}, // ambiguous: never soon
		{dialer.Machine, "", false, 1, 4 * time.Hour, StatusRetryWait},
		{dialer.Answered, "incomplete", false, 1, 24 * time.Hour, StatusRetryWait},
		{dialer.Busy, "", false, 4, 0, StatusUnreachable},
		{dialer.Rejected, "", false, 1, 0, StatusRejected},
		{dialer.InvalidNumber, "", false, 1, 0, StatusInvalidNumber},
		{dialer.Answered, "opted_out", false, 1, 0, StatusOptedOut},
		{dialer.Answered, "completed", false, 4, 0, StatusQualified},
	} {
		v := p.Decide(tc.d, tc.outcome, tc.ambiguous, tc.attempts, end)
		if v.Status != tc.status || v.Retry != (tc.retryIn != 0) || (v.Retry && !v.RetryAt.Equal(end.Add(tc.retryIn))) {
			t.Errorf("%s/%s attempts %d: %+v", tc.d, tc.outcome, tc.attempts, v)
		}
	}
}

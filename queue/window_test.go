package queue

import (
	"slices"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/store"
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
	const (
		ny, chi, den, la = "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"
		boise, ndc       = "America/Boise", "America/North_Dakota/Center"
	)
	for _, tc := range []struct {
		name string
		p    Place
		want []string // in any order
	}{
		{"explicit zone alone", Place{TimeZone: "Europe/Paris", Region: "CA", Country: "US", Phone: "+12125550123"}, []string{"Europe/Paris"}},
		{"state and a number of another state: both", Place{Region: "CA", Country: "US", Phone: "+12125550123"}, []string{la, ny}},
		{"number alone", Place{Phone: "+12125550123"}, []string{ny}},
		{"number abroad", Place{Phone: "+442071234567"}, []string{"Europe/London"}},
		// Split states: the state's every zone, and the number's.
		{"TX with a 915 El Paso number", Place{Region: "TX", Country: "US", Phone: "+19155550100"}, []string{chi, den}},
		{"TX by name", Place{Region: "Texas", Country: "US", Phone: "+12145550100"}, []string{chi, den}},
		{"TX, El Paso ZIP, 915 number", Place{Region: "TX", PostalCode: "79901", Country: "US", Phone: "+19155550100"}, []string{den}},
		{"TX, Dallas ZIP, 915 number: the number is not overridden", Place{Region: "TX", PostalCode: "75201", Country: "US", Phone: "+19155550100"}, []string{chi, den}},
		{"TX, Dallas ZIP, 214 number", Place{Region: "TX", PostalCode: "75201-1234", Country: "US", Phone: "+12145550100"}, []string{chi}},
		{"ID with a 208 number", Place{Region: "ID", Country: "US", Phone: "+12085550100"}, []string{boise, la}},
		{"ID, Boise ZIP", Place{Region: "ID", PostalCode: "83702", Country: "US", Phone: "+12085550100"}, []string{boise, la}},
		{"ND with a 701 number", Place{Region: "ND", Country: "US", Phone: "+17015550100"}, []string{chi, den, ndc}},
		{"FL with an 850 panhandle number", Place{Region: "FL", Country: "US", Phone: "+18505550100"}, []string{ny, chi}},
		{"FL, Pensacola ZIP, 850 number", Place{Region: "FL", PostalCode: "32501", Country: "US", Phone: "+18505550100"}, []string{chi, ny}},
		{"FL, Miami ZIP, 305 number", Place{Region: "FL", PostalCode: "33101", Country: "US", Phone: "+13055550100"}, []string{ny}},
		{"ZIP without a state", Place{PostalCode: "79901", Country: "US", Phone: "+19155550100"}, []string{den}},
		{"ZIP of another state than given is ignored", Place{Region: "NY", PostalCode: "79901", Country: "US", Phone: "+12125550123"}, []string{ny}},
		{"toll-free number with a state: the state", Place{Region: "NY", Country: "US", Phone: "+18005550123"}, []string{ny}},
		{"Canadian province", Place{Region: "ON", Country: "CA", Phone: "+14165550100"}, []string{"America/Toronto", "America/Winnipeg"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			zs, err := Zones(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, z := range zs {
				got = append(got, z.String())
			}
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("zones %v; want %v", got, want)
			}
		})
	}
	// A toll-free number alone spans many zones: calls need all of them open.
	if zs, err := Zones(Place{Phone: "+18005550123"}); err != nil || len(zs) < 4 {
		t.Errorf("toll-free: %d zones, %v", len(zs), err)
	}
	if _, err := Zones(Place{TimeZone: "Mars/Olympus", Phone: "+12125550123"}); err == nil {
		t.Error("unknown zone accepted")
	}
}

// TestSplitStateWindow: at 08:30 in New York a Florida panhandle lead is
// not called (07:30 in Pensacola), and it is at 09:00 Central.
func TestSplitStateWindow(t *testing.T) {
	t.Parallel()
	zs, err := Zones(Place{Region: "FL", Country: "US", Phone: "+18505550100"})
	if err != nil {
		t.Fatal(err)
	}
	ny, _ := time.LoadLocation("America/New_York")
	at := time.Date(2026, 12, 2, 9, 30, 0, 0, ny) // a Wednesday
	w := Window{Days: []int{1, 2, 3, 4, 5}, Start: 9 * time.Hour, End: 20 * time.Hour}
	if w.Open(at, zs) {
		t.Fatal("open at 09:30 New York, 08:30 Central")
	}
	next, ok := w.NextOpen(at, zs)
	if want := time.Date(2026, 12, 2, 10, 0, 0, 0, ny); !ok || !next.Equal(want) {
		t.Errorf("next open %v; want %v (09:00 Central)", next, want)
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
		status    store.LeadStatus
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
		{dialer.Answered, "completed", false, 4, 0, StatusCompleted},
	} {
		v := p.Decide(tc.d, tc.outcome, tc.ambiguous, tc.attempts, end)
		if v.Status != tc.status || v.Retry != (tc.retryIn != 0) || (v.Retry && !v.RetryAt.Equal(end.Add(tc.retryIn))) {
			t.Errorf("%s/%s attempts %d: %+v", tc.d, tc.outcome, tc.attempts, v)
		}
	}
}

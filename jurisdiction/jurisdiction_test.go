package jurisdiction

import (
	"strings"
	"testing"
	"time"
)

func at(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestDefaultTable(t *testing.T) {
	tab := Default()
	tests := []struct {
		codes          []string
		purpose        Purpose
		hours          string
		cap            int
		writtenConsent bool
	}{
		{[]string{"US-NY"}, Telemarketing, "08:00-21:00", 0, true},
		{[]string{"US-NY"}, Informational, "08:00-21:00", 0, false},
		{[]string{"US-NY"}, Unspecified, "08:00-21:00", 0, false},
		{[]string{"US-FL"}, Telemarketing, "08:00-20:00", 3, true},
		// Florida's act binds telemarketing only: an informational call
		// keeps the federal hours and no cap.
		{[]string{"US-FL"}, Informational, "08:00-21:00", 0, false},
		// Unspecified: every rule's hours and caps, consent left to the campaign.
		{[]string{"US-FL"}, Unspecified, "08:00-20:00", 3, false},
		{[]string{"US-TX"}, Telemarketing, "Mon-Sat 09:00-21:00, Sun 12:00-21:00", 0, true},
		{[]string{"US-RI"}, Telemarketing, "Mon-Fri 09:00-18:00, Sat 10:00-17:00, Sun closed", 0, true},
		// A lead who may be in Texas or Florida: the stricter of both.
		{[]string{"US-TX", "US-FL"}, Telemarketing, "Mon-Sat 09:00-20:00, Sun 12:00-20:00", 3, true},
		{[]string{"GB"}, Telemarketing, "any time", 0, false},
		{nil, Telemarketing, "any time", 0, false},
	}
	for _, tt := range tests {
		a := tab.For(tt.codes, tt.purpose)
		if a.Hours() != tt.hours || a.MaxCallsPer24h != tt.cap || a.WrittenConsent != tt.writtenConsent {
			t.Errorf("%v %s: hours %q cap %d consent %v; want %q %d %v", tt.codes, tt.purpose, a.Hours(), a.MaxCallsPer24h,
				a.WrittenConsent, tt.hours, tt.cap, tt.writtenConsent)
		}
	}
}

func TestAllows(t *testing.T) {
	tab := Default()
	fl := tab.For([]string{"US-FL"}, Telemarketing)
	la := tab.For([]string{"US-LA"}, Telemarketing)
	tx := tab.For([]string{"US-TX"}, Telemarketing)
	tests := []struct {
		a     Applied
		local string
		want  bool
	}{
		{fl, "2026-12-02 07:59", false},
		{fl, "2026-12-02 08:00", true},
		{fl, "2026-12-02 19:59", true},
		{fl, "2026-12-02 20:00", false}, // federal 21:00, Florida 20:00
		{la, "2026-12-06 10:00", false}, // a Sunday
		{la, "2026-12-07 10:00", true},
		{la, "2026-11-26 10:00", false}, // Thanksgiving 2026
		{la, "2026-12-25 10:00", false}, // Christmas
		{la, "2026-05-25 10:00", false}, // Memorial Day 2026 (last Monday of May)
		{la, "2026-05-18 10:00", true},
		{la, "2026-01-19 10:00", false}, // MLK Day 2026 (third Monday)
		{la, "2026-01-12 10:00", true},
		{tx, "2026-12-06 11:59", false}, // Sunday before noon
		{tx, "2026-12-06 12:00", true},
		{tx, "2026-12-05 09:00", true}, // Saturday
		{Applied{}, "2026-12-25 03:00", true},
	}
	for _, tt := range tests {
		if got := tt.a.Allows(at(t, tt.local)); got != tt.want {
			t.Errorf("%v at %s: allows %v; want %v", tt.a.Jurisdictions, tt.local, got, tt.want)
		}
	}
	if open, ok := tx.Opening(at(t, "2026-12-06 00:00")); !ok || open != 12*time.Hour {
		t.Errorf("Texas on a Sunday opens at %v (%v); want 12:00", open, ok)
	}
	if _, ok := la.Opening(at(t, "2026-12-25 00:00")); ok {
		t.Error("Louisiana is open on Christmas")
	}
	if name, ok := la.Holiday(at(t, "2026-07-04 12:00")); !ok || name != "Independence Day" {
		t.Errorf("July 4th: %q %v", name, ok)
	}
}

func TestNarrows(t *testing.T) {
	tab := Default()
	weekdays := []int{1, 2, 3, 4, 5}
	tests := []struct {
		codes      []string
		days       []int
		start, end time.Duration
		want       bool
	}{
		{[]string{"US-NY"}, weekdays, 9 * time.Hour, 20 * time.Hour, false},
		{[]string{"US-FL"}, weekdays, 9 * time.Hour, 20 * time.Hour, false},
		{[]string{"US-FL"}, weekdays, 9 * time.Hour, 21 * time.Hour, true},
		{[]string{"US-TX"}, weekdays, 9 * time.Hour, 20 * time.Hour, false},
		{[]string{"US-TX"}, []int{7}, 9 * time.Hour, 20 * time.Hour, true}, // Sunday before noon
		{[]string{"US-LA"}, weekdays, 9 * time.Hour, 20 * time.Hour, true}, // holidays
	}
	for _, tt := range tests {
		if got := tab.For(tt.codes, Telemarketing).Narrows(tt.days, tt.start, tt.end); got != tt.want {
			t.Errorf("%v %v %v-%v: narrows %v; want %v", tt.codes, tt.days, tt.start, tt.end, got, tt.want)
		}
	}
}

func TestHolidayDates(t *testing.T) {
	// Thanksgiving, the fourth Thursday of November, for a few years.
	thanks := Holiday{Month: time.November, Nth: 4, Weekday: time.Thursday}
	for _, d := range []string{"2024-11-28", "2025-11-27", "2026-11-26", "2027-11-25", "2028-11-23"} {
		ts, _ := time.Parse("2006-01-02", d)
		if !thanks.On(ts.Date()) {
			t.Errorf("Thanksgiving not on %s", d)
		}
		if y, m, day := ts.AddDate(0, 0, 7).Date(); thanks.On(y, m, day) {
			t.Errorf("Thanksgiving also on the week after %s", d)
		}
	}
	memorial := Holiday{Month: time.May, Nth: -1, Weekday: time.Monday}
	for _, d := range []string{"2024-05-27", "2025-05-26", "2026-05-25", "2027-05-31"} {
		ts, _ := time.Parse("2006-01-02", d)
		if !memorial.On(ts.Date()) {
			t.Errorf("Memorial Day not on %s", d)
		}
	}
}

func TestParseErrorsNameFileAndLine(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"- jurisdiction: US\n  hours: 08:00-21:00\n  source: x\n- jurisdiction: Florida\n  source: x\n", `my.yaml:4: jurisdiction "Florida"`},
		{"- jurisdiction: US-FL\n  hours: \"8-20\"\n  source: x\n", `my.yaml:1: US-FL: hours: "8-20": use HH:MM-HH:MM`},
		{"- jurisdiction: US-FL\n  hours: \"20:00-08:00\"\n  source: x\n", "the end must come after the start"},
		{"- jurisdiction: US-FL\n  days: {sunday: closed}\n  source: x\n", `"sunday" is not a weekday`},
		{"- jurisdiction: US-FL\n  holidays: [easter]\n  source: x\n", `"easter": use federal`},
		{"- jurisdiction: US-FL\n  holidays: [02-30]\n  source: x\n", `"02-30": not a date`},
		{"- jurisdiction: US-FL\n  applies_to: [sales]\n  source: x\n", `applies_to "sales"`},
		{"- jurisdiction: US-FL\n  max_calls_per_24h: -1\n  source: x\n", "max_calls_per_24h -1"},
		{"- jurisdiction: US-FL\n", "source is required"},
		{"- jurisdiction: US-FL\n  sorce: x\n", "my.yaml:2: field sorce not found"},
		{"", "my.yaml: no rules"},
		{"- [", "my.yaml:"},
	}
	for _, tt := range tests {
		_, err := Parse("my.yaml", []byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v; want it to say %q", tt.yaml, err, tt.want)
		}
	}
	if _, err := Parse("big.yaml", make([]byte, MaxFileSize+1)); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("an oversized file: %v", err)
	}
}

func TestCustomTable(t *testing.T) {
	tab, err := Parse("ours.yaml", []byte(`
- jurisdiction: CA-QC
  name: Quebec, as our counsel reads it
  hours: "09:00-20:00"
  days: {sat: "10:00-17:00", sun: closed}
  holidays: ["06-24", "1 mon sep"]
  max_calls_per_24h: 2
  applies_to: [telemarketing, informational]
  source: counsel memo 2026-11
`))
	if err != nil {
		t.Fatal(err)
	}
	a := tab.For([]string{"CA-QC"}, Informational)
	if len(a.Rules) != 1 || a.Rules[0].Line != 2 || a.MaxCallsPer24h != 2 || a.WrittenConsent {
		t.Fatalf("applied %+v", a)
	}
	if a.Allows(at(t, "2026-06-24 12:00")) || !a.Allows(at(t, "2026-06-23 12:00")) || a.Allows(at(t, "2026-09-07 12:00")) {
		t.Error("Quebec's holidays are not kept")
	}
	if got := a.Hours(); got != "Mon-Fri 09:00-20:00, Sat 10:00-17:00, Sun closed" {
		t.Errorf("hours %q", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(defaultRules)
	f.Add([]byte("- jurisdiction: US\n  hours: 08:00-21:00\n  source: x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error without the file's name: %v", err)
			}
			return
		}
		// Whatever parses can be applied and asked about any time.
		for _, r := range tab.Rules() {
			a := tab.For([]string{r.Jurisdiction}, Telemarketing)
			_ = a.Allows(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
			_ = a.Hours()
		}
	})
}

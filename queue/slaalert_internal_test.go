package queue

import (
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/store"
)

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "<1m", 29 * time.Second: "<1m", 45 * time.Minute: "45m", 24 * time.Hour: "24h",
		90 * time.Minute: "1h30m", 26*time.Hour + 5*time.Minute: "26h05m", 72 * time.Hour: "72h",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"Ann":                        "Ann",
		"Jones\r\nBcc: x@evil.test":  "Jones Bcc: x@evil.test",
		"a\u2028b\tc\x00d":           "a b c d",
		"  spaced   out  ":           "spaced out",
		strings.Repeat("é", 200):     strings.Repeat("é", digestFieldMax-1) + "…",
		"\r\n.\r\nMAIL FROM:<x@y.z>": ". MAIL FROM:<x@y.z>",
	} {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSLABreachEmailDigest: a batch larger than the listing is counted,
// campaigns with different SLAs are not summed up as one, and without a
// public URL there are no links.
func TestSLABreachEmailDigest(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	total := 85
	d := &store.BreachDigest{
		Leads: []store.BreachedLead{{ID: 7, FirstName: "Ann", Company: "Acme", Phone: "+12125550123", Campaign: "Spring", Class: "sql", Total: &total,
			SLA: 4 * time.Hour, SLADueAt: now.Add(-90 * time.Minute)}},
		SLAs: []time.Duration{4 * time.Hour, 24 * time.Hour},
	}
	m := slaBreachEmail(60, d, now, "")
	if m.Subject != "SLA breached: 60 sales-ready leads not contacted within their SLA" {
		t.Errorf("subject %q", m.Subject)
	}
	for _, want := range []string{"1. Ann, Acme\n", "Result: class sql, total 85\n", "Due: 2026-12-02 07:30 UTC (SLA 4h), 1h30m late\n",
		"Claimed by: nobody\n", "…and 59 more"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("body lacks %q:\n%s", want, m.Text)
		}
	}
	if strings.Contains(m.Text, "/leads/") {
		t.Errorf("a link without a public URL:\n%s", m.Text)
	}
}

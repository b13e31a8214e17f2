package main

import (
	"strings"
	"testing"
)

// TestRetentionConfig: serve refuses retention settings below their least
// (compliance records below five years, saying why) or malformed, naming
// the flag or variable, before it touches the database; help lists the
// flags with their defaults.
func TestRetentionConfig(t *testing.T) {
	t.Parallel()
	unreachable := "postgres://qualdial@127.0.0.1:1/never?connect_timeout=1"
	for _, tc := range []struct {
		variable, value string
		want            []string
	}{
		{"QUALDIAL_RETENTION_COMPLIANCE_DAYS", "365", []string{"ComplianceDays", "365 days: at least 1826", "five years", "QUALDIAL_RETENTION_"}},
		{"QUALDIAL_RETENTION_EVENTS_DAYS", "7", []string{"EventDays (lead events) 7 days: at least 30"}},
		{"QUALDIAL_RETENTION_TWILIO_SESSIONS_DAYS", "-2", []string{"must not be negative"}},
		{"QUALDIAL_RETENTION_BATCH", "1000000", []string{"use 100 to 50000 rows"}},
		{"QUALDIAL_RETENTION_IMPORT_REJECTS_DAYS", "a month", []string{`QUALDIAL_RETENTION_IMPORT_REJECTS_DAYS="a month"`, "expected a whole number"}},
		{"QUALDIAL_RETENTION_INTERVAL", "5s", []string{"--retention-interval 5s", "at least 1m"}},
	} {
		code, _, errOut := runCLI(t, map[string]string{"QUALDIAL_DATABASE_URL": unreachable, tc.variable: tc.value}, "serve")
		if code != 1 || strings.Contains(errOut, "connect to database") {
			t.Errorf("%s=%s: exit %d %s", tc.variable, tc.value, code, errOut)
		}
		for _, w := range tc.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%s=%s: %s; want %q", tc.variable, tc.value, errOut, w)
			}
		}
	}
	_, help, _ := runCLI(t, nil, "serve", "--help")
	for _, w := range []string{"--retention-compliance-days int", "(default 1826)", "--retention-twilio-sessions-days int", "(default 7)",
		"--retention-interval duration", "QUALDIAL_RETENTION_EVENTS_DAYS"} {
		if !strings.Contains(help, w) {
			t.Errorf("serve --help does not say %q", w)
		}
	}
}

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRulesCommand: `qualdial rules` says which jurisdictions bind a number
// and why, what they allow, and judges a given moment; a custom table
// replaces the project's, and a broken one is refused with file and line.
func TestRulesCommand(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCLI(t, nil, "rules", "+13055550100", "--at", "2026-12-02T20:30:00-05:00")
	for _, want := range []string{"US (number), US-FL (area code 305)", "08:00-20:00", "at most 3, every campaign counted",
		"required before calling", "not allowed; next allowed 2026-12-03T13:00:00Z", "Fla. Stat. 501.059(8)  (rules.yaml:"} {
		if !strings.Contains(out, want) {
			t.Errorf("rules for a Miami number: no %q in\n%s", want, out)
		}
	}
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d: %s", code, errOut)
	}

	// A Dallas number in Texas on a Sunday at 10:00: not before noon.
	code, out, _ = runCLI(t, nil, "rules", "214-555-0100", "--region", "Texas", "--time-zone", "America/Chicago",
		"--at", "2026-12-06T10:00:00-06:00", "--json")
	var r rulesReport
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 0 {
		t.Fatalf("exit %d, %v:\n%s", code, err, out)
	}
	if r.Phone != "+12145550100" || r.Hours != "Mon-Sat 09:00-21:00, Sun 12:00-21:00" || r.AllowedAt || r.NextAllowed == nil ||
		r.NextAllowed.UTC().Format("15:04") != "18:00" || len(r.Jurisdictions) != 2 || r.Jurisdictions[1] != (rulesWhere{"US-TX", "state given"}) {
		t.Errorf("Texas on a Sunday morning: %+v", r)
	}

	// Informational: Florida's solicitation act does not bind.
	_, out, _ = runCLI(t, nil, "rules", "+13055550100", "--purpose", "informational", "--json")
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.WrittenConsent || r.MaxCallsPer24h != 0 || r.Hours != "08:00-21:00" {
		t.Errorf("informational call to Florida: %+v (%v)", r, err)
	}

	dir := t.TempDir()
	ours := filepath.Join(dir, "ours.yaml")
	_ = os.WriteFile(ours, []byte("- jurisdiction: GB\n  hours: \"09:00-20:00\"\n  days: {sun: closed}\n  source: Ofcom guidance\n"), 0o600)
	_, out, _ = runCLI(t, map[string]string{"QUALDIAL_JURISDICTION_RULES": ours}, "rules", "+442079460000", "--json")
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Hours != "Mon-Sat 09:00-20:00, Sun closed" || len(r.Rules) != 1 ||
		r.Rules[0].File != ours+":1" {
		t.Errorf("a London number with our table: %+v (%v)", r, err)
	}
	broken := filepath.Join(dir, "broken.yaml")
	_ = os.WriteFile(broken, []byte("- jurisdiction: US\n  source: x\n- jurisdiction: US-FL\n  hours: \"8-20\"\n  source: y\n"), 0o600)
	code, _, errOut = runCLI(t, nil, "rules", "+13055550100", "--jurisdiction-rules", broken)
	if code != 1 || !strings.Contains(errOut, broken+":3: US-FL: hours") {
		t.Errorf("a broken table: exit %d, %q", code, errOut)
	}
	for _, args := range [][]string{{"rules", "not-a-number"}, {"rules", "+13055550100", "--purpose", "sales"},
		{"rules", "+13055550100", "--at", "tomorrow"}} {
		if code, _, errOut = runCLI(t, nil, args...); code != 1 || errOut == "" {
			t.Errorf("%v: exit %d, %q", args, code, errOut)
		}
	}
}

package dialer_test

import (
	"testing"

	"github.com/qualdial/qualdial/dialer"
)

// TestAttestation: a level is recorded only when the network stated one.
func TestAttestation(t *testing.T) {
	for in, want := range map[string]string{
		"A": "A", "b": "B", " C ": "C",
		"TN-Validation-Passed-A": "A", "tn-validation-passed-b": "B", "TN-Validation-Passed-C": "C",
		"TN-Validation-Passed": "", "TN-Validation-Failed": "", "No-TN-Validation": "",
		"D": "", "": "", "AB": "", "A\r\nX-Evil: 1": "",
	} {
		if got := dialer.Attestation(in); got != want {
			t.Errorf("Attestation(%q) = %q, want %q", in, got, want)
		}
	}
}

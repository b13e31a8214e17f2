package twilio_test

import (
	"testing"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/dialertest"
	"github.com/qualdial/qualdial/internal/twiliotest"
)

// twilioHarness makes leads of fake Twilio personas. Twilio has no hold a
// lead could put qualdial on that reaches the webhooks: hold steps are
// played as their keys.
type twilioHarness struct{}

func (twilioHarness) Start(t *testing.T, leads map[string]dialertest.Lead) dialer.Driver {
	personas := map[string]twiliotest.Persona{}
	for number, l := range leads {
		// Every gather webhook comes twice, as Twilio sometimes sends them:
		// a repeat must never count as a second answer.
		p := twiliotest.Persona{Retries: true, Attestation: l.Attestation}
		switch l.Answer {
		case "busy":
			p.Answer = "busy"
		case "no_answer":
			p.Answer = "no-answer"
		}
		for _, s := range l.Steps {
			_, keys := dialertest.Hold(s)
			p.Steps = append(p.Steps, keys)
		}
		personas[number] = p
	}
	return newTwilio(t, personas, false).driver
}

// TestConformance: the Twilio driver passes the suite every driver passes —
// # and * as answers included.
func TestConformance(t *testing.T) {
	t.Parallel()
	dialertest.Run(t, twilioHarness{})
}

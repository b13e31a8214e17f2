package sip_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/dialertest"
	"github.com/qualdial/qualdial/dialer/sip"
	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/internal/fixture"
)

// sipHarness makes leads of softphone personas on loopback.
type sipHarness struct{}

func (sipHarness) Start(t *testing.T, leads map[string]dialertest.Lead) dialer.Driver {
	personas := map[string]softphone.Persona{}
	for number, l := range leads {
		var p softphone.Persona
		switch l.Answer {
		case "busy":
			p = softphone.Persona{Answer: "reject", Code: 486}
		case "no_answer":
			p = softphone.Persona{Answer: "reject", Code: 480}
		}
		var steps []string
		for _, s := range l.Steps {
			if hold, keys := dialertest.Hold(s); hold {
				// Hold once the prompt has ended, for twice the media
				// timeout and the script's 2 s wait for a key.
				s = "hold:" + keys
				p.HoldFor = 4 * time.Second
			}
			steps = append(steps, s)
		}
		p.Keys = strings.Join(steps, ",")
		p.Attestation = l.Attestation // as an Identity header's PASSporT
		personas[number] = p
	}
	phone, err := softphone.Start(softphone.Config{Personas: personas})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { phone.Close() })
	t.Cleanup(func() { // the hold case really held the call
		held := 0
		for _, rec := range phone.Calls() {
			if personas[rec.User].HoldFor == 0 {
				continue
			}
			held++
			if !slices.Equal(rec.HoldAnswers, []string{"recvonly", "sendrecv"}) {
				t.Errorf("%s: hold and resume answered %v, want [recvonly sendrecv]", rec.User, rec.HoldAnswers)
			}
		}
		if held == 0 && !t.Failed() {
			t.Error("no call was put on hold")
		}
	})
	// A media timeout far shorter than a hold: the hold case fails if a
	// held call is taken for a dead one.
	d, err := sip.New(sip.Config{ListenAddr: "127.0.0.1:0", Trunk: phone.Addr().String(), Prompts: fixture.Hum(0),
		MediaTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestConformance: the SIP driver passes the suite every driver passes.
func TestConformance(t *testing.T) {
	t.Parallel()
	dialertest.Run(t, sipHarness{})
}

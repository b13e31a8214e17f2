package sip_test

import (
	"strings"
	"testing"

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
			_, keys := dialertest.Hold(s)
			steps = append(steps, keys)
		}
		p.Keys = strings.Join(steps, ",")
		personas[number] = p
	}
	phone, err := softphone.Start(softphone.Config{Personas: personas})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { phone.Close() })
	d, err := sip.New(sip.Config{ListenAddr: "127.0.0.1:0", Trunk: phone.Addr().String(), Prompts: fixture.Hum(0)})
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

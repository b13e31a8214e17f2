package twilio_test

import (
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/internal/twiliotest"
)

// TestSayVoice: a script's language becomes a Twilio voice and language
// pair; an espeak-ng voice name in the script never reaches Twilio.
func TestSayVoice(t *testing.T) {
	t.Parallel()
	tw := newTwilio(t, map[string]twiliotest.Persona{"+12125550601": {Steps: []string{"1", "9"}}}, false)
	src, eng := bant(t)
	call, err := tw.driver.Dial(t.Context(), dialer.DialRequest{To: "+12125550601", CallerID: "+15550100", RingTimeout: 15 * time.Second,
		Script: src, Language: "es-MX", Voice: "es+f3"})
	if err != nil {
		t.Fatal(err)
	}
	dialer.RunCall(t.Context(), call, eng, dialer.RunOptions{})
	voices := tw.fake.Voices("+12125550601")
	if len(voices) < 3 {
		t.Fatalf("only %d prompts said: %v", len(voices), voices)
	}
	for _, v := range voices {
		if v != "Polly.Mia-Neural/es-MX" {
			t.Errorf("said with %q, want Polly.Mia-Neural/es-MX", v)
		}
	}
}

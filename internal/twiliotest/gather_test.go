package twiliotest

import (
	"encoding/xml"
	"testing"
)

// TestGatherDefaults: the fake collects keys as Twilio documents <Gather>:
// finishOnKey # when the attribute is absent (and "" means none), the
// finish key left out of Digits, numDigits unlimited unless set, and no
// action request when nothing was entered (the finish key alone, or a
// timeout) unless actionOnEmptyResult is true.
func TestGatherDefaults(t *testing.T) {
	for _, c := range []struct {
		gather, keys       string
		digits, finishedOn string
		action             bool
	}{
		{`<Gather/>`, "120#", "120", "#", true},
		{`<Gather/>`, "#", "", "#", false},
		{`<Gather/>`, "", "", "", false},
		{`<Gather actionOnEmptyResult="true"/>`, "", "", "", true},
		{`<Gather/>`, "12345678", "12345678", "", true}, // unlimited; ends by timeout
		{`<Gather finishOnKey=""/>`, "#", "#", "", true},
		{`<Gather finishOnKey="" numDigits="1"/>`, "*9", "*", "", true},
		{`<Gather finishOnKey="*"/>`, "1#*", "1#", "*", true},
		{`<Gather numDigits="2"/>`, "123#", "12", "", true},
	} {
		var g gather
		if err := xml.Unmarshal([]byte(c.gather), &g); err != nil {
			t.Fatal(err)
		}
		digits, finishedOn, action, err := g.press(c.keys)
		if err != nil || digits != c.digits || finishedOn != c.finishedOn || action != c.action {
			t.Errorf("%s pressed %q: Digits %q FinishedOnKey %q action %v (%v); want %q %q %v",
				c.gather, c.keys, digits, finishedOn, action, err, c.digits, c.finishedOn, c.action)
		}
	}
	var bad gather
	_ = xml.Unmarshal([]byte(`<Gather finishOnKey="##"/>`), &bad)
	if _, _, _, err := bad.press("1"); err == nil {
		t.Error("finishOnKey=\"##\" accepted (Twilio warns 13310)")
	}
}

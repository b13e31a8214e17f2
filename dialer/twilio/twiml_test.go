package twilio

import (
	"encoding/xml"
	"strings"
	"testing"
)

// TestTwiMLKeepsEmptyAttributes: finishOnKey="" reaches Twilio (twilio-go's
// twiml package drops it, and Twilio then finishes on #), and text and
// attributes are escaped.
func TestTwiMLKeepsEmptyAttributes(t *testing.T) {
	doc, err := response(el("Gather", "finishOnKey", "", "action", "https://x.example/g?s=a&seq=2").
		with(el("Say", "language", "en-US").withText(`Press <1> & "then" #`)), el("Hangup"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(doc, `finishOnKey=""`) || !strings.Contains(doc, `action="https://x.example/g?s=a&amp;seq=2"`) {
		t.Errorf("attributes lost or unescaped:\n%s", doc)
	}
	var back struct {
		Gather struct {
			FinishOnKey *string `xml:"finishOnKey,attr"`
			Say         string  `xml:"Say"`
		} `xml:"Gather"`
	}
	if err := xml.Unmarshal([]byte(doc), &back); err != nil {
		t.Fatal(err)
	}
	if back.Gather.FinishOnKey == nil || *back.Gather.FinishOnKey != "" || back.Gather.Say != `Press <1> & "then" #` {
		t.Errorf("read back %+v from\n%s", back, doc)
	}
}

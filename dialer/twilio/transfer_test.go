package twilio_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/dialertest"
	"github.com/qualdial/qualdial/internal/twiliotest"
	"github.com/qualdial/qualdial/ivr"
)

// TestTransferOnTwilio: on Twilio a live transfer is a <Dial> of the rep
// with the whisper on the rep's leg (<Number url>) and the lead's caller
// ID; the rep hears the whisper, and Dial's action reports how it went:
// put through (the talk time Twilio reports), or the rep away and the lead
// told a specialist calls back.
func TestTransferOnTwilio(t *testing.T) {
	t.Parallel()
	hot := twiliotest.Persona{Steps: []string{"1", "1", "1", "1", "120#", "1"}}
	b := newTwilio(t, map[string]twiliotest.Persona{"+12125550601": hot, "+12125550602": hot,
		"+12125550320": {}, "+12125550321": {Answer: "no-answer"}}, false)
	for _, tc := range []struct {
		lead, script, rep, status string
	}{
		{"+12125550601", "transfer", "+12125550320", dialer.TransferConnected},
		{"+12125550602", "transfer-away", "+12125550321", dialer.TransferNoAnswer},
	} {
		src, eng, err := dialertest.Script(tc.script)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := dialer.DialRequest{To: tc.lead, CallerID: "+15550100", RingTimeout: 15 * time.Second, Script: src,
			Lead: map[string]string{"first_name": "Ann"}, Language: "en-US"}.Prepared()
		call, err := b.driver.Dial(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		out := dialer.RunCall(t.Context(), call, eng, dialer.RunOptions{})
		tr := out.Transfer
		if out.Result.Class != "sql" || tr == nil || tr.Status != tc.status || tr.To != tc.rep {
			t.Fatalf("%s: class %s, transfer %+v", tc.lead, out.Result.Class, tr)
		}
		repHeard, leadHeard := b.fake.Heard(tc.rep), b.fake.Heard(tc.lead)
		fallback := slices.Contains(leadHeard, ivr.DefaultFallbackSay)
		switch tc.status {
		case dialer.TransferConnected:
			if tr.TalkMS == nil || *tr.TalkMS != twiliotest.TalkSeconds*1000 || len(repHeard) != 1 ||
				!strings.HasPrefix(repHeard[0], "Hot lead Ann, score ") || fallback {
				t.Errorf("put through: talk %v, the rep heard %q, the lead %q", tr.TalkMS, repHeard, leadHeard)
			}
		default:
			if len(repHeard) != 0 || !fallback {
				t.Errorf("rep away: the rep heard %q, the lead %q", repHeard, leadHeard)
			}
		}
		if ev := b.fake.Events(tc.lead); !slices.Contains(ev, "dial:"+tc.rep) {
			t.Errorf("%s: events %v", tc.lead, ev)
		}
	}
}

package dialer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/ivr"
)

func TestPrepared(t *testing.T) {
	t.Parallel()
	ok := DialRequest{To: "+12125550123", CallerID: "+15550100"}
	got, err := ok.Prepared()
	if err != nil || got.RingTimeout != DefaultRingTimeout || got.MaxDuration != DefaultMaxDuration || got.DTMF != DTMFAuto {
		t.Fatalf("defaults: %+v %v", got, err)
	}
	for _, tc := range []struct {
		name string
		edit func(*DialRequest)
		want string // in the error; "" for none
	}{
		{"SIP URI", func(r *DialRequest) { r.To = "sip:lead@127.0.0.1:5070" }, ""},
		{"quotes in the name", func(r *DialRequest) { r.CallerName = `Acme "Sales" \ Team` }, ""},
		{"no number", func(r *DialRequest) { r.To = "" }, "no number"},
		{"not a number", func(r *DialRequest) { r.To = "212-555-0123" }, "E.164"},
		{"no caller ID", func(r *DialRequest) { r.CallerID = "" }, "no caller ID"},
		{"caller ID with header", func(r *DialRequest) { r.CallerID = "+15550100\r\nP-Asserted-Identity: <sip:+1@x>" }, "not an E.164"},
		{"name with a line break", func(r *DialRequest) { r.CallerName = "Acme\r\nP-Asserted-Identity: <sip:+1911@x>" }, "control character"},
		{"name too long", func(r *DialRequest) { r.CallerName = strings.Repeat("a", 65) }, "at most 64"},
		{"call too long", func(r *DialRequest) { r.MaxDuration = 2 * time.Hour }, "up to 1h"},
		{"call too short", func(r *DialRequest) { r.MaxDuration = time.Nanosecond }, "from 1s"},
		{"SIP URI with a header", func(r *DialRequest) { r.To = "sip:+1555\r\nX-Injected: yes\r\n@127.0.0.1:5196" }, "control characters"},
		{"SIP URI parameter with a header", func(r *DialRequest) { r.To = "sip:+1555@127.0.0.1:5197;x=a\r\nX-Inj: 1" }, "control characters"},
		{"SIP URI with a space", func(r *DialRequest) { r.To = "sip:lead@127.0.0.1 SIP/2.0" }, "spaces"},
		{"SIP URI too long", func(r *DialRequest) { r.To = "sip:" + strings.Repeat("a", 300) + "@127.0.0.1" }, "256"},
		{"negative ring", func(r *DialRequest) { r.RingTimeout = -time.Second }, "negative"},
		{"unknown DTMF", func(r *DialRequest) { r.DTMF = "magic" }, "rfc4733"},
		{"fixed DTMF", func(r *DialRequest) { r.DTMF = DTMFInfo }, ""},
	} {
		r := ok
		tc.edit(&r)
		_, err := r.Prepared()
		var de *DialError
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (!errors.As(err, &de) || de.Disposition != Failed || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v; want a Failed DialError about %q", tc.name, err, tc.want)
		}
	}
}

// endingCall is a scripted call that also says how it ended.
type endingCall struct {
	scriptedCall
	endedBy, dtmf string
}

func (c *endingCall) EndedBy() string    { return c.endedBy }
func (c *endingCall) DTMFMethod() string { return c.dtmf }

func TestRunSaysWhoEndedTheCall(t *testing.T) {
	t.Parallel()
	eng := engine(t)
	for _, tc := range []struct {
		name string
		call Call
		want string
	}{
		{"script finished", &scriptedCall{inputs: keys("1", "1", "1", "1", "120#", "1")}, EndedByQualdial},
		{"lead hung up", &scriptedCall{inputs: keys("1", "1")}, EndedByLead},
		{"driver failed", &scriptedCall{inputs: keys("1"), errAt: 2}, EndedByError},
		{"the call knows better", &endingCall{scriptedCall: scriptedCall{inputs: keys("1")}, endedBy: EndedByMediaTimeout, dtmf: "rfc4733"},
			EndedByMediaTimeout},
	} {
		out := RunCall(context.Background(), tc.call, eng, RunOptions{})
		if out.EndedBy != tc.want {
			t.Errorf("%s: ended by %q, want %q", tc.name, out.EndedBy, tc.want)
		}
	}
	out := RunCall(context.Background(), &endingCall{scriptedCall: scriptedCall{inputs: keys("1")}, dtmf: "rfc4733"}, eng, RunOptions{})
	if out.DTMFMethod != "rfc4733" || out.Result.Outcome != ivr.OutcomeIncomplete {
		t.Errorf("dtmf method %q, outcome %s", out.DTMFMethod, out.Result.Outcome)
	}
}

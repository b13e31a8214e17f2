package sip_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/sip"
	"github.com/qualdial/qualdial/dialer/softphone"
)

// Item 11: a trunk that the listen (or public) address cannot reach is a
// startup error that says what to change, not a process whose every call
// fails as congestion.
func TestUnreachableTrunkIsAStartupError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  sip.Config
		want string
	}{
		{"loopback listener, remote trunk", sip.Config{ListenAddr: "127.0.0.1:0", Trunk: "192.0.2.10:5060"}, "--sip-listen"},
		{"loopback public host, remote trunk", sip.Config{ListenAddr: "0.0.0.0:0", PublicHost: "127.0.0.1", Trunk: "192.0.2.10"}, "--sip-public-host"},
		{"loopback listener, remote outbound proxy", sip.Config{ListenAddr: "127.0.0.1:0", Trunk: "127.0.0.1:5099", OutboundProxy: "192.0.2.11:5060"}, "--sip-listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := sip.New(tc.cfg)
			if err == nil {
				d.Close()
				t.Fatal("sip.New started")
			}
			if !strings.Contains(err.Error(), "cannot reach") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say what to change (%s)", err, tc.want)
			}
		})
	}
	d, err := sip.New(sip.Config{ListenAddr: "127.0.0.1:0", Trunk: "127.0.0.1:5099"})
	if err != nil {
		t.Fatalf("loopback trunk on a loopback listener: %v", err)
	}
	d.Close()
}

// Item 11: a host name as the public host stays in Via and Contact, and
// the SDP's c= line gets its address: the softphone (which, like phones
// and gateways, takes only addresses there) answers and its keys arrive.
func TestPublicHostNameIsResolvedForSDP(t *testing.T) {
	t.Parallel()
	b := setup(t, sip.Config{PublicHost: "localhost"}, softphone.Config{Default: softphone.Persona{Keys: "1,9"}})
	call, err := b.driver.Dial(t.Context(), dialer.DialRequest{To: b.phone.URI("lead"), CallerID: "+15550100", RingTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("dial with PublicHost localhost: %v", err)
	}
	out := dialer.Run(t.Context(), call, bant(t), dialer.RunOptions{})
	if got := out.KeysHeard(); !slices.Equal(got, []string{"1", "9"}) {
		t.Fatalf("keys heard %v, want [1 9]", got)
	}
}

package sip_test

import (
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/sip"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/sipptest"
	"github.com/qualdial/qualdial/ivr"
)

func TestSippLeadPressesKeys(t *testing.T) {
	t.Parallel()
	peer := sipptest.Start(t, "testdata/lead-keys.xml")
	d, err := sip.New(sip.Config{ListenAddr: "127.0.0.1:0", Prompts: fixture.Hum(300 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	src, _ := os.ReadFile("testdata/sipp-lead.yaml")
	eng := ivr.NewEngine(ivr.MustParse("sipp-lead.yaml", src))
	call, err := d.Dial(t.Context(), dialer.DialRequest{To: peer.URI, CallerID: "+15550100", RingTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	out := dialer.Run(t.Context(), call, eng, dialer.RunOptions{})
	if got := out.KeysHeard(); !slices.Equal(got, []string{"1", "2", "120#"}) {
		t.Fatalf("keys heard %v, want [1 2 120#]; timeline %+v", got, out.Timeline)
	}
	if out.Result.Class != "sql" || out.Result.Total != 65 {
		t.Fatalf("result %+v", out.Result)
	}
	if out.Attestation != "B" { // the 200 OK's Attestation-Info
		t.Errorf("attestation %q, want B", out.Attestation)
	}
	peer.Wait(t)
}

func TestSippLeadRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		scenario string
		want     dialer.Disposition
		code     int
	}{
		{"lead-486.xml", dialer.Busy, 486},
		{"lead-603.xml", dialer.Rejected, 603},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			t.Parallel()
			peer := sipptest.Start(t, "testdata/"+tc.scenario)
			d, err := sip.New(sip.Config{ListenAddr: "127.0.0.1:0", Prompts: fixture.Hum(0)})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			_, err = d.Dial(t.Context(), dialer.DialRequest{To: peer.URI, CallerID: "+15550100", RingTimeout: 10 * time.Second})
			var de *dialer.DialError
			if !errors.As(err, &de) || de.Disposition != tc.want || de.SIPCode != tc.code {
				t.Fatalf("got %v, want %s %d", err, tc.want, tc.code)
			}
			peer.Wait(t)
		})
	}
}

package sip

import (
	"testing"

	"github.com/qualdial/qualdial/dialer"
)

func TestParseInfoDTMF(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ct, body string
		key      byte
		ok       bool
	}{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5', true},
		{"application/dtmf-relay", "Signal= #\nDuration=100", '#', true},
		{"application/dtmf-relay", "Signal=11\r\nDuration=100", '#', true}, // event code form
		{"application/dtmf-relay", "Signal=10\r\n", '*', true},
		{"application/dtmf", "7", '7', true},
		{"application/dtmf", "d", 'D', true},
		{"application/dtmf-relay", "Duration=100", 0, false},
		{"application/dtmf-relay", "Signal=x", 0, false},
		{"application/media_control+xml", "<x/>", 0, false},
	} {
		k, ok := parseInfoDTMF(tc.ct, []byte(tc.body))
		if k != tc.key || ok != tc.ok {
			t.Errorf("%s %q: %q %v, want %q %v", tc.ct, tc.body, k, ok, tc.key, tc.ok)
		}
	}
}

func TestMaskPhone(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"+15551234567":                   "+1********67",
		"sip:+15551234567@trunk.example": "sip:+1********67@trunk.example",
		"sip:lead@127.0.0.1:5070":        "sip:lead@127.0.0.1:5070",
	} {
		if got := dialer.MaskPhone(in); got != want {
			t.Errorf("MaskPhone(%q) = %q, want %q", in, got, want)
		}
	}
}

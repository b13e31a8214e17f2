package sip

import (
	"encoding/base64"
	"strings"
	"testing"

	gosip "github.com/emiago/sipgo/sip"
)

// jwt makes an unsigned token of claims, as far as attestationOf reads it.
func jwt(claims string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"ES256","ppt":"shaken","typ":"passport"}`)) + "." + enc.EncodeToString([]byte(claims)) + ".c2ln"
}

// TestAttestationOf: what a trunk's response says of our caller ID's
// attestation, and what it cannot make us record.
func TestAttestationOf(t *testing.T) {
	const caller = "+15550100"
	ours := `{"attest":"B","dest":{"tn":["12125550301"]},"iat":1,"orig":{"tn":"15550100"},"origid":"x"}`
	for _, tc := range []struct {
		name    string
		headers [][2]string
		want    string
	}{
		{"a PASSporT of our caller ID", [][2]string{{"Identity", jwt(ours) + ";info=<https://cert.example/c.pem>;alg=ES256;ppt=shaken"}}, "B"},
		{"a PASSporT without parameters", [][2]string{{"Identity", jwt(ours)}}, "B"},
		{"a PASSporT of another number", [][2]string{{"Identity", jwt(strings.Replace(ours, "15550100", "15550199", 1))}}, ""},
		{"the second Identity is ours", [][2]string{{"Identity", jwt(strings.Replace(ours, "15550100", "15550199", 1))}, {"Identity", jwt(ours)}}, "B"},
		{"the PASSporT wins over Attestation-Info", [][2]string{{"Attestation-Info", "C"}, {"Identity", jwt(ours)}}, "B"},
		{"Attestation-Info alone", [][2]string{{"Attestation-Info", " a "}}, "A"},
		{"a level that is not one", [][2]string{{"Identity", jwt(strings.Replace(ours, `"B"`, `"D"`, 1))}}, ""},
		{"a level written as a header", [][2]string{{"Attestation-Info", "A\r\nX-Evil: 1"}}, ""},
		{"not base64", [][2]string{{"Identity", "a.%%%.c"}}, ""},
		{"not JSON", [][2]string{{"Identity", "a." + base64.RawURLEncoding.EncodeToString([]byte("attest=A")) + ".c"}}, ""},
		{"two parts", [][2]string{{"Identity", "a.b"}}, ""},
		{"too long", [][2]string{{"Identity", jwt(ours) + ";info=<" + strings.Repeat("x", maxIdentity) + ">"}}, ""},
		{"nothing", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := gosip.NewResponse(200, "OK")
			for _, h := range tc.headers {
				res.AppendHeader(gosip.NewHeader(h[0], h[1]))
			}
			if got := attestationOf(res, caller); got != tc.want {
				t.Errorf("attestation %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzPassportAttest: whatever the far end puts in an Identity header,
// reading it never panics and gives A, B, C or nothing.
func FuzzPassportAttest(f *testing.F) {
	f.Add(jwt(`{"attest":"A","orig":{"tn":"15550100"}}`) + ";ppt=shaken")
	f.Add("..")
	f.Add("a.e30.c")
	f.Fuzz(func(t *testing.T, identity string) {
		switch got := passportAttest(identity, "+15550100"); got {
		case "", "A", "B", "C":
		default:
			t.Fatalf("attestation %q from %q", got, identity)
		}
	})
}

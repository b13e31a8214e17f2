package sip

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/qualdial/qualdial/dialer"
)

// maxIdentity bounds an Identity header read for its attestation: a SHAKEN
// PASSporT with its parameters is well under 1 kB; anything longer is not
// decoded.
const maxIdentity = 4096

// attestationOf reads the STIR/SHAKEN attestation of our call as the trunk
// reports it in a response to the INVITE, if it does:
//
//   - an Identity header (RFC 8224) carrying the SHAKEN PASSporT the
//     trunk signed for the call: its "attest" claim, taken only when its
//     originating number is the caller ID we presented;
//   - an Attestation-Info header ("A", "B", "C"), as signing services of
//     some trunks report it.
//
// The PASSporT's signature is not verified: like Twilio's StirStatus, it
// is the trunk's own word about the call it signed. What the far end
// writes never reaches anything but this A/B/C.
func attestationOf(res *gosip.Response, callerID string) string {
	for _, h := range res.GetHeaders("Identity") {
		if a := passportAttest(h.Value(), callerID); a != "" {
			return a
		}
	}
	if h := res.GetHeader("Attestation-Info"); h != nil {
		return dialer.Attestation(h.Value())
	}
	return ""
}

// passportAttest returns the attest claim of an Identity header's
// PASSporT ("<jwt>;info=<…>;alg=ES256;ppt=shaken"), or "" when the header
// is not one, or the PASSporT is about another caller ID.
func passportAttest(identity, callerID string) string {
	if len(identity) > maxIdentity {
		return ""
	}
	token, _, _ := strings.Cut(strings.TrimSpace(identity), ";")
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return ""
	}
	var claims struct {
		Attest string `json:"attest"`
		Orig   struct {
			TN string `json:"tn"`
		} `json:"orig"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return ""
	}
	// The originating number is in digits without "+" (ATIS-1000074);
	// a PASSporT about another number says nothing of ours.
	if claims.Orig.TN != "" && claims.Orig.TN != strings.TrimPrefix(callerID, "+") {
		return ""
	}
	return dialer.Attestation(claims.Attest)
}

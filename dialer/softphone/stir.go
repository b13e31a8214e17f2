package softphone

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// passportCert is where a verifier would fetch the signing certificate;
// nothing serves it: the PASSporT is signed with a key of its own, made
// for the call.
const passportCert = "https://cert.invalid/softphone.pem"

// passport makes the Identity header a signing trunk puts on a call from
// caller to callee at an attestation level: a SHAKEN PASSporT (RFC 8225,
// RFC 8588) signed ES256, with its info, alg and ppt parameters.
func passport(attest, caller, callee string) (string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("passport: %w", err)
	}
	tn := func(n string) string { return strings.TrimPrefix(n, "+") }
	header, err := json.Marshal(map[string]string{"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": passportCert})
	if err != nil {
		return "", err
	}
	claims, err := json.Marshal(map[string]any{
		"attest": attest, "dest": map[string][]string{"tn": {tn(callee)}}, "iat": time.Now().Unix(),
		"orig": map[string]string{"tn": tn(caller)}, "origid": uuid.NewString(),
	})
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	digest := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return "", fmt.Errorf("passport: %w", err)
	}
	sig := make([]byte, 64) // JWS ES256: r and s, 32 bytes each
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return fmt.Sprintf("%s.%s;info=<%s>;alg=ES256;ppt=shaken", signed, enc.EncodeToString(sig), passportCert), nil
}

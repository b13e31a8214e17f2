package softphone_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer/softphone"
)

func TestLoadGatewayPersonas(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte(`
tone: {keys: "1,2", tone_too: true}
leak: {keys: "1,2", leak: 50ms}
both: {keys: "1,2", info_too: true, dtmf: rfc4733}
lossy: {keys: "1,2", drop_end: true, late_end: true}
`), 0o644)
	ps, err := softphone.LoadPersonas(good)
	if err != nil || !ps["tone"].ToneToo || ps["leak"].Leak != 50*time.Millisecond || !ps["both"].InfoToo || !ps["lossy"].DropEnd || !ps["lossy"].LateEnd {
		t.Fatalf("%v %+v", err, ps)
	}
	for body, want := range map[string]string{
		`x: {tone_too: true, dtmf: inband}`: `go with dtmf rfc4733, not inband`,
		`x: {info_too: true, dtmf: info}`:   `go with dtmf rfc4733, not info`,
		`x: {leak: 500ms}`:                  `leak 500ms`,
		`x: {drop_end: true, silent: true}`: `silent sends no RTP`,
	} {
		bad := filepath.Join(dir, "bad.yaml")
		os.WriteFile(bad, []byte(body), 0o644)
		if _, err := softphone.LoadPersonas(bad); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}

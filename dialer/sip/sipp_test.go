package sip_test

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/sip"
	"github.com/qualdial/qualdial/ivr"
)

// sippPeer runs sipp (Debian: sip-tester) as an independent lead phone.
// Without sipp the test is skipped locally and fails under CI.
type sippPeer struct {
	uri  string
	done chan error
	out  *bytes.Buffer
}

func freePort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func startSipp(t *testing.T, scenario string) *sippPeer {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("sipp is required in CI (Debian package sip-tester)")
		}
		t.Skip("sipp not installed (apt-get install sip-tester)")
	}
	port := freePort(t)
	dir := t.TempDir()
	sf, err := filepath.Abs(filepath.Join("testdata", scenario))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-sf", sf, "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t)), "-cp", strconv.Itoa(freePort(t)),
		"-m", "1", "-nostdin", "-trace_err", "-error_file", filepath.Join(dir, "errors.log"), "-timeout", "40s")
	cmd.Dir = dir
	p := &sippPeer{uri: "sip:lead@127.0.0.1:" + strconv.Itoa(port), done: make(chan error, 1), out: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	time.Sleep(300 * time.Millisecond) // sipp binds its ports
	return p
}

// wait requires sipp to finish its scenario successfully.
func (p *sippPeer) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("sipp failed: %v\n%s", err, p.out)
		}
	case <-time.After(45 * time.Second):
		t.Fatal("sipp did not finish")
	}
}

func TestSippLeadPressesKeys(t *testing.T) {
	t.Parallel()
	peer := startSipp(t, "lead-keys.xml")
	d, err := sip.New(sip.Config{ListenAddr: "127.0.0.1:0", Prompts: hum{300 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	src, _ := os.ReadFile("testdata/sipp-lead.yaml")
	eng := ivr.NewEngine(ivr.MustParse("sipp-lead.yaml", src))
	call, err := d.Dial(t.Context(), dialer.DialRequest{To: peer.uri, CallerID: "+15550100", RingTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	out := dialer.Run(t.Context(), call, eng, nil, nil)
	if got := out.KeysHeard(); !slices.Equal(got, []string{"1", "2", "120#"}) {
		t.Fatalf("keys heard %v, want [1 2 120#]; timeline %+v", got, out.Timeline)
	}
	if out.Result.Class != "sql" || out.Result.Total != 65 {
		t.Fatalf("result %+v", out.Result)
	}
	peer.wait(t)
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
			peer := startSipp(t, tc.scenario)
			d, err := sip.New(sip.Config{ListenAddr: "127.0.0.1:0", Prompts: hum{}})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			_, err = d.Dial(t.Context(), dialer.DialRequest{To: peer.uri, CallerID: "+15550100", RingTimeout: 10 * time.Second})
			var de *dialer.DialError
			if !errors.As(err, &de) || de.Disposition != tc.want || de.SIPCode != tc.code {
				t.Fatalf("got %v, want %s %d", err, tc.want, tc.code)
			}
			peer.wait(t)
		})
	}
}

// Package sipptest runs sipp (Debian package sip-tester) as an independent
// SIP peer in tests. Without sipp, tests are skipped locally and fail when
// CI is set. It also writes what sipp plays: UAS scenarios (Lead and
// LeadWith, with PlayPCAP, Pause, Info, Offer and InviteWithoutOffer
// steps) and pcap files of RTP generated in the test (Stream: G.711 audio
// and RFC 4733 events with gateways' habits). Peer.Messages is what sipp
// saw on the wire, for assertions.
package sipptest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Peer is one sipp process running a UAS scenario for one call.
type Peer struct {
	// URI dials the peer.
	URI  string
	done chan error
	mu   sync.Mutex
	out  bytes.Buffer
	msgs string // sipp's message trace
}

// Messages is every SIP message sipp sent and received so far, as sipp
// traced them (-trace_msg): what reached the wire, for assertions.
func (p *Peer) Messages(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(p.msgs)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

func (p *Peer) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *Peer) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// FreePort returns a UDP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// Start runs sipp with the scenario file for one call on loopback.
func Start(t testing.TB, scenario string) *Peer {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("sipp is required in CI (Debian package sip-tester)")
		}
		t.Skip("sipp not installed (apt-get install sip-tester)")
	}
	sf, err := filepath.Abs(scenario)
	if err != nil {
		t.Fatal(err)
	}
	port := FreePort(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "-sf", sf, "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(FreePort(t)), "-cp", strconv.Itoa(FreePort(t)),
		"-m", "1", "-nostdin", "-trace_err", "-error_file", filepath.Join(dir, "errors.log"), "-timeout", "40s",
		"-trace_msg", "-message_file", filepath.Join(dir, "messages.log"))
	cmd.Dir = dir
	p := &Peer{URI: "sip:lead@127.0.0.1:" + strconv.Itoa(port), done: make(chan error, 1), msgs: filepath.Join(dir, "messages.log")}
	cmd.Stdout, cmd.Stderr = p, p
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	awaitBound(t, port, p)
	return p
}

// awaitBound returns once sipp holds its SIP port (a loaded machine can
// take seconds to start it; a request sent before would be lost). It reads
// the kernel's socket table rather than probing the port, which could take
// it from sipp; where there is none (not Linux), it waits a moment.
func awaitBound(t testing.TB, port int, p *Peer) {
	t.Helper()
	if _, err := os.Stat("/proc/net/udp"); err != nil {
		time.Sleep(300 * time.Millisecond)
		return
	}
	local := fmt.Sprintf(":%04X ", port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile("/proc/net/udp"); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) > 1 && strings.HasSuffix(f[1]+" ", local) {
					return
				}
			}
		}
		select {
		case err := <-p.done:
			t.Fatalf("sipp exited before listening: %v\n%s", err, p.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sipp did not listen on port %d within 20s\n%s", port, p.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Wait requires sipp to finish its scenario successfully.
func (p *Peer) Wait(t testing.TB) {
	t.Helper()
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("sipp failed: %v\n%s", err, p.output())
		}
	case <-time.After(45 * time.Second):
		t.Fatal("sipp did not finish")
	}
}

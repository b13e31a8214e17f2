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
	port int    // SIP port
	pid  int    // sipp's process
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
	// A port found free can be taken by another test before sipp binds
	// it; then sipp exits, and it is started again on other ports.
	for try := 1; ; try++ {
		p, cmd := startOn(t, bin, sf, FreePort(t))
		err := awaitBound(p, bindWait)
		if err == nil {
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			return p
		}
		_ = cmd.Process.Kill()
		if try == 3 {
			t.Fatalf("sipp: %v\n%s", err, p.output())
		}
	}
}

// bindWait is how long Start waits for sipp to listen.
const bindWait = 20 * time.Second

// startOn runs sipp with the scenario on the SIP port.
func startOn(t testing.TB, bin, scenario string, port int) (*Peer, *exec.Cmd) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(bin, "-sf", scenario, "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(FreePort(t)), "-cp", strconv.Itoa(FreePort(t)),
		"-m", "1", "-nostdin", "-trace_err", "-error_file", filepath.Join(dir, "errors.log"), "-timeout", "40s",
		"-trace_msg", "-message_file", filepath.Join(dir, "messages.log"))
	cmd.Dir = dir
	p := &Peer{URI: "sip:lead@127.0.0.1:" + strconv.Itoa(port), done: make(chan error, 1), msgs: filepath.Join(dir, "messages.log"), port: port}
	cmd.Stdout, cmd.Stderr = p, p
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.pid = cmd.Process.Pid
	go func() { p.done <- cmd.Wait() }()
	return p, cmd
}

// awaitBound returns once sipp holds its SIP port (a loaded machine can
// take seconds to start it; a request sent before would be lost), or an
// error when sipp exits first (its port was taken). It reads the kernel's
// socket tables rather than probing the port, which could take it from
// sipp; where there are none (not Linux), it waits a moment.
func awaitBound(p *Peer, wait time.Duration) error {
	if _, err := os.Stat("/proc/net/udp"); err != nil {
		time.Sleep(300 * time.Millisecond)
		return nil
	}
	local := fmt.Sprintf(":%04X", p.port)
	deadline := time.Now().Add(wait)
	for {
		if inode := udpInode(local); inode != "" && ownsSocket(p.pid, inode) {
			return nil
		}
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("sipp exited before listening on port %d: %v", p.port, err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sipp did not listen on port %d within %s", p.port, wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// udpInode is the inode of the socket bound to the local address
// (":PORT" in hex) in /proc/net/udp, or "".
func udpInode(local string) string {
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 9 && strings.HasSuffix(f[1], local) {
			return f[9]
		}
	}
	return ""
}

// ownsSocket reports whether process pid has the socket open.
func ownsSocket(pid int, inode string) bool {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return false
	}
	want := "socket:[" + inode + "]"
	for _, fd := range fds {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && l == want {
			return true
		}
	}
	return false
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

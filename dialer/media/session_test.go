package media

import (
	"context"
	"net"
	"testing"
	"time"
)

func udp(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pair returns two sessions talking to each other on loopback.
func pair(t testing.TB, a, b SessionConfig) (*Session, *Session) {
	t.Helper()
	ca, cb := udp(t), udp(t)
	a.Conn, a.Remote = ca, cb.LocalAddr().(*net.UDPAddr)
	b.Conn, b.Remote = cb, ca.LocalAddr().(*net.UDPAddr)
	sa, err := NewSession(a)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := NewSession(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sa.Close(); sb.Close() })
	return sa, sb
}

func readKeys(t *testing.T, s *Session, n int, within time.Duration) string {
	t.Helper()
	var got []byte
	deadline := time.After(within)
	for len(got) < n {
		select {
		case k := <-s.Keys():
			got = append(got, k)
		case <-deadline:
			return string(got)
		}
	}
	return string(got)
}

func TestSessionKeysBothWays(t *testing.T) {
	t.Parallel()
	caller, phone := pair(t,
		SessionConfig{Codec: PCMU, SendEventPT: 101, RecvEventPT: 101, DetectInband: true, Record: true},
		SessionConfig{Codec: PCMU, SendEventPT: 101, RecvEventPT: 101})
	// RFC 4733 from the phone.
	for _, k := range []byte("12#") {
		if err := phone.SendKey(k, 100); err != nil {
			t.Fatal(err)
		}
	}
	if got := readKeys(t, caller, 3, 3*time.Second); got != "12#" {
		t.Fatalf("RFC 4733 keys %q, want 12#", got)
	}
	// In-band tones from the phone: once telephone-events were seen, they
	// are authoritative and tones are not listened to (DTMFAuto)...
	tones := append(append(Tone('5', 100), make([]int16, 800)...), Tone('0', 100)...)
	if err := phone.Play(t.Context(), PCMU.Encode(nil, tones)); err != nil {
		t.Fatal(err)
	}
	if got := readKeys(t, caller, 1, 500*time.Millisecond); got != "" {
		t.Fatalf("in-band keys %q after telephone-events, want none", got)
	}
	if m := caller.DTMFMethod(); m != "rfc4733" {
		t.Errorf("DTMFMethod %q, want rfc4733", m)
	}
	// ...but a call that sends only tones is heard.
	inband, tonePhone := pair(t,
		SessionConfig{Codec: PCMU, SendEventPT: 101, RecvEventPT: 101, DetectInband: true, Record: true},
		SessionConfig{Codec: PCMU, SendEventPT: 101, RecvEventPT: 101})
	if err := tonePhone.Play(t.Context(), PCMU.Encode(nil, tones)); err != nil {
		t.Fatal(err)
	}
	if got := readKeys(t, inband, 2, 3*time.Second); got != "50" {
		t.Fatalf("in-band keys %q, want 50", got)
	}
	if m := inband.DTMFMethod(); m != "inband" {
		t.Errorf("DTMFMethod %q, want inband", m)
	}
	caller = inband
	for i := 0; i < 50 && len(caller.Heard()) < len(tones); i++ {
		time.Sleep(10 * time.Millisecond) // the last frames are still in flight
	}
	if len(caller.Heard()) < len(tones) {
		t.Errorf("recorded %d samples, want ≥ %d", len(caller.Heard()), len(tones))
	}
}

func TestSessionPlayPacesAndBargesIn(t *testing.T) {
	t.Parallel()
	caller, _ := pair(t, SessionConfig{Codec: PCMA, SendEventPT: -1, RecvEventPT: -1}, SessionConfig{Codec: PCMA, SendEventPT: -1, RecvEventPT: -1})
	audio := make([]byte, 25*FrameSamples) // 500 ms
	start := time.Now()
	if err := caller.Play(t.Context(), audio); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 440*time.Millisecond || d > 900*time.Millisecond {
		t.Errorf("500 ms of audio played in %s", d)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	if err := caller.Play(ctx, make([]byte, 250*FrameSamples)); err == nil {
		t.Fatal("Play of 5 s returned nil after a 100 ms barge-in")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("barge-in took %s", d)
	}
	if err := caller.SendKey('1', 100); err == nil {
		t.Error("SendKey without a telephone-event payload type succeeded")
	}
	sent, _, j := caller.Stats()
	if sent < 25 || j.Count() == 0 {
		t.Errorf("sent %d packets, %d intervals", sent, j.Count())
	}
}

func TestSessionMediaTimeout(t *testing.T) {
	t.Parallel()
	caller, phone := pair(t, SessionConfig{Codec: PCMU, SendEventPT: -1, RecvEventPT: -1, MediaTimeout: 300 * time.Millisecond},
		SessionConfig{Codec: PCMU, SendEventPT: -1, RecvEventPT: -1})
	select {
	case <-caller.Timeout():
		t.Fatal("timed out while the phone still sends")
	case <-time.After(500 * time.Millisecond):
	}
	phone.Close()
	select {
	case <-caller.Timeout():
	case <-time.After(2 * time.Second):
		t.Fatal("no media timeout after the phone stopped sending")
	}
	if err := caller.Close(); err != nil {
		t.Fatal(err)
	}
	if err := caller.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

package media

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// sink records the RTP packets that arrive on a socket.
type sink struct {
	conn *net.UDPConn
	mu   sync.Mutex
	got  []rtp.Header
}

func newSink(t testing.TB) *sink {
	k := &sink{conn: udp(t)}
	t.Cleanup(func() { k.conn.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, err := k.conn.Read(buf)
			if err != nil {
				return
			}
			var p rtp.Packet
			if p.Unmarshal(buf[:n]) == nil {
				k.mu.Lock()
				k.got = append(k.got, p.Header)
				k.mu.Unlock()
			}
		}
	}()
	return k
}

func (k *sink) headers() []rtp.Header {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]rtp.Header(nil), k.got...)
}

// sendingTo starts a session on p that sends to k.
func sendingTo(t testing.TB, p *pacer, k *sink) *Session {
	t.Helper()
	s, err := NewSession(SessionConfig{Conn: udp(t), Remote: k.conn.LocalAddr().(*net.UDPAddr), Codec: PCMU,
		SendEventPT: 101, RecvEventPT: 101, pacer: p})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func waitSent(t *testing.T, s *Session, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if sent, _, _ := s.Stats(); sent >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the clock stopped sending for another session: %d packets, want %d", func() int64 { n, _, _ := s.Stats(); return n }(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A session whose lock is held elsewhere misses ticks; the others on its
// clock go on being sent, and the far end sees the missed frames as lost
// (timestamps follow the clock, sequence numbers have no gap).
func TestClockDoesNotWaitForABusySession(t *testing.T) {
	t.Parallel()
	p := &pacer{}
	ka, kb := newSink(t), newSink(t)
	a, b := sendingTo(t, p, ka), sendingTo(t, p, kb)
	if a.snd.clock != b.snd.clock {
		t.Fatal("the two sessions are on different clocks")
	}
	waitSent(t, a, 3)

	a.mu.Lock()
	sentA, _, _ := a.Stats()
	sentB, _, _ := b.Stats()
	waitSent(t, b, sentB+3)
	if now, _, _ := a.Stats(); now > sentA+1 {
		a.mu.Unlock()
		t.Fatalf("a busy session was sent %d packets", now-sentA)
	}
	a.mu.Unlock()
	waitSent(t, a, sentA+3)

	time.Sleep(50 * time.Millisecond) // the last packets cross the loopback
	hs := ka.headers()
	gap := false
	for i := 1; i < len(hs); i++ {
		if hs[i].SequenceNumber != hs[i-1].SequenceNumber+1 {
			t.Fatalf("sequence %d after %d", hs[i].SequenceNumber, hs[i-1].SequenceNumber)
		}
		if d := hs[i].Timestamp - hs[i-1].Timestamp; d >= 2*FrameSamples {
			gap = true
		} else if d != FrameSamples {
			t.Fatalf("timestamp step %d", d)
		}
	}
	if !gap {
		t.Fatalf("no missed frame in the timestamps of %d packets", len(hs))
	}
}

// Close takes a session off its clock, and a second Close is harmless.
func TestCloseLeavesTheClock(t *testing.T) {
	t.Parallel()
	p := &pacer{}
	k := newSink(t)
	var ss []*Session
	for range clockSessions + 1 {
		ss = append(ss, sendingTo(t, p, k))
	}
	p.mu.Lock()
	clocks := len(p.clocks)
	p.mu.Unlock()
	if clocks != 2 {
		t.Fatalf("%d sessions on %d clocks, want 2", len(ss), clocks)
	}
	c := ss[0].snd.clock
	for _, s := range ss[:clockSessions] {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal("second Close:", err)
		}
	}
	c.mu.Lock()
	left := len(c.sessions)
	c.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d closed sessions still on the clock", left)
	}
	// The clock has room again.
	s := sendingTo(t, p, k)
	if s.snd.clock != c {
		t.Fatal("a new session did not join the clock that has room")
	}
	waitSent(t, s, 2)
}

// BenchmarkSendFrame is the pacing clock's work for one packet: build it
// and send it with sendto(2).
//
//	go test ./dialer/media -run '^$' -bench SendFrame -benchmem
func BenchmarkSendFrame(b *testing.B) {
	k := &sink{conn: udp(b)} // never read: the kernel drops what overflows
	b.Cleanup(func() { k.conn.Close() })
	s := sendingTo(b, &pacer{}, k)
	s.snd.clock.remove(s) // the benchmark is its clock
	time.Sleep(2 * FrameInterval)
	prompt := make([]byte, 100*FrameSamples)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%100 == 0 {
			s.StartPlayback(prompt)
		}
		s.sendFrame(int64(i), true)
	}
}

package media

import (
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// receiverReport is an RTCP RR (RFC 3550 §6.4.2) with no report blocks.
func receiverReport(ssrc uint32) []byte {
	b := []byte{0x80, 201, 0, 1}
	return binary.BigEndian.AppendUint32(b, ssrc)
}

// Item 11: RTCP arriving on the RTP port (rtcp-mux) is never taken for
// media: it latches nothing, counts as no RTP received, and does not keep
// the media timeout away when the RTP has stopped.
func TestRTCPOnTheRTPPortIsNotMedia(t *testing.T) {
	t.Parallel()
	local, far := udp(t), udp(t)
	defer far.Close()
	s, err := NewSession(SessionConfig{Conn: local, Remote: far.LocalAddr().(*net.UDPAddr), Latch: true, Codec: PCMU,
		SendEventPT: 101, RecvEventPT: 101, MediaTimeout: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rtcpFrom := udp(t) // the far end's RTCP socket, if it muxed badly
	defer rtcpFrom.Close()
	stop := time.After(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		_, _ = rtcpFrom.WriteToUDP(receiverReport(0x1234), s.LocalAddr())
		select {
		case <-s.Timeout():
			if _, recv, _ := s.Stats(); recv != 0 {
				t.Errorf("%d RTCP packets counted as RTP", recv)
			}
			if got := s.Remote(); got.Port != far.LocalAddr().(*net.UDPAddr).Port {
				t.Errorf("RTCP latched the media to %s", got)
			}
			return
		case <-stop:
			t.Fatal("RTCP alone kept the media timeout away")
		case <-tick.C:
		}
	}
}

// Item 5/6: Update follows the far end — codec, address, direction — and
// while it holds the call nothing is sent, the prompt waits and the media
// timeout does not run.
func TestUpdateHoldAndCodecSwitch(t *testing.T) {
	t.Parallel()
	local, far := udp(t), udp(t)
	defer far.Close()
	s, err := NewSession(SessionConfig{Conn: local, Remote: far.LocalAddr().(*net.UDPAddr), Latch: true, Codec: PCMU,
		SendEventPT: 101, RecvEventPT: 101, MediaTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Update(Update{Codec: PCMA, SendEventPT: 101, Direction: RecvOnly})
	held, changed := s.Held()
	if !held || s.Codec() != PCMA {
		t.Fatalf("held %v, codec %s after a hold offering PCMA", held, s.Codec())
	}
	done := s.StartPlaybackAs(PCMU, PCMU.Encode(nil, make([]int16, 8000))) // 1 s, transcoded
	// Drain what was sent before the hold took effect, then expect silence.
	_ = far.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	buf := make([]byte, 1500)
	for {
		if _, _, err := far.ReadFromUDP(buf); err != nil {
			break
		}
	}
	_ = far.SetReadDeadline(time.Now().Add(time.Second))
	if n, _, err := far.ReadFromUDP(buf); err == nil {
		t.Fatalf("sent %d bytes while held", n)
	}
	select {
	case <-s.Timeout():
		t.Fatal("media timeout while held")
	case <-done:
		t.Fatal("the prompt played out while held")
	default:
	}
	s.Update(Update{Codec: PCMA, SendEventPT: 101, Direction: SendRecv})
	select {
	case <-changed:
	default:
		t.Error("Held's channel was not closed on resume")
	}
	_ = far.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := far.ReadFromUDP(buf)
	if err != nil || n < 12 || buf[1]&0x7f != byte(PCMA) {
		t.Fatalf("after the resume: %d bytes, %v, payload type %d; want PCMA", n, err, buf[1]&0x7f)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the prompt did not resume")
	}
}

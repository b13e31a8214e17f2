package media

import (
	"time"

	"github.com/pion/rtp"
)

// keyInput turns what the receiver hears — telephone-event packets and
// audio — into key presses for the session. It runs on the receiving
// goroutine only.
type keyInput struct {
	s         *Session
	events    EventDetector
	tones     *ToneDetector
	lastEvent time.Time
}

func newKeyInput(s *Session) *keyInput {
	in := &keyInput{s: s}
	if s.cfg.DetectInband {
		in.tones = NewToneDetector()
	}
	return in
}

// event takes one telephone-event packet.
func (in *keyInput) event(now time.Time, pkt *rtp.Packet) {
	in.lastEvent = now
	for _, k := range in.events.Feed(pkt.SSRC, pkt.Timestamp, pkt.Payload) {
		in.s.deliver(k)
	}
}

// wantsAudio reports whether audio frames are listened to for tones.
func (in *keyInput) wantsAudio() bool { return in.tones != nil }

// audio takes one decoded audio frame.
func (in *keyInput) audio(now time.Time, pcm []int16) {
	if in.tones == nil {
		return
	}
	if k, ok := in.tones.Feed(pcm); ok {
		in.s.deliver(k)
	}
}

// idle runs when no packet arrived for a while: a press whose end packets
// were lost is reported.
func (in *keyInput) idle(now time.Time) {
	if !in.lastEvent.IsZero() && now.Sub(in.lastEvent) > 200*time.Millisecond {
		if k, ok := in.events.Flush(); ok {
			in.s.deliver(k)
		}
	}
}

package sipptest

import (
	"time"

	"github.com/pion/rtp"

	"github.com/qualdial/qualdial/dialer/media"
)

// Stream builds the RTP a phone behind a gateway sends, 20 ms at a time:
// G.711 audio and RFC 4733 telephone-events under one SSRC and one
// sequence, with the habits of real gateways (see Press). Write it with
// WritePCAP and play it with sipp's play_pcap_audio.
type Stream struct {
	codec   media.Codec
	eventPT uint8
	ssrc    uint32
	seq     uint16
	ts      uint32
	now     time.Duration
	pkts    []Packet
	ends    []rtp.Packet // each press's End packet
}

// NewStream starts a stream in the codec, with events of payload type eventPT.
func NewStream(codec media.Codec, eventPT uint8) *Stream {
	return &Stream{codec: codec, eventPT: eventPT, ssrc: 0x5eed1e55, seq: 4242, ts: 160000}
}

// Now is the time the next packet is sent at, from the start of the stream.
func (s *Stream) Now() time.Duration { return s.now }

// Packets is the stream so far.
func (s *Stream) Packets() []Packet { return s.pkts }

// Quiet sends d of silence (rounded up to 20 ms frames).
func (s *Stream) Quiet(d time.Duration) {
	for range frames(d) {
		s.audio(make([]int16, media.FrameSamples))
		s.tick()
	}
}

// Press is how one key is pressed.
type Press struct {
	Key byte
	// Duration of the press; default 100 ms.
	Duration time.Duration
	// Inband sends only the tone in the audio, no events.
	Inband bool
	// ToneToo leaves the tone in the audio beside the events: every 20 ms
	// an event packet and an audio frame.
	ToneToo bool
	// Leak sends this much of the tone in the audio before the events
	// start (gateways leak 40-60 ms while they detect the key).
	Leak time.Duration
	// NoEnd sends no End packets: audio simply resumes after the press.
	NoEnd bool
	// LateEnd sends the previous press's End packet again during this
	// press (after its second event packet), as a late redundant copy.
	LateEnd bool
}

// Press sends one key press and returns when it starts (its first tone
// sample or event packet) from the start of the stream.
func (s *Stream) Press(p Press) time.Duration {
	start := s.now
	if p.Duration == 0 {
		p.Duration = 100 * time.Millisecond
	}
	n := frames(p.Duration)
	leak := samples(p.Leak)
	tone := media.Tone(p.Key, int((p.Leak+p.Duration)/time.Millisecond))
	for i := range frames(p.Leak) {
		frame := make([]int16, media.FrameSamples)
		copy(frame, tone[i*media.FrameSamples:min((i+1)*media.FrameSamples, leak)])
		s.audio(frame)
		s.tick()
	}
	tone = tone[leak:]
	code, _ := media.EventCode(p.Key)
	evTS := s.ts
	end := s.event(evTS, media.Event{Code: code, End: true, Volume: 10, Length: uint16(n * media.FrameSamples)}, false)
	for i := range n + 2 { // the press, then its three End packets
		if p.ToneToo || p.Inband {
			frame := make([]int16, media.FrameSamples)
			if i < n {
				copy(frame, tone[i*media.FrameSamples:])
			}
			s.audio(frame)
		}
		if !p.Inband {
			switch {
			case i < n-1:
				s.send(s.event(evTS, media.Event{Code: code, Volume: 10, Length: uint16((i + 1) * media.FrameSamples)}, i == 0))
			case !p.NoEnd:
				s.send(end)
			case !p.ToneToo:
				s.audio(make([]int16, media.FrameSamples)) // no End: audio resumes
			}
			if i == 1 && p.LateEnd && len(s.ends) > 0 {
				s.send(s.ends[len(s.ends)-1])
			}
		}
		s.tick()
	}
	s.ends = append(s.ends, end)
	return start
}

func (s *Stream) tick() {
	s.now += media.FrameInterval
	s.ts += media.FrameSamples
}

func (s *Stream) audio(pcm []int16) {
	s.send(rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: uint8(s.codec), Timestamp: s.ts, SSRC: s.ssrc},
		Payload: s.codec.Encode(nil, pcm)})
}

func (s *Stream) event(ts uint32, ev media.Event, marker bool) rtp.Packet {
	return rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: s.eventPT, Marker: marker, Timestamp: ts, SSRC: s.ssrc},
		Payload: ev.AppendTo(nil)}
}

// send queues a packet now, with the next sequence number.
func (s *Stream) send(p rtp.Packet) {
	p.SequenceNumber = s.seq
	s.seq++
	s.pkts = append(s.pkts, Packet{At: s.now, Packet: p})
}

func frames(d time.Duration) int {
	return int((d + media.FrameInterval - 1) / media.FrameInterval)
}

func samples(d time.Duration) int { return int(d * media.SampleRate / time.Second) }

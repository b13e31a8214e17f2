package media

import (
	"encoding/binary"
	"fmt"
)

// Keys lists the DTMF keys by RFC 4733 event code (0-9, *, #, A-D).
const Keys = "0123456789*#ABCD"

// EventCode returns the RFC 4733 event code of a key.
func EventCode(key byte) (uint8, bool) {
	for i := range len(Keys) {
		if Keys[i] == key {
			return uint8(i), true
		}
	}
	return 0, false
}

// Event is one RFC 4733 telephone-event payload.
type Event struct {
	Code   uint8 // 0-15: see Keys
	End    bool
	Volume uint8  // 0-63, in -dBm0
	Length uint16 // duration so far, in timestamp units (1/8000 s)
}

// Key returns the key of the event, or 0 for codes above 15.
func (e Event) Key() byte {
	if e.Code < 16 {
		return Keys[e.Code]
	}
	return 0
}

// ParseEvent decodes a telephone-event payload.
func ParseEvent(b []byte) (Event, error) {
	if len(b) < 4 {
		return Event{}, fmt.Errorf("telephone-event payload is %d bytes, want 4", len(b))
	}
	return Event{Code: b[0], End: b[1]&0x80 != 0, Volume: b[1] & 0x3f, Length: binary.BigEndian.Uint16(b[2:4])}, nil
}

// AppendTo appends the 4-byte payload of e to b.
func (e Event) AppendTo(b []byte) []byte {
	flags := e.Volume & 0x3f
	if e.End {
		flags |= 0x80
	}
	return binary.BigEndian.AppendUint16(append(b, e.Code, flags), e.Length)
}

// EventSequence is the packets for one key press of the given length in
// 20 ms steps: updates every 20 ms, then the end packet three times (RFC
// 4733 §2.5.1.4). All share one RTP timestamp.
func EventSequence(key byte, frames int) ([]Event, error) {
	code, ok := EventCode(key)
	if !ok {
		return nil, fmt.Errorf("%q is not a DTMF key", key)
	}
	frames = max(frames, 2)
	out := make([]Event, 0, frames+2)
	for i := 1; i < frames; i++ {
		out = append(out, Event{Code: code, Volume: 10, Length: uint16(i * FrameSamples)})
	}
	end := Event{Code: code, End: true, Volume: 10, Length: uint16(frames * FrameSamples)}
	return append(out, end, end, end), nil
}

// EventDetector turns a stream of telephone-event packets into key presses.
// All packets of one press share an (SSRC, timestamp); a press is reported
// once, on its first end packet, or when the next press starts if every end
// packet was lost. Sequence numbers, the marker bit and the duration field
// are not relied on: carriers and test tools disagree about them.
type EventDetector struct {
	cur      pressID
	curKey   byte
	reported bool
	started  bool
}

type pressID struct{ ssrc, ts uint32 }

// Feed takes one telephone-event packet and returns the keys it completes:
// none, one, or (when an end was lost) two.
func (d *EventDetector) Feed(ssrc, timestamp uint32, payload []byte) []byte {
	ev, err := ParseEvent(payload)
	if err != nil || ev.Key() == 0 {
		return nil
	}
	id := pressID{ssrc, timestamp}
	var out []byte
	if !d.started || id != d.cur {
		if d.started && !d.reported {
			out = append(out, d.curKey) // the previous press lost its end packets
		}
		d.cur, d.curKey, d.reported, d.started = id, ev.Key(), false, true
	}
	if ev.End && !d.reported {
		d.reported = true
		out = append(out, d.curKey)
	}
	return out
}

// Flush reports a press whose end packets never came; call it when no
// telephone-event packet has arrived for a while.
func (d *EventDetector) Flush() (byte, bool) {
	if d.started && !d.reported {
		d.reported = true
		return d.curKey, true
	}
	return 0, false
}

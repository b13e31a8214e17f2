package media

import (
	"encoding/binary"
	"fmt"
	"time"
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

// EventFlushAfter is how long after the latest packet of a press whose End
// packets never came the press is reported anyway. RFC 4733 senders repeat
// a press's packet at least every 50 ms while it lasts, so a quarter of a
// second of nothing means the End packets were lost.
const EventFlushAfter = 250 * time.Millisecond

// eventLateWindow is how long packets of an ended press are taken for late
// or repeated copies of it. After that, a press reusing its (SSRC,
// timestamp) is a new press: test tools replay one capture for every press
// of a key, though a real sender gives each press the timestamp it started at.
const eventLateWindow = time.Second

// Press is one key press heard as telephone-events: its key and when its
// first and latest packets arrived.
type Press struct {
	Key         byte
	First, Last time.Time
}

// EventDetector turns a stream of telephone-event packets into key presses.
// All packets of one press share an (SSRC, timestamp) and its event; a press is reported
// once: on its first End packet, when the next press starts if every End
// packet was lost, or by Expire once EventFlushAfter has passed without a
// packet of it. Recently ended presses are remembered, so their late or
// repeated packets (a redundant End arriving after the next press started,
// a duplicated update) are ignored instead of heard as new presses.
// Sequence numbers, the marker bit and the duration field are not relied
// on: carriers and test tools disagree about them.
//
// The zero value is ready to use. It is not safe for concurrent use.
type EventDetector struct {
	live        bool // a press is under way and not yet reported
	cur         pressID
	curKey      byte
	first, last time.Time

	ended [8]endedPress // recently ended presses, a ring
	next  int
}

// pressID names a press: the SSRC and timestamp all its packets share, and
// its event (a sender reusing a timestamp for another key starts a new press).
type pressID struct {
	ssrc, ts uint32
	code     uint8
}

type endedPress struct {
	id    pressID
	last  time.Time // latest packet seen of it
	valid bool
}

// Feed takes one telephone-event packet that arrived at now and appends the
// presses it completes to dst: none, one, or (when the previous press lost
// its End packets) two.
func (d *EventDetector) Feed(dst []Press, now time.Time, ssrc, timestamp uint32, payload []byte) []Press {
	ev, err := ParseEvent(payload)
	if err != nil || ev.Key() == 0 {
		return dst
	}
	id := pressID{ssrc, timestamp, ev.Code}
	if d.live && id == d.cur {
		d.last = now
		if ev.End {
			dst = d.finish(dst)
		}
		return dst
	}
	if e := d.endedPress(id); e != nil {
		if ev.End || now.Sub(e.last) < eventLateWindow {
			e.last = now // late or repeated: ignore it, and keep ignoring its kin
			return dst
		}
		e.valid = false // an old (SSRC, timestamp) used again, long after
	}
	if d.live {
		dst = d.finish(dst) // the previous press lost its End packets
	}
	d.live, d.cur, d.curKey, d.first, d.last = true, id, ev.Key(), now, now
	if ev.End {
		dst = d.finish(dst)
	}
	return dst
}

// Expire reports a press whose End packets never came, once EventFlushAfter
// has passed since its latest packet. Call it as time passes: on every
// packet received and when none arrives for a while.
func (d *EventDetector) Expire(now time.Time) (Press, bool) {
	if !d.live || now.Sub(d.last) < EventFlushAfter {
		return Press{}, false
	}
	var buf [1]Press
	return d.finish(buf[:0])[0], true
}

// InPress reports whether a press is under way and not yet reported.
func (d *EventDetector) InPress() bool { return d.live }

// finish reports the live press and remembers it as ended.
func (d *EventDetector) finish(dst []Press) []Press {
	d.live = false
	d.ended[d.next] = endedPress{id: d.cur, last: d.last, valid: true}
	d.next = (d.next + 1) % len(d.ended)
	return append(dst, Press{Key: d.curKey, First: d.first, Last: d.last})
}

func (d *EventDetector) endedPress(id pressID) *endedPress {
	for i := range d.ended {
		if d.ended[i].valid && d.ended[i].id == id {
			return &d.ended[i]
		}
	}
	return nil
}

package media

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// DTMFMode says which ways of sending keys a call listens to.
type DTMFMode string

// The DTMF modes. A fixed mode hears only its own method.
const (
	// DTMFAuto hears every method and makes one press one key: RFC 4733
	// telephone-events are authoritative once seen, else SIP INFO, else
	// in-band tones (see SessionConfig.DTMF).
	DTMFAuto    DTMFMode = "auto"
	DTMFRFC4733 DTMFMode = "rfc4733" // telephone-events only
	DTMFInfo    DTMFMode = "info"    // SIP INFO only
	DTMFInband  DTMFMode = "inband"  // tones in the audio only
)

// ParseDTMFMode reads a DTMF mode; the empty string is DTMFAuto.
func ParseDTMFMode(s string) (DTMFMode, error) {
	switch m := DTMFMode(s); m {
	case "":
		return DTMFAuto, nil
	case DTMFAuto, DTMFRFC4733, DTMFInfo, DTMFInband:
		return m, nil
	}
	return "", fmt.Errorf("DTMF mode %q: use auto, rfc4733, info or inband", s)
}

// The windows of DTMFAuto.
const (
	// dupWindow: a key heard by one method within this long of the same
	// key heard by another is the same press, heard twice.
	dupWindow = 500 * time.Millisecond
	// inbandHold: while telephone-events are negotiated but none has been
	// seen, an in-band key waits this long for them. Gateways leak 40-60 ms
	// of tone before their events start; the detector needs 40 ms of it,
	// so the first event follows within about 20 ms, plus jitter.
	inbandHold = 120 * time.Millisecond
)

// method is a way keys arrive, in order of precedence.
type method int32

const (
	methodNone method = iota
	methodInband
	methodInfo
	methodRFC4733
)

func (m method) String() string {
	switch m {
	case methodInband:
		return string(DTMFInband)
	case methodInfo:
		return string(DTMFInfo)
	case methodRFC4733:
		return string(DTMFRFC4733)
	}
	return "none"
}

// heardKey is a key recently delivered, kept to recognise its copy by
// another method.
type heardKey struct {
	key      byte
	by       method
	from, to time.Time // when the press was heard, first to last
	matched  bool      // a copy by another method was dropped already
}

// infoKey is a key that came by SIP INFO, with its arrival time.
type infoKey struct {
	key byte
	at  time.Time
}

// keyInput turns what a call hears — telephone-event packets, audio, SIP
// INFO keys — into key presses, one key per press. It runs on the
// session's receiving goroutine, which calls event, audio and idle; SIP
// INFO keys reach it through a channel (info), drained on each of those
// calls. Nothing in it blocks.
type keyInput struct {
	mode       DTMFMode
	negotiated bool // the far end's SDP has telephone-event
	deliver    func(byte)
	log        *slog.Logger

	info   chan infoKey
	method atomic.Int32 // the authoritative method so far, for DTMFMethod

	events    EventDetector
	tones     *ToneDetector // nil while tones are not listened to
	seenEvent bool
	seenInfo  bool
	held      byte // in-band key waiting for telephone-events (inbandHold)
	heldAt    time.Time
	recent    [8]heardKey // a ring of the latest keys delivered
	next      int

	presses []Press // scratch
	found   []byte  // scratch
}

func newKeyInput(cfg SessionConfig, deliver func(byte), log *slog.Logger) *keyInput {
	in := &keyInput{
		mode:       cfg.DTMF,
		negotiated: cfg.SendEventPT >= 0,
		deliver:    deliver,
		log:        log,
		info:       make(chan infoKey, 16),
	}
	if in.mode == "" {
		in.mode = DTMFAuto
	}
	if in.mode == DTMFInband || (in.mode == DTMFAuto && cfg.DetectInband) {
		in.tones = NewToneDetector()
	}
	return in
}

// infoKey hands over a key that came by SIP INFO. It may be called from
// any goroutine and never blocks: a key that does not fit is dropped.
func (in *keyInput) infoKey(k byte, at time.Time) {
	select {
	case in.info <- infoKey{k, at}:
	default:
		in.log.Warn("dtmf: SIP INFO key dropped: too many waiting")
	}
}

// event takes one telephone-event packet.
func (in *keyInput) event(now time.Time, pkt *rtp.Packet) {
	in.drain()
	if in.mode == DTMFAuto || in.mode == DTMFRFC4733 {
		in.presses = in.events.Feed(in.presses[:0], now, pkt.SSRC, pkt.Timestamp, pkt.Payload)
		if len(in.presses) > 0 || in.events.InPress() {
			in.sawEvent()
		}
		for _, p := range in.presses {
			in.offer(methodRFC4733, p.Key, p.First, p.Last)
		}
	}
	in.expire(now)
}

// wantsAudio reports whether audio frames are listened to for tones.
func (in *keyInput) wantsAudio() bool { return in.tones != nil }

// audio takes one decoded audio frame.
func (in *keyInput) audio(now time.Time, pcm []int16) {
	in.drain()
	if in.tones != nil && len(pcm) > 0 {
		in.found = in.tones.Detect(in.found[:0], pcm)
		for _, k := range in.found {
			in.heardTone(now, k)
		}
	}
	in.expire(now)
}

// idle runs as time passes without a key packet or an audio frame being
// decoded: when no packet arrived for a while, or one that is neither.
func (in *keyInput) idle(now time.Time) {
	in.drain()
	in.expire(now)
}

// drain takes the SIP INFO keys that arrived meanwhile.
func (in *keyInput) drain() {
	for {
		select {
		case k := <-in.info:
			in.heardInfo(k)
		default:
			return
		}
	}
}

// expire reports what is due by now: a press whose End packets never came,
// an in-band key that waited long enough for telephone-events.
func (in *keyInput) expire(now time.Time) {
	if in.held != 0 && now.Sub(in.heldAt) >= inbandHold {
		k := in.held
		in.held = 0
		in.offer(methodInband, k, in.heldAt, in.heldAt)
	}
	if p, ok := in.events.Expire(now); ok {
		in.log.Debug("dtmf: telephone-event press without End packets flushed")
		in.offer(methodRFC4733, p.Key, p.First, p.Last)
	}
}

// sawEvent notes a telephone-event: from now on, in DTMFAuto, they are
// authoritative and tones are no longer listened to.
func (in *keyInput) sawEvent() {
	if in.seenEvent {
		return
	}
	in.seenEvent = true
	in.raise(methodRFC4733)
	if in.mode != DTMFAuto {
		return
	}
	if in.held != 0 {
		in.log.Debug("dtmf: in-band key dropped: telephone-events follow it")
		in.held = 0
	}
	in.tones = nil
}

func (in *keyInput) heardInfo(k infoKey) {
	switch in.mode {
	case DTMFAuto:
	case DTMFInfo:
	default:
		in.log.Debug("dtmf: SIP INFO key ignored", "dtmf_mode", string(in.mode))
		return
	}
	if !in.seenInfo {
		in.seenInfo = true
		in.raise(methodInfo)
		if in.mode == DTMFAuto && in.tones != nil {
			in.tones = nil // SIP INFO outranks tones
		}
	}
	in.offer(methodInfo, k.key, k.at, k.at)
}

func (in *keyInput) heardTone(now time.Time, k byte) {
	if in.mode == DTMFAuto && in.negotiated && !in.seenEvent {
		if in.held != 0 { // cannot happen with real tones: keys are ≥ 70 ms apart
			in.offer(methodInband, in.held, in.heldAt, in.heldAt)
		}
		in.held, in.heldAt = k, now
		return
	}
	in.offer(methodInband, k, now, now)
}

// offer delivers a key heard by one method from from to to, unless it is a
// copy of a key already delivered from another method: the same key within
// dupWindow, not yet matched with a copy. The first copy to arrive wins.
func (in *keyInput) offer(by method, k byte, from, to time.Time) {
	if in.mode == DTMFAuto {
		var dup *heardKey
		for i := range len(in.recent) { // oldest first
			r := &in.recent[(in.next+i)%len(in.recent)]
			if r.key == k && r.by != methodNone && r.by != by && !r.matched &&
				!from.After(r.to.Add(dupWindow)) && !r.from.After(to.Add(dupWindow)) {
				dup = r
				break
			}
		}
		if dup != nil {
			dup.matched = true
			in.log.Debug("dtmf: copy of a key dropped", "method", by.String(), "first_method", dup.by.String())
			return
		}
		in.recent[in.next] = heardKey{key: k, by: by, from: from, to: to}
		in.next = (in.next + 1) % len(in.recent)
	}
	if by == methodInband {
		in.raise(methodInband)
	}
	in.deliver(k)
}

// raise records a method as heard; the highest heard is authoritative.
func (in *keyInput) raise(m method) {
	for {
		old := in.method.Load()
		if method(old) >= m || in.method.CompareAndSwap(old, int32(m)) {
			return
		}
	}
}

// DTMFMethod reports which way the call's keys came: "rfc4733", "info",
// "inband", or "none" when no key came. Under DTMFAuto it is the
// authoritative method — the highest in precedence heard — whose keys won
// over copies sent another way.
func (s *Session) DTMFMethod() string {
	return method(s.in.method.Load()).String()
}

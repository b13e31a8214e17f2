package media

import (
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// phoneLine is what a call hears, 20 ms at a time, as a gateway sends it: per
// tick an audio frame (or none), telephone-event packets, SIP INFO keys.
type phoneLine struct {
	ticks []lineTick
	ts    uint32
	ends  []lineEvent // each press's End packet, for late copies
}

type lineTick struct {
	audio  []int16
	events []lineEvent
	info   []byte
}

type lineEvent struct {
	ts uint32
	ev Event
}

// gw is how a gateway sends one press.
type gw struct {
	events   bool          // RFC 4733 events
	toneToo  bool          // the tone stays in the audio beside the events
	inband   bool          // tone in the audio, no events
	leak     time.Duration // tone in the audio before the events start
	info     bool          // SIP INFO
	infoAt   time.Duration // when the INFO arrives, from the start of the press
	noEnd    bool          // no End packets
	lateEnd  bool          // the previous press's End again, during this press
	duration time.Duration // default 100 ms
}

func (l *phoneLine) tick(audio []int16) *lineTick {
	l.ticks = append(l.ticks, lineTick{audio: audio})
	l.ts += FrameSamples
	return &l.ticks[len(l.ticks)-1]
}

func (l *phoneLine) quiet(ms int) {
	for range ms / 20 {
		l.tick(make([]int16, FrameSamples))
	}
}

func (l *phoneLine) press(key byte, g gw) {
	if g.duration == 0 {
		g.duration = 100 * time.Millisecond
	}
	frames := int(g.duration / FrameInterval)
	start := len(l.ticks)
	code, _ := EventCode(key)
	// The leak: tone in the audio before the events start.
	tone := Tone(key, int((g.leak+g.duration)/time.Millisecond))
	leakFrames := (int(g.leak/time.Millisecond)*SampleRate/1000 + FrameSamples - 1) / FrameSamples
	for i := range leakFrames {
		frame := make([]int16, FrameSamples)
		copy(frame, tone[i*FrameSamples:min(len(tone), (i+1)*FrameSamples, int(g.leak/time.Millisecond)*SampleRate/1000)])
		l.tick(frame)
	}
	tone = tone[int(g.leak/time.Millisecond)*SampleRate/1000:]
	ts := l.ts
	for i := range frames + 2 {
		var audio []int16
		switch {
		case (g.toneToo || g.inband) && i < frames:
			audio = tone[i*FrameSamples : (i+1)*FrameSamples]
		case !g.events || i >= frames:
			audio = make([]int16, FrameSamples)
		}
		t := l.tick(audio)
		if !g.events {
			continue
		}
		switch {
		case i < frames-1:
			t.events = append(t.events, lineEvent{ts, Event{Code: code, Volume: 10, Length: uint16((i + 1) * FrameSamples)}})
		case !g.noEnd:
			t.events = append(t.events, lineEvent{ts, Event{Code: code, End: true, Volume: 10, Length: uint16(frames * FrameSamples)}})
		}
		if i == 1 && g.lateEnd && len(l.ends) > 0 {
			t.events = append(t.events, l.ends[len(l.ends)-1])
		}
	}
	l.ends = append(l.ends, lineEvent{ts, Event{Code: code, End: true, Volume: 10, Length: uint16(frames * FrameSamples)}})
	if g.info {
		at := start + leakFrames + int(g.infoAt/FrameInterval)
		for len(l.ticks) <= at {
			l.tick(make([]int16, FrameSamples))
		}
		l.ticks[at].info = append(l.ticks[at].info, key)
	}
}

type heard struct {
	keys string
	at   []time.Duration
}

// hear plays the phoneLine to a key input as the session's receiving loop
// would, with time as the phoneLine's, and returns the keys it delivered.
func hear(t *testing.T, cfg SessionConfig, l *phoneLine) (heard, *keyInput) {
	t.Helper()
	var h heard
	var now time.Duration
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	in := newKeyInput(cfg, func(k byte) {
		h.keys += string(k)
		h.at = append(h.at, now)
	}, slog.New(slog.DiscardHandler))
	l.quiet(1000) // the phoneLine goes on
	for i, tk := range l.ticks {
		now = time.Duration(i) * FrameInterval
		for _, k := range tk.info {
			in.infoKey(k, t0.Add(now))
		}
		for _, e := range tk.events {
			pkt := rtp.Packet{Header: rtp.Header{PayloadType: 101, SSRC: 7, Timestamp: e.ts}, Payload: e.ev.AppendTo(nil)}
			in.event(t0.Add(now), &pkt)
		}
		if tk.audio != nil && in.wantsAudio() {
			in.audio(t0.Add(now), PCMU.Decode(nil, PCMU.Encode(nil, tk.audio)))
		} else {
			in.idle(t0.Add(now))
		}
	}
	return h, in
}

func TestKeyInputOnePressOneKey(t *testing.T) {
	t.Parallel()
	auto := SessionConfig{SendEventPT: 101, RecvEventPT: 101, DetectInband: true}
	noTE := SessionConfig{SendEventPT: -1, RecvEventPT: 101, DetectInband: true}
	fixed := func(m DTMFMode) SessionConfig { c := auto; c.DTMF = m; return c }
	rfc := gw{events: true}
	for _, tc := range []struct {
		name       string
		cfg        SessionConfig
		keys       string
		g          gw
		want       string
		wantMethod string
	}{
		{"RFC 4733", auto, "12", rfc, "12", "rfc4733"},
		{"(a) RFC 4733 and the tone left in the audio", auto, "12", gw{events: true, toneToo: true}, "12", "rfc4733"},
		{"(b) 40 ms of tone leaked before the events", auto, "12", gw{events: true, leak: 40 * time.Millisecond}, "12", "rfc4733"},
		{"(b) 50 ms of tone leaked before the events", auto, "12", gw{events: true, leak: 50 * time.Millisecond}, "12", "rfc4733"},
		{"(b) 60 ms leaked, and the tone left in the audio", auto, "12", gw{events: true, leak: 60 * time.Millisecond, toneToo: true}, "12", "rfc4733"},
		{"(c) SIP INFO as the press starts, and RFC 4733", auto, "12", gw{events: true, info: true}, "12", "rfc4733"},
		{"(c) SIP INFO 300 ms after the press started, and RFC 4733", auto, "12", gw{events: true, info: true, infoAt: 300 * time.Millisecond}, "12", "rfc4733"},
		{"(c) all three at once", auto, "12", gw{events: true, info: true, toneToo: true, leak: 50 * time.Millisecond}, "12", "rfc4733"},
		{"a key pressed twice, quickly, by INFO and RFC 4733", auto, "11", gw{events: true, info: true, infoAt: 100 * time.Millisecond}, "11", "rfc4733"},
		{"in-band only, telephone-event negotiated", auto, "12", gw{inband: true}, "12", "inband"},
		{"in-band only, no telephone-event", noTE, "12", gw{inband: true}, "12", "inband"},
		{"SIP INFO only", auto, "12", gw{info: true}, "12", "info"},
		{"SIP INFO and the tone in the audio", noTE, "12", gw{info: true, inband: true, infoAt: 200 * time.Millisecond}, "12", "info"},
		{"rfc4733 mode hears only events", fixed(DTMFRFC4733), "12", gw{events: true, info: true, toneToo: true, leak: 50 * time.Millisecond}, "12", "rfc4733"},
		{"rfc4733 mode ignores INFO and tones", fixed(DTMFRFC4733), "12", gw{info: true, inband: true}, "", "none"},
		{"info mode hears only INFO", fixed(DTMFInfo), "12", gw{events: true, info: true, toneToo: true, infoAt: 400 * time.Millisecond}, "12", "info"},
		{"inband mode hears only tones", fixed(DTMFInband), "12", gw{events: true, toneToo: true, info: true}, "12", "inband"},
		{"auto without DetectInband ignores tones", SessionConfig{SendEventPT: 101, RecvEventPT: 101}, "12", gw{inband: true}, "", "none"},
		{"End packets lost", auto, "12", gw{events: true, noEnd: true}, "12", "rfc4733"},
		{"a redundant End during the next press (120# heard as 1210#)", auto, "120#", gw{events: true, lateEnd: true}, "120#", "rfc4733"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var l phoneLine
			l.quiet(500)
			for i := range len(tc.keys) {
				l.press(tc.keys[i], tc.g)
				l.quiet(300)
			}
			h, in := hear(t, tc.cfg, &l)
			if h.keys != tc.want {
				t.Errorf("heard %q at %v, want %q", h.keys, h.at, tc.want)
			}
			if m := method(in.method.Load()).String(); m != tc.wantMethod {
				t.Errorf("method %s, want %s", m, tc.wantMethod)
			}
		})
	}
}

// A press whose End packets are lost is heard EventFlushAfter after its
// last packet, while audio keeps flowing, and only once.
func TestKeyInputFlushesPressWithoutEnd(t *testing.T) {
	t.Parallel()
	var l phoneLine
	l.quiet(500)
	l.press('7', gw{events: true, noEnd: true})
	lastPacket := time.Duration(len(l.ticks)-4) * FrameInterval // 4 updates, then 3 ticks of audio
	l.quiet(500)
	second := time.Duration(len(l.ticks)) * FrameInterval
	l.press('8', gw{events: true})
	h, _ := hear(t, SessionConfig{SendEventPT: 101, RecvEventPT: 101, DetectInband: true}, &l)
	if h.keys != "78" {
		t.Fatalf("heard %q, want 78", h.keys)
	}
	if d := h.at[0] - lastPacket; d < EventFlushAfter || d > EventFlushAfter+FrameInterval {
		t.Errorf("7 heard %s after its last packet, want %s to %s", d, EventFlushAfter, EventFlushAfter+FrameInterval)
	}
	if h.at[0] >= second {
		t.Errorf("7 heard only when the next press started")
	}
}

// With telephone-event negotiated, an in-band key waits inbandHold for
// events; without, it is delivered at once.
func TestKeyInputInbandHold(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  SessionConfig
		hold time.Duration
	}{
		{SessionConfig{SendEventPT: 101, RecvEventPT: 101, DetectInband: true}, inbandHold},
		{SessionConfig{SendEventPT: -1, RecvEventPT: 101, DetectInband: true}, 0},
		{SessionConfig{SendEventPT: 101, RecvEventPT: 101, DTMF: DTMFInband}, 0},
	} {
		var l phoneLine
		l.quiet(500)
		l.press('5', gw{inband: true})
		h, _ := hear(t, tc.cfg, &l)
		if h.keys != "5" {
			t.Fatalf("%+v: heard %q", tc.cfg, h.keys)
		}
		// The detector needs 40 ms of tone: the frame after the one the
		// tone starts in.
		if want := 500*time.Millisecond + FrameInterval + tc.hold; h.at[0] < want || h.at[0] > want+FrameInterval {
			t.Errorf("%+v: heard at %s, want %s", tc.cfg, h.at[0], want)
		}
	}
}

func TestParseDTMFMode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]DTMFMode{"": DTMFAuto, "auto": DTMFAuto, "rfc4733": DTMFRFC4733, "info": DTMFInfo, "inband": DTMFInband} {
		if got, err := ParseDTMFMode(in); err != nil || got != want {
			t.Errorf("ParseDTMFMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseDTMFMode("2833"); err == nil || !strings.Contains(err.Error(), "auto, rfc4733, info or inband") {
		t.Errorf("ParseDTMFMode(2833): %v", err)
	}
	if _, err := NewSession(SessionConfig{Conn: udp(t), Remote: &net.UDPAddr{}, DTMF: "dtmf"}); err == nil {
		t.Error("NewSession took DTMF mode \"dtmf\"")
	}
}

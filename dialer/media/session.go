package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// FrameInterval is the packet time of every stream: 20 ms.
const FrameInterval = 20 * time.Millisecond

// SessionConfig configures one call's RTP session.
type SessionConfig struct {
	// Conn is the local RTP socket. The session owns it from now on and
	// closes it in Close. Required.
	Conn *net.UDPConn
	// Remote is where to send RTP. With Latch, it follows the source of the
	// packets received (symmetric RTP through NAT). Required.
	Remote *net.UDPAddr
	// Latch makes the session send to wherever the far end's RTP comes
	// from (symmetric RTP through NAT) — and listen to that source only:
	// the first source heard after the call is answered (or after each
	// Update) is latched, and packets from any other source are dropped,
	// so that nobody else who can reach the port can press keys or take
	// the prompts. A packet from the address the SDP names takes the
	// latch over from a stranger who spoke first, once.
	Latch bool
	// Codec for audio sent and received.
	Codec Codec
	// SendEventPT is the telephone-event payload type of the far end's SDP;
	// negative when it offered none (SendKey then fails).
	SendEventPT int
	// RecvEventPT is the telephone-event payload type we offered; negative
	// for none. Events arriving with SendEventPT are accepted too: some far
	// ends send with their own payload type.
	RecvEventPT int
	// DTMF says which ways of sending keys count; empty means DTMFAuto.
	// In DTMFAuto one press is one key whichever ways it is sent: once a
	// telephone-event is seen, events are authoritative and tones are no
	// longer listened to (a tone heard while events are negotiated but not
	// yet seen waits 120 ms for them, and is dropped if they come); a key
	// that arrives by two methods within 500 ms is delivered once, by
	// whichever came first. With no events, SIP INFO (InjectKey) outranks
	// tones the same way.
	DTMF DTMFMode
	// DetectInband listens for DTMF tones in the received audio under
	// DTMFAuto. DTMFInband listens regardless.
	DetectInband bool
	// MediaTimeout ends the session (Timeout is closed) when no RTP arrives
	// for this long; zero means 30 s.
	MediaTimeout time.Duration
	// Record keeps the decoded audio received, for Heard.
	Record bool
	// OnAudio, if set, gets each received audio frame, decoded. It runs on
	// the receiving goroutine and must not block.
	OnAudio func(pcm []int16)
	// Mute sends nothing at all (to test the far end's media timeout).
	Mute bool
	// Logger receives warnings; nil discards them.
	Logger *slog.Logger

	pacer *pacer // the clocks that pace the session; nil for the process's
}

// Session is one call's RTP: a 20 ms frame sent on every tick of the
// process's pacing clock (prompt audio, else silence, so NATs stay open and
// timestamps stay honest) and a receiving goroutine that turns
// telephone-events and in-band tones into keys. Its methods are safe for
// concurrent use.
type Session struct {
	cfg   SessionConfig
	ssrc  uint32
	keys  chan byte
	in    *keyInput // owned by the receiving goroutine, except infoKey and method
	stop  chan struct{}
	done  sync.WaitGroup
	close sync.Once
	snd   sender // owned by the session's clock goroutine

	mu          sync.Mutex
	closed      bool
	remote      *net.UDPAddr   // where RTP goes
	remoteAP    netip.AddrPort // the same, unmapped, for sending
	sdpRemote   netip.AddrPort // the address the far end's SDP names
	source      netip.AddrPort // the latched source; invalid until latched
	sourceIsSDP bool           // the latched source is sdpRemote
	codec       Codec
	sendEventPT int
	dir         Direction     // ours: sendrecv unless the far end holds
	holdCh      chan struct{} // closed when dir changes
	dropped     int64         // packets from other sources
	queue       []byte        // G.711 waiting to be sent
	queueEnd    chan struct{} // closed when queue drains or is cleared
	events      []Event       // telephone-events waiting to be sent
	heard       []int16

	timedOut   chan struct{}
	started    int64 // UnixNano
	lastRecv   atomic.Int64
	framesSent atomic.Int64
	framesRecv atomic.Int64
	jitter     *JitterStats

	tap atomic.Pointer[func(pcm []int16)] // see SetTap
}

// sender is a session's sending state. The clock that paces the session
// owns it (index only under the clock's lock).
type sender struct {
	clock    *clock
	index    int    // in clock.sessions
	tick0    int64  // the clock's tick of the first frame
	ts0      uint32 // RTP timestamp of the first frame
	seq      uint16
	eventTS  uint32
	inEvent  bool
	marker   bool
	last     time.Time // when the previous frame was sent
	failures int64     // sends that failed
	out      *rtpWriter
	buf      [512]byte          // the packet
	pad      [FrameSamples]byte // a last, short frame padded with silence
}

// unmapped is a's address and port, IPv4-mapped IPv6 turned to IPv4, so that
// addresses compare equal whatever the socket's family.
func unmapped(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// NewSession starts the receiving goroutine and puts the session on the
// process's pacing clock.
func NewSession(cfg SessionConfig) (*Session, error) {
	if cfg.Conn == nil || cfg.Remote == nil {
		return nil, errors.New("media: Conn and Remote are required")
	}
	if cfg.MediaTimeout == 0 {
		cfg.MediaTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	mode, err := ParseDTMFMode(string(cfg.DTMF))
	if err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	cfg.DTMF = mode
	out, err := newRTPWriter(cfg.Conn)
	if err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	remote := unmapped(cfg.Remote.AddrPort())
	s := &Session{
		cfg:      cfg,
		ssrc:     rand.Uint32(),
		keys:     make(chan byte, 64),
		stop:     make(chan struct{}),
		remote:   cfg.Remote,
		remoteAP: remote,
		codec:    cfg.Codec,
		dir:      SendRecv,
		holdCh:   make(chan struct{}),

		sdpRemote:   remote,
		sendEventPT: cfg.SendEventPT,
		timedOut:    make(chan struct{}),
		started:     time.Now().UnixNano(),
		jitter:      &JitterStats{},
	}
	s.snd = sender{out: out, seq: uint16(rand.Uint32()), ts0: rand.Uint32(), marker: true, index: -1}
	s.in = newKeyInput(cfg, s.deliver, cfg.Logger)
	s.done.Add(1)
	go s.recvLoop()
	p := cfg.pacer
	if p == nil {
		p = sessionPacer
	}
	p.add(s)
	return s, nil
}

// Keys delivers the keys pressed — RFC 4733 events, SIP INFO (InjectKey) or
// in-band tones, one key per press under the session's DTMF mode.
func (s *Session) Keys() <-chan byte { return s.keys }

// InjectKey hands over a key that arrived by signalling (SIP INFO). It is
// heard like the keys of the RTP stream, under the session's DTMF mode: a
// copy of a key that also came as telephone-events is dropped. It never
// blocks: a key that does not fit the buffer is dropped.
func (s *Session) InjectKey(k byte) { s.in.infoKey(k, time.Now()) }

// deliver hands a key to the call. It never blocks: a key that does not fit
// the buffer is dropped.
func (s *Session) deliver(k byte) {
	select {
	case s.keys <- k:
	default:
	}
}

// Timeout is closed when no RTP has arrived for the media timeout.
func (s *Session) Timeout() <-chan struct{} { return s.timedOut }

// Play sends audio (G.711 in the session's codec) and returns when it has
// all been sent, or at once with ctx's error when ctx ends first — the rest
// is then dropped (barge-in).
func (s *Session) Play(ctx context.Context, g711 []byte) error {
	done := s.StartPlayback(g711)
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.StopPlayback()
		return ctx.Err()
	case <-s.stop:
		return net.ErrClosed
	}
}

// StartPlayback queues audio (G.711 in the session's codec) to be sent and
// returns a channel closed when it has all been sent or was stopped. Audio
// still playing is replaced.
func (s *Session) StartPlayback(g711 []byte) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.startPlaybackLocked(g711)
}

func (s *Session) startPlaybackLocked(g711 []byte) <-chan struct{} {
	done := make(chan struct{})
	if s.queueEnd != nil {
		close(s.queueEnd)
	}
	if len(g711) == 0 {
		close(done)
		s.queue, s.queueEnd = nil, nil
		return done
	}
	s.queue, s.queueEnd = g711, done
	return done
}

// StartPlaybackAs is StartPlayback of audio encoded in codec: audio in a
// codec the session no longer uses (the far end switched codecs since it
// was encoded) is transcoded.
func (s *Session) StartPlaybackAs(codec Codec, g711 []byte) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if codec != s.codec {
		g711 = s.codec.Encode(nil, codec.Decode(nil, g711))
	}
	return s.startPlaybackLocked(g711)
}

// Update is a new description of the far end's media (re-INVITE, UPDATE).
type Update struct {
	// Remote is where the far end now wants RTP.
	Remote *net.UDPAddr
	// Codec is the audio codec from now on.
	Codec Codec
	// SendEventPT is the far end's telephone-event payload type; negative
	// for none.
	SendEventPT int
	// Direction is ours, answering the far end's: recvonly or inactive
	// while it holds the call.
	Direction Direction
}

// Update applies a new description of the far end's media. The source is
// latched anew (with Latch); audio waiting to be sent is transcoded to the
// new codec; while our direction does not send, the prompt audio waits
// (it resumes where it stopped) and the media timeout does not run. It
// never blocks for long: handlers of the signalling may call it.
func (s *Session) Update(u Update) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.Remote != nil {
		s.remote, s.remoteAP = u.Remote, unmapped(u.Remote.AddrPort())
		s.sdpRemote = s.remoteAP
		s.source, s.sourceIsSDP = netip.AddrPort{}, false
	}
	if (u.Codec == PCMU || u.Codec == PCMA) && u.Codec != s.codec {
		if len(s.queue) > 0 {
			s.queue = u.Codec.Encode(nil, s.codec.Decode(nil, s.queue))
		}
		s.codec = u.Codec
	}
	s.sendEventPT = u.SendEventPT
	dir := u.Direction
	if dir == "" {
		dir = SendRecv
	}
	if dir != s.dir {
		if s.dir != SendRecv && dir == SendRecv {
			s.lastRecv.Store(time.Now().UnixNano()) // the media timeout starts afresh
		}
		s.dir = dir
		close(s.holdCh)
		s.holdCh = make(chan struct{})
		s.cfg.Logger.Info("media direction changed", "direction", string(dir))
	}
}

// Held reports whether the far end holds the call (our direction is not
// sendrecv), and returns a channel closed when that changes.
func (s *Session) Held() (bool, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dir != SendRecv, s.holdCh
}

func (s *Session) held() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dir != SendRecv
}

// SetTap hands every audio frame received from now on, decoded, to f (nil:
// none), beside OnAudio: a bridge relays it to another call. f runs on the
// receiving goroutine and must not block.
func (s *Session) SetTap(f func(pcm []int16)) {
	if f == nil {
		s.tap.Store(nil)
		return
	}
	s.tap.Store(&f)
}

// maxRelay bounds the audio Relay keeps waiting to be sent: 100 ms, so a
// bridge whose two legs' clocks drift apart stays close to real time.
const maxRelay = 5 * FrameSamples

// Relay queues audio received on another call to be sent on this one (a
// bridge), in this session's codec, after what is already waiting: a
// prompt playing is stopped, and audio more than 100 ms behind is dropped.
// It never blocks for long: the receiving goroutine of the other call
// calls it.
func (s *Session) Relay(pcm []int16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if s.queueEnd != nil { // a prompt: its audio may be shared, never append to it
		close(s.queueEnd)
		s.queue, s.queueEnd = nil, nil
	}
	s.queue = s.codec.Encode(s.queue, pcm)
	if over := len(s.queue) - maxRelay; over > 0 {
		s.queue = s.queue[over:]
	}
}

// StopPlayback drops the audio not yet sent (barge-in).
func (s *Session) StopPlayback() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.queueEnd != nil {
		close(s.queueEnd)
	}
	s.queue, s.queueEnd = nil, nil
}

// SendKey sends a key press as RFC 4733 telephone-events lasting ms
// milliseconds. It returns once the events are queued.
func (s *Session) SendKey(key byte, ms int) error {
	s.mu.Lock()
	pt := s.sendEventPT
	s.mu.Unlock()
	if pt < 0 {
		return errors.New("media: the far end did not offer telephone-event")
	}
	evs, err := EventSequence(key, max(ms/int(FrameInterval/time.Millisecond), 2))
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.events = append(s.events, evs...)
	s.mu.Unlock()
	return nil
}

// Heard returns the audio received so far when recording.
func (s *Session) Heard() []int16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int16(nil), s.heard...)
}

// Stats reports packets sent and received and the sender's pacing.
func (s *Session) Stats() (sent, received int64, jitter *JitterStats) {
	return s.framesSent.Load(), s.framesRecv.Load(), s.jitter
}

// Codec is the session's audio codec (it changes when the far end switches).
func (s *Session) Codec() Codec {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.codec
}

// Remote is where RTP goes: the latched source, else the SDP's address.
func (s *Session) Remote() *net.UDPAddr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remote
}

// Dropped is how many packets came from sources other than the latched one.
func (s *Session) Dropped() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// LocalAddr is the RTP socket's address.
func (s *Session) LocalAddr() *net.UDPAddr { return s.cfg.Conn.LocalAddr().(*net.UDPAddr) }

// Close takes the session off the pacing clock, stops the receiving
// goroutine and closes the socket. It is idempotent.
func (s *Session) Close() error {
	var err error
	s.close.Do(func() {
		close(s.stop)
		s.mu.Lock()
		s.closed = true // no frame is sent from now on
		s.mu.Unlock()
		s.snd.clock.remove(s)
		err = s.cfg.Conn.Close()
		s.done.Wait()
		s.mu.Lock()
		if s.queueEnd != nil {
			close(s.queueEnd)
			s.queueEnd = nil
		}
		s.mu.Unlock()
	})
	return err
}

// silenceFrames are 20 ms of silence in each codec, shared read-only by
// every session.
var silenceFrames = func() map[Codec][]byte {
	m := map[Codec][]byte{}
	for _, c := range []Codec{PCMU, PCMA} {
		b := make([]byte, FrameSamples)
		for i := range b {
			b[i] = c.Silence()
		}
		m[c] = b
	}
	return m
}()

func silenceFrame(c Codec) []byte {
	if b, ok := silenceFrames[c]; ok {
		return b
	}
	return silenceFrames[PCMU]
}

// sendFrame sends the session's frame of the clock's tick. The session's
// clock calls it; it does not wait for the session: when the session's lock
// is held elsewhere it returns false at once, unless last, and the frame
// of this tick is missed (the timestamp follows the tick, so the far end
// sees a frame lost).
func (s *Session) sendFrame(tick int64, last bool) bool {
	if !s.mu.TryLock() {
		return last
	}
	st := &s.snd
	if s.closed {
		s.mu.Unlock()
		return true
	}
	now := time.Now()
	if !st.last.IsZero() {
		s.jitter.Add(now.Sub(st.last))
	}
	st.last = now

	ts := st.ts0 + uint32(tick-st.tick0)*FrameSamples
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, SSRC: s.ssrc, SequenceNumber: st.seq, Timestamp: ts}}
	remote := s.remoteAP
	codec := s.codec
	silence := silenceFrame(codec)
	sending := s.dir.Sends()
	switch {
	case !sending:
		// On hold: nothing is sent and the prompt waits.
	case len(s.events) > 0:
		ev := s.events[0]
		s.events = s.events[1:]
		if !st.inEvent {
			st.eventTS, st.inEvent, pkt.Marker = ts, true, true
		}
		pkt.PayloadType = uint8(s.sendEventPT)
		pkt.Timestamp = st.eventTS
		pkt.Payload = ev.AppendTo(st.pad[:0])
		if ev.End && (len(s.events) == 0 || !s.events[0].End) {
			st.inEvent = false
		}
	case len(s.queue) > 0:
		k := min(FrameSamples, len(s.queue))
		frame := s.queue[:k]
		s.queue = s.queue[k:]
		if k < FrameSamples {
			frame = append(append(st.pad[:0], frame...), silence[k:]...)
		}
		if len(s.queue) == 0 && s.queueEnd != nil {
			close(s.queueEnd)
			s.queueEnd = nil
		}
		pkt.PayloadType, pkt.Payload = uint8(codec), frame
	default:
		pkt.PayloadType, pkt.Payload = uint8(codec), silence
	}
	s.mu.Unlock()
	switch {
	case !sending:
		st.marker = true // a new talkspurt when sending resumes
		return true
	case st.marker:
		pkt.Marker, st.marker = true, false
	}
	st.seq++
	if s.cfg.Mute {
		return true
	}
	n, err := pkt.Header.MarshalTo(st.buf[:])
	if err == nil {
		n += copy(st.buf[n:], pkt.Payload)
		err = st.out.write(st.buf[:n], remote)
	}
	s.framesSent.Add(1)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		// Logged once, then every 500 (10 s of one call's packets).
		if st.failures++; st.failures%500 == 1 {
			s.cfg.Logger.Warn("rtp send failed", "error", err, "failures", st.failures)
		}
	}
	return true
}

func (s *Session) recvLoop() {
	defer s.done.Done()
	buf := make([]byte, 1500)
	in := s.in
	pcm := make([]int16, 0, FrameSamples*2)
	wait := min(s.cfg.MediaTimeout, 200*time.Millisecond)
	var deadlineSet time.Time
	for {
		// Move the read deadline at most every 50 ms, not on every packet.
		if now := time.Now(); now.Sub(deadlineSet) > 50*time.Millisecond {
			_ = s.cfg.Conn.SetReadDeadline(now.Add(wait))
			deadlineSet = now
		}
		n, from, err := s.cfg.Conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				in.idle(time.Now())
				s.checkTimeout()
				select {
				case <-s.stop:
					return
				default:
					deadlineSet = time.Time{} // expired: set a new one
					continue
				}
			}
			return // closed
		}
		var pkt rtp.Packet
		if n >= 2 && buf[1] >= 192 && buf[1] <= 223 || // RTCP on the RTP port (rtcp-mux, RFC 5761 §4): never audio or keys
			pkt.Unmarshal(buf[:n]) != nil || pkt.Version != 2 {
			s.checkTimeout() // what is not RTP does not keep the call alive
			continue
		}
		sendEventPT, held, ok := s.accept(unmapped(from))
		if !ok {
			s.checkTimeout()
			continue
		}
		s.framesRecv.Add(1)
		s.lastRecv.Store(time.Now().UnixNano())
		switch {
		case (s.cfg.RecvEventPT >= 0 && int(pkt.PayloadType) == s.cfg.RecvEventPT) ||
			(sendEventPT >= 0 && int(pkt.PayloadType) == sendEventPT):
			in.event(time.Now(), &pkt)
		case pkt.PayloadType == uint8(PCMU) || pkt.PayloadType == uint8(PCMA):
			tap := s.tap.Load()
			if !in.wantsAudio() && !s.cfg.Record && s.cfg.OnAudio == nil && tap == nil {
				in.idle(time.Now()) // time passes for the key input
				continue
			}
			pcm = Codec(pkt.PayloadType).Decode(pcm[:0], pkt.Payload)
			if held {
				in.idle(time.Now()) // music on hold is not listened to for tones
			} else {
				in.audio(time.Now(), pcm)
			}
			if s.cfg.OnAudio != nil {
				s.cfg.OnAudio(pcm)
			}
			if tap != nil {
				(*tap)(pcm)
			}
			if s.cfg.Record {
				s.mu.Lock()
				s.heard = append(s.heard, pcm...)
				s.mu.Unlock()
			}
		default:
			in.idle(time.Now())
		}
	}
}

// accept latches the source of RTP (with Latch) and says whether a packet
// from it is to be heard; it also returns the far end's telephone-event
// payload type and whether it holds the call.
func (s *Session) accept(from netip.AddrPort) (sendEventPT int, held, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	held = s.dir != SendRecv
	if !s.cfg.Latch {
		return s.sendEventPT, held, true
	}
	switch {
	case !s.source.IsValid():
		s.source, s.sourceIsSDP = from, from == s.sdpRemote
		s.sendTo(from)
	case from == s.source:
	case !s.sourceIsSDP && from == s.sdpRemote:
		// The address the SDP names takes over from a stranger who spoke
		// first; it keeps the latch from then on.
		s.cfg.Logger.Warn("rtp source re-latched to the SDP address", "dropped_source", s.source.String())
		s.source, s.sourceIsSDP = from, true
		s.sendTo(from)
	default:
		s.dropped++
		if s.dropped == 1 {
			s.cfg.Logger.Warn("rtp from an unexpected source dropped", "source", from.String(), "latched", s.source.String())
		}
		return 0, held, false
	}
	return s.sendEventPT, held, true
}

// sendTo makes to where RTP goes. s.mu is held.
func (s *Session) sendTo(to netip.AddrPort) {
	if to != s.remoteAP {
		s.remote, s.remoteAP = net.UDPAddrFromAddrPort(to), to
	}
}

// checkTimeout ends the session when no RTP has come for the media
// timeout — unless the far end holds the call.
func (s *Session) checkTimeout() {
	if s.idleFor() > s.cfg.MediaTimeout && !s.held() {
		s.markTimedOut()
	}
}

func (s *Session) idleFor() time.Duration {
	last := s.lastRecv.Load()
	if last == 0 {
		last = s.started
	}
	return time.Duration(time.Now().UnixNano() - last)
}

func (s *Session) markTimedOut() {
	select {
	case <-s.timedOut:
	default:
		close(s.timedOut)
		s.cfg.Logger.Info("media timeout: no RTP received", "timeout", s.cfg.MediaTimeout.String())
	}
}

// String describes the session for logs.
func (s *Session) String() string {
	return fmt.Sprintf("rtp %s→%s %s", s.LocalAddr(), s.Remote(), s.Codec())
}

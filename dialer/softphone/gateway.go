package softphone

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/pion/rtp"

	"github.com/qualdial/qualdial/dialer/media"
)

// gatewayHabits reports whether the persona imitates a gateway's habits
// with RFC 4733 keys, for which the phone sends its RTP itself.
func (p Persona) gatewayHabits() bool {
	return p.ToneToo || p.Leak > 0 || p.DropEnd || p.LateEnd
}

func (p Persona) validateGateway() error {
	if (p.gatewayHabits() || p.InfoToo) && p.DTMF != "" && p.DTMF != DTMFRFC4733 {
		return fmt.Errorf("tone_too, leak, info_too, drop_end and late_end go with dtmf rfc4733, not %s", p.DTMF)
	}
	if p.Leak < 0 || p.Leak > 200*time.Millisecond {
		return fmt.Errorf("leak %s: use 0 to 200ms", p.Leak)
	}
	if p.gatewayHabits() && p.Silent {
		return errors.New("silent sends no RTP: no gateway habits with it")
	}
	return nil
}

// gateway sends a phone's RTP the way a gateway between the phone and the
// caller does: 20 ms audio frames and RFC 4733 events under one SSRC and
// one sequence, with the persona's habits — the tone left in the audio
// beside the events, tone leaked before them, no End packets, a late End.
type gateway struct {
	conn    *net.UDPConn
	remote  *net.UDPAddr
	codec   media.Codec
	eventPT uint8
	per     Persona
	presses chan gatewayPress

	// Owned by run.
	ssrc uint32
	seq  uint16
	ts   uint32
	ends []rtp.Packet // End packet of each press, for LateEnd
}

type gatewayPress struct {
	key  byte
	done chan struct{}
}

func startGateway(ctx context.Context, conn *net.UDPConn, remote *net.UDPAddr, codec media.Codec, eventPT int, per Persona) (*gateway, error) {
	if eventPT < 0 {
		return nil, errors.New("softphone: the caller offered no telephone-event")
	}
	g := &gateway{conn: conn, remote: remote, codec: codec, eventPT: uint8(eventPT), per: per,
		presses: make(chan gatewayPress), ssrc: rand.Uint32(), seq: uint16(rand.Uint32()), ts: rand.Uint32()}
	go g.run(ctx)
	return g, nil
}

// press sends a key press of 100 ms and returns once it has been sent.
func (g *gateway) press(ctx context.Context, key byte) error {
	p := gatewayPress{key: key, done: make(chan struct{})}
	select {
	case g.presses <- p:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run sends a tick's packets every 20 ms: silence, or the next of a press.
func (g *gateway) run(ctx context.Context) {
	tick := time.NewTicker(media.FrameInterval)
	defer tick.Stop()
	var plan [][]rtp.Packet
	var cur gatewayPress
	buf := make([]byte, 1500)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if len(plan) == 0 {
			select {
			case cur = <-g.presses:
				plan = g.plan(cur.key)
			default:
			}
		}
		var pkts []rtp.Packet
		if len(plan) > 0 {
			pkts, plan = plan[0], plan[1:]
			if len(plan) == 0 {
				close(cur.done)
			}
		} else {
			pkts = []rtp.Packet{g.audioAt(g.ts, make([]int16, media.FrameSamples))}
		}
		for _, p := range pkts {
			p.SequenceNumber = g.seq
			g.seq++
			if n, err := p.MarshalTo(buf); err == nil {
				_, _ = g.conn.WriteToUDP(buf[:n], g.remote)
			}
		}
		g.ts += media.FrameSamples
	}
}

// plan lays out one press, tick by tick from now: the leaked tone, then
// the events (with the tone beside them, or not), then the End packets.
func (g *gateway) plan(key byte) [][]rtp.Packet {
	const frames = 5 // 100 ms
	leak := int(g.per.Leak * media.SampleRate / time.Second)
	leakFrames := (leak + media.FrameSamples - 1) / media.FrameSamples
	tone := media.Tone(key, int((g.per.Leak+frames*media.FrameInterval)/time.Millisecond))
	ts := g.ts
	var plan [][]rtp.Packet
	for i := range leakFrames {
		frame := make([]int16, media.FrameSamples)
		copy(frame, tone[i*media.FrameSamples:min((i+1)*media.FrameSamples, leak)])
		plan = append(plan, []rtp.Packet{g.audioAt(ts, frame)})
		ts += media.FrameSamples
	}
	tone = tone[leak:]
	code, _ := media.EventCode(key)
	evTS := ts
	event := func(ev media.Event, marker bool) rtp.Packet {
		return rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: g.eventPT, Marker: marker, Timestamp: evTS, SSRC: g.ssrc},
			Payload: ev.AppendTo(nil)}
	}
	end := event(media.Event{Code: code, End: true, Volume: 10, Length: frames * media.FrameSamples}, false)
	for i := range frames + 2 { // the press, then its three End packets
		var pkts []rtp.Packet
		switch {
		case i < frames-1:
			pkts = append(pkts, event(media.Event{Code: code, Volume: 10, Length: uint16((i + 1) * media.FrameSamples)}, i == 0))
		case !g.per.DropEnd:
			pkts = append(pkts, end)
		}
		if i == 1 && g.per.LateEnd && len(g.ends) > 0 {
			pkts = append(pkts, g.ends[len(g.ends)-1])
		}
		switch {
		case g.per.ToneToo && i < frames:
			pkts = append(pkts, g.audioAt(ts, tone[i*media.FrameSamples:(i+1)*media.FrameSamples]))
		case g.per.ToneToo || len(pkts) == 0:
			pkts = append(pkts, g.audioAt(ts, make([]int16, media.FrameSamples)))
		}
		plan = append(plan, pkts)
		ts += media.FrameSamples
	}
	g.ends = append(g.ends, end)
	return plan
}

func (g *gateway) audioAt(ts uint32, pcm []int16) rtp.Packet {
	return rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: uint8(g.codec), Timestamp: ts, SSRC: g.ssrc},
		Payload: g.codec.Encode(nil, pcm)}
}

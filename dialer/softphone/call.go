package softphone

import (
	"context"
	"fmt"
	"math"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/media"
	"github.com/qualdial/qualdial/dialer/prompt"
)

// step is one item of a persona's Keys.
type step struct {
	keys    string
	early   bool // during the prompt (barge-in)
	timeout bool
	hangup  bool
	hold    bool // put the call on hold first (re-INVITE sendonly), then resume
}

func parseSteps(s string) ([]step, error) {
	var out []step
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		st := step{}
		if strings.HasPrefix(item, "~") {
			st.early, item = true, item[1:]
		}
		if k, ok := strings.CutPrefix(item, "hold:"); ok {
			st.hold, item = true, k
		}
		switch item {
		case "timeout":
			st.timeout = true
		case "hangup":
			st.hangup = true
		default:
			if item == "" || strings.Trim(item, media.Keys) != "" {
				return nil, fmt.Errorf("keys item %d %q: use keys (0-9 * # A-D), timeout or hangup, optionally prefixed by ~ and hold:", i+1, item)
			}
			st.keys = item
		}
		out = append(out, st)
	}
	return out, nil
}

// promptEnd is how long the line must stay quiet after a prompt before the
// persona answers: longer than the pauses inside a spoken prompt.
const promptEnd = 700 * time.Millisecond

// listener tracks when the caller last spoke.
type listener struct {
	lastVoice atomic.Int64 // UnixNano of the last frame with sound
	voiced    atomic.Bool  // sound since the last reset
}

func (l *listener) frame(pcm []int16) {
	var sum float64
	for _, v := range pcm {
		sum += float64(v) * float64(v)
	}
	if math.Sqrt(sum/float64(max(len(pcm), 1))) > 150 {
		l.lastVoice.Store(time.Now().UnixNano())
		l.voiced.Store(true)
	}
}

// resumed blocks, after a hold, until the prompt that was paused has
// played out: the caller's voice came back and went quiet — or it stayed
// quiet (the prompt had ended before the hold).
func (l *listener) resumed(ctx context.Context) bool {
	l.voiced.Store(false)
	since := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
		if !l.voiced.Load() {
			if time.Since(since) >= promptEnd+300*time.Millisecond {
				return true
			}
			continue
		}
		if time.Since(time.Unix(0, l.lastVoice.Load())) >= promptEnd {
			return true
		}
	}
}

// wait blocks until the caller has spoken and then (unless early) gone
// quiet, or the call ends.
func (l *listener) wait(ctx context.Context, early bool) bool {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var voiceAt time.Time
	for {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
		if !l.voiced.Load() {
			continue
		}
		if voiceAt.IsZero() {
			voiceAt = time.Now()
		}
		if early && time.Since(voiceAt) > 400*time.Millisecond {
			return true
		}
		if !early && time.Since(time.Unix(0, l.lastVoice.Load())) >= promptEnd {
			return true
		}
	}
}

func (p *Phone) answer(dlg *sipgo.DialogServerSession, req *gosip.Request, per Persona, rec *Record) error {
	codecs := []media.Codec{media.PCMU, media.PCMA}
	offer, err := media.ParseSDP(req.Body(), codecs)
	if err != nil {
		_ = dlg.Respond(gosip.StatusNotAcceptableHere, "Not Acceptable Here", nil)
		return err
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: p.addr.IP})
	if err != nil {
		_ = dlg.Respond(gosip.StatusServiceUnavailable, "Service Unavailable", nil)
		return err
	}
	sdpID := uint64(time.Now().UnixNano()) >> 1
	local := media.LocalSDP{Host: p.addr.IP.String(), Port: conn.LocalAddr().(*net.UDPAddr).Port, Codecs: []media.Codec{offer.Codec},
		EventPT: media.EventPT, SessionID: sdpID, Version: sdpID}
	answer, err := local.Marshal()
	if err != nil {
		conn.Close()
		return err
	}
	var heard listener
	ms, err := media.NewSession(media.SessionConfig{
		Conn: conn, Remote: offer.Addr, Codec: offer.Codec, SendEventPT: offer.EventPT, RecvEventPT: -1,
		Record: p.cfg.Record, OnAudio: heard.frame, Mute: per.Silent || per.gatewayHabits(), MediaTimeout: time.Hour,
	})
	if err != nil {
		conn.Close()
		return err
	}
	defer ms.Close()
	ok := []gosip.Header{gosip.NewHeader("Content-Type", "application/sdp")}
	if per.Attestation != "" {
		identity, err := passport(dialer.Attestation(per.Attestation), req.From().Address.User, rec.User)
		if err != nil {
			return err
		}
		ok = append(ok, gosip.NewHeader("Identity", identity))
	}
	if err := dlg.Respond(gosip.StatusOK, "OK", answer, ok...); err != nil { // waits for the ACK
		return fmt.Errorf("answer: %w", err)
	}
	p.update(rec, func(r *Record) { r.Answered = true })
	if len(per.GreetingAudio) > 0 && !per.Silent {
		ms.StartPlayback(ms.Codec().Encode(nil, per.GreetingAudio))
	}
	defer func() {
		heardPCM := ms.Heard()
		file := ""
		if p.cfg.RecordDir != "" {
			file = filepath.Join(p.cfg.RecordDir, fmt.Sprintf("%s-%s.wav", safeName(rec.User), safeName(rec.CallID)))
			if err := prompt.WriteWAVFile(file, heardPCM); err != nil {
				p.log.Warn("softphone: cannot write recording", "file", file, "error", err)
				file = ""
			}
		}
		p.update(rec, func(r *Record) {
			r.Ended = time.Now()
			r.Heard = len(heardPCM)
			if p.cfg.Record {
				r.Audio = heardPCM
			}
			r.File = file
			if r.ByeFrom == "" {
				r.ByeFrom = "caller"
			}
		})
	}()

	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	go func() {
		select {
		case <-dlg.Context().Done(): // the caller's BYE
		case <-ctx.Done():
		}
		cancel()
	}()
	var gw *gateway // sends the RTP itself for gateway habits
	if per.gatewayHabits() {
		if gw, err = startGateway(ctx, conn, offer.Addr, offer.Codec, offer.EventPT, per); err != nil {
			return err
		}
	}
	steps, _ := parseSteps(per.Keys)
	for _, st := range steps {
		if !heard.wait(ctx, st.early) {
			return nil
		}
		heard.voiced.Store(false)
		if st.hold {
			if err := p.hold(ctx, dlg, ms, &local, offer, per, rec); err != nil {
				return err
			}
			if !heard.resumed(ctx) {
				return nil
			}
		}
		switch {
		case st.timeout:
		case st.hangup:
			p.update(rec, func(r *Record) { r.ByeFrom = "phone" })
			bctx, bcancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := dlg.Bye(bctx)
			bcancel()
			return err
		default:
			if err := p.press(ctx, dlg, ms, gw, per, st.keys); err != nil {
				return err
			}
			p.update(rec, func(r *Record) { r.Pressed = append(r.Pressed, st.keys) })
		}
	}
	<-ctx.Done()
	return nil
}

// safeName keeps letters, digits, + - . _ for file names.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 128 && (r == '+' || r == '-' || r == '.' || r == '_' || ('0' <= r && r <= '9') || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z')) {
			return r
		}
		return '_'
	}, s)
}

// press sends keys one after another, as a person would; gw, if set,
// sends RFC 4733 keys with a gateway's habits.
func (p *Phone) press(ctx context.Context, dlg *sipgo.DialogServerSession, ms *media.Session, gw *gateway, per Persona, keys string) error {
	for i := range len(keys) {
		k := keys[i]
		if per.InfoToo {
			if err := sendInfo(ctx, dlg, k); err != nil {
				return err
			}
		}
		switch per.DTMF {
		case DTMFInfo:
			if err := sendInfo(ctx, dlg, k); err != nil {
				return err
			}
		case DTMFInband:
			tone := append(media.Tone(k, 100), make([]int16, 480)...)
			if err := ms.Play(ctx, ms.Codec().Encode(nil, tone)); err != nil {
				return err
			}
			continue
		default:
			if gw != nil {
				if err := gw.press(ctx, k); err != nil {
					return err
				}
			} else if err := ms.SendKey(k, 100); err != nil {
				return err
			}
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// sendInfo sends a key as SIP INFO (application/dtmf-relay).
func sendInfo(ctx context.Context, dlg *sipgo.DialogServerSession, k byte) error {
	info := gosip.NewRequest(gosip.INFO, dlg.InviteRequest.Contact().Address)
	info.AppendHeader(gosip.NewHeader("Content-Type", "application/dtmf-relay"))
	info.SetBody([]byte(fmt.Sprintf("Signal=%c\r\nDuration=100\r\n", k)))
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := dlg.Do(rctx, info)
	if err != nil {
		return fmt.Errorf("INFO %c: %w", k, err)
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("INFO %c: %d %s", k, res.StatusCode, res.Reason)
	}
	return nil
}

// hold puts the call on hold for per.HoldFor, the way phones do: a
// re-INVITE offering sendonly (sending no music on hold), then one offering
// sendrecv. The caller's answers' directions go to the record.
func (p *Phone) hold(ctx context.Context, dlg *sipgo.DialogServerSession, ms *media.Session, local *media.LocalSDP, offer media.RemoteMedia, per Persona, rec *Record) error {
	holdFor := per.HoldFor
	if holdFor == 0 {
		holdFor = 3 * time.Second
	}
	ms.Update(media.Update{Codec: ms.Codec(), SendEventPT: offer.EventPT, Direction: media.Inactive})
	if err := p.reinvite(ctx, dlg, local, media.SendOnly, rec); err != nil {
		return err
	}
	select {
	case <-time.After(holdFor):
	case <-ctx.Done():
		return nil
	}
	if err := p.reinvite(ctx, dlg, local, media.SendRecv, rec); err != nil {
		return err
	}
	ms.Update(media.Update{Codec: ms.Codec(), SendEventPT: offer.EventPT, Direction: media.SendRecv})
	return nil
}

// reinvite offers our media again with a direction, and acknowledges the
// answer.
func (p *Phone) reinvite(ctx context.Context, dlg *sipgo.DialogServerSession, local *media.LocalSDP, dir media.Direction, rec *Record) error {
	local.Version++
	local.Direction = dir
	body, err := local.Marshal()
	if err != nil {
		return err
	}
	inv := gosip.NewRequest(gosip.INVITE, dlg.InviteRequest.Contact().Address)
	inv.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	inv.SetBody(body)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tx, err := dlg.TransactionRequest(rctx, inv)
	if err != nil {
		return fmt.Errorf("re-INVITE: %w", err)
	}
	defer tx.Terminate()
	var res *gosip.Response
	for res == nil {
		select {
		case r := <-tx.Responses():
			if !r.IsProvisional() {
				res = r
			}
		case <-tx.Done():
			return fmt.Errorf("re-INVITE: %w", tx.Err())
		case <-rctx.Done():
			return fmt.Errorf("re-INVITE: %w", rctx.Err())
		}
	}
	answered := fmt.Sprint(res.StatusCode)
	if res.IsSuccess() {
		ack := gosip.NewRequest(gosip.ACK, dlg.InviteRequest.Contact().Address)
		ack.AppendHeader(&gosip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: gosip.ACK})
		if err := dlg.WriteRequest(ack); err != nil {
			return fmt.Errorf("ACK of re-INVITE: %w", err)
		}
		if rm, err := media.ParseSDP(res.Body(), local.Codecs); err == nil {
			answered = string(rm.Direction)
		}
	}
	p.update(rec, func(r *Record) { r.HoldAnswers = append(r.HoldAnswers, answered) })
	return nil
}

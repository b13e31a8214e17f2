package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/media"
	"github.com/qualdial/qualdial/ivr"
)

// call is an answered SIP call. The goroutine that runs the script owns
// it; the SIP server's handlers only mark it ended or inject keys, without
// blocking.
type call struct {
	d        *Driver
	sess     *sipgo.DialogClientSession
	media    *media.Session
	req      dialer.DialRequest
	log      *slog.Logger
	deadline time.Time

	done      chan struct{}
	endOnce   sync.Once
	remoteBye atomic.Bool

	hangupOnce sync.Once
	hangupErr  error

	endedBy atomic.Pointer[string] // first reason the call ended, for EndedBy

	timingsMu sync.Mutex
	timings   dialer.Timings // see Timings

	sdpMu sync.Mutex     // serialises offers of the far end
	local media.LocalSDP // our latest SDP (offer, then answers)

	// Machine detection (nil listen: off). The call's goroutine owns amd
	// and pressed.
	listen  *machineListener
	amd     *dialer.AMD // the verdict, once taken
	pressed bool        // a key was pressed in this call

	// Call screening (nil screen: machine detection listens instead).
	screen       *screenListener
	identify     ivr.Prompt // the identification, as first said
	reidentified bool       // said again to a screening phone

	// attestation is the caller ID's STIR/SHAKEN attestation as the
	// trunk reported it in its responses to the INVITE (set before the
	// call is returned, then only read).
	attestation string
}

var (
	_ dialer.Call                = (*call)(nil)
	_ dialer.EndReporter         = (*call)(nil)
	_ dialer.DTMFReporter        = (*call)(nil)
	_ dialer.TimingReporter      = (*call)(nil)
	_ dialer.AMDReporter         = (*call)(nil)
	_ dialer.AttestationReporter = (*call)(nil)
)

// Timings implements dialer.TimingReporter.
func (c *call) Timings() dialer.Timings {
	c.timingsMu.Lock()
	defer c.timingsMu.Unlock()
	return c.timings
}

// noteIdentifyEnd records when the first identification finished playing.
func (c *call) noteIdentifyEnd() {
	c.timingsMu.Lock()
	defer c.timingsMu.Unlock()
	if c.timings.IdentifyEnd.IsZero() {
		c.timings.IdentifyEnd = time.Now()
	}
}

// notePrompt records when the first identification and the first question
// started to play.
func (c *call) notePrompt(kind ivr.PromptKind) {
	c.timingsMu.Lock()
	defer c.timingsMu.Unlock()
	switch {
	case kind == ivr.PromptIdentify && c.timings.Identify.IsZero():
		c.timings.Identify = time.Now()
	case kind == ivr.PromptQuestion && c.timings.OptOutOffer.IsZero():
		c.timings.OptOutOffer = time.Now()
	}
}

func newCall(d *Driver, sess *sipgo.DialogClientSession, m *media.Session, req dialer.DialRequest, log *slog.Logger) *call {
	maxDur := req.MaxDuration
	if maxDur <= 0 {
		maxDur = d.cfg.MaxCallDuration
	}
	return &call{d: d, sess: sess, media: m, req: req, log: log, deadline: time.Now().Add(maxDur), done: make(chan struct{})}
}

func (c *call) ID() string { return c.sess.InviteRequest.CallID().Value() }

// Attestation implements dialer.AttestationReporter: the caller ID's
// STIR/SHAKEN attestation, when the trunk reported it.
func (c *call) Attestation() string { return c.attestation }

// DTMFMethod implements dialer.DTMFReporter: how the call's keys arrived.
func (c *call) DTMFMethod() string { return c.media.DTMFMethod() }

func (c *call) Done() <-chan struct{} { return c.done }

// EndedBy implements dialer.EndReporter: who ended the call, when the call
// knows better than the script's outcome — the lead (BYE), the media
// timeout, the maximum length, an error, qualdial (shut down mid-call).
// It is empty when qualdial simply hung up at the end of the script (or
// after an error of the caller's): dialer.Run knows those.
func (c *call) EndedBy() string {
	if p := c.endedBy.Load(); p != nil {
		return *p
	}
	return ""
}

// setEndedBy records why the call ended; the first reason stands.
func (c *call) setEndedBy(why string) { c.endedBy.CompareAndSwap(nil, &why) }

// currentSDP is our latest SDP again, with a new version (RFC 3264 §8: an
// offer in a 200 to a re-INVITE without one).
func (c *call) currentSDP() ([]byte, error) {
	c.sdpMu.Lock()
	defer c.sdpMu.Unlock()
	c.local.Version++
	return c.local.Marshal()
}

// answerOffer answers the far end's offer in a re-INVITE or UPDATE (RFC
// 3264 §6): the direction mirrored (a hold is answered recvonly or
// inactive), the first of its codecs we have, its telephone-event payload
// type, and our SDP version one up. The media session follows at once:
// new address (latched anew), codec, direction. An offer with no codec we
// have is refused and the call keeps its media. It does not block.
func (c *call) answerOffer(offer []byte, method string) ([]byte, error) {
	remote, err := media.ParseSDP(offer, c.d.cfg.Codecs)
	if err != nil {
		c.log.Warn("unacceptable SDP offer; media unchanged", "method", method, "error", err, "sdp", string(offer))
		return nil, err
	}
	dir := remote.Direction.Answer()
	c.sdpMu.Lock()
	defer c.sdpMu.Unlock()
	next := c.local
	next.Version++
	next.Codecs = []media.Codec{remote.Codec}
	next.EventPT = remote.EventPT
	next.Direction = dir
	next.RTCPMux = remote.RTCPMux
	body, err := next.Marshal()
	if err != nil {
		return nil, err
	}
	c.local = next
	c.media.Update(media.Update{Remote: remote.Addr, Codec: remote.Codec, SendEventPT: remote.EventPT, Direction: dir})
	c.log.Info("SDP offer answered", "method", method, "direction", string(dir), "codec", remote.Codec.String(),
		"remote_rtp", remote.Addr.String())
	return body, nil
}

// takeAnswer applies the far end's answer (in an ACK) to our offer.
func (c *call) takeAnswer(answer []byte) {
	remote, err := media.ParseSDP(answer, c.d.cfg.Codecs)
	if err != nil {
		c.log.Warn("unusable SDP answer in ACK; media unchanged", "error", err, "sdp", string(answer))
		return
	}
	c.media.Update(media.Update{Remote: remote.Addr, Codec: remote.Codec, SendEventPT: remote.EventPT, Direction: remote.Direction.Answer()})
}

func (c *call) end() {
	c.endOnce.Do(func() {
		c.timingsMu.Lock()
		c.timings.Ended = time.Now()
		c.timingsMu.Unlock()
		close(c.done)
	})
}

// remoteHangup is called by the BYE handler.
func (c *call) remoteHangup() {
	c.remoteBye.Store(true)
	c.setEndedBy(dialer.EndedByLead)
	c.log.Info("far end hung up")
	c.end()
}

type stopReason int

const (
	stopNone stopReason = iota
	stopHangup
	stopMediaTimeout
	stopTooLong
	stopCanceled
	stopMachine
	stopScreened
)

// errCallTooLong ends calls that pass the maximum duration.
var errCallTooLong = errors.New("maximum call duration reached")

// Turn plays the prompts (a key stops them unless the turn is final) and
// collects keys.
func (c *call) Turn(ctx context.Context, t ivr.Turn) (ivr.Input, error) {
	select {
	case <-c.done:
		return ivr.Input{Hangup: true}, nil
	default:
	}
	maxTimer := time.NewTimer(time.Until(c.deadline))
	defer maxTimer.Stop()
	var keys strings.Builder
	// stop ends the turn early: the far end hung up, media stopped, the
	// call ran too long, or ctx ended.
	stop := func(why stopReason) (ivr.Input, error) {
		c.media.StopPlayback()
		switch why {
		case stopMediaTimeout:
			c.log.Warn("media timeout: no RTP from the far end")
			c.setEndedBy(dialer.EndedByMediaTimeout)
			c.end()
			return ivr.Input{Hangup: true}, nil
		case stopTooLong:
			c.log.Warn("maximum call duration reached")
			c.setEndedBy(dialer.EndedByMaxLength)
			c.end()
			return ivr.Input{Hangup: true}, errCallTooLong
		case stopCanceled:
			c.setEndedBy(dialer.EndedByQualdial)
			return ivr.Input{}, ctx.Err()
		case stopMachine:
			return c.onMachine(ctx, t, maxTimer.C)
		case stopScreened:
			return c.reidentify(ctx, t)
		}
		return ivr.Input{Hangup: true}, nil
	}

prompts:
	for _, p := range t.Prompts {
		codec := c.media.Codec()
		audio, err := c.d.encoded(ctx, p, c.req.Language, c.req.Voice, codec)
		if err != nil {
			c.setEndedBy(dialer.EndedByError)
			return ivr.Input{}, fmt.Errorf("prompt audio for %q: %w", p.Text, err)
		}
		// The codec may change while the audio is encoded (re-INVITE):
		// the session transcodes it then.
		played := c.media.StartPlaybackAs(codec, audio)
		c.notePrompt(p.Kind)
		if p.Kind == ivr.PromptIdentify && c.identify.Text == "" && c.identify.Audio == "" {
			c.identify = p
		}
		for {
			var keyCh <-chan byte
			if !t.Final {
				keyCh = c.media.Keys()
			}
			select {
			case <-played:
				if p.Kind == ivr.PromptIdentify {
					c.noteIdentifyEnd()
				}
				continue prompts
			case k := <-keyCh:
				c.media.StopPlayback() // barge-in
				c.pressedKey()
				keys.WriteByte(k)
				break prompts
			case r := <-c.verdictC():
				if c.takeVerdict(r) {
					return stop(stopMachine)
				}
			case <-c.screenC():
				return stop(stopScreened)
			case <-c.done:
				return stop(stopHangup)
			case <-c.media.Timeout():
				return stop(stopMediaTimeout)
			case <-maxTimer.C:
				return stop(stopTooLong)
			case <-ctx.Done():
				return stop(stopCanceled)
			}
		}
	}
	if t.Final {
		return ivr.Input{}, nil
	}
	for keys.Len() < max(t.MaxDigits, 1) && !(t.FinishOn != "" && strings.HasSuffix(keys.String(), t.FinishOn)) {
		k, timedOut, why := c.nextKey(ctx, t.Timeout.Std(), maxTimer.C)
		switch {
		case timedOut && keys.Len() == 0:
			return ivr.Input{Timeout: true}, nil
		case timedOut:
			return ivr.Input{Keys: keys.String()}, nil
		case why != stopNone:
			return stop(why)
		}
		c.pressedKey()
		keys.WriteByte(k)
	}
	return ivr.Input{Keys: keys.String()}, nil
}

// nextKey waits up to timeout for a key. Time on hold does not count: the
// wait starts afresh when the far end takes the call off hold.
func (c *call) nextKey(ctx context.Context, timeout time.Duration, tooLong <-chan time.Time) (key byte, timedOut bool, why stopReason) {
	held, holdCh := c.media.Held()
	wait := time.NewTimer(timeout)
	defer wait.Stop()
	if held {
		wait.Stop()
	}
	for {
		var waitC <-chan time.Time
		if !held {
			waitC = wait.C
		}
		select {
		case k := <-c.media.Keys():
			return k, false, stopNone
		case <-waitC:
			return 0, true, stopNone
		case r := <-c.verdictC():
			if c.takeVerdict(r) {
				return 0, false, stopMachine
			}
		case <-c.screenC():
			return 0, false, stopScreened
		case <-holdCh:
			was := held
			held, holdCh = c.media.Held()
			if was && !held {
				wait.Reset(timeout)
			} else if held {
				wait.Stop()
			}
		case <-c.done:
			return 0, false, stopHangup
		case <-c.media.Timeout():
			return 0, false, stopMediaTimeout
		case <-tooLong:
			return 0, false, stopTooLong
		case <-ctx.Done():
			return 0, false, stopCanceled
		}
	}
}

// Hangup sends BYE (unless the far end already did), then closes media.
func (c *call) Hangup(ctx context.Context) error {
	c.hangupOnce.Do(func() {
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if !c.remoteBye.Load() {
			if err := c.bye(hctx); err != nil {
				c.hangupErr = fmt.Errorf("BYE: %w", err)
			}
		}
		c.end()
		c.hangupErr = errors.Join(c.hangupErr, c.media.Close())
		_ = c.sess.Close()
		c.d.forget(c)
		sent, recv, jitter := c.media.Stats()
		c.d.jitter.Merge(jitter)
		endedBy := c.EndedBy()
		if endedBy == "" {
			endedBy = dialer.EndedByQualdial // BYE sent by the call's owner: the script ended, or a shutdown
		}
		c.log.Info("call ended", "by_far_end", c.remoteBye.Load(), "ended_by", endedBy, "rtp_sent", sent, "rtp_received", recv, "rtp_dropped", c.media.Dropped())
	})
	return c.hangupErr
}

// bye sends BYE with our User-Agent (sipgo's own BYE has none).
func (c *call) bye(ctx context.Context) error {
	res := c.sess.InviteResponse
	if res == nil {
		return errors.New("no answer to send BYE for")
	}
	target := c.sess.InviteRequest.Recipient
	if ct := res.Contact(); ct != nil {
		target = ct.Address
	}
	bye := gosip.NewRequest(gosip.BYE, *target.Clone())
	bye.SipVersion = c.sess.InviteRequest.SipVersion
	bye.AppendHeader(gosip.NewHeader("User-Agent", c.d.cfg.UserAgent))
	return c.sess.WriteBye(ctx, bye)
}

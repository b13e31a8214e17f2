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
}

var _ dialer.Call = (*call)(nil)

func newCall(d *Driver, sess *sipgo.DialogClientSession, m *media.Session, req dialer.DialRequest, log *slog.Logger) *call {
	maxDur := req.MaxDuration
	if maxDur <= 0 {
		maxDur = d.cfg.MaxCallDuration
	}
	return &call{d: d, sess: sess, media: m, req: req, log: log, deadline: time.Now().Add(maxDur), done: make(chan struct{})}
}

func (c *call) ID() string { return c.sess.InviteRequest.CallID().Value() }

// DTMFMethod implements dialer.DTMFReporter: how the call's keys arrived.
func (c *call) DTMFMethod() string { return c.media.DTMFMethod() }

func (c *call) Done() <-chan struct{} { return c.done }

func (c *call) end() { c.endOnce.Do(func() { close(c.done) }) }

// remoteHangup is called by the BYE handler.
func (c *call) remoteHangup() {
	c.remoteBye.Store(true)
	c.log.Info("far end hung up")
	c.end()
}

type stopReason int

const (
	stopHangup stopReason = iota
	stopMediaTimeout
	stopTooLong
	stopCanceled
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
			c.end()
			return ivr.Input{Hangup: true}, nil
		case stopTooLong:
			c.log.Warn("maximum call duration reached")
			c.end()
			return ivr.Input{Hangup: true}, errCallTooLong
		case stopCanceled:
			return ivr.Input{}, ctx.Err()
		}
		return ivr.Input{Hangup: true}, nil
	}

prompts:
	for _, p := range t.Prompts {
		audio, err := c.d.encoded(ctx, p, c.req.Language, c.req.Voice, c.media.Codec())
		if err != nil {
			return ivr.Input{}, fmt.Errorf("prompt audio for %q: %w", p.Text, err)
		}
		played := c.media.StartPlayback(audio)
		for {
			var keyCh <-chan byte
			if !t.Final {
				keyCh = c.media.Keys()
			}
			select {
			case <-played:
				continue prompts
			case k := <-keyCh:
				c.media.StopPlayback() // barge-in
				keys.WriteByte(k)
				break prompts
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
		wait := time.NewTimer(t.Timeout.Std())
		var why stopReason
		select {
		case k := <-c.media.Keys():
			keys.WriteByte(k)
			wait.Stop()
			continue
		case <-wait.C:
			if keys.Len() == 0 {
				return ivr.Input{Timeout: true}, nil
			}
			return ivr.Input{Keys: keys.String()}, nil
		case <-c.done:
			why = stopHangup
		case <-c.media.Timeout():
			why = stopMediaTimeout
		case <-maxTimer.C:
			why = stopTooLong
		case <-ctx.Done():
			why = stopCanceled
		}
		wait.Stop()
		return stop(why)
	}
	return ivr.Input{Keys: keys.String()}, nil
}

// Hangup sends BYE (unless the far end already did), then closes media.
func (c *call) Hangup(ctx context.Context) error {
	c.hangupOnce.Do(func() {
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if !c.remoteBye.Load() {
			if err := c.sess.Bye(hctx); err != nil {
				c.hangupErr = fmt.Errorf("BYE: %w", err)
			}
		}
		c.end()
		c.hangupErr = errors.Join(c.hangupErr, c.media.Close())
		_ = c.sess.Close()
		c.d.forget(c)
		sent, recv, jitter := c.media.Stats()
		c.d.jitter.Merge(jitter)
		c.log.Info("call ended", "by_far_end", c.remoteBye.Load(), "rtp_sent", sent, "rtp_received", recv)
	})
	return c.hangupErr
}

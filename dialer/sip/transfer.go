package sip

import (
	"context"
	"errors"
	"time"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/ivr"
)

// maxTransferTalk bounds a transferred conversation, and maxTransferredCall
// the whole transferred call from its answer, questionnaire included: with
// its ring, the call ends before its dial job's 75-minute timeout, and
// before an unfinished attempt is taken for abandoned.
const (
	maxTransferTalk    = time.Hour
	maxTransferredCall = 70 * time.Minute
)

var _ dialer.Transferer = (*call)(nil)

// Transfer implements dialer.Transferer with a second leg on the same
// trunk (or to the SIP URI): the person's phone rings up to t.Timeout —
// cancelled (CANCEL) if the lead hangs up meanwhile —, hears the whisper
// once it answers, and is then bridged to the lead, audio relayed both
// ways through qualdial, until one of them hangs up, ctx ends, an hour
// has passed, or the call has lasted 70 minutes since its answer; then
// both legs are hung up.
func (c *call) Transfer(ctx context.Context, t ivr.TransferTurn) dialer.TransferResult {
	res := dialer.TransferResult{To: t.To}
	start := time.Now()
	log := c.log.With("transfer_to", dialer.MaskPhone(t.To))
	ringCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.done: // the lead hung up while the person's phone rang
			cancel()
		case <-ringCtx.Done():
		}
	}()
	req, err := dialer.DialRequest{To: t.To, CallerID: c.req.CallerID, CallerName: c.req.CallerName, RingTimeout: t.Timeout.Std(),
		MaxDuration: maxTransferTalk, Language: c.req.Language, Voice: c.req.Voice, MachineDetection: dialer.MachineOff,
		// The leg's own to and call_id go in a group of their own: the
		// lead's call's keys stay as they are, not twice.
		Logger: c.log.WithGroup("transfer_leg"),
		DTMF:   c.req.DTMF}.Prepared()
	if err != nil {
		res.Status, res.Reason = dialer.TransferFailed, err.Error()
		return res
	}
	leg, err := c.d.Dial(ringCtx, req)
	select {
	case <-c.done:
		if leg != nil {
			_ = leg.Hangup(context.WithoutCancel(ctx))
		}
		res.Status = dialer.TransferLeadHungUp
		return res
	default:
	}
	if err != nil {
		de := dialer.AsDialError(err)
		res.SIPCode, res.Reason = de.SIPCode, de.Reason
		switch de.Disposition {
		case dialer.NoAnswer, dialer.Canceled:
			res.Status = dialer.TransferNoAnswer
		case dialer.Busy, dialer.Rejected:
			res.Status = dialer.TransferBusy
		default:
			res.Status = dialer.TransferFailed
		}
		if errors.Is(err, context.DeadlineExceeded) {
			res.Status = dialer.TransferNoAnswer
		}
		log.Info("transfer not answered", "status", res.Status, "sip_code", res.SIPCode)
		return res
	}
	agent := leg.(*call)
	defer func() { _ = agent.Hangup(context.WithoutCancel(ctx)) }()
	agent.reidentified = true // the person is expecting a whisper, not screening the call
	wait := time.Since(start).Milliseconds()
	res.WaitMS = &wait
	if t.Whisper.Text != "" || t.Whisper.Audio != "" {
		if in, err := agent.Turn(ctx, ivr.Turn{Prompts: []ivr.Prompt{t.Whisper}, Final: true}); err != nil || in.Hangup {
			res.Status = dialer.TransferFailed
			res.Reason = "the person hung up during the whisper"
			return res
		}
	}
	select {
	case <-c.done:
		res.Status = dialer.TransferLeadHungUp
		return res
	default:
	}
	// Bridge: each leg's audio is sent on the other.
	c.media.StopPlayback()
	c.media.SetTap(agent.media.Relay)
	agent.media.SetTap(c.media.Relay)
	defer c.media.SetTap(nil)
	defer agent.media.SetTap(nil)
	res.Status = dialer.TransferConnected
	bridged := time.Now()
	log.Info("transfer connected", "wait_ms", wait)
	c.timingsMu.Lock()
	answered := c.timings.Answered
	c.timingsMu.Unlock()
	limit := time.NewTimer(min(maxTransferTalk, time.Until(answered.Add(maxTransferredCall))))
	defer limit.Stop()
	select {
	case <-c.done:
		res.EndedBy = "lead"
	case <-agent.done:
		res.EndedBy = "agent"
	case <-c.media.Timeout():
		res.EndedBy = "lead"
	case <-agent.media.Timeout():
		res.EndedBy = "agent"
	case <-limit.C:
		res.EndedBy = "qualdial"
	case <-ctx.Done():
		res.EndedBy = "qualdial"
	}
	talk := time.Since(bridged).Milliseconds()
	res.TalkMS = &talk
	log.Info("transfer ended", "talk_ms", talk, "ended_by", res.EndedBy)
	return res
}

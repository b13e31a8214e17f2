package sip

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/amd"
	"github.com/qualdial/qualdial/ivr"
)

// machineListener runs machine detection on the far end's audio, on the
// media session's receiving goroutine: it never blocks there. The call's
// goroutine reads the verdict, and in message mode the end of the
// greeting, from channels.
type machineListener struct {
	det     *amd.Detector
	greetTo amd.GreetingEndConfig
	message bool

	// Touched by the receiving goroutine only.
	greet   *amd.GreetingEnd
	decided bool

	verdict      chan amd.Result // the verdict, once
	greetingOver chan string     // message mode: how the greeting ended, once
	stopped      atomic.Bool     // a person: nothing more to listen for
}

func newMachineListener(cfg amd.Config, greet amd.GreetingEndConfig, message bool) *machineListener {
	det, _ := amd.New(cfg) // validated with the driver's Config
	return &machineListener{det: det, greetTo: greet, message: message,
		verdict: make(chan amd.Result, 1), greetingOver: make(chan string, 1)}
}

// feed takes one received audio frame (OnAudio). It does not keep pcm.
func (l *machineListener) feed(pcm []int16) {
	if l.stopped.Load() {
		return
	}
	if !l.decided {
		res, done := l.det.Feed(pcm)
		if !done {
			return
		}
		l.decided = true
		l.verdict <- res // buffered for the one verdict
		if res.Verdict != amd.Machine || !l.message {
			l.stopped.Store(true)
			return
		}
		l.greet = amd.NewGreetingEnd(l.greetTo, res.Words > 0)
		return
	}
	if cause, done := l.greet.Feed(pcm); done {
		l.greetingOver <- cause
		l.stopped.Store(true)
	}
}

// stop ends the listening (a key was pressed: a person).
func (l *machineListener) stop() { l.stopped.Store(true) }

// verdictC is the channel of the verdict while one is awaited, else nil
// (a nil channel never fires in a select).
func (c *call) verdictC() <-chan amd.Result {
	if c.listen == nil || c.amd != nil {
		return nil
	}
	return c.listen.verdict
}

// AMD implements dialer.AMDReporter.
func (c *call) AMD() *dialer.AMD { return c.amd }

// takeVerdict records machine detection's verdict and reports whether the
// call is a machine's (no key pressed so far). A person is left alone.
func (c *call) takeVerdict(r amd.Result) (machine bool) {
	c.amd = &dialer.AMD{Verdict: string(r.Verdict), Cause: r.Cause, AfterMS: r.After.Milliseconds()}
	c.log.Info("machine detection", "verdict", r.Verdict, "cause", r.Cause, "after_ms", r.After.Milliseconds(), "words", r.Words)
	if r.Verdict != amd.Machine {
		return false
	}
	if c.pressed {
		c.amd.Overruled = true
		c.log.Info("machine detection overruled: keys were pressed")
		return false
	}
	return true
}

// pressedKey notes that a person pressed a key: machine detection stops
// (a machine presses none), and a later machine verdict is overruled.
func (c *call) pressedKey() {
	c.pressed = true
	if c.listen == nil {
		return
	}
	c.listen.stop()
	if c.amd == nil { // before any verdict: a person, by the keys
		after := time.Since(c.Timings().Answered)
		c.amd = &dialer.AMD{Verdict: "human", Cause: "keys", AfterMS: after.Milliseconds()}
		c.log.Info("machine detection", "verdict", "human", "cause", "keys", "after_ms", after.Milliseconds())
	}
}

// onMachine ends the script for an answering machine: at once in hangup
// mode; in message mode once the greeting is over (its beep, or silence),
// after the voicemail message has been left. The call is hung up by the
// caller (Run), as after any turn that reports a hang-up.
func (c *call) onMachine(ctx context.Context, tooLong <-chan time.Time) (ivr.Input, error) {
	c.media.StopPlayback()
	c.setEndedBy(dialer.EndedByQualdial)
	vm := c.req.Voicemail
	if c.req.MachineDetection != dialer.MachineMessage || (vm.Text == "" && vm.Audio == "") {
		return ivr.Input{Hangup: true}, nil
	}
	select {
	case cause := <-c.listen.greetingOver:
		c.amd.GreetingEnd = cause
	case <-c.done:
		return ivr.Input{Hangup: true}, nil
	case <-c.media.Timeout():
		return ivr.Input{Hangup: true}, nil
	case <-tooLong:
		return ivr.Input{Hangup: true}, nil
	case <-ctx.Done():
		return ivr.Input{Hangup: true}, nil
	}
	codec := c.media.Codec()
	audio, err := c.d.encoded(ctx, vm, c.req.Language, c.req.Voice, codec)
	if err != nil {
		c.log.Warn("cannot render the voicemail message", "error", err)
		return ivr.Input{Hangup: true}, nil
	}
	played := c.media.StartPlaybackAs(codec, audio)
	select {
	case <-played:
		c.amd.MessageLeft = true
		c.log.Info("message left on the answering machine", "greeting_end", c.amd.GreetingEnd)
	case <-c.done:
	case <-c.media.Timeout():
	case <-tooLong:
	case <-ctx.Done():
	}
	return ivr.Input{Hangup: true}, nil
}

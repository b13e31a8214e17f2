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
	if c.screen != nil {
		c.screen.stopped.Store(true)
	}
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
func (c *call) onMachine(ctx context.Context, t ivr.Turn, tooLong <-chan time.Time) (ivr.Input, error) {
	c.media.StopPlayback()
	vm := c.req.Voicemail
	if c.req.MachineDetection != dialer.MachineMessage || (vm.Text == "" && vm.Audio == "") {
		c.setEndedBy(dialer.EndedByQualdial)
		return ivr.Input{Hangup: true}, nil
	}
	// A key while the greeting plays or the message is left: a person
	// after all (one who picked up over the machine). The verdict is
	// overruled, and the identification and the question are said again.
	overrule := func() (ivr.Input, error) {
		c.media.StopPlayback()
		c.amd.Overruled = true
		c.pressedKey()
		c.log.Info("machine detection overruled: a key was pressed")
		return c.reidentify(ctx, t)
	}
	select {
	case cause := <-c.listen.greetingOver:
		c.amd.GreetingEnd = cause
	case <-c.media.Keys():
		return overrule()
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
	case <-c.media.Keys():
		return overrule()
	case <-c.done:
	case <-c.media.Timeout():
	case <-tooLong:
	case <-ctx.Done():
	}
	c.setEndedBy(dialer.EndedByQualdial)
	return ivr.Input{Hangup: true}, nil
}

// screenListener hears a phone that screens the call ("Please say your
// name and the reason for your call"): a sentence from the far end before
// any key, in the first seconds. It runs on the receiving goroutine and
// never blocks there.
type screenListener struct {
	u       *amd.Utterance // receiving goroutine only
	asked   chan struct{}  // closed once the sentence has ended
	stopped atomic.Bool
}

func newScreenListener(threshold int) *screenListener {
	return &screenListener{u: amd.NewUtterance(amd.UtteranceConfig{SilenceThreshold: threshold}), asked: make(chan struct{})}
}

func (l *screenListener) feed(pcm []int16) {
	if l.stopped.Load() {
		return
	}
	if l.u.Feed(pcm) {
		l.stopped.Store(true)
		close(l.asked)
	}
}

// screenC fires when a screening phone has asked who calls, while that
// still matters: before any key, once per call. Nil otherwise.
func (c *call) screenC() <-chan struct{} {
	if c.screen == nil || c.pressed || c.reidentified {
		return nil
	}
	return c.screen.asked
}

// reidentify answers a screening phone: the identification is said again,
// then the turn's questions are asked again from the start.
func (c *call) reidentify(ctx context.Context, t ivr.Turn) (ivr.Input, error) {
	c.reidentified = true
	c.media.StopPlayback()
	c.timingsMu.Lock()
	c.timings.ReIdentified = time.Now()
	c.timingsMu.Unlock()
	c.log.Info("the far end spoke before any key (call screening): the identification is said again")
	again := t
	again.Prompts = []ivr.Prompt{c.identify}
	for _, p := range t.Prompts {
		if p.Kind != ivr.PromptIdentify {
			again.Prompts = append(again.Prompts, p)
		}
	}
	return c.Turn(ctx, again)
}

package media

import (
	"sync"
	"time"
)

// clockSessions is how many sessions one pacing clock sends for. A clock
// goroutine sends its sessions' packets one after the other (a few
// microseconds each) without giving up its processor, so a round is short
// and a thread descheduled mid-round delays few calls; with more calls, more
// clocks share the cores, each on its own phase. In one run each at 500
// calls on 2 loaded cores, 64 per clock gave rounds of 6 ms at p99, 16 per
// clock rounds of 1.2 ms (BENCHMARKS.md).
const clockSessions = 16

// pacer is the process's RTP pacing: a set of clocks, each ticking every
// 20 ms for up to clockSessions sessions and sending their packets itself —
// one timer and one goroutine wake-up per 16 calls instead of one per call.
type pacer struct {
	mu     sync.Mutex
	clocks []*clock
}

// sessionPacer paces every session of the process.
var sessionPacer = &pacer{}

// add gives s a clock: the first with room.
func (p *pacer) add(s *Session) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.clocks {
		if c.add(s) {
			return
		}
	}
	c := &clock{}
	p.clocks = append(p.clocks, c)
	c.add(s)
}

// clock sends a frame for each of its sessions every 20 ms, against an
// absolute schedule so that pacing never drifts and a late wake-up does not
// cause a burst: ticks missed by more than a frame are skipped. It never
// waits for one session: a session busy elsewhere (its lock held) is tried
// again after the others, and misses the tick if it is still busy; the
// writes do not wait for a full socket buffer either.
type clock struct {
	mu       sync.Mutex
	sessions []*Session
	running  bool
	tick     int64 // the tick being sent; written by the clock goroutine under mu
}

// add joins s to the clock unless it is full; it starts the clock's
// goroutine if it was idle.
func (c *clock) add(s *Session) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.sessions) >= clockSessions {
		return false
	}
	if !c.running {
		c.running, c.tick = true, -1
		go c.run()
	}
	s.snd.clock, s.snd.index = c, len(c.sessions)
	s.snd.tick0 = c.tick + 1 // sends first on the next tick
	c.sessions = append(c.sessions, s)
	return true
}

// remove takes s off the clock. After it returns the clock may still be
// sending s's current frame; s's closed flag stops any later one.
func (c *clock) remove(s *Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := s.snd.index
	if i < 0 || i >= len(c.sessions) || c.sessions[i] != s {
		return
	}
	last := len(c.sessions) - 1
	c.sessions[i] = c.sessions[last]
	c.sessions[i].snd.index = i
	c.sessions[last] = nil
	c.sessions = c.sessions[:last]
	s.snd.index = -1
}

// run is the clock's goroutine; it ends when the clock has no session left
// at a tick.
func (c *clock) run() {
	var work, busy []*Session
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for n := int64(0); ; n++ {
		<-timer.C
		c.mu.Lock()
		if len(c.sessions) == 0 {
			c.running = false
			c.mu.Unlock()
			return
		}
		c.tick = n
		work = append(work[:0], c.sessions...)
		c.mu.Unlock()

		busy = busy[:0]
		for _, s := range work {
			if !s.sendFrame(n, false) {
				busy = append(busy, s)
			}
		}
		for _, s := range busy {
			s.sendFrame(n, true) // a second try; if still busy, this tick is missed
		}
		clear(work) // no references to closed sessions while idle

		next := start.Add(time.Duration(n+1) * FrameInterval)
		if behind := time.Since(next); behind > FrameInterval {
			// Overslept (a stalled machine): skip the missed ticks; each
			// session's timestamp follows the tick number, so it stays in
			// step with real time.
			n += int64(behind / FrameInterval)
			next = start.Add(time.Duration(n+1) * FrameInterval)
		}
		timer.Reset(time.Until(next))
	}
}

package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/qualdial/qualdial/store"
)

// dispatchAhead is how far ahead of its pace a campaign's calls are handed
// to dial jobs: the send gate spaces the INVITEs exactly, the dispatcher
// only keeps the gate fed.
const dispatchAhead = time.Second

// claimBatchLeads bounds the due leads one dispatch transaction looks at
// (leads outside their calling window are moved into it as they are seen).
const claimBatchLeads = 500

// Job priorities in a driver's dial queue: a lead that was just asked for
// goes before list and retry work when dial workers are scarce.
const (
	priorityFresh = 1
	priorityList  = 2
)

// DialQueue is the River queue of a driver's dial jobs: a process works
// only the queues of the drivers it has.
func DialQueue(driver string) string { return "dial_" + driver }

// lead contends for the driver's dispatch lock and, while it holds it,
// dispatches the driver's active campaigns; after an error (the database
// went away) it connects again.
func (q *Queue) lead(ctx context.Context, driver string) {
	log := q.cfg.Logger.With("subsystem", "dispatcher", "driver", driver)
	for ctx.Err() == nil {
		err := q.dispatchWhileLeader(ctx, log, driver)
		if ctx.Err() != nil {
			return
		}
		log.Warn("dispatcher stopped; starting again", "error", err)
		sleep(ctx, time.Second)
	}
}

// dispatchWhileLeader waits for the driver's dispatch lock on a connection
// of its own, then listens for wake-ups and dispatches until ctx ends or
// the connection fails.
func (q *Queue) dispatchWhileLeader(ctx context.Context, log *slog.Logger, driver string) error {
	cc := q.store.Pool().Config().ConnConfig.Copy()
	// Who dispatches shows in pg_stat_activity.
	cc.RuntimeParams["application_name"] = "qualdial dispatcher " + driver + " " + q.cfg.Worker
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return fmt.Errorf("dispatcher connection: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := store.TakeDispatchLock(ctx, conn, driver); err != nil {
		return err
	}
	log.Info("dispatching")
	d := &dispatcher{q: q, driver: driver, log: log, camps: map[int64]*campaignState{}}
	if err := d.loadActive(ctx); err != nil {
		return err
	}
	for {
		d.pass(ctx)
		wait := d.sleepFor(time.Now())
		wctx, cancel := context.WithTimeout(ctx, wait)
		n, err := conn.WaitForNotification(wctx)
		timedOut := wctx.Err() != nil
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case timedOut:
			if wait >= q.cfg.DispatchIdle {
				// The safety net: a missed wake-up or a clock that jumped.
				if err := d.loadActive(ctx); err != nil {
					return err
				}
			}
		case err != nil:
			return fmt.Errorf("wait for wake-ups: %w", err)
		default:
			d.woken(ctx, n.Payload)
		}
	}
}

// campaignState is what the dispatcher knows of one active campaign.
type campaignState struct {
	dirty bool      // woken: dispatch on the next pass
	wake  time.Time // dispatch again then (zero: only when woken)
	// full: no free slot; any call of the driver ending may free one
	// (the trunk's channels are shared).
	full bool
	// fresh: a fresh lead is due but the trunk has no free channel; list
	// work of other campaigns waits until it got one.
	fresh bool
	// paceAt is when the campaign's pace has caught up with the calls
	// handed out so far.
	paceAt time.Time
}

// dispatcher hands the due leads of one driver's active campaigns to dial
// jobs. Only the process holding the driver's dispatch lock runs one.
type dispatcher struct {
	q      *Queue
	driver string
	log    *slog.Logger
	camps  map[int64]*campaignState
	order  []int64 // round-robin order of the campaigns
	next   int     // where the next pass starts in order
}

// loadActive (re)reads the driver's active campaigns; each is dispatched on
// the next pass.
func (d *dispatcher) loadActive(ctx context.Context) error {
	ids, err := store.ActiveCampaigns(ctx, d.q.store.Pool(), d.driver)
	if err != nil {
		return err
	}
	for id := range d.camps {
		if !slices.Contains(ids, id) {
			d.drop(id)
		}
	}
	for _, id := range ids {
		d.touch(id)
	}
	return nil
}

// touch marks a campaign for dispatching on the next pass.
func (d *dispatcher) touch(id int64) {
	st := d.camps[id]
	if st == nil {
		st = &campaignState{}
		d.camps[id] = st
		d.order = append(d.order, id)
	}
	st.dirty = true
}

func (d *dispatcher) drop(id int64) {
	delete(d.camps, id)
	if i := slices.Index(d.order, id); i >= 0 {
		d.order = slices.Delete(d.order, i, i+1)
	}
}

// woken handles a notification: the campaign it names has work, and a call
// of the driver that ended may have freed a trunk channel another campaign
// waits for.
func (d *dispatcher) woken(ctx context.Context, payload string) {
	id, err := strconv.ParseInt(payload, 10, 64)
	if err != nil {
		return
	}
	for _, st := range d.camps {
		if st.full {
			st.dirty = true
		}
	}
	d.touch(id) // a campaign of another driver, or not active, is dropped by the pass
}

// pass dispatches every campaign that was woken or whose time came:
// campaigns with fresh leads waiting for a trunk channel first, then the
// woken ones, then the others, each group in round-robin order starting one
// further each pass.
func (d *dispatcher) pass(ctx context.Context) {
	if len(d.order) == 0 {
		return
	}
	start := d.next % len(d.order)
	d.next++
	order := append(slices.Clone(d.order[start:]), d.order[:start]...)
	rank := func(id int64) int {
		switch st := d.camps[id]; {
		case st.fresh:
			return 0
		case st.dirty:
			return 1
		}
		return 2
	}
	slices.SortStableFunc(order, func(a, b int64) int { return rank(a) - rank(b) })
	for _, id := range order {
		st := d.camps[id]
		if st == nil || (!st.dirty && (st.wake.IsZero() || time.Now().Before(st.wake))) {
			continue
		}
		st.dirty, st.full = false, false
		wake, active, err := d.dispatch(ctx, id, st, len(order))
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			d.log.Warn("cannot dispatch a campaign; trying again in a second", "campaign_id", id, "error", err)
			st.wake = time.Now().Add(time.Second)
		case !active:
			d.drop(id)
		default:
			st.wake = wake
		}
	}
}

// freshWaiting reports whether a campaign other than id has a fresh lead
// waiting for a trunk channel.
func (d *dispatcher) freshWaiting(id int64) bool {
	for other, st := range d.camps {
		if other != id && st.fresh {
			return true
		}
	}
	return false
}

// sleepFor is how long to wait for a wake-up: until the earliest campaign's
// time, at most Config.DispatchIdle.
func (d *dispatcher) sleepFor(now time.Time) time.Duration {
	wait := d.q.cfg.DispatchIdle
	for _, st := range d.camps {
		if st.dirty {
			return 0
		}
		if !st.wake.IsZero() {
			wait = min(wait, st.wake.Sub(now))
		}
	}
	return max(wait, time.Millisecond)
}

// dispatch hands a campaign's due leads to dial jobs, as many as its free
// slots (its concurrency, the trunk's channels) and its pace allow, after
// the pre-dial checks: a lead that may not be called now is moved to when
// it may, one that may never be is blocked. It returns when to dispatch
// the campaign again (zero: when woken), or active false when the campaign
// is not an active campaign of this driver any more.
func (d *dispatcher) dispatch(ctx context.Context, id int64, st *campaignState, campaigns int) (time.Time, bool, error) {
	q := d.q
	c, err := q.store.Campaign(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, true, err
	}
	if c.Status != store.CampaignActive || string(c.Driver) != d.driver {
		return time.Time{}, false, nil
	}
	if _, _, err := q.engine(c); err != nil {
		// A pinned script that no longer parses: nothing to dial with.
		d.log.Error("campaign not dialled", "campaign_id", c.ID, "error", err)
		return time.Time{}, true, nil
	}
	now := q.store.Now()
	wall := time.Now()
	// The pace: calls are handed out at most dispatchAhead ahead of it.
	cps := c.CallsPerSecond
	if acct := q.cfg.DriverCPS[d.driver]; acct > 0 {
		cps = min(cps, acct)
	}
	gap := time.Duration(float64(time.Second) / cps)
	st.paceAt = later(st.paceAt, wall)
	if ahead := st.paceAt.Sub(wall); ahead >= dispatchAhead {
		return st.paceAt.Add(-dispatchAhead + gap), true, nil
	}
	budget := max(1, int(math.Floor(float64(dispatchAhead-st.paceAt.Sub(wall))/float64(gap))))

	handed, looked, paced, full := 0, 0, false, false
	err = q.store.Tx(ctx, func(tx pgx.Tx) error {
		if err := store.LockCampaignDispatch(ctx, tx, c.ID); err != nil {
			return err
		}
		dialing, trunk, err := store.Dialing(ctx, tx, c.ID, d.driver)
		if err != nil {
			return err
		}
		free := c.MaxConcurrent - dialing
		share := free // list leads one campaign may take this pass
		st.fresh = false
		if lim := q.cfg.TrunkChannels[d.driver]; lim > 0 {
			if lim-trunk <= 0 && free > 0 {
				// Blocked by the trunk: a fresh lead waiting makes the
				// next free channel its own.
				if st.fresh, err = store.FreshDue(ctx, tx, c.ID, now); err != nil {
					return err
				}
			}
			free = min(free, lim-trunk)
			share = min(free, max(1, (lim-trunk)/campaigns))
			if d.freshWaiting(c.ID) {
				share = 0 // list work waits for another campaign's fresh lead
			}
		}
		if free <= 0 {
			full = true
			return nil
		}
		limit := min(free, budget)
		list := 0
		for handed < limit && looked < claimBatchLeads && !(share == 0 && handed > 0) {
			leads, err := store.ClaimDue(ctx, tx, c.ID, now, min(claimBatchLeads-looked, limit-handed+50))
			if err != nil {
				return err
			}
			for _, l := range leads {
				looked++
				if handed >= limit || (l.Priority > 0 && list >= share) {
					break
				}
				ok, err := d.handOver(ctx, tx, l, c)
				if err != nil {
					return err
				}
				if ok {
					handed++
					if l.Priority > 0 {
						list++
					}
				}
			}
			if len(leads) == 0 || (handed < limit && list >= share) {
				break
			}
		}
		paced = handed == budget
		full = handed == free || list >= share
		return nil
	})
	if err != nil {
		return time.Time{}, true, err
	}
	st.paceAt = st.paceAt.Add(time.Duration(handed) * gap)
	switch {
	case paced:
		return st.paceAt.Add(-dispatchAhead + gap), true, nil
	case full && handed > 0 && q.cfg.TrunkChannels[d.driver] > 0:
		// Took its share of the trunk: the others' turn, then again.
		return wall, true, nil
	case full:
		st.full = true
		return time.Time{}, true, nil
	case looked >= claimBatchLeads:
		return wall, true, nil // more due leads than one transaction looks at
	}
	due, err := store.NextDue(ctx, q.store.Pool(), c.ID)
	if err != nil || due == nil {
		return time.Time{}, true, err
	}
	return wall.Add(max(due.Sub(now), 0)), true, nil
}

// handOver runs the pre-dial checks on a claimed lead and, when it may be
// called now, hands it to a dial job in tx; otherwise it moves the lead to
// when it may be called, or blocks it.
func (d *dispatcher) handOver(ctx context.Context, tx pgx.Tx, l *store.Lead, c *store.Campaign) (bool, error) {
	q := d.q
	actor := "dispatcher:" + q.cfg.Worker
	check, err := q.preDial(ctx, tx, l, c, q.store.Now())
	if err != nil {
		return false, err
	}
	if check.code != "" {
		q.cfg.Metrics.PreDialBlocked(check.code)
	}
	switch {
	case check.block != "":
		if err := q.store.SetLeadStatus(ctx, tx, l.ID, actor, StatusBlocked, check.block, nil); err != nil {
			return false, err
		}
		return false, q.store.AddEvent(ctx, tx, l.ID, actor, store.EventLeadBlocked, map[string]any{"reason": check.block})
	case check.hold != "":
		return false, q.store.SetLeadStatus(ctx, tx, l.ID, actor, store.LeadNew, check.hold, nil)
	case check.waitUntil.After(q.store.Now()):
		return false, q.store.SetLeadStatus(ctx, tx, l.ID, actor, StatusScheduled, check.reason, &check.waitUntil)
	}
	prio := priorityList
	if l.Priority == 0 {
		prio = priorityFresh
	}
	res, err := q.client.InsertTx(ctx, tx, DialArgs{LeadID: l.ID}, &river.InsertOpts{Queue: DialQueue(string(c.Driver)), Priority: prio})
	if err != nil {
		return false, fmt.Errorf("dial job for lead %d: %w", l.ID, err)
	}
	if err := q.store.Dispatch(ctx, tx, l.ID, res.Job.ID, "handed to a dialer"); err != nil {
		return false, err
	}
	return true, nil
}

// later returns the later of two times.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

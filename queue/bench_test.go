package queue_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/store"
)

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// noopArgs is a job that does nothing: River's bare insert-to-work latency.
type noopArgs struct {
	Seq int `json:"seq"`
}

func (noopArgs) Kind() string { return "bench_noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
	mu      sync.Mutex
	started map[int]time.Time
}

func (w *noopWorker) Work(ctx context.Context, job *river.Job[noopArgs]) error {
	w.mu.Lock()
	w.started[job.Args.Seq] = time.Now()
	w.mu.Unlock()
	return nil
}

// BenchmarkSpeedToLead inserts leads at 20 per second — each with its dial
// job, in one transaction, as the intake webhook does — and measures the
// time from commit to the INVITE arriving at the softphone. Beside it, in
// the same run, River's bare insert-to-work latency for a no-op job, and the
// dialing pace held against a campaign's calls-per-second limit.
//
//	go test ./queue -run '^$' -bench SpeedToLead -benchtime 1x
func BenchmarkSpeedToLead(b *testing.B) {
	for range b.N {
		benchSpeedToLead(b)
	}
}

func benchSpeedToLead(b *testing.B) {
	const leads, rate = 200, 20
	decline := map[string]softphone.Persona{"default": {Answer: "reject", Code: 603}} // short calls
	bd := setup(b, decline, store.CampaignParams{MaxConcurrent: 100, CallsPerSecond: 100})
	ctx := context.Background()

	// River alone, same database, same rate.
	nw := &noopWorker{started: map[int]time.Time{}}
	workers := river.NewWorkers()
	river.AddWorker(workers, nw)
	rc, err := river.NewClient(riverpgxv5.New(bd.store.Pool()), &river.Config{
		Queues: map[string]river.QueueConfig{"bench": {MaxWorkers: 20}}, Workers: workers, FetchCooldown: 20 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	if err := rc.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer rc.Stop(ctx)
	riverCommitted := map[int]time.Time{}
	tick := time.NewTicker(time.Second / rate)
	for i := range leads {
		<-tick.C
		riverCommitted[i] = time.Now()
		if _, err := rc.Insert(ctx, noopArgs{Seq: i}, &river.InsertOpts{Queue: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
	tick.Stop()

	// qualdial: lead + dial job in one transaction → INVITE at the phone.
	committed := map[string]time.Time{}
	tick = time.NewTicker(time.Second / rate)
	for i := range leads {
		<-tick.C
		phone := fmt.Sprintf("+1212555%04d", i)
		err := bd.store.Tx(ctx, func(tx pgx.Tx) error {
			id, _, err := bd.store.InsertLead(ctx, tx, store.LeadParams{CampaignID: bd.camp.ID, Phone: phone, TimeZone: fixture.DaytimeZone(bd.store.Now())})
			if err != nil {
				return err
			}
			return bd.queue.EnqueueTx(ctx, tx, id)
		})
		if err != nil {
			b.Fatal(err)
		}
		committed[phone] = time.Now()
	}
	tick.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for len(bd.phone.Calls()) < leads && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	var toInvite, toWork []time.Duration
	for _, c := range bd.phone.Calls() {
		if at, ok := committed[c.User]; ok {
			toInvite = append(toInvite, c.Started.Sub(at))
		}
	}
	nw.mu.Lock()
	for i, at := range riverCommitted {
		if w, ok := nw.started[i]; ok {
			toWork = append(toWork, w.Sub(at))
		}
	}
	nw.mu.Unlock()
	if len(toInvite) < leads {
		b.Fatalf("%d of %d leads reached the phone", len(toInvite), leads)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(percentile(toInvite, 0.5)), "invite-p50-ms")
	b.ReportMetric(ms(percentile(toInvite, 0.99)), "invite-p99-ms")
	b.ReportMetric(ms(percentile(toWork, 0.5)), "river-p50-ms")
	b.ReportMetric(ms(percentile(toWork, 0.99)), "river-p99-ms")

	// Pacing: 60 leads queued at once in a campaign limited to 5 calls/s.
	paced := setup(b, decline, store.CampaignParams{MaxConcurrent: 50, CallsPerSecond: 5})
	var batch []store.LeadParams
	for i := range 60 {
		batch = append(batch, store.LeadParams{Phone: fmt.Sprintf("+1646555%04d", i), TimeZone: fixture.DaytimeZone(bd.store.Now())})
	}
	paced.addLeads(b, batch...)
	deadline = time.Now().Add(40 * time.Second)
	for len(paced.phone.Calls()) < len(batch) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	var starts []time.Time
	for _, c := range paced.phone.Calls() {
		starts = append(starts, c.Started)
	}
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	if len(starts) < 2 {
		b.Fatal("pacing: no calls")
	}
	measured := float64(len(starts)-1) / starts[len(starts)-1].Sub(starts[0]).Seconds()
	b.ReportMetric(measured, "paced-calls/s")
	b.ReportMetric(100*(measured-5)/5, "pace-error-%")
}

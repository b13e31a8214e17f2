package queue_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/sip"
	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/queue"
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

// BenchmarkSpeedToLead inserts leads at 20 per second — each due now, with
// its dispatcher's wake-up, in one transaction, as the intake webhook does —
// and measures the
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

	// qualdial: the lead in the schedule, its dispatcher woken, in one
	// transaction → INVITE at the phone.
	toInvite := invites(b, bd, insertAtRate(b, bd, leads, rate, "api"))
	var toWork []time.Duration
	nw.mu.Lock()
	for i, at := range riverCommitted {
		if w, ok := nw.started[i]; ok {
			toWork = append(toWork, w.Sub(at))
		}
	}
	nw.mu.Unlock()
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
	deadline := time.Now().Add(40 * time.Second)
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

// BenchmarkDispatch measures the dispatcher at the scale of issue 11, each
// figure in the same run:
//
//   - what a paused 1M-lead campaign costs: the database's transactions per
//     second and this process's CPU, idle and with the campaign;
//
//   - web-form lead → INVITE (20 leads/s, 200 leads) while a 1M-lead
//     campaign is being dialled and the paused one waits;
//
//   - a campaign's pace (5 calls/s) held by three processes' queues.
//
//     go test ./queue -run '^$' -bench Dispatch -benchtime 1x
func BenchmarkDispatch(b *testing.B) {
	for range b.N {
		benchDispatch(b)
	}
}

func benchDispatch(b *testing.B) {
	ctx := context.Background()
	decline := map[string]softphone.Persona{"default": {Answer: "reject", Code: 603}} // short calls
	bd := setupWith(b, decline, store.CampaignParams{MaxConcurrent: 100, CallsPerSecond: 100}, nil)
	cost := func() (tps, cpu float64) {
		const window = 10 * time.Second
		read := func() (int64, time.Duration) {
			var n int64
			_, _ = bd.store.Pool().Exec(ctx, `SELECT pg_stat_clear_snapshot()`)
			if err := bd.store.Pool().QueryRow(ctx, `SELECT xact_commit + xact_rollback FROM pg_stat_database
				WHERE datname = current_database()`).Scan(&n); err != nil {
				b.Fatal(err)
			}
			var ru syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			return n, time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
		time.Sleep(2 * time.Second) // the statistics of what came before are flushed
		n0, c0 := read()
		time.Sleep(window)
		n1, c1 := read()
		return float64(n1-n0-2) / window.Seconds(), 100 * (c1 - c0).Seconds() / window.Seconds()
	}
	idleTPS, idleCPU := cost()
	listCampaign(b, bd.store, "paused list", "paused", 1_000_000, "646", store.CampaignParams{})
	pausedTPS, pausedCPU := cost()
	b.ReportMetric(idleTPS, "idle-xact/s")
	b.ReportMetric(pausedTPS, "paused-1M-xact/s")
	b.ReportMetric(idleCPU, "idle-cpu-%")
	b.ReportMetric(pausedCPU, "paused-1M-cpu-%")

	// Fresh leads beside a 1M-lead campaign being dialled.
	list := listCampaign(b, bd.store, "big list", "active", 1_000_000, "718", store.CampaignParams{MaxConcurrent: 20, CallsPerSecond: 20})
	deadline := time.Now().Add(2 * time.Minute)
	for attempts(b, bd.store, list.ID) < 50 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	toInvite := invites(b, bd, insertAtRate(b, bd, 200, 20, "web_form"))
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(percentile(toInvite, 0.5)), "invite-p50-ms")
	b.ReportMetric(ms(percentile(toInvite, 0.99)), "invite-p99-ms")
	b.ReportMetric(float64(attempts(b, bd.store, list.ID)), "list-calls")

	// Pacing across three processes' queues: 100 leads at once, 5 calls/s.
	paced := setupWith(b, decline, store.CampaignParams{MaxConcurrent: 50, CallsPerSecond: 5}, nil)
	for range 2 {
		drv, err := sip.New(sip.Config{ListenAddr: "127.0.0.1:0", Trunk: paced.phone.Addr().String(), Prompts: fixture.Hum(0)})
		if err != nil {
			b.Fatal(err)
		}
		defer drv.Close()
		q, err := queue.New(paced.store, queue.Config{Drivers: map[string]dialer.Driver{"sip": drv}, Worker: fmt.Sprintf("replica-%p", drv)})
		if err != nil {
			b.Fatal(err)
		}
		if err := q.Start(ctx); err != nil {
			b.Fatal(err)
		}
		defer q.Stop(ctx)
	}
	var batch []store.LeadParams
	for i := range 100 {
		batch = append(batch, store.LeadParams{Phone: fmt.Sprintf("+1646555%04d", i), TimeZone: fixture.DaytimeZone(paced.store.Now())})
	}
	paced.addLeads(b, batch...)
	deadline = time.Now().Add(60 * time.Second)
	for len(paced.phone.Calls()) < len(batch) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	rows, err := paced.store.Pool().Query(ctx, `SELECT dialed_at FROM call_attempts WHERE dialed_at IS NOT NULL ORDER BY dialed_at`)
	if err != nil {
		b.Fatal(err)
	}
	dialed, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil || len(dialed) < 2 {
		b.Fatalf("pacing: %d calls, %v", len(dialed), err)
	}
	var workers int
	_ = paced.store.Pool().QueryRow(ctx, `SELECT count(DISTINCT worker) FROM call_attempts`).Scan(&workers)
	measured := float64(len(dialed)-1) / dialed[len(dialed)-1].Sub(dialed[0]).Seconds()
	b.ReportMetric(measured, "paced-calls/s")
	b.ReportMetric(100*(measured-5)/5, "pace-error-%")
	b.ReportMetric(float64(workers), "processes-calling")
}

// insertAtRate inserts n leads, rate per second, each in its own
// transaction as the intake does (the lead, due now, and its dispatcher's
// wake-up), and returns when each was committed, by phone.
func insertAtRate(b *testing.B, bd *bundle, n, rate int, source string) map[string]time.Time {
	ctx := context.Background()
	committed := map[string]time.Time{}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i := range n {
		<-tick.C
		phone := fmt.Sprintf("+1212555%04d", i)
		err := bd.store.Tx(ctx, func(tx pgx.Tx) error {
			id, _, err := bd.store.InsertLead(ctx, tx, store.LeadParams{CampaignID: bd.camp.ID, Phone: phone, Source: source,
				TimeZone: fixture.DaytimeZone(bd.store.Now())})
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
	return committed
}

// invites waits up to 30 s for the INVITEs of committed leads to reach the
// softphone and returns each one's time from commit to INVITE; all must
// arrive.
func invites(b *testing.B, bd *bundle, committed map[string]time.Time) []time.Duration {
	var out []time.Duration
	for deadline := time.Now().Add(30 * time.Second); len(out) < len(committed) && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		out = out[:0]
		for _, c := range bd.phone.Calls() {
			if at, ok := committed[c.User]; ok {
				out = append(out, c.Started.Sub(at))
			}
		}
	}
	if len(out) < len(committed) {
		b.Fatalf("%d of %d leads reached the phone", len(out), len(committed))
	}
	return out
}

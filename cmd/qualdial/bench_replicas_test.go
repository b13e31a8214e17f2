package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/store"
)

// BenchmarkReplicas is the load run of issue 15: three serve replicas on
// one PostgreSQL database, each with a softphone farm of its own in
// another process, dial a campaign of N leads allowed N calls at once
// (N: QUALDIAL_BENCH_CALLS, default 150) at up to QUALDIAL_BENCH_CPS calls
// per second (default 50). Every lead answers and stays on the line for
// the whole questionnaire (it times out on each question, about a minute),
// so the calls pile up to N at once. It reports the pace reached (calls/s
// started), the peak of concurrent calls, PostgreSQL transactions and rows
// written per call (pg_stat_database of the run's own database, replicas
// stopped so their statistics are flushed), and the replicas' CPU per call
// (user+sys from /proc): gross, and net of the idle replicas' background
// (River's and the dispatchers' polling, heartbeats) measured for 10 s
// before. Run it with make bench-replicas.
func BenchmarkReplicas(b *testing.B) {
	n := benchEnv(b, "QUALDIAL_BENCH_CALLS", 150)
	cps := benchEnv(b, "QUALDIAL_BENCH_CPS", 50)
	for range b.N {
		replicaLoad(b, n, cps)
	}
}

func benchEnv(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 3 || n > 5000 {
		b.Fatalf("%s=%q: want a number from 3 to 5000", name, v)
	}
	return n
}

// dbCounters are a database's cumulative statistics.
type dbCounters struct{ xacts, written int64 }

func readCounters(b *testing.B, pool *pgxpool.Pool) dbCounters {
	var c dbCounters
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `SELECT pg_stat_clear_snapshot()`); err != nil {
		b.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT xact_commit + xact_rollback, tup_inserted + tup_updated + tup_deleted
		FROM pg_stat_database WHERE datname = current_database()`).Scan(&c.xacts, &c.written); err != nil {
		b.Fatal(err)
	}
	return c
}

// procCPU is a process's user+sys CPU time so far, from /proc (in the
// kernel's USER_HZ ticks of 10 ms).
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (in parentheses, which may hold
	// spaces): state is field 3, utime 14, stime 15.
	rest := string(raw[strings.LastIndexByte(string(raw), ')')+2:])
	f := strings.Fields(rest)
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func replicaLoad(b *testing.B, n, cps int) {
	ctx := context.Background()
	url := pgtest.URL(b)
	env := append(cleanEnv(), "QUALDIAL_DATABASE_URL="+url)
	var procs []*serveProc
	for range 3 {
		// Each lead answers and lets every question time out: a long call.
		farm := startSoftphone(b, "--keys", "timeout,timeout,timeout,timeout,timeout,timeout", "--ring", "200ms")
		p := startServe(b, env, "--sip-trunk", farm.addr, "--max-calls", strconv.Itoa(n/3+n/10+1),
			"--db-conns-http", "2", "--db-conns-workers", "12")
		procs = append(procs, p)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	st := store.New(pool, store.Config{})

	// The idle replicas' background (River's polling, the dispatchers',
	// heartbeats), over 10 s.
	replicasCPU := func() (sum time.Duration) {
		for _, p := range procs {
			sum += procCPU(b, p.cmd.Process.Pid)
		}
		return sum
	}
	time.Sleep(2 * time.Second)
	idle0, idleCPU0 := readCounters(b, pool), replicasCPU()
	time.Sleep(10 * time.Second)
	before, cpu0 := readCounters(b, pool), replicasCPU()
	idleXacts, idleCPU := float64(before.xacts-idle0.xacts)/10, (cpu0-idleCPU0).Seconds()/10

	leads := n
	var phones []string
	for i := range leads {
		phones = append(phones, fmt.Sprintf("+1212555%04d", i))
	}
	b.ResetTimer()
	start := time.Now()
	addCampaign(b, st, "load", store.CampaignParams{MaxConcurrent: n, CallsPerSecond: float64(cps), MaxAttempts: 1}, phones)
	deadline := time.Now().Add(time.Duration(leads/cps)*time.Second + 10*time.Minute)
	for {
		var done, open int
		if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM leads WHERE attempt_count > 0 AND status <> 'dialing'),
			(SELECT count(*) FROM call_attempts WHERE state <> 'finished')`).Scan(&done, &open); err != nil {
			b.Fatal(err)
		}
		if done == leads && open == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d leads called, %d calls open after the deadline", done, leads, open)
		}
		time.Sleep(time.Second)
	}
	b.StopTimer()
	cpu := replicasCPU() - cpu0
	run := time.Since(start).Seconds()
	for _, p := range procs {
		p.stop(b) // their backends flush their statistics as they close
	}
	time.Sleep(time.Second)
	after := readCounters(b, pool)

	rows, err := pool.Query(ctx, `SELECT dialed_at, coalesce(answered_at, ended_at), ended_at FROM call_attempts WHERE dialed_at IS NOT NULL ORDER BY dialed_at`)
	if err != nil {
		b.Fatal(err)
	}
	type span struct{ Dialed, Answered, Ended time.Time }
	spans, err := pgx.CollectRows(rows, pgx.RowToStructByPos[span])
	if err != nil || len(spans) != leads {
		b.Fatalf("%d calls dialled of %d leads: %v", len(spans), leads, err)
	}
	// The peak of calls in progress, from their start and end.
	type edge struct {
		at time.Time
		d  int
	}
	var edges []edge
	var talk time.Duration
	for _, s := range spans {
		edges = append(edges, edge{s.Dialed, 1}, edge{s.Ended, -1})
		talk += s.Ended.Sub(s.Answered)
	}
	slices.SortFunc(edges, func(x, y edge) int { return cmpEdge(x.at, y.at, x.d, y.d) })
	peak, cur := 0, 0
	for _, e := range edges {
		cur += e.d
		peak = max(peak, cur)
	}
	calls := float64(len(spans))
	elapsed := spans[len(spans)-1].Dialed.Sub(spans[0].Dialed).Seconds()
	xacts := float64(after.xacts - before.xacts)
	b.ReportMetric((calls-1)/elapsed, "calls/s-started")
	b.ReportMetric(float64(peak), "peak-concurrent")
	b.ReportMetric(xacts/calls, "pg-xacts/call")
	b.ReportMetric((xacts-idleXacts*run)/calls, "pg-xacts/call-net")
	b.ReportMetric(float64(after.written-before.written)/calls, "pg-rows-written/call")
	b.ReportMetric(idleXacts/3, "pg-xacts/s-idle-replica")
	b.ReportMetric(1000*cpu.Seconds()/calls, "cpu-ms/call")
	b.ReportMetric(1000*(cpu.Seconds()-idleCPU*run)/calls, "cpu-ms/call-net")
	b.ReportMetric((talk / time.Duration(len(spans))).Seconds(), "s-on-line/call")
	// Where the rows written go (the whole run, campaign setup included).
	tables, err := pool.Query(ctx, `SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables
		WHERE n_tup_ins + n_tup_upd + n_tup_del > 0 ORDER BY 2 DESC LIMIT 12`)
	if err != nil {
		b.Fatal(err)
	}
	var by []string
	for tables.Next() {
		var name string
		var w int64
		if err := tables.Scan(&name, &w); err != nil {
			b.Fatal(err)
		}
		by = append(by, fmt.Sprintf("%s %.1f", name, float64(w)/calls))
	}
	b.Logf("rows written per call by table: %s", strings.Join(by, ", "))
	b.Logf("%d calls over 3 replicas in %.0fs, at most %d at once, %d/s allowed; %.0f PostgreSQL transactions (idle: %.1f/s), %d rows written; "+
		"%s CPU in the replicas (idle: %.0f ms/s)", len(spans), run, peak, cps, xacts, idleXacts, after.written-before.written, cpu, 1000*idleCPU)
}

// cmpEdge orders call starts and ends by time, an end before a start at
// the same instant.
func cmpEdge(a, b time.Time, da, db int) int {
	if c := a.Compare(b); c != 0 {
		return c
	}
	return da - db
}

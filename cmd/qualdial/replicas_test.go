package main

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/store"
)

// fastHeartbeat makes a serve process of a test say it is alive twice a
// second and look for dead replicas every second, so that a killed one is
// reclaimed in seconds rather than a minute. It is taken for dead after 5 s
// without a heartbeat, not the default 3 heartbeats (1.5 s): on CI's loaded
// machine a replica just started once missed that, and was fenced.
var fastHeartbeat = []string{"--heartbeat", "500ms", "--dead-after", "5s", "--reconcile-interval", "1s"}

// softphoneProc is "qualdial softphone" running as a process of its own: a
// farm of leads that prints each call when it ends.
type softphoneProc struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{} // closed when stdout is drained

	mu    sync.Mutex
	calls map[string]int // ended calls by dialled number
}

// startSoftphone runs "qualdial softphone" with the given flags on a port
// of its own and waits until it listens.
func startSoftphone(tb testing.TB, args ...string) *softphoneProc {
	tb.Helper()
	p := &softphoneProc{done: make(chan struct{}), calls: map[string]int{}}
	p.cmd = exec.Command(os.Args[0], append([]string{"softphone", "--listen", "127.0.0.1:0"}, args...)...)
	p.cmd.Env = append(cleanEnv(), "QUALDIAL_TEST_RUN_MAIN=1")
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		_ = p.cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if a, ok := strings.CutPrefix(line, "softphone listening on "); ok {
				a, _, _ = strings.Cut(a, " ")
				addr <- a
			} else if rest, ok := strings.CutPrefix(line, "call to "); ok {
				number, _, _ := strings.Cut(rest, ":")
				p.mu.Lock()
				p.calls[number]++
				p.mu.Unlock()
			}
		}
	}()
	select {
	case p.addr = <-addr:
	case <-p.done:
		tb.Fatal("softphone exited before listening")
	case <-time.After(60 * time.Second):
		tb.Fatal("softphone did not start in 60s")
	}
	return p
}

// ended returns how many calls to each number ended, as the farm printed
// them.
func (p *softphoneProc) ended() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.calls)
}

// instancePID is the pid in an instance id (host/pid/random).
func instancePID(id string) int {
	parts := strings.Split(id, "/")
	if len(parts) != 3 {
		return 0
	}
	pid, _ := strconv.Atoi(parts[1])
	return pid
}

// maxInWindow is the most of the sorted times within any window of
// length d (half-open: [t, t+d)).
func maxInWindow(times []time.Time, d time.Duration) int {
	most, j := 0, 0
	for i := range times {
		for j < len(times) && times[j].Sub(times[i]) < d {
			j++
		}
		most = max(most, j-i)
	}
	return most
}

// TestKillReplicaMidCampaign runs a paced campaign on three serve replicas
// sharing one database, with the leads' phones in a softphone process of
// their own; it kills one replica with SIGKILL while it has calls in
// progress and starts it again (as an orchestrator would). Then: no lead is
// lost (each one completed, or its interrupted call settled), none is
// dialled twice (one attempt each, in the database and at the phones), the
// campaign's pace held across the replicas and the kill, and no call is
// left unsettled.
func TestKillReplicaMidCampaign(t *testing.T) {
	t.Parallel()
	const leads, cps = 60, 4
	farm := startSoftphone(t, "--keys", "~1,~2", "--ring", "100ms") // student knock-out: a short call
	var phones []string
	for i := range leads {
		phones = append(phones, fmt.Sprintf("+1347555%04d", 100+i))
	}
	url := pgtest.URL(t)
	st, ids := campaignWithLeads(t, url, store.CampaignParams{MaxConcurrent: 9, CallsPerSecond: cps}, phones)
	env := append(cleanEnv(), "QUALDIAL_DATABASE_URL="+url)
	// Small pools: four serve processes at once stay well within the
	// database's connections, whatever else runs.
	args := append(fastHeartbeat, "--sip-trunk", farm.addr, "--max-calls", "4", "--db-conns-http", "2", "--db-conns-workers", "8")
	procs := map[int]*serveProc{}
	for range 3 {
		p := startServe(t, env, args...)
		procs[p.cmd.Process.Pid] = p
	}
	ctx := context.Background()

	// Kill a replica while it is on two calls or more, after a third of the
	// leads.
	var victim *serveProc
	waitUntil(t, 2*time.Minute, "a replica on calls, a third of the way", func() bool {
		var started int
		var worker string
		_ = st.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM call_attempts),
			coalesce((SELECT worker FROM call_attempts WHERE state <> 'finished' GROUP BY worker HAVING count(*) >= 2
				ORDER BY count(*) DESC LIMIT 1), '')`).
			Scan(&started, &worker)
		victim = procs[instancePID(worker)]
		return started >= leads/3 && victim != nil
	})
	var open int
	_ = st.Pool().QueryRow(ctx, `SELECT count(*) FROM call_attempts WHERE state <> 'finished'`).Scan(&open)
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.logDone
	_ = victim.cmd.Wait()
	delete(procs, victim.cmd.Process.Pid)
	t.Logf("killed replica %d with %d calls open in all", victim.cmd.Process.Pid, open)
	restarted := startServe(t, env, args...)
	procs[restarted.cmd.Process.Pid] = restarted
	defer func() {
		for _, p := range procs {
			p.stop(t)
		}
	}()

	// The campaign ends: every lead completed, or its call interrupted by
	// the kill settled (retried in a day, not now); no call left open.
	waitUntil(t, 4*time.Minute, "every lead called or settled", func() bool {
		var done, unsettled int
		_ = st.Pool().QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'completed'
				OR (status = 'retry_wait' AND status_reason LIKE '%interrupted%' AND next_attempt_at > $1)),
			(SELECT count(*) FROM call_attempts WHERE state <> 'finished')
			FROM leads`, time.Now().Add(time.Hour)).Scan(&done, &unsettled)
		return done == leads && unsettled == 0
	})

	// None dialled twice: one attempt per lead in the database, at most
	// one call per number at the phones (a call cut by the kill may never
	// end there).
	rows, err := st.Pool().Query(ctx, `SELECT lead_id, count(*), min(dialed_at) FROM call_attempts GROUP BY lead_id`)
	if err != nil {
		t.Fatal(err)
	}
	attempts := map[int64]int{}
	var dialed []time.Time
	for rows.Next() {
		var lead int64
		var n int
		var at *time.Time
		if err := rows.Scan(&lead, &n, &at); err != nil {
			t.Fatal(err)
		}
		attempts[lead] = n
		if at != nil {
			dialed = append(dialed, *at)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	ended := farm.ended()
	for _, p := range phones {
		if attempts[ids[p]] != 1 || ended[p] > 1 {
			l, _ := store.GetLead(ctx, st.Pool(), ids[p])
			t.Errorf("%s: %d attempts, %d calls at the phone (%s: %s)", p, attempts[ids[p]], ended[p], l.Status, l.StatusReason)
		}
	}
	var interrupted, givenBack int
	_ = st.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM call_attempts WHERE reason LIKE 'interrupted%'),
		(SELECT count(*) FROM lead_events WHERE actor LIKE 'reconciler:%' AND kind = 'lead.status' AND data->>'from' = 'dialing' AND data->>'to' = 'queued')`).
		Scan(&interrupted, &givenBack)
	t.Logf("%d calls cut by the kill were settled, %d leads handed to it but not called were given back", interrupted, givenBack)
	if interrupted == 0 {
		t.Error("no call was settled as interrupted: the kill did not happen mid-call")
	}

	// The pace held across replicas and the kill: the INVITE send times
	// (recorded by the pacing gate) have at most cps in any second, one
	// more for the edges of a window.
	slices.SortFunc(dialed, func(a, b time.Time) int { return a.Compare(b) })
	if most := maxInWindow(dialed, time.Second); most > cps+1 {
		t.Errorf("%d calls sent within one second; the campaign allows %d per second", most, cps)
	}

	// The dead replica's instance is stopped (fenced), the others run.
	var stopped, running int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FILTER (WHERE stopped_at IS NOT NULL), count(*) FILTER (WHERE stopped_at IS NULL) FROM instances`).
		Scan(&stopped, &running); err != nil {
		t.Fatal(err)
	}
	if stopped != 1 || running != 3 {
		t.Errorf("instances: %d stopped, %d running; want the killed one stopped and 3 running", stopped, running)
	}
}

// TestFencedReplicaExits: a replica that another took for dead (its
// heartbeats late: the reconciler stopped its row and settled its calls)
// learns it at its next heartbeat, hangs up its calls (their results can no
// longer be recorded), and exits with an error, for its orchestrator to
// start it again.
func TestFencedReplicaExits(t *testing.T) {
	t.Parallel()
	p, phone, st, _, _ := onLongCall(t, "+12125550178")
	ctx := context.Background()
	tag, err := st.Pool().Exec(ctx, `UPDATE instances SET stopped_at = $1, stop_reason = 'no heartbeat (test)' WHERE stopped_at IS NULL`, time.Now())
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("fenced %d instances: %v", tag.RowsAffected(), err)
	}
	select {
	case <-p.logDone:
	case <-time.After(60 * time.Second):
		t.Fatalf("the fenced replica still runs:\n%s", p.Log())
	}
	if err := p.cmd.Wait(); err == nil || !strings.Contains(p.Log(), "taken for dead") {
		t.Fatalf("exit %v; want an error saying it was taken for dead:\n%s", err, p.Log())
	}
	if c := phone.Calls(); len(c) != 1 || c[0].ByeFrom != "caller" {
		t.Fatalf("calls at the phone %+v; want the one call hung up by the replica", c)
	}
}

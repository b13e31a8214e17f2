package api_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/api"
	"github.com/qualdial/qualdial/calllist"
	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/sip"
	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

func benchPercentile(ds []time.Duration, p float64) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[min(len(s)-1, int(p*float64(len(s))))].Microseconds()) / 1000
}

func vmKB(field string) int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			n, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return n
		}
	}
	return 0
}

// writeCallList writes n rows with unique, valid US numbers — but for
// every badEvery-th row (0: none), whose phone is not a number.
func writeCallList(b *testing.B, path string, n, badEvery int) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "phone,first_name,last_name,company,email")
	areas := []int{212, 213, 312, 415, 617, 646, 718, 202, 305, 404}
	for i := range n {
		if badEvery > 0 && i%badEvery == 0 {
			fmt.Fprintf(w, "call me on %d,First%d,Last%d,Company %d,lead%d@example.com\n", i, i, i, i%977, i)
			continue
		}
		area, exch, line := areas[i%len(areas)], 201+(i/len(areas)/10000)%700, (i/len(areas))%10000
		fmt.Fprintf(w, "(%d) %03d-%04d,First%d,Last%d,Company %d,lead%d@example.com\n", area, exch, line, i, i, i%977, i)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
}

// timedWake times the dialer's wake of an import.
type timedWake struct {
	*queue.Queue
	took time.Duration
}

func (w *timedWake) WakeTx(ctx context.Context, tx pgx.Tx, campaignID int64) error {
	start := time.Now()
	defer func() { w.took += time.Since(start) }()
	return w.Queue.WakeTx(ctx, tx, campaignID)
}

// BenchmarkImport1M imports a generated 1M-row call list end to end (parse,
// normalise with libphonenumber, stage, sort out rejects, duplicates and
// DNC, insert, wake the campaign's dialing) and, in the same run, COPYs the
// same file into a plain table. wake-s is the time the wake took (for now
// it enqueues a dial job per lead). QUALDIAL_BENCH_BAD_EVERY=n makes every
// n-th row a bad one (1: all), to see that rejects keep memory flat.
//
//	go test ./api -run '^$' -bench Import1M -benchtime 1x
func BenchmarkImport1M(b *testing.B) {
	rows, badEvery := 1_000_000, 0
	if v := os.Getenv("QUALDIAL_BENCH_ROWS"); v != "" {
		rows, _ = strconv.Atoi(v)
	}
	if v := os.Getenv("QUALDIAL_BENCH_BAD_EVERY"); v != "" {
		badEvery, _ = strconv.Atoi(v)
	}
	bad := 0
	if badEvery > 0 {
		bad = (rows + badEvery - 1) / badEvery
	}
	path := filepath.Join(b.TempDir(), "list.csv")
	writeCallList(b, path, rows, badEvery)
	ctx := context.Background()
	for range b.N {
		st := store.New(pgtest.DB(b), store.Config{Now: fixture.Clock()})
		q, err := queue.New(st, queue.Config{})
		if err != nil {
			b.Fatal(err)
		}
		c, err := st.CreateCampaign(ctx, store.CampaignParams{Name: "bench", ScriptID: "bant-en", CallerID: "+15550100"})
		if err != nil {
			b.Fatal(err)
		}

		// Bare COPY of the same file, same database.
		if _, err := st.Pool().Exec(ctx, `CREATE TABLE plain (phone text, first_name text, last_name text, company text, email text)`); err != nil {
			b.Fatal(err)
		}
		f, _ := os.Open(path)
		cr := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
		cr.ReuseRecord = true
		_, _ = cr.Read()
		start := time.Now()
		copied, err := st.Pool().CopyFrom(ctx, pgx.Identifier{"plain"}, []string{"phone", "first_name", "last_name", "company", "email"},
			pgx.CopyFromFunc(func() ([]any, error) {
				rec, err := cr.Read()
				if err != nil {
					return nil, nil
				}
				return []any{rec[0], rec[1], rec[2], rec[3], rec[4]}, nil
			}))
		copyTime := time.Since(start)
		f.Close()
		if err != nil || int(copied) != rows {
			b.Fatalf("COPY: %d rows, %v", copied, err)
		}

		f, _ = os.Open(path)
		rssBefore := vmKB("VmRSS")
		peak := rssBefore
		done := make(chan struct{})
		go func() {
			for {
				select {
				case <-done:
					return
				case <-time.After(100 * time.Millisecond):
					peak = max(peak, vmKB("VmRSS"))
				}
			}
		}()
		start = time.Now()
		wake := &timedWake{Queue: q}
		imp, err := calllist.Import(ctx, st, wake, c, calllist.Options{Filename: "list.csv"}, f)
		importTime := time.Since(start)
		close(done)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		if imp.Accepted != rows-bad || imp.Rejected != bad {
			b.Fatalf("accepted %d of %d, rejected %d of %d (duplicates %d)", imp.Accepted, rows-bad, imp.Rejected, bad, imp.Duplicates)
		}
		b.ReportMetric(float64(rows)/importTime.Seconds(), "import-rows/s")
		b.ReportMetric(float64(rows)/copyTime.Seconds(), "copy-rows/s")
		b.ReportMetric(importTime.Seconds()/copyTime.Seconds(), "x-copy")
		b.ReportMetric(float64(peak-rssBefore)/1024, "MB-RSS-growth")
		b.ReportMetric(wake.took.Seconds(), "wake-s")
	}
}

// BenchmarkNextClaim has 50 reps claim leads at once through POST
// /v1/leads/next over a campaign of 1M sales-ready leads, through a pool
// like serve's for API requests (10 connections; QUALDIAL_BENCH_CONNS).
//
//	go test ./api -run '^$' -bench NextClaim -benchtime 1x
func BenchmarkNextClaim(b *testing.B) {
	leads, reps, claims := 1_000_000, 50, 5000
	if v := os.Getenv("QUALDIAL_BENCH_ROWS"); v != "" {
		leads, _ = strconv.Atoi(v)
	}
	ctx := context.Background()
	for range b.N {
		st := store.New(benchAPIPool(b), store.Config{Now: fixture.Clock()})
		q, _ := queue.New(st, queue.Config{})
		h, err := api.New(api.Config{Store: st, Dialer: q})
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(h)
		c, _ := st.CreateCampaign(ctx, store.CampaignParams{Name: "bench", ScriptID: "bant-en", CallerID: "+15550100"})
		if _, err := st.Pool().Exec(ctx, `INSERT INTO leads (campaign_id, phone, status, outcome, class, route, total, sales_stage, sla_due_at, sla_status, created_at, updated_at)
			SELECT $1, '+1555' || lpad(g::text, 7, '0'), 'completed', 'completed', 'sql', 'sales', 90, 'open',
				$3::timestamptz + (g % 86400) * interval '1 second', 'pending', $3, $3
			FROM generate_series(1, $2) g`, c.ID, leads, st.Now()); err != nil {
			b.Fatal(err)
		}
		_, _ = st.Pool().Exec(ctx, `ANALYZE leads`)
		keys := make([]string, reps)
		for i := range keys {
			keys[i], _, _ = st.CreateAPIKey(ctx, store.RoleSales, fmt.Sprintf("rep %d", i))
		}
		var mu sync.Mutex
		var lat []time.Duration
		seen := map[string]bool{}
		var wg sync.WaitGroup
		per := claims / reps
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: reps}}
		b.ResetTimer()
		for i := range reps {
			wg.Go(func() {
				for range per {
					req, _ := http.NewRequest("POST", srv.URL+"/v1/leads/next", nil)
					req.Header.Set("Authorization", "Bearer "+keys[i])
					t0 := time.Now()
					res, err := client.Do(req)
					d := time.Since(t0)
					if err != nil || res.StatusCode != 200 {
						b.Errorf("next: %v %v", err, res)
						return
					}
					var body struct {
						Lead struct {
							ID int64 `json:"id"`
						} `json:"lead"`
					}
					_ = jsonDecode(res, &body)
					mu.Lock()
					lat = append(lat, d)
					id := strconv.FormatInt(body.Lead.ID, 10)
					if seen[id] {
						b.Errorf("lead %s claimed twice", id)
					}
					seen[id] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		srv.Close()
		b.ReportMetric(benchPercentile(lat, 0.5), "claim-p50-ms")
		b.ReportMetric(benchPercentile(lat, 0.99), "claim-p99-ms")
		b.ReportMetric(float64(len(lat)), "claims")
	}
}

// BenchmarkIntakeToInvite posts web-form leads at 20/s to POST /v1/leads on
// a serving API with running dial workers, and measures from the request
// being sent to the INVITE arriving at the softphone.
//
//	go test ./api -run '^$' -bench IntakeToInvite -benchtime 1x
func BenchmarkIntakeToInvite(b *testing.B) {
	const leads, rate = 200, 20
	ctx := context.Background()
	for range b.N {
		st := store.New(pgtest.DB(b), store.Config{Now: fixture.Clock()})
		phone, err := softphone.Start(softphone.Config{Default: softphone.Persona{Answer: "reject", Code: 603}})
		if err != nil {
			b.Fatal(err)
		}
		drv, err := sip.New(sip.Config{ListenAddr: "127.0.0.1:0", Trunk: phone.Addr().String(), Prompts: fixture.Hum(200 * time.Millisecond)})
		if err != nil {
			b.Fatal(err)
		}
		q, err := queue.New(st, queue.Config{Drivers: map[string]dialer.Driver{"sip": drv}})
		if err != nil {
			b.Fatal(err)
		}
		if err := q.Start(ctx); err != nil {
			b.Fatal(err)
		}
		h, _ := api.New(api.Config{Store: st, Dialer: q})
		srv := httptest.NewServer(h)
		key, _, _ := st.CreateAPIKey(ctx, store.RoleIntake, "form")
		c, _ := st.CreateCampaign(ctx, store.CampaignParams{Name: "web", ScriptID: "bant-en", CallerID: "+15550100",
			WindowDays: []int{1, 2, 3, 4, 5, 6, 7}, WindowStart: 8 * time.Hour, WindowEnd: 21 * time.Hour, MaxConcurrent: 100, CallsPerSecond: 100})
		src, _ := readScript()
		_ = st.StartCampaign(ctx, c.ID, ivr.MustParse("bant-en.yaml", src), src)
		zone := fixture.DaytimeZone(st.Now())
		sent := map[string]time.Time{}
		tick := time.NewTicker(time.Second / rate)
		for i := range leads {
			<-tick.C
			number := fmt.Sprintf("+1212555%04d", i)
			body := fmt.Sprintf("campaign=web&phone=%s&first_name=Web&timezone=%s", strings.ReplaceAll(number, "+", "%2B"), zone)
			req, _ := http.NewRequest("POST", srv.URL+"/v1/leads", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			sent[number] = time.Now()
			res, err := http.DefaultClient.Do(req)
			if err != nil || res.StatusCode != 202 {
				b.Fatalf("intake: %v %v", err, res)
			}
			res.Body.Close()
		}
		tick.Stop()
		deadline := time.Now().Add(20 * time.Second)
		for len(phone.Calls()) < leads && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		var lat []time.Duration
		for _, call := range phone.Calls() {
			if at, ok := sent[call.User]; ok {
				lat = append(lat, call.Started.Sub(at))
			}
		}
		if len(lat) < leads {
			b.Fatalf("%d of %d leads reached the phone", len(lat), leads)
		}
		b.ReportMetric(benchPercentile(lat, 0.5), "webhook-invite-p50-ms")
		b.ReportMetric(benchPercentile(lat, 0.99), "webhook-invite-p99-ms")
		srv.Close()
		_ = q.Stop(ctx)
		drv.Close()
		phone.Close()
	}
}

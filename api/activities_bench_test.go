package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/api"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

// BenchmarkActivities posts batches of 1,000 activities, each naming its
// lead by e-mail among 200k leads of a campaign with a call threshold, and
// measures each batch end to end (find, lock, record, score, act).
//
//	go test ./api -run '^$' -bench Activities -benchtime 1x
func BenchmarkActivities(b *testing.B) {
	leads, batches := 200_000, 20
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
		threshold := 15 // a webinar (15) earns a call: the actions are measured too
		c, err := st.CreateCampaign(ctx, store.CampaignParams{Name: "bench", ScriptID: "bant-en", CallerID: "+15550100",
			Scoring: store.Scoring{CallThreshold: &threshold}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.Pool().Exec(ctx, `INSERT INTO leads (campaign_id, phone, email, status, status_reason, created_at, updated_at)
			SELECT $1, '+1555' || lpad(g::text, 7, '0'), 'lead' || g || '@corp.example', 'new', 'score 0 is below the call threshold 15', $3, $3
			FROM generate_series(1, $2) g`, c.ID, leads, st.Now()); err != nil {
			b.Fatal(err)
		}
		_, _ = st.Pool().Exec(ctx, `ANALYZE leads`)
		key, _, _ := st.CreateAPIKey(ctx, store.RoleIntake, "bench")
		types := []string{"page_view", "email_click", "download", "webinar", "pricing_view"}
		var lat []time.Duration
		recorded, scheduled := 0, 0
		b.ResetTimer()
		for n := range batches {
			acts := make([]map[string]any, 1000)
			for i := range acts {
				lead := (n*7919+i*104729)%leads + 1
				acts[i] = map[string]any{"email": fmt.Sprintf("lead%d@corp.example", lead), "type": types[(n+i)%len(types)],
					"id": fmt.Sprintf("b%d-%d", n, i)}
			}
			body, _ := json.Marshal(map[string]any{"activities": acts})
			req, _ := http.NewRequest("POST", srv.URL+"/v1/activities", strings.NewReader(string(body)))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			t0 := time.Now()
			res, err := http.DefaultClient.Do(req)
			d := time.Since(t0)
			if err != nil || res.StatusCode != 200 {
				b.Fatalf("activities: %v %v", err, res)
			}
			var out struct {
				Recorded int `json:"recorded"`
				Results  []struct {
					Leads []struct {
						Action string `json:"action"`
					} `json:"leads"`
				} `json:"results"`
			}
			_ = jsonDecode(res, &out)
			recorded += out.Recorded
			for _, r := range out.Results {
				for _, l := range r.Leads {
					if l.Action == "call_scheduled" {
						scheduled++
					}
				}
			}
			lat = append(lat, d)
		}
		b.StopTimer()
		srv.Close()
		if recorded != batches*1000 {
			b.Fatalf("recorded %d of %d", recorded, batches*1000)
		}
		var total time.Duration
		for _, d := range lat {
			total += d
		}
		b.ReportMetric(float64(recorded)/total.Seconds(), "activities/s")
		b.ReportMetric(benchPercentile(lat, 0.5), "batch-p50-ms")
		b.ReportMetric(benchPercentile(lat, 0.99), "batch-p99-ms")
		b.ReportMetric(float64(scheduled), "calls-scheduled")
	}
}

package web_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/qualdial/qualdial/store"
)

// BenchmarkPages measures the server time of the marketing pages over a
// campaign of many leads (200k by default; QUALDIAL_BENCH_ROWS), from the
// request to the last byte, p50 and max of 20 loads each.
//
//	go test ./web -run '^$' -bench Pages -benchtime 1x
func BenchmarkPages(b *testing.B) {
	rows := 200_000
	if v := os.Getenv("QUALDIAL_BENCH_ROWS"); v != "" {
		rows, _ = strconv.Atoi(v)
	}
	for range b.N {
		s := newSite(b)
		ctx := context.Background()
		c, err := s.st.CreateCampaign(ctx, store.CampaignParams{Name: "big", ScriptID: "bant-en", CallerID: "+15550100"})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.st.Pool().Exec(ctx, `INSERT INTO leads (campaign_id, phone, status, attempt_count, outcome, class, route, created_at, updated_at)
			SELECT $1, '+1555' || lpad(g::text, 7, '0'), CASE WHEN g % 3 = 0 THEN 'completed' ELSE 'queued' END, g % 3,
				CASE WHEN g % 3 = 0 THEN 'completed' END, CASE WHEN g % 3 = 0 THEN (ARRAY['sql','mql','disqualified'])[g % 9 / 3 + 1] END,
				CASE WHEN g % 3 = 0 THEN 'nurture' END, $3, $3
			FROM generate_series(1, $2) g`, c.ID, rows, s.st.Now()); err != nil {
			b.Fatal(err)
		}
		// One finished call for each lead called, over the past week, at
		// every local hour: the dispositions and the heatmap count them.
		if _, err := s.st.Pool().Exec(ctx, `INSERT INTO call_attempts (lead_id, campaign_id, attempt_no, driver, state, disposition,
				started_at, answered_at, ended_at, local_weekday, local_hour)
			SELECT id, campaign_id, 1, 'sip', 'finished', CASE WHEN id % 2 = 0 THEN 'answered' ELSE 'no_answer' END,
				$2::timestamptz - (id % 604800) * interval '1 second', CASE WHEN id % 2 = 0 THEN $2::timestamptz END, $2::timestamptz, id % 7 + 1, id % 24
			FROM leads WHERE campaign_id = $1 AND attempt_count > 0`, c.ID, s.st.Now()); err != nil {
			b.Fatal(err)
		}
		_, _ = s.st.Pool().Exec(ctx, `ANALYZE leads`)
		_, _ = s.st.Pool().Exec(ctx, `ANALYZE call_attempts`)
		var leadID int64
		if err := s.st.Pool().QueryRow(ctx, `SELECT max(id) FROM leads`).Scan(&leadID); err != nil {
			b.Fatal(err)
		}
		_, password, _ := s.st.CreateUser(ctx, "bench@example.com", "", store.RoleMarketing)
		br := s.browser(b)
		br.do("POST", "/login", url.Values{"email": {"bench@example.com"}, "password": {password}})
		br.do("POST", "/password", url.Values{"current": {password}, "next": {"a long new password"}, "again": {"a long new password"}})
		b.ResetTimer()
		for _, page := range []string{"/campaigns", fmt.Sprintf("/campaigns/%d", c.ID), fmt.Sprintf("/campaigns/%d?status=completed", c.ID),
			fmt.Sprintf("/campaigns/%d/settings", c.ID), "/campaigns/new", fmt.Sprintf("/leads/%d", leadID), "/scripts", "/scripts/edit?id=bant-en", "/dnc"} {
			var lat []time.Duration
			for range 20 {
				t0 := time.Now()
				if r := br.do("GET", page, nil); r.status != 200 {
					b.Fatalf("%s: %d", page, r.status)
				}
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, page+"-p50-ms")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, page+"-max-ms")
		}
	}
}

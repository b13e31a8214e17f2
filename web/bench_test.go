package web_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/qualdial/qualdial/scripts"
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

// BenchmarkExport measures a campaign's CSV export over many called leads
// (50k by default; QUALDIAL_BENCH_ROWS), each with scores, a completed call
// with its answers and every tenth with a note: the time to the last byte,
// rows per second, and the bytes the server allocated per row (what one
// lead costs, whatever their number: the file is streamed).
//
//	go test ./web -run '^$' -bench Export -benchtime 1x
func BenchmarkExport(b *testing.B) {
	rows := 50_000
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
		src, _ := scripts.Read("bant-en")
		if err := s.st.SetCampaignScript(ctx, c.ID, string(src)); err != nil {
			b.Fatal(err)
		}
		for _, q := range []string{
			`INSERT INTO leads (campaign_id, phone, first_name, status, attempt_count, outcome, class, route, total, scores, script_id, script_version,
				sales_stage, sla_due_at, sla_status, created_at, updated_at)
			SELECT $1, '+1555' || lpad(g::text, 7, '0'), 'Lead ' || g, 'completed', 1, 'completed', 'sql', 'sales', 95,
				'{"budget": 30, "authority": 25, "need": 20, "timeline": 20}', 'bant-en', 2, 'open', $3::timestamptz + g * interval '1 second', 'pending', $3, $3
			FROM generate_series(1, $2) g`,
			`INSERT INTO call_attempts (lead_id, campaign_id, attempt_no, driver, state, disposition, outcome, class, script_id, script_version,
				started_at, ended_at)
			SELECT id, campaign_id, 1, 'sip', 'finished', 'answered', 'completed', 'sql', 'bant-en', 2, $3, $3 FROM leads WHERE campaign_id = $1 AND $2 > 0`,
			`INSERT INTO answers (attempt_id, seq, lead_id, question, keys, points, answered_at)
			SELECT a.id, q.seq, a.lead_id, q.question, q.keys, q.points::jsonb, $3 FROM call_attempts a
			CROSS JOIN (VALUES (1, 'intro', '1', '{}'), (2, 'role', '1', '{}'), (3, 'budget', '1', '{"budget": 30}'),
				(4, 'authority', '1', '{"authority": 25}'), (5, 'seats', '120#', '{"need": 15}'), (6, 'timeline', '1', '{"timeline": 20}')) q(seq, question, keys, points)
			WHERE a.campaign_id = $1 AND $2 > 0`,
			`INSERT INTO lead_events (lead_id, at, actor, kind, data)
			SELECT id, $3, 'user:1', 'lead.note', '{"text": "Called back, wants a demo on Friday."}' FROM leads WHERE campaign_id = $1 AND id % 10 = 0 AND $2 > 0`,
		} {
			if _, err := s.st.Pool().Exec(ctx, q, c.ID, rows, s.st.Now()); err != nil {
				b.Fatal(err)
			}
		}
		for _, t := range []string{"leads", "call_attempts", "answers", "lead_events"} {
			_, _ = s.st.Pool().Exec(ctx, `ANALYZE `+t)
		}
		_, password, _ := s.st.CreateUser(ctx, "bench@example.com", "", store.RoleMarketing)
		br := s.browser(b)
		br.do("POST", "/login", url.Values{"email": {"bench@example.com"}, "password": {password}})
		br.do("POST", "/password", url.Values{"current": {password}, "next": {"a long new password"}, "again": {"a long new password"}})
		b.ResetTimer()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		t0 := time.Now()
		r := br.do("GET", fmt.Sprintf("/campaigns/%d/leads.csv", c.ID), nil)
		took := time.Since(t0)
		runtime.ReadMemStats(&after)
		if r.status != 200 {
			b.Fatalf("export: %d", r.status)
		}
		b.ReportMetric(took.Seconds(), "s")
		b.ReportMetric(float64(rows)/took.Seconds(), "rows/s")
		b.ReportMetric(float64(len(r.body))/float64(rows), "bytes/row")
		// The client's copy of the body is in the same process: take it out.
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc-uint64(len(r.body)))/float64(rows), "alloc-bytes/row")
	}
}

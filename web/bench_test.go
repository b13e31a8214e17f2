package web_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/scripts"
	"github.com/qualdial/qualdial/store"
)

// benchRows is the benchmark's size: QUALDIAL_BENCH_ROWS, else def.
func benchRows(def int) int {
	if v, err := strconv.Atoi(os.Getenv("QUALDIAL_BENCH_ROWS")); err == nil && v > 0 {
		return v
	}
	return def
}

// benchCampaign is a site with a campaign to fill.
func benchCampaign(b *testing.B) (*site, *store.Campaign) {
	s := newSite(b)
	c, err := s.st.CreateCampaign(context.Background(), store.CampaignParams{Name: "big", ScriptID: "bant-en", CallerID: "+15550100"})
	if err != nil {
		b.Fatal(err)
	}
	return s, c
}

// BenchmarkPages measures the server time of the marketing pages over a
// campaign of many leads (200k by default; QUALDIAL_BENCH_ROWS), from the
// request to the last byte, p50 and max of 20 loads each.
//
//	go test ./web -run '^$' -bench Pages -benchtime 1x
func BenchmarkPages(b *testing.B) {
	rows := benchRows(200_000)
	for range b.N {
		s, c := benchCampaign(b)
		ctx := context.Background()
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

// BenchmarkDashboard measures each dashboard query and the whole page over
// 1M leads (QUALDIAL_BENCH_ROWS) that arrived over 30 days: a third from
// web forms, two thirds called once, half of those answered, a third of
// those completed (a third of them SQL, contacted by a rep), split between
// two script versions, with their answers. p50 and max of 10 runs each.
//
//	go test ./web -run '^$' -bench Dashboard -benchtime 1x -timeout 30m
func BenchmarkDashboard(b *testing.B) {
	rows := benchRows(1_000_000)
	for range b.N {
		s, c := benchCampaign(b)
		ctx := context.Background()
		now := s.st.Now()
		_, password, _ := s.st.CreateUser(ctx, "bench@example.com", "", store.RoleMarketing)
		rep, _, _ := s.st.CreateUser(ctx, "rep@example.com", "", store.RoleSales)
		db := s.st.Pool()
		for _, q := range []string{
			// g % 3 = 0: not called; the rest called; even g answered; g % 6 = 2
			// or 4 … completed when g % 9 < 3 among answered; SQL when g % 27 < 3.
			`INSERT INTO leads (campaign_id, phone, source, status, attempt_count, created_at, updated_at, first_dialled_at, reached_at,
				outcome, class, route, qualified_at, sales_stage, sla_due_at, sla_status, assigned_to, accepted_at, contacted_at)
			SELECT $1, '+1555' || lpad(g::text, 7, '0'), CASE WHEN g % 3 = 1 THEN 'web_form' ELSE 'import' END,
				CASE WHEN g % 3 = 0 THEN 'queued' ELSE 'completed' END, CASE WHEN g % 3 = 0 THEN 0 ELSE 1 END, t, t,
				CASE WHEN g % 3 <> 0 THEN t + (g % 900) * interval '1 second' END,
				CASE WHEN g % 3 <> 0 AND g % 2 = 0 THEN t + (g % 900 + 5) * interval '1 second' END,
				CASE WHEN g % 3 <> 0 AND g % 2 = 0 AND g % 9 < 3 THEN 'completed' END,
				CASE WHEN g % 3 <> 0 AND g % 2 = 0 AND g % 9 < 3 THEN CASE WHEN g % 27 < 3 THEN 'sql' ELSE 'mql' END END,
				CASE WHEN g % 3 <> 0 AND g % 2 = 0 AND g % 9 < 3 THEN CASE WHEN g % 27 < 3 THEN 'sales' ELSE 'nurture' END END,
				CASE WHEN g % 3 <> 0 AND g % 2 = 0 AND g % 9 < 3 THEN t + interval '20 minutes' END,
				CASE WHEN g % 3 <> 0 AND g % 2 = 0 AND g % 27 < 3 THEN CASE WHEN g % 4 = 0 THEN 'contacted' ELSE 'open' END END,
				CASE WHEN g % 3 <> 0 AND g % 2 = 0 AND g % 27 < 3 THEN t + interval '1 day' END,
				CASE WHEN g % 3 <> 0 AND g % 2 = 0 AND g % 27 < 3 THEN CASE WHEN g % 4 = 0 THEN 'met' ELSE 'pending' END END,
				CASE WHEN g % 3 <> 0 AND g % 2 = 0 AND g % 27 < 3 AND g % 4 = 0 THEN $4::bigint END,
				CASE WHEN g % 3 <> 0 AND g % 2 = 0 AND g % 27 < 3 AND g % 4 = 0 THEN t + interval '2 hours' END,
				CASE WHEN g % 3 <> 0 AND g % 2 = 0 AND g % 27 < 3 AND g % 4 = 0 THEN t + interval '3 hours' END
			FROM (SELECT g, $3::timestamptz - (g % 2592000) * interval '1 second' AS t FROM generate_series(1, $2) g) x`,
			`INSERT INTO call_attempts (lead_id, campaign_id, attempt_no, driver, state, disposition, outcome, class, script_id, script_version,
				started_at, answered_at, ended_at, local_weekday, local_hour)
			SELECT id, campaign_id, 1, 'sip', 'finished', CASE WHEN reached_at IS NOT NULL THEN 'answered' ELSE 'no_answer' END,
				CASE WHEN outcome IS NOT NULL THEN outcome WHEN reached_at IS NOT NULL THEN 'incomplete' END, class,
				'bant-en', 2 + id % 2, first_dialled_at, reached_at, first_dialled_at + interval '1 minute', id % 7 + 1, id % 24
			FROM leads WHERE campaign_id = $1 AND first_dialled_at IS NOT NULL`,
			`INSERT INTO answers (attempt_id, seq, lead_id, question, keys, answered_at)
			SELECT a.id, q.seq, a.lead_id, q.name, ((a.id + q.seq) % 3 + 1)::text, a.answered_at
			FROM call_attempts a CROSS JOIN (VALUES (1, 'authority'), (2, 'budget'), (3, 'need'), (4, 'seats'), (5, 'timeline')) q(seq, name)
			WHERE a.campaign_id = $1 AND a.answered_at IS NOT NULL AND (a.outcome = 'completed' OR q.seq <= 2)`,
			`SELECT qualdial_compact_rollups()`, // what the job does every minute
			// What autovacuum does to settled rows: index-only scans.
			`VACUUM ANALYZE leads`, `VACUUM ANALYZE call_attempts`, `VACUUM ANALYZE answers`,
		} {
			var args []any
			switch {
			case strings.HasPrefix(q, "INSERT INTO leads"):
				args = []any{c.ID, rows, now, rep.ID}
			case strings.HasPrefix(q, "INSERT"):
				args = []any{c.ID}
			}
			if _, err := db.Exec(ctx, q, args...); err != nil {
				b.Fatal(err)
			}
		}
		br := s.browser(b)
		br.do("POST", "/login", url.Values{"email": {"bench@example.com"}, "password": {password}})
		br.do("POST", "/password", url.Values{"current": {password}, "next": {"a long new password"}, "again": {"a long new password"}})
		today := now.UTC().Format(time.DateOnly)
		f := store.DashboardFilter{From: now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -29), To: now.UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)}
		isSales := func(_ store.ScriptRef, class string) bool { return class == "sql" }
		b.ResetTimer()
		measure := func(name string, run func() error) {
			var lat []time.Duration
			for range 10 {
				t0 := time.Now()
				if err := run(); err != nil {
					b.Fatalf("%s: %v", name, err)
				}
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, name+"-p50-ms")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, name+"-max-ms")
		}
		measure("LeadsByDay", func() error { _, _, err := s.st.LeadsByDay(ctx, f); return err })
		measure("SpeedToLead", func() error { _, err := s.st.SpeedToLead(ctx, f); return err })
		measure("CallRates", func() error { _, err := s.st.CallRates(ctx, f, isSales); return err })
		measure("SLAByRep", func() error { _, _, err := s.st.SLAByRep(ctx, f); return err })
		measure("ScriptAnswers", func() error { _, _, err := s.st.ScriptAnswers(ctx, f); return err })
		for _, page := range []string{"/dashboard", "/dashboard?to=" + today + fmt.Sprintf("&campaign=%d", c.ID), "/dashboard/funnel.csv"} {
			measure(page, func() error {
				if r := br.do("GET", page, nil); r.status != 200 {
					return fmt.Errorf("%d", r.status)
				}
				return nil
			})
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
	rows := benchRows(50_000)
	for range b.N {
		s, c := benchCampaign(b)
		ctx := context.Background()
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

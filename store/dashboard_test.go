package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/store"
)

// TestDashboardRollups: whatever the leads, calls and answers go through
// — imports, dialling, results, sales stages, moves between campaigns,
// deletions, several rows per statement — the dashboards' rollups equal
// the same counts taken from the rows themselves.
func TestDashboardRollups(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(pgtest.DB(t), store.Config{Now: fixture.Clock()})
	db := st.Pool()
	var campaigns []int64
	for i := range 3 {
		c, err := st.CreateCampaign(ctx, store.CampaignParams{Name: fmt.Sprintf("c%d", i), ScriptID: "bant-en", CallerID: "+15550100"})
		if err != nil {
			t.Fatal(err)
		}
		campaigns = append(campaigns, c.ID)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	now := st.Now()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	// 300 leads in one statement, arriving over 5 days, from 3 campaigns.
	exec(`INSERT INTO leads (campaign_id, phone, source, created_at, updated_at)
		SELECT ($1::bigint[])[g % 3 + 1], '+1555' || lpad(g::text, 7, '0'), (ARRAY['api', 'web_form', 'import'])[g % 3 + 1],
			$2::timestamptz - (g * 1337 % 432000) * interval '1 second', $2
		FROM generate_series(1, 300) g`, campaigns, now)
	// Rounds of random changes, each statement touching many leads.
	steps := []string{
		`UPDATE leads SET first_dialled_at = created_at + interval '30 seconds', attempt_count = 1 WHERE id % $1 = 0`,
		`UPDATE leads SET reached_at = first_dialled_at + interval '5 seconds' WHERE first_dialled_at IS NOT NULL AND id % $1 = 1`,
		`UPDATE leads SET outcome = 'completed', class = 'sql', route = 'sales', sales_stage = 'open', sla_due_at = created_at + interval '1 day',
			sla_status = 'pending', qualified_at = created_at + interval '1 minute' WHERE reached_at IS NOT NULL AND id % $1 = 2`,
		`UPDATE leads SET outcome = 'completed', class = 'mql', route = 'nurture' WHERE reached_at IS NOT NULL AND outcome IS NULL AND id % $1 = 3`,
		`UPDATE leads SET outcome = 'completed', class = 'disqualified', route = 'none' WHERE reached_at IS NOT NULL AND outcome IS NULL AND id % $1 = 0`,
		`UPDATE leads SET status = 'opted_out', outcome = 'opted_out' WHERE reached_at IS NOT NULL AND outcome IS NULL AND id % $1 = 1`,
		`UPDATE leads SET sales_stage = 'contacted', contacted_at = sla_due_at - interval '1 hour', sla_status = 'met'
			WHERE sales_stage = 'open' AND id % $1 = 0`,
		`UPDATE leads SET sales_stage = 'won' WHERE sales_stage = 'contacted' AND id % $1 = 1`,
		`UPDATE leads SET outcome = 'scored', route = 'sales', sales_stage = 'open', sla_due_at = created_at + interval '1 day', score_at = created_at
			WHERE outcome IS NULL AND first_dialled_at IS NULL AND id % $1 = 2`,
		`UPDATE leads SET campaign_id = $2 WHERE id % $1 = 3`,
		`UPDATE leads SET created_at = created_at - interval '1 day' WHERE id % $1 = 4`,
		`UPDATE leads SET status_reason = 'nothing counted changes' WHERE id % $1 = 0`,
		`DELETE FROM leads WHERE id % 97 = $1 AND $2::bigint > 0`,
	}
	for range 40 {
		q := steps[rng.IntN(len(steps))]
		args := []any{rng.IntN(5) + 2}
		if strings.Contains(q, "$2") {
			args = append(args, campaigns[rng.IntN(3)])
		}
		exec(q, args...)
	}
	// Calls: one or two per dialled lead, some finished, with answers.
	exec(`INSERT INTO call_attempts (lead_id, campaign_id, attempt_no, driver, state, script_id, script_version, started_at, local_weekday, local_hour)
		SELECT id, campaign_id, 1, 'sip', 'dialing', 'bant-en', 2 + id % 2, first_dialled_at, CASE WHEN id % 5 > 0 THEN id % 7 + 1 END,
			CASE WHEN id % 5 > 0 THEN id % 24 END
		FROM leads WHERE first_dialled_at IS NOT NULL`)
	exec(`UPDATE call_attempts a SET state = 'finished', disposition = 'answered', answered_at = l.reached_at, ended_at = l.reached_at,
			outcome = CASE WHEN l.outcome IN ('completed', 'opted_out') THEN l.outcome ELSE 'incomplete' END, class = l.class, last_question = CASE WHEN l.outcome IS DISTINCT FROM 'completed' THEN 'budget' END
		FROM leads l WHERE l.id = a.lead_id AND l.reached_at IS NOT NULL AND a.id % 4 <> 0`)
	exec(`UPDATE call_attempts SET state = 'finished', disposition = 'no_answer', ended_at = started_at WHERE state = 'dialing' AND id % 3 = 0`)
	exec(`INSERT INTO answers (attempt_id, seq, lead_id, question, keys, answered_at)
		SELECT a.id, q.seq, a.lead_id, q.name, ((a.id + q.seq) % 3 + 1)::text || CASE WHEN q.seq = 2 THEN '#' ELSE '' END, a.started_at
		FROM call_attempts a CROSS JOIN (VALUES (1, 'authority'), (2, 'budget'), (3, 'need')) q(seq, name) WHERE a.answered_at IS NOT NULL`)
	exec(`UPDATE call_attempts SET engine_state = '{}' WHERE id % 2 = 0`)
	exec(`DELETE FROM answers WHERE attempt_id % 11 = 0 AND seq = 3`)
	exec(`DELETE FROM call_attempts WHERE id % 13 = 0`)
	exec(`DELETE FROM leads WHERE id % 17 = 0`)

	// Each rollup equals its rows, by every key it has — as appended, and
	// once compacted into fewer rows.
	check := func(when string) {
		t.Helper()
		for _, check := range []struct{ name, rollup, rows string }{
			{"leads", `SELECT campaign_id, day, sum(leads), sum(dialled), sum(reached), sum(completed), sum(sql), sum(accepted), sum(contacted),
					sum(won), sum(mql), sum(disqualified), sum(opted_out), sum(scored_to_sales)
				FROM lead_day_counts GROUP BY 1, 2 HAVING sum(leads) <> 0`,
				`SELECT campaign_id, (created_at AT TIME ZONE 'UTC')::date, count(*), count(first_dialled_at), count(reached_at),
					count(*) FILTER (WHERE outcome = 'completed'), count(*) FILTER (WHERE outcome = 'completed' AND sales_stage IS NOT NULL),
					count(*) FILTER (WHERE outcome = 'completed' AND sales_stage IS NOT NULL AND (accepted_at IS NOT NULL OR contacted_at IS NOT NULL)),
					count(*) FILTER (WHERE outcome = 'completed' AND sales_stage IS NOT NULL AND contacted_at IS NOT NULL),
					count(*) FILTER (WHERE outcome = 'completed' AND sales_stage = 'won'),
					count(*) FILTER (WHERE outcome = 'completed' AND sales_stage IS NULL AND route = 'nurture'),
					count(*) FILTER (WHERE outcome = 'completed' AND sales_stage IS NULL AND route = 'none'),
					count(*) FILTER (WHERE status = 'opted_out'), count(*) FILTER (WHERE outcome = 'scored' AND sales_stage IS NOT NULL)
				FROM leads GROUP BY 1, 2`},
			{"attempts", `SELECT campaign_id, day, script_version, local_weekday, local_hour, class, outcome, answered, finished, last_question, sum(calls)
				FROM attempt_day_counts GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 HAVING sum(calls) <> 0`,
				`SELECT campaign_id, (started_at AT TIME ZONE 'UTC')::date, script_version, coalesce(local_weekday, 0), coalesce(local_hour, -1),
					coalesce(class, ''), coalesce(outcome, ''), disposition IS NOT DISTINCT FROM 'answered', state = 'finished',
					coalesce(last_question, ''), count(*)
				FROM call_attempts GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10`},
			{"answers", `SELECT campaign_id, day, script_version, question, answer, sum(answers) FROM answer_day_counts
				GROUP BY 1, 2, 3, 4, 5 HAVING sum(answers) <> 0`,
				`SELECT a.campaign_id, (a.started_at AT TIME ZONE 'UTC')::date, a.script_version, an.question, rtrim(an.keys, '#'), count(*)
				FROM answers an JOIN call_attempts a ON a.id = an.attempt_id GROUP BY 1, 2, 3, 4, 5`},
			{"speed", `SELECT campaign_id, day, kind, wait_ms, sum(leads) FROM speed_day_counts GROUP BY 1, 2, 3, 4 HAVING sum(leads) <> 0`,
				`SELECT campaign_id, (created_at AT TIME ZONE 'UTC')::date, 'first_call', qualdial_wait_ms(first_dialled_at - created_at), count(*)
				FROM leads WHERE source = 'web_form' GROUP BY 1, 2, 3, 4
				UNION ALL
				SELECT campaign_id, (created_at AT TIME ZONE 'UTC')::date, 'first_touch', qualdial_wait_ms(contacted_at - created_at), count(*)
				FROM leads WHERE source = 'web_form' AND outcome = 'completed' AND sales_stage IS NOT NULL GROUP BY 1, 2, 3, 4`},
		} {
			var diff int
			if err := db.QueryRow(ctx, `SELECT count(*) FROM ((`+check.rollup+` EXCEPT `+check.rows+`) UNION ALL (`+check.rows+` EXCEPT `+check.rollup+`)) d`).
				Scan(&diff); err != nil {
				t.Fatalf("%s: %v", check.name, err)
			}
			var n int
			if err := db.QueryRow(ctx, `SELECT count(*) FROM (`+check.rows+`) r`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if diff != 0 || n < 10 {
				t.Errorf("%s, %s: %d groups differ between the rollup and the rows (%d groups)", when, check.name, diff, n)
			}
		}
	}
	rollupRows := func() int {
		var n int
		if err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM lead_day_counts) + (SELECT count(*) FROM attempt_day_counts) +
			(SELECT count(*) FROM answer_day_counts) + (SELECT count(*) FROM speed_day_counts)`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	check("appended")
	before := rollupRows()
	if err := st.CompactRollups(ctx); err != nil {
		t.Fatal(err)
	}
	if after := rollupRows(); after >= before {
		t.Errorf("compacting left %d rows of %d", after, before)
	}
	check("compacted")
	exec(`UPDATE leads SET reached_at = coalesce(reached_at, created_at + interval '1 minute') WHERE id % 5 = 0`)
	check("changed after compacting")

	// And the dashboards read them: the funnel over every day is the
	// leads' own count.
	// Wide enough for every lead however far the steps moved it back.
	f := store.DashboardFilter{From: now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -90), To: now.UTC().Truncate(24*time.Hour).AddDate(0, 0, 2)}
	funnel, days, err := st.LeadsByDay(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	var leads, sql int
	if err := db.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE outcome = 'completed' AND sales_stage IS NOT NULL) FROM leads`).Scan(&leads, &sql); err != nil {
		t.Fatal(err)
	}
	if funnel.Leads != leads || funnel.SQL != sql || len(days) < 5 {
		t.Errorf("funnel %+v over %d days; the leads say %d leads, %d SQL", funnel, len(days), leads, sql)
	}
}

// BenchmarkRollupWrites measures what the dashboards' rollup triggers add
// to the writes a call makes: a lead's status update, an attempt's start,
// state save and finish, one statement each, with the triggers and
// without (sub-benchmarks "on" and "off").
//
//	go test ./store -run '^$' -bench RollupWrites
func BenchmarkRollupWrites(b *testing.B) {
	ctx := context.Background()
	st := store.New(pgtest.DB(b), store.Config{Now: fixture.Clock()})
	db := st.Pool()
	c, err := st.CreateCampaign(ctx, store.CampaignParams{Name: "bench", ScriptID: "bant-en", CallerID: "+15550100"})
	if err != nil {
		b.Fatal(err)
	}
	now := st.Now()
	if _, err := db.Exec(ctx, `INSERT INTO leads (campaign_id, phone, source, created_at, updated_at)
		SELECT $1, '+1555' || lpad(g::text, 7, '0'), 'web_form', $2, $2 FROM generate_series(1, 1000) g`, c.ID, now); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"on", "off"} {
		b.Run(mode, func(b *testing.B) {
			if mode == "off" {
				for _, tbl := range []string{"leads", "call_attempts", "answers"} {
					if _, err := db.Exec(ctx, `ALTER TABLE `+tbl+` DISABLE TRIGGER USER`); err != nil {
						b.Fatal(err)
					}
				}
			}
			i := 0
			for b.Loop() {
				i++
				id := int64(i%1000) + 1
				for _, q := range []string{
					`UPDATE leads SET status = 'dialing', first_dialled_at = coalesce(first_dialled_at, $2::timestamptz), attempt_count = attempt_count + 1 WHERE id = $1`,
					`INSERT INTO call_attempts (lead_id, campaign_id, attempt_no, driver, started_at)
						SELECT id, campaign_id, attempt_count, 'sip', $2::timestamptz FROM leads WHERE id = $1`,
					`UPDATE call_attempts SET engine_state = '{}' WHERE lead_id = $1 AND state <> 'finished' AND $2::timestamptz IS NOT NULL`,
					`UPDATE call_attempts SET state = 'finished', disposition = 'answered', answered_at = $2::timestamptz, ended_at = $2::timestamptz, outcome = 'completed'
						WHERE lead_id = $1 AND state <> 'finished'`,
					`UPDATE leads SET status = 'completed', reached_at = coalesce(reached_at, $2::timestamptz), outcome = 'completed', route = 'nurture' WHERE id = $1`,
				} {
					if _, err := db.Exec(ctx, q, id, now); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

package store

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
)

// The dashboards' figures. Each is counted from the leads and their
// attempts over a period: leads by when they arrived, calls by when they
// started, sales follow-ups by their deadline. The definitions the pages
// show next to each figure are the WHERE clauses here.

// DashboardFilter chooses what the dashboards count.
type DashboardFilter struct {
	// From and To bound the period, [From, To): midnights UTC (the
	// rollups count whole days).
	From, To time.Time
	// Campaigns limits the figures to these campaigns; empty: all.
	Campaigns []int64
}

// days are the period's first day and the day after its last, as the
// rollups' dates (the period's bounds are whole UTC days).
func (f DashboardFilter) days() (string, string) {
	return f.From.UTC().Format(time.DateOnly), f.To.UTC().Format(time.DateOnly)
}

func (f DashboardFilter) campaigns() []int64 {
	if len(f.Campaigns) == 0 {
		return nil // NULL: every campaign
	}
	return f.Campaigns
}

// LeadFunnel counts the leads that arrived in the period at each step.
type LeadFunnel struct {
	Leads     int // arrived (created) in the period
	Dialled   int // called at least once
	Reached   int // a person answered a call
	Completed int // answered the whole questionnaire
	// SQL: completed and routed to sales (sales-qualified).
	SQL int
	// Accepted (SAL): of SQL, claimed or contacted by a rep.
	Accepted  int
	Contacted int // of SQL, marked contacted by a rep
	Won       int // of SQL, marked won
	// The branch: completed and routed to nurture (MQL), or to none.
	MQL, Disqualified int
	// OptedOut: asked not to be called again (on a call or by DNC).
	OptedOut int
	// ScoredToSales went to sales on their score alone, without a
	// completed call (outside the funnel's steps).
	ScoredToSales int
}

func (f *LeadFunnel) add(o LeadFunnel) {
	f.Leads += o.Leads
	f.Dialled += o.Dialled
	f.Reached += o.Reached
	f.Completed += o.Completed
	f.SQL += o.SQL
	f.Accepted += o.Accepted
	f.Contacted += o.Contacted
	f.Won += o.Won
	f.MQL += o.MQL
	f.Disqualified += o.Disqualified
	f.OptedOut += o.OptedOut
	f.ScoredToSales += o.ScoredToSales
}

// DayLeads is one day (UTC) of the leads that arrived in the period.
type DayLeads struct {
	Day                 time.Time
	Leads, Dialled, SQL int // arrived that day, of them dialled and SQL
	Calls, Answered     int // calls started that day, and answered
}

// LeadsByDay counts the funnel of the leads that arrived in the period,
// and the same per day of arrival (UTC), from the leads' daily rollup.
func (s *Store) LeadsByDay(ctx context.Context, f DashboardFilter) (LeadFunnel, []DayLeads, error) {
	from, to := f.days()
	rows, err := s.pool.Query(ctx, `SELECT day, sum(leads)::int, sum(dialled)::int, sum(reached)::int, sum(completed)::int, sum(sql)::int,
			sum(accepted)::int, sum(contacted)::int, sum(won)::int, sum(mql)::int, sum(disqualified)::int, sum(opted_out)::int,
			sum(scored_to_sales)::int
		FROM lead_day_counts WHERE day >= $1::date AND day < $2::date AND ($3::bigint[] IS NULL OR campaign_id = ANY($3))
		GROUP BY 1 ORDER BY 1`, from, to, f.campaigns())
	if err != nil {
		return LeadFunnel{}, nil, fmt.Errorf("leads by day: %w", err)
	}
	var total LeadFunnel
	var days []DayLeads
	var day time.Time
	var d LeadFunnel
	if _, err := pgx.ForEachRow(rows, []any{&day, &d.Leads, &d.Dialled, &d.Reached, &d.Completed, &d.SQL, &d.Accepted, &d.Contacted,
		&d.Won, &d.MQL, &d.Disqualified, &d.OptedOut, &d.ScoredToSales}, func() error {
		total.add(d)
		days = append(days, DayLeads{Day: time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC),
			Leads: d.Leads, Dialled: d.Dialled, SQL: d.SQL})
		return nil
	}); err != nil {
		return LeadFunnel{}, nil, fmt.Errorf("leads by day: %w", err)
	}
	return total, days, nil
}

// SpeedToLead is how fast web-form leads that arrived in the period were
// called, and how fast a rep followed up the sales-ready ones.
type SpeedToLead struct {
	WebForms int // web-form leads that arrived
	Dialled  int // of them, dialled
	// P50, P90 and P99 of arrival → first dial, over the dialled.
	P50, P90, P99 time.Duration
	// Under1m and Under5m count the dialled within 60 s and 5 min.
	Under1m, Under5m int
	// Histogram counts the dialled by how long they waited.
	Histogram []SpeedBucket
	// SalesReady: of WebForms, sales-qualified; Touched: of them,
	// contacted by a rep; TouchP50/TouchP90: arrival → contacted.
	SalesReady, Touched int
	TouchP50, TouchP90  time.Duration
}

// SpeedBucket is one bar of the speed-to-lead histogram: leads first
// dialled within [After, Before) of arriving (Before 0: no bound).
type SpeedBucket struct {
	Label         string
	After, Before time.Duration
	N             int
}

// speedBuckets are the histogram's bars.
var speedBuckets = []SpeedBucket{
	{Label: "< 10 s", Before: 10 * time.Second},
	{Label: "10–30 s", After: 10 * time.Second, Before: 30 * time.Second},
	{Label: "30–60 s", After: 30 * time.Second, Before: time.Minute},
	{Label: "1–5 min", After: time.Minute, Before: 5 * time.Minute},
	{Label: "5–30 min", After: 5 * time.Minute, Before: 30 * time.Minute},
	{Label: "30 min–2 h", After: 30 * time.Minute, Before: 2 * time.Hour},
	{Label: "2–24 h", After: 2 * time.Hour, Before: 24 * time.Hour},
	{Label: "≥ 24 h", After: 24 * time.Hour},
}

// SpeedToLead measures web-form leads that arrived in the period, from
// their waits' rollup: percentiles are nearest-rank, exact to the
// rollup's resolution (qualdial_wait_ms: 10 ms under a second, 100 ms
// under a minute, a second under an hour, a minute beyond).
func (s *Store) SpeedToLead(ctx context.Context, f DashboardFilter) (SpeedToLead, error) {
	out := SpeedToLead{Histogram: append([]SpeedBucket(nil), speedBuckets...)}
	from, to := f.days()
	rows, err := s.pool.Query(ctx, `SELECT kind, wait_ms, sum(leads)::int FROM speed_day_counts
		WHERE day >= $1::date AND day < $2::date AND ($3::bigint[] IS NULL OR campaign_id = ANY($3))
		GROUP BY 1, 2 HAVING sum(leads) > 0 ORDER BY 1, 2`, from, to, f.campaigns())
	if err != nil {
		return out, fmt.Errorf("speed to lead: %w", err)
	}
	var calls, touches []waitCount
	var kind string
	var w waitCount
	if _, err := pgx.ForEachRow(rows, []any{&kind, &w.ms, &w.n}, func() error {
		first := kind == "first_call"
		switch {
		case first:
			out.WebForms += w.n
		default:
			out.SalesReady += w.n
		}
		if w.ms < 0 {
			return nil // not called (touched) yet
		}
		if !first {
			out.Touched += w.n
			touches = append(touches, w)
			return nil
		}
		out.Dialled += w.n
		calls = append(calls, w)
		wait := time.Duration(w.ms) * time.Millisecond
		if wait < time.Minute {
			out.Under1m += w.n
		}
		if wait < 5*time.Minute {
			out.Under5m += w.n
		}
		for i := range out.Histogram {
			if b := out.Histogram[i]; wait >= b.After && (b.Before == 0 || wait < b.Before) {
				out.Histogram[i].N += w.n
			}
		}
		return nil
	}); err != nil {
		return out, fmt.Errorf("speed to lead: %w", err)
	}
	out.P50, out.P90, out.P99 = nearestRank(calls, out.Dialled, 0.5), nearestRank(calls, out.Dialled, 0.9), nearestRank(calls, out.Dialled, 0.99)
	out.TouchP50, out.TouchP90 = nearestRank(touches, out.Touched, 0.5), nearestRank(touches, out.Touched, 0.9)
	return out, nil
}

// waitCount is how many leads waited ms (rounded by the rollup).
type waitCount struct {
	ms int64
	n  int
}

// nearestRank is the p-quantile of waits (sorted, n in all): the
// smallest wait at least p of them do not exceed.
func nearestRank(waits []waitCount, n int, p float64) time.Duration {
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p * float64(n)))
	seen := 0
	for _, w := range waits {
		if seen += w.n; seen >= rank {
			return time.Duration(w.ms) * time.Millisecond
		}
	}
	return time.Duration(waits[len(waits)-1].ms) * time.Millisecond
}

// CallCounts counts calls (attempts) and what came of them.
type CallCounts struct {
	Calls     int // started in the period (finished or not)
	Answered  int // answered by a person (disposition answered)
	Completed int // the questionnaire was completed
	SQL       int // completed with a class routed to sales
	OptedOut  int // the person opted out on the call
}

// AnswerRate is answered / calls.
func (c CallCounts) AnswerRate() float64 { return ratio(c.Answered, c.Calls) }

// CompletionRate is completed / answered.
func (c CallCounts) CompletionRate() float64 { return ratio(c.Completed, c.Answered) }

// SQLRate is SQL / completed.
func (c CallCounts) SQLRate() float64 { return ratio(c.SQL, c.Completed) }

// OptOutRate is opted out / answered.
func (c CallCounts) OptOutRate() float64 { return ratio(c.OptedOut, c.Answered) }

func (c *CallCounts) add(o CallCounts) {
	c.Calls += o.Calls
	c.Answered += o.Answered
	c.Completed += o.Completed
	c.SQL += o.SQL
	c.OptedOut += o.OptedOut
}

func ratio(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// ScriptRef names one version of a script.
type ScriptRef struct {
	ID      string
	Version int
}

func (r ScriptRef) String() string { return fmt.Sprintf("%s@%d", r.ID, r.Version) }

// CallRates are the calls started in the period, in all and by campaign,
// script version and the lead's local hour, and per day (UTC) and hour of
// the week for the charts.
type CallRates struct {
	Total      CallCounts
	ByCampaign map[int64]CallCounts
	ByScript   map[ScriptRef]CallCounts
	// ByHour is indexed by the lead's local hour when dialled; calls of
	// leads in no known zone are only in Total.
	ByHour [24]CallCounts
	// Daily is calls and answered per day the calls started (UTC).
	Daily map[time.Time]CallCounts
	// Heat is the finished calls and answers per local weekday and hour.
	Heat []HourCell
}

// SalesClass says whether a class of a script version routes to sales.
type SalesClass func(script ScriptRef, class string) bool

// CallRates counts the calls started in the period from the attempts'
// daily rollup, grouped three ways; isSales decides which completed calls were
// sales-qualified (called after the scan: it may query).
func (s *Store) CallRates(ctx context.Context, f DashboardFilter, isSales SalesClass) (*CallRates, error) {
	from, to := f.days()
	rows, err := s.pool.Query(ctx, `SELECT GROUPING(campaign_id, script_id, script_version, local_hour, class, outcome)::int AS by_dims,
			GROUPING(day)::int AS by_day, GROUPING(local_weekday)::int AS by_week,
			coalesce(campaign_id, 0), coalesce(script_id, ''), coalesce(script_version, 0), coalesce(local_hour, -1),
			coalesce(class, ''), coalesce(outcome, ''), day, coalesce(local_weekday, 0),
			sum(calls)::int, coalesce(sum(calls) FILTER (WHERE answered), 0)::int, coalesce(sum(calls) FILTER (WHERE finished), 0)::int,
			coalesce(sum(calls) FILTER (WHERE finished AND answered), 0)::int
		FROM attempt_day_counts WHERE day >= $1::date AND day < $2::date AND ($3::bigint[] IS NULL OR campaign_id = ANY($3))
		GROUP BY GROUPING SETS ((campaign_id, script_id, script_version, local_hour, class, outcome), (day), (local_weekday, local_hour))`,
		from, to, f.campaigns())
	if err != nil {
		return nil, fmt.Errorf("call rates: %w", err)
	}
	type dims struct {
		campaign int64
		script   ScriptRef
		hour     int
		class    string
		outcome  string
		c        CallCounts
	}
	out := &CallRates{ByCampaign: map[int64]CallCounts{}, ByScript: map[ScriptRef]CallCounts{}, Daily: map[time.Time]CallCounts{}}
	var grouped []dims
	var byDims, byDay, byWeek, weekday, finished, finishedAnswered int
	var d dims
	var day *time.Time
	_, err = pgx.ForEachRow(rows, []any{&byDims, &byDay, &byWeek, &d.campaign, &d.script.ID, &d.script.Version, &d.hour, &d.class, &d.outcome,
		&day, &weekday, &d.c.Calls, &d.c.Answered, &finished, &finishedAnswered}, func() error {
		switch {
		case byDims == 0:
			grouped = append(grouped, d)
		case byDay == 0 && day != nil:
			out.Daily[*day] = d.c
		case byWeek == 0 && weekday > 0 && d.hour >= 0:
			// The heatmap counts finished calls, as a campaign's does.
			out.Heat = append(out.Heat, HourCell{Day: weekday, Hour: d.hour, Calls: finished, Answered: finishedAnswered})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("call rates: %w", err)
	}
	// The rows are read: isSales may query.
	for _, d := range grouped {
		c := d.c
		switch d.outcome {
		case "completed":
			c.Completed = c.Calls
			if isSales(d.script, d.class) {
				c.SQL = c.Calls
			}
		case "opted_out":
			c.OptedOut = c.Calls
		}
		out.Total.add(c)
		byCampaign := out.ByCampaign[d.campaign]
		byCampaign.add(c)
		out.ByCampaign[d.campaign] = byCampaign
		byScript := out.ByScript[d.script]
		byScript.add(c)
		out.ByScript[d.script] = byScript
		if d.hour >= 0 && d.hour < 24 {
			out.ByHour[d.hour].add(c)
		}
	}
	return out, nil
}

// RepSLA is one rep's sales follow-ups of the leads that became
// sales-ready in the period (UserID 0 and an empty Email: those no rep has
// claimed).
type RepSLA struct {
	UserID int64
	Email  string
	// Leads: the leads that became sales-ready in the period; Met,
	// Breached, Pending by their SLA; Contacted of them.
	Leads, Met, Breached, Pending, Contacted int
	// MedianTouch is the median time from sales-ready to contacted.
	MedianTouch time.Duration
}

// MetShare is met / (met + breached): the decided follow-ups on time.
func (r RepSLA) MetShare() float64 { return ratio(r.Met, r.Met+r.Breached) }

// SLAByRep counts the follow-ups of leads that became sales-ready in the
// period per rep, the
// unclaimed last, and their total.
func (s *Store) SLAByRep(ctx context.Context, f DashboardFilter) ([]RepSLA, RepSLA, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, RepSLA{}, fmt.Errorf("sla by rep: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	// Over many leads the planner costs it high enough to compile (JIT):
	// hundreds of milliseconds for a query that takes tens.
	if _, err := tx.Exec(ctx, `SET LOCAL jit = off`); err != nil {
		return nil, RepSLA{}, fmt.Errorf("sla by rep: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT GROUPING(l.assigned_to)::int, coalesce(l.assigned_to, 0), coalesce(min(u.email), min(u.name), ''),
			count(*)::int, (count(*) FILTER (WHERE l.sla_status = 'met'))::int, (count(*) FILTER (WHERE l.sla_status = 'breached'))::int,
			(count(*) FILTER (WHERE l.sla_status = 'pending'))::int, count(l.contacted_at)::int,
			percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM l.contacted_at - coalesce(l.qualified_at, l.score_at)))
		FROM leads l LEFT JOIN users u ON u.id = l.assigned_to
		WHERE l.sales_stage IS NOT NULL AND coalesce(l.qualified_at, l.score_at) >= $1 AND coalesce(l.qualified_at, l.score_at) < $2 AND ($3::bigint[] IS NULL OR l.campaign_id = ANY($3))
		GROUP BY ROLLUP (l.assigned_to) ORDER BY 1, (l.assigned_to IS NULL), 4 DESC, 3`, f.From, f.To, f.campaigns())
	if err != nil {
		return nil, RepSLA{}, fmt.Errorf("sla by rep: %w", err)
	}
	var reps []RepSLA
	var total RepSLA
	var all int
	var r RepSLA
	var median *float64
	_, err = pgx.ForEachRow(rows, []any{&all, &r.UserID, &r.Email, &r.Leads, &r.Met, &r.Breached, &r.Pending, &r.Contacted, &median}, func() error {
		r.MedianTouch = 0
		if median != nil {
			r.MedianTouch = time.Duration(*median * float64(time.Second)).Round(time.Second)
		}
		if all == 1 {
			total = r
		} else {
			reps = append(reps, r)
		}
		return nil
	})
	if err != nil {
		return nil, RepSLA{}, fmt.Errorf("sla by rep: %w", err)
	}
	return reps, total, nil
}

// ScriptAnswer is how often one answer was given to a question of one
// script version, on calls started in the period.
type ScriptAnswer struct {
	Script   ScriptRef
	Question string
	Answer   string // the keys, without the finish key
	N        int
}

// DropOff counts the answered calls of a script version that ended
// without completing the questionnaire, by the last question answered
// ("" before the first).
type DropOff struct {
	Script ScriptRef
	After  string
	N      int
}

// ScriptAnswers counts the answers per script version, question and
// answer of calls started in the period, and where the unfinished ones
// stopped.
func (s *Store) ScriptAnswers(ctx context.Context, f DashboardFilter) ([]ScriptAnswer, []DropOff, error) {
	from, to := f.days()
	rows, err := s.pool.Query(ctx, `SELECT script_id, script_version, question, answer, sum(answers)::int
		FROM answer_day_counts WHERE day >= $1::date AND day < $2::date AND ($3::bigint[] IS NULL OR campaign_id = ANY($3))
		GROUP BY 1, 2, 3, 4 HAVING sum(answers) > 0 ORDER BY 1, 2, 3, 5 DESC, 4`, from, to, f.campaigns())
	if err != nil {
		return nil, nil, fmt.Errorf("script answers: %w", err)
	}
	var answers []ScriptAnswer
	var a ScriptAnswer
	if _, err := pgx.ForEachRow(rows, []any{&a.Script.ID, &a.Script.Version, &a.Question, &a.Answer, &a.N}, func() error {
		answers = append(answers, a)
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("script answers: %w", err)
	}
	rows, err = s.pool.Query(ctx, `SELECT script_id, script_version, last_question, sum(calls)::int
		FROM attempt_day_counts WHERE day >= $1::date AND day < $2::date AND ($3::bigint[] IS NULL OR campaign_id = ANY($3))
			AND answered AND finished AND outcome <> 'completed'
		GROUP BY 1, 2, 3 HAVING sum(calls) > 0 ORDER BY 1, 2, 4 DESC, 3`, from, to, f.campaigns())
	if err != nil {
		return nil, nil, fmt.Errorf("drop-off: %w", err)
	}
	var drops []DropOff
	var d DropOff
	if _, err := pgx.ForEachRow(rows, []any{&d.Script.ID, &d.Script.Version, &d.After, &d.N}, func() error {
		drops = append(drops, d)
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("drop-off: %w", err)
	}
	return answers, drops, nil
}

// CompactRollups folds the dashboards' rollups into one row per key: the
// triggers append rows of differences, which the figures sum.
func (s *Store) CompactRollups(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, `SELECT qualdial_compact_rollups()`); err != nil {
		return fmt.Errorf("compact the dashboards' rollups: %w", err)
	}
	return nil
}

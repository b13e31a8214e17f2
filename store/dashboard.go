package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The dashboards' figures. Each is counted from the leads and their
// attempts over a period: leads by when they arrived, calls by when they
// started, sales follow-ups by their deadline. The definitions the pages
// show next to each figure are the WHERE clauses here.

// DashboardFilter chooses what the dashboards count.
type DashboardFilter struct {
	// From and To bound the period: [From, To).
	From, To time.Time
	// Campaigns limits the figures to these campaigns; empty: all.
	Campaigns []int64
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

// DayLeads is one day (UTC) of the leads that arrived in the period.
type DayLeads struct {
	Day                 time.Time
	Leads, Dialled, SQL int // arrived that day, of them dialled and SQL
	Calls, Answered     int // calls started that day, and answered
}

// LeadsByDay counts the funnel of the leads that arrived in the period,
// and the same per day of arrival (UTC), in one scan.
func (s *Store) LeadsByDay(ctx context.Context, f DashboardFilter) (LeadFunnel, []DayLeads, error) {
	rows, err := s.pool.Query(ctx, `SELECT date_trunc('day', created_at AT TIME ZONE 'UTC'), count(*)::int,
			count(first_dialled_at)::int, count(reached_at)::int,
			(count(*) FILTER (WHERE outcome = 'completed'))::int,
			(count(*) FILTER (WHERE outcome = 'completed' AND sales_stage IS NOT NULL))::int,
			(count(*) FILTER (WHERE outcome = 'completed' AND sales_stage IS NOT NULL AND (accepted_at IS NOT NULL OR contacted_at IS NOT NULL)))::int,
			(count(*) FILTER (WHERE outcome = 'completed' AND sales_stage IS NOT NULL AND contacted_at IS NOT NULL))::int,
			(count(*) FILTER (WHERE outcome = 'completed' AND sales_stage = 'won'))::int,
			(count(*) FILTER (WHERE outcome = 'completed' AND sales_stage IS NULL AND route = 'nurture'))::int,
			(count(*) FILTER (WHERE outcome = 'completed' AND sales_stage IS NULL AND route = 'none'))::int,
			(count(*) FILTER (WHERE status = 'opted_out'))::int,
			(count(*) FILTER (WHERE outcome = 'scored' AND sales_stage IS NOT NULL))::int
		FROM leads WHERE created_at >= $1 AND created_at < $2 AND ($3::bigint[] IS NULL OR campaign_id = ANY($3))
		GROUP BY 1 ORDER BY 1`, f.From, f.To, f.campaigns())
	if err != nil {
		return LeadFunnel{}, nil, fmt.Errorf("leads by day: %w", err)
	}
	var total LeadFunnel
	var days []DayLeads
	var day time.Time
	var d LeadFunnel
	if _, err := pgx.ForEachRow(rows, []any{&day, &d.Leads, &d.Dialled, &d.Reached, &d.Completed, &d.SQL, &d.Accepted, &d.Contacted,
		&d.Won, &d.MQL, &d.Disqualified, &d.OptedOut, &d.ScoredToSales}, func() error {
		total.Leads += d.Leads
		total.Dialled += d.Dialled
		total.Reached += d.Reached
		total.Completed += d.Completed
		total.SQL += d.SQL
		total.Accepted += d.Accepted
		total.Contacted += d.Contacted
		total.Won += d.Won
		total.MQL += d.MQL
		total.Disqualified += d.Disqualified
		total.OptedOut += d.OptedOut
		total.ScoredToSales += d.ScoredToSales
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

// SpeedToLead measures web-form leads that arrived in the period.
func (s *Store) SpeedToLead(ctx context.Context, f DashboardFilter) (SpeedToLead, error) {
	var out SpeedToLead
	var dial, touch []*float64
	err := s.pool.QueryRow(ctx, `WITH w AS (
			SELECT extract(epoch FROM first_dialled_at - created_at)::float8 AS wait,
				extract(epoch FROM contacted_at - created_at)::float8 AS touch, sales_stage IS NOT NULL AND outcome = 'completed' AS sql
			FROM leads WHERE source = 'web_form' AND created_at >= $1 AND created_at < $2 AND ($3::bigint[] IS NULL OR campaign_id = ANY($3)))
		SELECT count(*)::int, count(wait)::int,
			percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY wait),
			(count(*) FILTER (WHERE wait < 60))::int, (count(*) FILTER (WHERE wait < 300))::int,
			(count(*) FILTER (WHERE sql))::int, (count(touch) FILTER (WHERE sql))::int,
			percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY touch) FILTER (WHERE sql)
		FROM w`, f.From, f.To, f.campaigns()).Scan(&out.WebForms, &out.Dialled, &dial, &out.Under1m, &out.Under5m,
		&out.SalesReady, &out.Touched, &touch)
	if err != nil {
		return out, fmt.Errorf("speed to lead: %w", err)
	}
	seconds := func(v []*float64, i int) time.Duration {
		if i >= len(v) || v[i] == nil {
			return 0
		}
		return time.Duration(*v[i] * float64(time.Second)).Round(time.Millisecond)
	}
	out.P50, out.P90, out.P99 = seconds(dial, 0), seconds(dial, 1), seconds(dial, 2)
	out.TouchP50, out.TouchP90 = seconds(touch, 0), seconds(touch, 1)
	out.Histogram = append([]SpeedBucket(nil), speedBuckets...)
	return out, s.fillHistogram(ctx, f, out.Histogram)
}

// fillHistogram counts the dialled web-form leads per histogram bar.
func (s *Store) fillHistogram(ctx context.Context, f DashboardFilter, bars []SpeedBucket) error {
	bounds := make([]float64, 0, len(bars)-1) // width_bucket: 0 below the first bound
	for _, b := range bars[1:] {
		bounds = append(bounds, b.After.Seconds())
	}
	rows, err := s.pool.Query(ctx, `SELECT width_bucket(extract(epoch FROM first_dialled_at - created_at)::float8, $4::float8[]), count(*)::int
		FROM leads WHERE source = 'web_form' AND created_at >= $1 AND created_at < $2 AND ($3::bigint[] IS NULL OR campaign_id = ANY($3))
			AND first_dialled_at IS NOT NULL GROUP BY 1`, f.From, f.To, f.campaigns(), bounds)
	if err != nil {
		return fmt.Errorf("speed histogram: %w", err)
	}
	var b, n int
	_, err = pgx.ForEachRow(rows, []any{&b, &n}, func() error {
		if b >= 0 && b < len(bars) {
			bars[b].N = n
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("speed histogram: %w", err)
	}
	return nil
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

// CallRates counts the calls started in the period in one scan of their
// attempts, grouped three ways; isSales decides which completed calls were
// sales-qualified (called after the scan: it may query).
func (s *Store) CallRates(ctx context.Context, f DashboardFilter, isSales SalesClass) (*CallRates, error) {
	rows, err := s.pool.Query(ctx, `SELECT GROUPING(campaign_id, script_id, script_version, local_hour, class, outcome)::int AS by_dims,
			GROUPING(day)::int AS by_day, GROUPING(local_weekday)::int AS by_week,
			coalesce(campaign_id, 0), coalesce(script_id, ''), coalesce(script_version, 0), coalesce(local_hour, -1),
			coalesce(class, ''), coalesce(outcome, ''), day, coalesce(local_weekday, 0),
			count(*)::int, (count(*) FILTER (WHERE disposition = 'answered'))::int, (count(*) FILTER (WHERE state = 'finished'))::int
		FROM (SELECT campaign_id, script_id, script_version, local_hour, local_weekday, class, outcome, disposition, state,
				date_trunc('day', started_at AT TIME ZONE 'UTC') AS day
			FROM call_attempts WHERE started_at >= $1 AND started_at < $2 AND ($3::bigint[] IS NULL OR campaign_id = ANY($3))) a
		GROUP BY GROUPING SETS ((campaign_id, script_id, script_version, local_hour, class, outcome), (day), (local_weekday, local_hour))`,
		f.From, f.To, f.campaigns())
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
	var byDims, byDay, byWeek, weekday, finished int
	var d dims
	var day *time.Time
	_, err = pgx.ForEachRow(rows, []any{&byDims, &byDay, &byWeek, &d.campaign, &d.script.ID, &d.script.Version, &d.hour, &d.class, &d.outcome,
		&day, &weekday, &d.c.Calls, &d.c.Answered, &finished}, func() error {
		switch {
		case byDims == 0:
			grouped = append(grouped, d)
		case byDay == 0 && day != nil:
			out.Daily[time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)] = d.c
		case byWeek == 0 && weekday > 0 && d.hour >= 0:
			// The heatmap counts finished calls, as a campaign's does.
			out.Heat = append(out.Heat, HourCell{Day: weekday, Hour: d.hour, Calls: finished, Answered: d.c.Answered})
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
	rows, err := s.pool.Query(ctx, `SELECT GROUPING(l.assigned_to)::int, coalesce(l.assigned_to, 0), coalesce(min(u.email), min(u.name), ''),
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
	rows, err := s.pool.Query(ctx, `SELECT coalesce(a.script_id, ''), coalesce(a.script_version, 0), an.question, rtrim(an.keys, '#'), count(*)::int
		FROM answers an JOIN call_attempts a ON a.id = an.attempt_id
		WHERE a.started_at >= $1 AND a.started_at < $2 AND ($3::bigint[] IS NULL OR a.campaign_id = ANY($3))
		GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 5 DESC, 4`, f.From, f.To, f.campaigns())
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
	rows, err = s.pool.Query(ctx, `SELECT coalesce(a.script_id, ''), coalesce(a.script_version, 0), coalesce(last.question, ''), count(*)::int
		FROM call_attempts a LEFT JOIN LATERAL (
			SELECT question FROM answers an WHERE an.attempt_id = a.id ORDER BY seq DESC LIMIT 1) last ON true
		WHERE a.started_at >= $1 AND a.started_at < $2 AND ($3::bigint[] IS NULL OR a.campaign_id = ANY($3))
			AND a.disposition = 'answered' AND a.outcome IS DISTINCT FROM 'completed'
		GROUP BY 1, 2, 3 ORDER BY 1, 2, 4 DESC, 3`, f.From, f.To, f.campaigns())
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

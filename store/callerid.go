package store

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// callerIDLock serialises the choice of a caller ID among processes (the
// daily cap per number holds under concurrency).
const callerIDLock = 7117

// CallerIDsCappedError says that every caller ID of a campaign presented
// its daily cap in the last 24 hours, and when one is free again.
type CallerIDsCappedError struct {
	Numbers, Cap int
	Until        time.Time
}

func (e *CallerIDsCappedError) Error() string {
	return fmt.Sprintf("every caller ID of the campaign (%d) made its %d calls in 24 hours (caller_id_daily_cap); next call %s",
		e.Numbers, e.Cap, e.Until.UTC().Format(time.RFC3339))
}

// CallerIDs is a campaign's caller IDs: its caller_id first, then the
// pool, each once.
func (c *Campaign) CallerIDs() []string {
	out := []string{c.CallerID}
	for _, n := range c.CallerIDPool {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// areaCode is the part of an E.164 number that says where it is for local
// presence: the NANP area code (+1 NPA), else the country code and the
// first three national digits.
func areaCode(e164 string) string {
	if strings.HasPrefix(e164, "+1") && len(e164) >= 5 {
		return e164[:5]
	}
	return e164[:min(len(e164), 6)]
}

// pickCallerID chooses the number a call presents among pool (a campaign's
// CallerIDs) in tx: under each number's daily cap (0: none), one in the
// lead's area code first (local presence), then the least used in the last
// 24 hours, then the pool's order. The numbers are locked, in order, for
// the rest of the transaction.
func pickCallerID(ctx context.Context, tx pgx.Tx, pool []string, dailyCap int, leadPhone string, now time.Time) (string, error) {
	if len(pool) == 1 && dailyCap == 0 {
		return pool[0], nil
	}
	locked := slices.Clone(pool)
	sort.Strings(locked)
	for _, n := range locked {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, callerIDLock, n); err != nil {
			return "", fmt.Errorf("lock caller ID: %w", err)
		}
	}
	rows, err := tx.Query(ctx, `SELECT caller_id, started_at FROM call_attempts
		WHERE caller_id = ANY($1) AND started_at > $2 ORDER BY started_at`, pool, now.Add(-24*time.Hour))
	if err != nil {
		return "", fmt.Errorf("caller ID use: %w", err)
	}
	starts := map[string][]time.Time{}
	for rows.Next() {
		var n string
		var at time.Time
		if err := rows.Scan(&n, &at); err != nil {
			rows.Close()
			return "", err
		}
		starts[n] = append(starts[n], at)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	local := areaCode(leadPhone)
	best, bestRank := "", [3]int{}
	var until time.Time
	for i, n := range pool {
		used := len(starts[n])
		if dailyCap > 0 && used >= dailyCap {
			if free := starts[n][used-dailyCap].Add(24 * time.Hour); until.IsZero() || free.Before(until) {
				until = free
			}
			continue
		}
		rank := [3]int{1, used, i}
		if areaCode(n) == local {
			rank[0] = 0
		}
		if best == "" || slices.Compare(rank[:], bestRank[:]) < 0 {
			best, bestRank = n, rank
		}
	}
	if best == "" {
		return "", &CallerIDsCappedError{Numbers: len(pool), Cap: dailyCap, Until: until}
	}
	return best, nil
}

// CallerIDDay is one caller ID's calls on one UTC day.
type CallerIDDay struct {
	Day      time.Time
	Dials    int
	Answered int
}

// CallerIDStats is how a caller ID fared over a period: the number health
// the carriers judge (a number labelled as spam stops being answered).
type CallerIDStats struct {
	CallerID string
	// Campaigns present it (as caller_id or in the pool), by id.
	Campaigns []int64
	// DailyCap is the lowest caller_id_daily_cap of those campaigns (0:
	// none).
	DailyCap int
	// Dials24h are its calls in the last 24 hours (what the cap counts).
	Dials24h int
	// Dials and Answered over the period; Days by UTC day, oldest first
	// (days without calls left out).
	Dials, Answered int
	Days            []CallerIDDay
	// Attested counts the period's calls by the STIR/SHAKEN attestation
	// the trunk reported (A, B, C; calls without a report are not
	// counted).
	Attested map[string]int
}

// AnswerRate is Answered / Dials (0 without dials).
func (s CallerIDStats) AnswerRate() float64 {
	if s.Dials == 0 {
		return 0
	}
	return float64(s.Answered) / float64(s.Dials)
}

// CallerIDHealth reports every caller ID that placed calls since since or
// that a campaign presents, with its use and answers.
func CallerIDHealth(ctx context.Context, db DB, since, now time.Time) ([]CallerIDStats, error) {
	byID := map[string]*CallerIDStats{}
	get := func(n string) *CallerIDStats {
		s := byID[n]
		if s == nil {
			s = &CallerIDStats{CallerID: n}
			byID[n] = s
		}
		return s
	}
	rows, err := db.Query(ctx, `SELECT id, caller_id, caller_ids, caller_id_daily_cap FROM campaigns WHERE status <> 'finished' ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("caller IDs of campaigns: %w", err)
	}
	for rows.Next() {
		var c Campaign
		var dailyCap int
		if err := rows.Scan(&c.ID, &c.CallerID, &c.CallerIDPool, &dailyCap); err != nil {
			rows.Close()
			return nil, err
		}
		for _, n := range c.CallerIDs() {
			s := get(n)
			s.Campaigns = append(s.Campaigns, c.ID)
			if dailyCap > 0 && (s.DailyCap == 0 || dailyCap < s.DailyCap) {
				s.DailyCap = dailyCap
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = db.Query(ctx, `SELECT caller_id, date_trunc('day', started_at AT TIME ZONE 'UTC') AS day, count(*),
			count(*) FILTER (WHERE answered_at IS NOT NULL),
			count(*) FILTER (WHERE started_at > $2),
			count(*) FILTER (WHERE attestation = 'A'), count(*) FILTER (WHERE attestation = 'B'), count(*) FILTER (WHERE attestation = 'C')
		FROM call_attempts WHERE caller_id IS NOT NULL AND started_at >= $1
		GROUP BY 1, 2 ORDER BY 1, 2`, since, now.Add(-24*time.Hour))
	if err != nil {
		return nil, fmt.Errorf("caller ID use: %w", err)
	}
	for rows.Next() {
		var n string
		var d CallerIDDay
		var last24, a, b, c int
		if err := rows.Scan(&n, &d.Day, &d.Dials, &d.Answered, &last24, &a, &b, &c); err != nil {
			rows.Close()
			return nil, err
		}
		s := get(n)
		d.Day = time.Date(d.Day.Year(), d.Day.Month(), d.Day.Day(), 0, 0, 0, 0, time.UTC)
		s.Days = append(s.Days, d)
		s.Dials += d.Dials
		s.Answered += d.Answered
		s.Dials24h += last24
		if s.Attested == nil {
			s.Attested = map[string]int{"A": 0, "B": 0, "C": 0}
		}
		s.Attested["A"] += a
		s.Attested["B"] += b
		s.Attested["C"] += c
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]CallerIDStats, 0, len(byID))
	for _, s := range byID {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CallerID < out[j].CallerID })
	return out, nil
}

package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/qualdial/qualdial/store"
)

// Caller-ID health: a number whose answer rate falls well below the rest
// has likely been labelled as spam by the carriers' analytics.
const (
	defaultHealthDays = 7
	maxHealthDays     = 90
	// lowAnswerShare flags a caller ID answered at under this share of
	// the answer rate of every caller ID together…
	lowAnswerShare = 0.5
	// …once it made at least this many calls in the period.
	healthMinDials = 20
)

type callerIDDayJSON struct {
	Day        string  `json:"day"`
	Dials      int     `json:"dials"`
	Answered   int     `json:"answered"`
	AnswerRate float64 `json:"answer_rate"`
}

type callerIDJSON struct {
	CallerID   string            `json:"caller_id"`
	Campaigns  []int64           `json:"campaigns"`
	DailyCap   int               `json:"daily_cap"`
	Dials24h   int               `json:"dials_24h"`
	AtCap      bool              `json:"at_cap"`
	Dials      int               `json:"dials"`
	Answered   int               `json:"answered"`
	AnswerRate float64           `json:"answer_rate"`
	Health     string            `json:"health"`
	Why        string            `json:"why"`
	Days       []callerIDDayJSON `json:"days"`
	// Attestations counts the period's calls by the STIR/SHAKEN
	// attestation the trunk reported for them.
	Attestations map[string]int `json:"attestations"`
}

func rate(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// callerIDHealth answers GET /v1/caller-ids: every caller ID in use, its
// calls per day, answer rate and cap, and a health verdict.
func (s *server) callerIDHealth(w http.ResponseWriter, r *http.Request, _ *store.APIKey) error {
	q, err := readQuery(r, "days")
	if err != nil {
		return err
	}
	days := defaultHealthDays
	if q.has("days") {
		n, err := strconv.Atoi(q.str("days"))
		if err != nil || n < 1 || n > maxHealthDays {
			q.c.add("days", "%s: use a whole number of days from 1 to %d", quote(q.str("days")), maxHealthDays)
		}
		days = n
	}
	if err := q.c.err(); err != nil {
		return err
	}
	now := s.store.Now()
	y, m, d := now.UTC().Date()
	since := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 1-days)
	stats, err := store.CallerIDHealth(r.Context(), s.store.Pool(), since, now)
	if err != nil {
		return err
	}
	var dials, answered int
	for _, st := range stats {
		dials, answered = dials+st.Dials, answered+st.Answered
	}
	overall := rate(answered, dials)
	out := make([]callerIDJSON, 0, len(stats))
	for _, st := range stats {
		c := callerIDJSON{CallerID: st.CallerID, Campaigns: st.Campaigns, DailyCap: st.DailyCap, Dials24h: st.Dials24h,
			AtCap: st.DailyCap > 0 && st.Dials24h >= st.DailyCap, Dials: st.Dials, Answered: st.Answered,
			AnswerRate: st.AnswerRate(), Health: "ok", Days: []callerIDDayJSON{}, Attestations: st.Attested}
		if c.Attestations == nil {
			c.Attestations = map[string]int{"A": 0, "B": 0, "C": 0}
		}
		if c.Campaigns == nil {
			c.Campaigns = []int64{}
		}
		for _, d := range st.Days {
			c.Days = append(c.Days, callerIDDayJSON{Day: d.Day.Format(time.DateOnly), Dials: d.Dials, Answered: d.Answered,
				AnswerRate: rate(d.Answered, d.Dials)})
		}
		switch {
		case st.Dials >= healthMinDials && c.AnswerRate < lowAnswerShare*overall:
			c.Health = "low_answer_rate"
			c.Why = "answered " + strconv.FormatFloat(100*c.AnswerRate, 'f', 1, 64) + " % of its calls against " +
				strconv.FormatFloat(100*overall, 'f', 1, 64) + " % for every caller ID: it may be labelled as spam; rest it or register it with the carriers' analytics"
		case c.AtCap:
			c.Health = "at_cap"
			c.Why = "made its " + strconv.Itoa(c.DailyCap) + " calls in the last 24 hours: the campaign's other caller IDs take the calls"
		case st.Dials < healthMinDials:
			c.Why = "fewer than " + strconv.Itoa(healthMinDials) + " calls in the period: too few to judge"
		}
		if at := c.Attestations; at["B"]+at["C"] > at["A"] {
			// Carriers' analytics label partly attested calls sooner.
			c.Why = strings.TrimPrefix(c.Why+"; ", "; ") + "most calls the trunk reported were signed at attestation B or C, not A: " +
				"ask the trunk to attest the number fully (it must be assigned to you)"
		}
		out = append(out, c)
	}
	writeJSON(w, http.StatusOK, map[string]any{"days": days, "since": since, "dials": dials, "answered": answered,
		"answer_rate": overall, "caller_ids": out})
	return nil
}

package scoring

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
)

// Calibration: how well the criteria marketing scores leads with separate
// the leads sales won from those it lost. The functions here are the pure
// arithmetic of the scoring report; the caller gathers the closed leads.

// Tally counts closed leads (won or lost).
type Tally struct {
	Closed int `json:"closed"`
	Won    int `json:"won"`
	Lost   int `json:"lost"`
	// WinRate is Won/Closed; nil when nothing closed.
	WinRate *float64 `json:"win_rate"`
}

// Count is the tally of won won and lost lost leads.
func Count(won, lost int) Tally {
	t := Tally{Closed: won + lost, Won: won, Lost: lost}
	if t.Closed > 0 {
		r := float64(won) / float64(t.Closed)
		t.WinRate = &r
	}
	return t
}

// Add counts one more closed lead.
func (t Tally) Add(won bool) Tally {
	if won {
		return Count(t.Won+1, t.Lost)
	}
	return Count(t.Won, t.Lost+1)
}

// Closed is a closed lead's score and outcome.
type Closed struct {
	Score int
	Won   bool
}

// Band is a range of scores, Min to Max inclusive, and the closed leads
// scored in it.
type Band struct {
	Label string `json:"band"`
	Min   int    `json:"min"`
	Max   int    `json:"max"`
	Tally
}

// Bands groups leads by score into bands width points wide (width ≥ 1),
// aligned on multiples of width (40–49, -10–-1), lowest first. Only bands
// with leads are listed.
func Bands(leads []Closed, width int) []Band {
	if width < 1 {
		width = 1
	}
	by := map[int]Tally{}
	for _, l := range leads {
		lo := floorDiv(l.Score, width) * width
		by[lo] = by[lo].Add(l.Won)
	}
	out := make([]Band, 0, len(by))
	for _, lo := range slices.Sorted(maps.Keys(by)) {
		b := Band{Min: lo, Max: lo + width - 1, Tally: by[lo]}
		b.Label = fmt.Sprintf("%d–%d", b.Min, b.Max)
		if width == 1 {
			b.Label = fmt.Sprint(b.Min)
		}
		out = append(out, b)
	}
	return out
}

// floorDiv is a/b rounded down (b > 0), so -1/10 is -1, not 0.
func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// Threshold is how well "won iff score ≥ T" predicts the closed leads.
type Threshold struct {
	T int `json:"threshold"`
	// Accuracy is (TP+TN)/closed.
	Accuracy float64 `json:"accuracy"`
	// YoudenJ is sensitivity + specificity − 1 (a rate with no leads to
	// measure it counts as 0).
	YoudenJ float64 `json:"youden_j"`
	// TP: won at or above T; FP: lost at or above T; TN: lost below T;
	// FN: won below T.
	TP int `json:"true_positives"`
	FP int `json:"false_positives"`
	TN int `json:"true_negatives"`
	FN int `json:"false_negatives"`
}

// Evaluate measures the threshold t on leads. With no leads, every figure
// is 0.
func Evaluate(leads []Closed, t int) Threshold {
	th := Threshold{T: t}
	for _, l := range leads {
		switch above := l.Score >= t; {
		case above && l.Won:
			th.TP++
		case above:
			th.FP++
		case l.Won:
			th.FN++
		default:
			th.TN++
		}
	}
	if n := len(leads); n > 0 {
		th.Accuracy = float64(th.TP+th.TN) / float64(n)
	}
	th.YoudenJ = rate(th.TP, th.TP+th.FN) + rate(th.TN, th.TN+th.FP) - 1
	return th
}

func rate(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// BestThreshold is the threshold, among the scores observed, that best
// separates won from lost leads: the highest accuracy, ties broken by the
// higher Youden's J, then the lower threshold. ok is false without leads.
func BestThreshold(leads []Closed) (best Threshold, ok bool) {
	scores := make([]int, len(leads))
	for i, l := range leads {
		scores[i] = l.Score
	}
	slices.Sort(scores)
	for _, t := range slices.Compact(scores) {
		th := Evaluate(leads, t)
		if !ok || better(th, best) {
			best, ok = th, true
		}
	}
	return best, ok
}

// better reports whether a beats b, two thresholds measured on the same
// leads: accuracy, then Youden's J, then the lower threshold. It compares
// counts, not rounded rates, so equal figures tie exactly.
func better(a, b Threshold) bool {
	if c := cmp.Compare(a.TP+a.TN, b.TP+b.TN); c != 0 {
		return c > 0
	}
	if c := cmp.Compare(youdenKey(a), youdenKey(b)); c != 0 {
		return c > 0
	}
	return a.T < b.T
}

// youdenKey orders thresholds of the same leads by Youden's J: with P won
// and N lost leads, J = TP/P + TN/N − 1 orders like TP·N + TN·P (a rate
// with no leads counting as 0).
func youdenKey(t Threshold) int {
	p, n := t.TP+t.FN, t.TN+t.FP
	switch {
	case p == 0:
		return t.TN
	case n == 0:
		return t.TP
	}
	return t.TP*n + t.TN*p
}

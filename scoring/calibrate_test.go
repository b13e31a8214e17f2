package scoring

import (
	"math"
	"reflect"
	"testing"
)

func closed(pairs ...any) []Closed {
	var out []Closed
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, Closed{Score: pairs[i].(int), Won: pairs[i+1].(bool)})
	}
	return out
}

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		won, lost int
		rate      float64 // -1: none
	}{
		{0, 0, -1},
		{1, 0, 1},
		{0, 3, 0},
		{1, 3, 0.25},
		{2, 1, 2.0 / 3},
	} {
		got := Count(tc.won, tc.lost)
		if got.Closed != tc.won+tc.lost || got.Won != tc.won || got.Lost != tc.lost {
			t.Errorf("Count(%d, %d) = %+v", tc.won, tc.lost, got)
		}
		switch {
		case tc.rate < 0 && got.WinRate != nil:
			t.Errorf("Count(%d, %d): win rate %v, want none", tc.won, tc.lost, *got.WinRate)
		case tc.rate >= 0 && (got.WinRate == nil || math.Abs(*got.WinRate-tc.rate) > 1e-12):
			t.Errorf("Count(%d, %d): win rate %v, want %v", tc.won, tc.lost, got.WinRate, tc.rate)
		}
	}
	if got := Count(0, 0).Add(true).Add(false).Add(false); got.Won != 1 || got.Lost != 2 || *got.WinRate != 1.0/3 {
		t.Errorf("Add: %+v", got)
	}
}

func TestBands(t *testing.T) {
	type band struct {
		label     string
		min, max  int
		won, lost int
	}
	for _, tc := range []struct {
		name  string
		leads []Closed
		width int
		want  []band
	}{
		{"none", nil, 10, nil},
		{"tens", closed(40, true, 49, false, 50, true, 12, false, 45, true), 10,
			[]band{{"10–19", 10, 19, 0, 1}, {"40–49", 40, 49, 2, 1}, {"50–59", 50, 59, 1, 0}}},
		{"negative scores band downwards", closed(-1, false, -10, false, -11, true, 0, true), 10,
			[]band{{"-20–-11", -20, -11, 1, 0}, {"-10–-1", -10, -1, 0, 2}, {"0–9", 0, 9, 1, 0}}},
		{"width one", closed(3, true, 3, false, 7, true), 1,
			[]band{{"3", 3, 3, 1, 1}, {"7", 7, 7, 1, 0}}},
		{"wide", closed(0, true, 999, false, 1000, false), 1000,
			[]band{{"0–999", 0, 999, 1, 1}, {"1000–1999", 1000, 1999, 0, 1}}},
		{"width below one is one", closed(5, true), 0, []band{{"5", 5, 5, 1, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []band
			for _, b := range Bands(tc.leads, tc.width) {
				if b.Closed != b.Won+b.Lost || b.WinRate == nil || *b.WinRate != float64(b.Won)/float64(b.Closed) {
					t.Errorf("band %s: tally %+v", b.Label, b.Tally)
				}
				got = append(got, band{b.Label, b.Min, b.Max, b.Won, b.Lost})
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Bands = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	leads := closed(10, false, 20, false, 30, true, 40, false, 50, true, 60, true)
	got := Evaluate(leads, 30)
	want := Threshold{T: 30, TP: 3, FP: 1, TN: 2, FN: 0, Accuracy: 5.0 / 6, YoudenJ: 1 + 2.0/3 - 1}
	if math.Abs(got.YoudenJ-want.YoudenJ) > 1e-12 {
		t.Errorf("J = %v, want %v", got.YoudenJ, want.YoudenJ)
	}
	got.YoudenJ = want.YoudenJ
	if got != want {
		t.Errorf("Evaluate = %+v, want %+v", got, want)
	}
	if got := Evaluate(nil, 5); got != (Threshold{T: 5, YoudenJ: -1}) {
		t.Errorf("no leads: %+v", got)
	}
}

func TestBestThreshold(t *testing.T) {
	for _, tc := range []struct {
		name   string
		leads  []Closed
		want   int
		acc    float64
		ok     bool
		tp, fp int
	}{
		{"no leads", nil, 0, 0, false, 0, 0},
		{"clean split", closed(10, false, 20, false, 30, true, 40, true), 30, 1, true, 2, 0},
		{"one overlap", closed(10, false, 20, false, 40, false, 30, true, 50, true, 60, true), 30, 5.0 / 6, true, 3, 1},
		// t=20 and t=40 both: accuracy 3/4, J 1/2 → the lower, 20.
		{"ties go to J then the lower threshold", closed(10, false, 20, true, 30, false, 40, true), 20, 0.75, true, 2, 1},
		// Accuracy ties at 3/4 for t=10 and t=30; J is 0 at 10 and 2/3 at 30.
		{"J breaks an accuracy tie", closed(10, true, 20, false, 30, true, 40, true), 30, 0.75, true, 2, 0},
		{"all won: the lowest score", closed(5, true, 15, true), 5, 1, true, 2, 0},
		{"all lost: the highest score", closed(5, false, 15, false), 15, 0.5, true, 0, 1},
		{"negative scores", closed(-20, false, -5, true, 0, true), -5, 1, true, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := BestThreshold(tc.leads)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if got.T != tc.want || math.Abs(got.Accuracy-tc.acc) > 1e-12 || got.TP != tc.tp || got.FP != tc.fp {
				t.Errorf("BestThreshold = %+v, want t=%d accuracy %v TP %d FP %d", got, tc.want, tc.acc, tc.tp, tc.fp)
			}
			// No observed score does better.
			for _, l := range tc.leads {
				if e := Evaluate(tc.leads, l.Score); e.Accuracy > got.Accuracy+1e-12 {
					t.Errorf("t=%d is more accurate (%v) than the best (%v)", l.Score, e.Accuracy, got.Accuracy)
				}
			}
		})
	}
}

func TestBetterTiesExactly(t *testing.T) {
	// Thresholds of the same leads: 3 won, 6 lost.
	a := Threshold{T: 10, TP: 2, FN: 1, TN: 3, FP: 3}
	b := Threshold{T: 20, TP: 1, FN: 2, TN: 5, FP: 1}
	// Different accuracy: b (6) beats a (5).
	if better(a, b) || !better(b, a) {
		t.Errorf("accuracy: a %v b %v", better(a, b), better(b, a))
	}
	c := Threshold{T: 5, TP: 2, FN: 1, TN: 4, FP: 2}  // accuracy 6, J = 2/3 + 4/6 - 1 = 1/3
	d := Threshold{T: 30, TP: 0, FN: 3, TN: 6, FP: 0} // accuracy 6, J = 0
	if !better(c, d) || better(d, c) {
		t.Errorf("J: c %v d %v", better(c, d), better(d, c))
	}
	e := Threshold{T: 40, TP: 1, FN: 2, TN: 5, FP: 1} // accuracy 6, J = 1/3 + 5/6 - 1 = 1/6
	f := Threshold{T: 15, TP: 1, FN: 2, TN: 5, FP: 1}
	if better(e, f) || !better(f, e) {
		t.Errorf("lower threshold: e %v f %v", better(e, f), better(f, e))
	}
}

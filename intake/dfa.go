package intake

import (
	"errors"
	"fmt"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
)

// maxDFAStates bounds the automaton built for one region; metadata that
// would need more is left to libphonenumber.
const maxDFAStates = 1 << 16

// errUnsupportedPattern is a pattern the digit automaton cannot run exactly
// (an assertion such as ^, $ or \b inside it).
var errUnsupportedPattern = errors.New("pattern has an assertion")

// digitDFA runs several regular expressions over a string of ASCII digits
// in one pass: a deterministic automaton over the alphabet 0–9, built once
// by subset construction from the patterns' programs. State 0 is the start;
// acc[s] has bit i set when the digits read so far are, in full, a match
// of pattern i. Restricted to digits, it accepts exactly what the anchored
// Go regexp ^(?:pattern)$ accepts: both decide membership in the same
// regular language, and no digit string depends on match priority.
type digitDFA struct {
	next [][10]int32 // -1: no pattern can match any longer string
	acc  []uint32
}

// thread is one position in one pattern's program.
type thread struct{ pat, pc int }

// compileDigitDFA builds the automaton of up to 32 patterns (Go regexp
// syntax, as libphonenumber's metadata writes them, unanchored: the
// automaton anchors them itself). An empty pattern matches only the empty
// string.
func compileDigitDFA(patterns []string) (*digitDFA, error) {
	if len(patterns) > 32 {
		return nil, fmt.Errorf("%d patterns, at most 32", len(patterns))
	}
	progs := make([]*syntax.Prog, len(patterns))
	for i, p := range patterns {
		re, err := syntax.Parse(p, syntax.Perl)
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %w", p, err)
		}
		if progs[i], err = syntax.Compile(re.Simplify()); err != nil {
			return nil, fmt.Errorf("pattern %q: %w", p, err)
		}
	}
	// closure adds the threads reachable from t without reading, and
	// reports the patterns that match on the way.
	var closure func(t thread, seen map[thread]bool, out *[]thread, acc *uint32) error
	closure = func(t thread, seen map[thread]bool, out *[]thread, acc *uint32) error {
		if seen[t] {
			return nil
		}
		seen[t] = true
		in := progs[t.pat].Inst[t.pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			if err := closure(thread{t.pat, int(in.Out)}, seen, out, acc); err != nil {
				return err
			}
			return closure(thread{t.pat, int(in.Arg)}, seen, out, acc)
		case syntax.InstCapture, syntax.InstNop:
			return closure(thread{t.pat, int(in.Out)}, seen, out, acc)
		case syntax.InstEmptyWidth:
			return errUnsupportedPattern
		case syntax.InstMatch:
			*acc |= 1 << t.pat
		case syntax.InstFail:
		default: // InstRune, InstRune1, InstRuneAny, InstRuneAnyNotNL
			*out = append(*out, t)
		}
		return nil
	}
	key := func(ts []thread) string {
		var b strings.Builder
		for _, t := range ts {
			b.WriteString(strconv.Itoa(t.pat))
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(t.pc))
			b.WriteByte(',')
		}
		return b.String()
	}
	sortThreads := func(ts []thread) {
		slices.SortFunc(ts, func(a, b thread) int {
			if a.pat != b.pat {
				return a.pat - b.pat
			}
			return a.pc - b.pc
		})
	}
	d := &digitDFA{}
	index := map[string]int32{}
	var states [][]thread
	add := func(ts []thread, acc uint32) int32 {
		sortThreads(ts)
		k := key(ts) + "/" + strconv.FormatUint(uint64(acc), 10)
		if s, ok := index[k]; ok {
			return s
		}
		s := int32(len(states))
		index[k] = s
		states = append(states, ts)
		d.acc = append(d.acc, acc)
		d.next = append(d.next, [10]int32{})
		return s
	}
	var start []thread
	var acc uint32
	seen := map[thread]bool{}
	for i, p := range progs {
		if err := closure(thread{i, p.Start}, seen, &start, &acc); err != nil {
			return nil, fmt.Errorf("pattern %q: %w", patterns[i], err)
		}
	}
	add(start, acc)
	for s := 0; s < len(states); s++ {
		for digit := range 10 {
			var ts []thread
			var acc uint32
			seen := map[thread]bool{}
			for _, t := range states[s] {
				in := progs[t.pat].Inst[t.pc]
				if in.MatchRune(rune('0' + digit)) {
					if err := closure(thread{t.pat, int(in.Out)}, seen, &ts, &acc); err != nil {
						return nil, fmt.Errorf("pattern %q: %w", patterns[t.pat], err)
					}
				}
			}
			if len(ts) == 0 && acc == 0 {
				d.next[s][digit] = -1
				continue
			}
			d.next[s][digit] = add(ts, acc)
			if len(states) > maxDFAStates {
				return nil, fmt.Errorf("more than %d states", maxDFAStates)
			}
		}
	}
	return d, nil
}

// full returns the patterns that match all of digits (ASCII 0–9 only).
func (d *digitDFA) full(digits []byte) uint32 {
	s := int32(0)
	for _, c := range digits {
		if s = d.next[s][c-'0']; s < 0 {
			return 0
		}
	}
	return d.acc[s]
}

// prefix returns the patterns that match some prefix of digits, the empty
// one included: what ^(?:pattern) finds.
func (d *digitDFA) prefix(digits []byte) uint32 {
	s := int32(0)
	m := d.acc[0]
	for _, c := range digits {
		if s = d.next[s][c-'0']; s < 0 {
			break
		}
		m |= d.acc[s]
	}
	return m
}

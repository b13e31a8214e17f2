package ivr

import (
	"fmt"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Bounds on what Parse reads and returns, so that a hostile or broken script
// (a "billion laughs" of anchors and aliases, a megabyte of typos) costs
// milliseconds and a few kilobytes of diagnostics, not minutes and gigabytes.
const (
	// MaxScriptSize is the largest script Parse accepts, in bytes (256 KiB;
	// the shipped scripts are about 4 KiB).
	MaxScriptSize = 256 << 10
	// MaxScriptNodes is the most YAML nodes (mappings, lists, values) a
	// script may have once every alias is expanded to the node it names.
	// The shipped scripts have a few hundred.
	MaxScriptNodes = 20000
	// MaxDiagnostics is how many diagnostics Parse returns; the rest are
	// summarised in one more ("…and N more").
	MaxDiagnostics = 50
	// MaxLabelLength bounds an answer's label (Action.Label), in
	// characters: a few words shown beside other answers.
	MaxLabelLength = 60
	// maxMessage bounds one diagnostic's message, in bytes: messages quote
	// names from the script, which may be long.
	maxMessage = 400
)

// nodeCounter counts the nodes of a YAML tree as a decoder sees them: an
// alias counts as the whole tree its anchor names. Each anchored tree is
// counted once and remembered, so counting is linear in the size of the
// document even when the expansion is exponential, and it stops as soon as
// the limit is passed.
type nodeCounter struct {
	limit int
	sizes map[*yaml.Node]int  // expanded size of anchored nodes
	open  map[*yaml.Node]bool // anchored nodes being counted
}

// errAliasCycle is returned for an anchor whose value contains an alias to
// itself, which expands forever.
type errAliasCycle struct {
	anchor string
	line   int
}

func (e *errAliasCycle) Error() string {
	return fmt.Sprintf("alias *%s is used inside its own anchor &%s, which would expand forever", e.anchor, e.anchor)
}

// countNodes returns the expanded size of the tree under n, or a number above
// limit as soon as it passes it.
func countNodes(n *yaml.Node, limit int) (int, error) {
	c := &nodeCounter{limit: limit, sizes: map[*yaml.Node]int{}, open: map[*yaml.Node]bool{}}
	return c.count(n)
}

func (c *nodeCounter) count(n *yaml.Node) (int, error) {
	if n == nil {
		return 0, nil
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return 1, nil
		}
		if c.open[n.Alias] {
			return 0, &errAliasCycle{anchor: n.Value, line: n.Line}
		}
		return c.count(n.Alias)
	}
	if n.Anchor != "" {
		if size, ok := c.sizes[n]; ok {
			return size, nil
		}
		c.open[n] = true
		defer delete(c.open, n)
	}
	total := 1
	for _, child := range n.Content {
		size, err := c.count(child)
		if err != nil {
			return 0, err
		}
		total += size
		if total > c.limit {
			break
		}
	}
	if n.Anchor != "" {
		c.sizes[n] = total
	}
	return total, nil
}

// capped keeps at most max diagnostics, errors first, still sorted by line,
// and sums up the others in one more diagnostic. That one is an error when
// any error was left out, so HasErrors stays true.
func (ds Diagnostics) capped(max int) Diagnostics {
	if len(ds) <= max {
		return ds
	}
	keep := make(Diagnostics, 0, max+1)
	for _, sev := range []Severity{SeverityError, SeverityWarning} {
		for _, d := range ds {
			if d.Severity == sev && len(keep) < max {
				keep = append(keep, d)
			}
		}
	}
	keep.sort()
	var errs, warns int
	for _, d := range ds {
		if d.Severity == SeverityError {
			errs++
		} else {
			warns++
		}
	}
	for _, d := range keep {
		if d.Severity == SeverityError {
			errs--
		} else {
			warns--
		}
	}
	sum := Diagnostic{File: keep[0].File, Line: keep[len(keep)-1].Line, Severity: SeverityWarning,
		Message: fmt.Sprintf("…and %d more (%d errors, %d warnings) not shown; fix the ones above first", errs+warns, errs, warns)}
	if errs > 0 {
		sum.Severity = SeverityError
	}
	return append(keep, sum)
}

// clip shortens a message to at most maxMessage bytes, on a rune boundary.
func clip(m string) string {
	if len(m) <= maxMessage {
		return m
	}
	cut := maxMessage - len("…")
	for cut > 0 && !utf8.RuneStart(m[cut]) {
		cut--
	}
	return m[:cut] + "…"
}

package ivr

import (
	"fmt"
	"sort"
	"strings"
)

// Severity tells whether a diagnostic stops a script from being used.
type Severity int

const (
	// SeverityError makes the script unusable.
	SeverityError Severity = iota
	// SeverityWarning points at a likely mistake; the script still runs.
	SeverityWarning
)

// Diagnostic is one problem found in a script, at a file and line.
type Diagnostic struct {
	File     string
	Line     int
	Severity Severity
	Message  string
}

// String formats the diagnostic as "file:line: message", with "warning: "
// before the message of a warning.
func (d Diagnostic) String() string {
	sev := ""
	if d.Severity == SeverityWarning {
		sev = "warning: "
	}
	return fmt.Sprintf("%s:%d: %s%s", d.File, d.Line, sev, d.Message)
}

// Diagnostics is a list of problems, sorted by line by [Parse].
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Errors returns only the errors.
func (ds Diagnostics) Errors() Diagnostics { return ds.filter(SeverityError) }

// Warnings returns only the warnings.
func (ds Diagnostics) Warnings() Diagnostics { return ds.filter(SeverityWarning) }

func (ds Diagnostics) filter(sev Severity) Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == sev {
			out = append(out, d)
		}
	}
	return out
}

// Err returns the errors as one error, or nil when there are none.
func (ds Diagnostics) Err() error {
	errs := ds.Errors()
	if len(errs) == 0 {
		return nil
	}
	return &ScriptError{Diagnostics: errs}
}

// String formats one diagnostic per line.
func (ds Diagnostics) String() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

func (ds Diagnostics) sort() {
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].Line < ds[j].Line })
}

// ScriptError is returned for a script that does not validate.
type ScriptError struct {
	Diagnostics Diagnostics
}

// Error lists every error, one per line.
func (e *ScriptError) Error() string { return e.Diagnostics.String() }

// collector gathers diagnostics for one file.
type collector struct {
	file string
	ds   Diagnostics
}

func (c *collector) errorf(line int, format string, args ...any) {
	c.ds = append(c.ds, Diagnostic{File: c.file, Line: max(line, 1), Severity: SeverityError, Message: clip(fmt.Sprintf(format, args...))})
}

func (c *collector) warnf(line int, format string, args ...any) {
	c.ds = append(c.ds, Diagnostic{File: c.file, Line: max(line, 1), Severity: SeverityWarning, Message: clip(fmt.Sprintf(format, args...))})
}

// Package csvdownload writes CSV downloads for the API and the web UI:
// row by row, with every cell a spreadsheet would run as a formula
// neutralised, and a failure after the first bytes aborting the response
// instead of ending it as if complete.
package csvdownload

import (
	"encoding/csv"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
)

// plainNumber is a cell that is only a number: a spreadsheet reads it as that
// number and nothing else, whatever sign it starts with.
var plainNumber = regexp.MustCompile(`^[+-]?[0-9]+(\.[0-9]+)?$`)

// Cell neutralises a cell a spreadsheet would run as a formula (CSV or
// formula injection, OWASP): one that starts with =, +, -, @, tab or CR gets
// a leading apostrophe, which spreadsheets show as text and do not display.
//
// Plain numbers are left alone: +12125550123 (an E.164 phone, which CRMs
// must get intact) or -10 (a score) cannot call a function, and the worst a
// spreadsheet does with them is show a number. Anything more in the cell,
// such as +1+cmd|' /C calc'!A0 or -2+3, is neutralised.
func Cell(s string) string {
	if formulaStart(s) && !plainNumber.MatchString(s) {
		return "'" + s
	}
	return s
}

// Text neutralises a cell as Cell does, plain numbers included: for a value
// a spreadsheet must keep as text, such as a phone number in E.164, which
// Excel would otherwise turn into a number (+14155550123 shown as
// 14155550123, +447911123456 as 4.47911E+11). The apostrophe keeps it text.
// Stream's rows pass it through unchanged.
func Text(s string) string {
	if formulaStart(s) {
		return "'" + s
	}
	return s
}

// formulaStart reports whether a spreadsheet may read s as a formula: it
// starts with =, +, -, @, tab or CR.
func formulaStart(s string) bool {
	return s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0
}

// Stream writes a CSV download row by row, with every cell neutralised.
// The status and headers go out with the first bytes, so a failure before
// that is still an ordinary problem response; a failure after it aborts the
// response, so the client sees a broken download instead of a complete-
// looking, truncated file.
type Stream struct {
	w        http.ResponseWriter
	filename string
	log      *slog.Logger
	out      *csv.Writer
	started  bool
	bom      bool
	cells    []string
}

// bom is UTF-8's byte order mark: Excel reads a CSV file that starts with
// it as UTF-8 (without it, in the computer's legacy code page).
const bom = "\uFEFF"

// New starts a download named filename; log receives a failure after
// the first bytes.
func New(w http.ResponseWriter, filename string, log *slog.Logger) *Stream {
	c := &Stream{w: w, filename: filename, log: log}
	c.out = csv.NewWriter(c)
	return c
}

// WithBOM makes the download start with UTF-8's byte order mark, so that
// Excel opens it as UTF-8 (names with accents, non-Latin scripts). For
// files meant for spreadsheets; programs reading CSV may not expect it.
// Call it before the first row.
func (c *Stream) WithBOM() *Stream {
	c.bom = true
	return c
}

// Write sends CSV bytes, with the headers (and the BOM, if asked for)
// before the first ones.
func (c *Stream) Write(p []byte) (int, error) {
	if !c.started {
		c.started = true
		h := c.w.Header()
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="`+c.filename+`"`)
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		c.w.WriteHeader(http.StatusOK)
		if c.bom {
			if _, err := io.WriteString(c.w, bom); err != nil {
				return 0, err
			}
		}
	}
	return c.w.Write(p)
}

// Row writes one record, each cell neutralised.
func (c *Stream) Row(cells ...string) error {
	c.cells = c.cells[:0]
	for _, s := range cells {
		c.cells = append(c.cells, Cell(s))
	}
	return c.out.Write(c.cells)
}

// Finish ends the download. err is the error that stopped the rows, if
// any. Before anything was sent, it is returned for a problem response.
// After, the rows so far are flushed and the response is aborted: the
// chunked body never ends (HTTP/2: the stream is reset), so clients and
// proxies see an error, not a clean end of file.
func (c *Stream) Finish(err error) error {
	if err == nil {
		c.out.Flush()
		if err = c.out.Error(); err == nil {
			return nil
		}
	}
	if !c.started {
		return err
	}
	c.log.Error("CSV download failed after it started; aborting the response", "file", c.filename, "error", err)
	c.out.Flush()
	_ = http.NewResponseController(c.w).Flush()
	panic(http.ErrAbortHandler)
}

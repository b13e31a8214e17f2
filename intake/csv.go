package intake

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/text/encoding/charmap"
)

// CSV reads a call list one row at a time, so a million rows need the
// memory of one. It accepts UTF-8 with or without a BOM (or Windows-1251),
// detects the delimiter (, ; or tab) from the header line, handles quoted
// fields with embedded delimiters and newlines, and skips empty lines.
type CSV struct {
	r      *csv.Reader
	header []string
}

// NewCSV starts reading; charset is "" or "utf-8", or "windows-1251"
// (also "cp1251").
func NewCSV(r io.Reader, charset string) (*CSV, error) {
	switch strings.ToLower(strings.TrimSpace(charset)) {
	case "", "utf-8", "utf8":
	case "windows-1251", "cp1251":
		r = charmap.Windows1251.NewDecoder().Reader(r)
	default:
		return nil, fmt.Errorf("charset %q is not supported: use utf-8 or windows-1251", charset)
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	}
	first, _ := br.Peek(16 << 10)
	if i := bytes.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	}
	cr := csv.NewReader(br)
	cr.Comma = detectDelimiter(first)
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.ReuseRecord = false
	c := &CSV{r: cr}
	header, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("the file is empty: it needs a header row naming the columns, e.g. phone,first_name")
	}
	if err != nil {
		return nil, fmt.Errorf("header row: %w", err)
	}
	for i := range header {
		header[i] = strings.TrimSpace(header[i])
	}
	c.header = header
	return c, nil
}

// detectDelimiter picks the most frequent of , ; and tab outside quotes.
func detectDelimiter(line []byte) rune {
	counts := map[rune]int{}
	quoted := false
	for _, b := range string(line) {
		switch {
		case b == '"':
			quoted = !quoted
		case !quoted && (b == ',' || b == ';' || b == '\t'):
			counts[b]++
		}
	}
	best := ','
	for _, d := range []rune{';', '\t'} {
		if counts[d] > counts[best] {
			best = d
		}
	}
	return best
}

// Header returns the column names.
func (c *CSV) Header() []string { return c.header }

// Delimiter returns the detected delimiter.
func (c *CSV) Delimiter() rune { return c.r.Comma }

// Record is one data row.
type Record struct {
	Row    int               // line of the file where the row starts (the header is line 1)
	Values map[string]string // column name → value
	Raw    []string
}

// RowError is a row that could not be read at all; reading goes on.
type RowError struct {
	Row int
	Err error
}

func (e *RowError) Error() string { return fmt.Sprintf("row %d: %v", e.Row, e.Err) }

// Next returns the next record, a *RowError for a row that cannot be read
// (call Next again to go on), or io.EOF.
func (c *CSV) Next() (Record, error) {
	rec, err := c.r.Read()
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return Record{Row: pe.StartLine, Raw: rec}, &RowError{Row: pe.StartLine, Err: pe.Err}
	}
	if err != nil {
		return Record{}, err
	}
	row, _ := c.r.FieldPos(0)
	if len(rec) > len(c.header) {
		extra := strings.Join(rec[len(c.header):], "")
		if strings.TrimSpace(extra) != "" {
			return Record{Row: row, Raw: rec}, &RowError{Row: row, Err: fmt.Errorf("%d fields, the header has %d", len(rec), len(c.header))}
		}
	}
	values := make(map[string]string, len(c.header))
	for i, name := range c.header {
		if i < len(rec) {
			values[name] = rec[i]
		}
	}
	return Record{Row: row, Values: values, Raw: rec}, nil
}

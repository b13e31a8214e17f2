package intake

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Defaults of CSVOptions.
const (
	DefaultMaxRowBytes = 64 << 10 // a row's bytes, its quoted line breaks included
	DefaultSniffBytes  = 1 << 20  // bytes read to detect the charset
)

// sampleBytes is how much of a rejected over-long row is kept for the
// rejects file.
const sampleBytes = 1 << 10

// CSVOptions says how to read a call list.
type CSVOptions struct {
	// Charset names the file's encoding (see Charsets); "" detects it. A
	// byte-order mark wins over both.
	Charset string
	// MaxRowBytes caps one row; a longer row is rejected, not read.
	// 0 means DefaultMaxRowBytes.
	MaxRowBytes int
	// SniffBytes is how much of the file's start decides its charset when
	// none is given. 0 means DefaultSniffBytes.
	SniffBytes int
}

// CSV reads a call list one row at a time, so a million rows need the
// memory of one. It detects the delimiter (, ; or tab) from the header
// line, handles quoted fields with embedded delimiters and line breaks, and
// skips empty lines.
//
// The charset is, in order: the one a byte-order mark says (UTF-8, UTF-16
// LE or BE); the one given; else detected — UTF-8 when the first
// SniffBytes hold valid multi-byte UTF-8 (at least as many valid sequences
// as invalid bytes), Windows-1252 when they hold other non-ASCII bytes, and
// when they are all ASCII, decided the same way at the first row that is
// not. Charset and CharsetSource say what was chosen.
//
// A row that cannot be read — a NUL byte, bytes invalid in the charset,
// more fields than the header, longer than MaxRowBytes, a quote that is
// never closed — comes back as a *RowError and reading goes on.
type CSV struct {
	sp     splitter
	cs     charsetState
	comma  rune
	header []string

	// encoding/csv parses the fields of one record at a time, fed by feed.
	feed recordFeed
	cr   *csv.Reader
	fed  int64
	dec  []byte // a record decoded to UTF-8
}

// NewCSV starts reading with the default options and the given charset
// ("" to detect it).
func NewCSV(r io.Reader, charset string) (*CSV, error) {
	return NewCSVWith(r, CSVOptions{Charset: charset})
}

// NewCSVWith starts reading: it settles the charset and delimiter and
// reads the header row.
func NewCSVWith(r io.Reader, o CSVOptions) (*CSV, error) {
	if o.MaxRowBytes <= 0 {
		o.MaxRowBytes = DefaultMaxRowBytes
	}
	if o.SniffBytes <= 0 {
		o.SniffBytes = DefaultSniffBytes
	}
	cs, src, err := openCharset(r, o.Charset, o.SniffBytes)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(src, max(o.MaxRowBytes+1, 64<<10))
	c := &CSV{cs: cs}
	c.comma = detectDelimiter(firstLine(br))
	c.sp = splitter{src: br, comma: byte(c.comma), max: o.MaxRowBytes, line: 1}
	c.resetParser()
	raw, err := c.sp.next()
	if err == io.EOF {
		return nil, errors.New("the file is empty: it needs a header row naming the columns, e.g. phone,first_name")
	}
	if err != nil {
		return nil, fmt.Errorf("reading the header row: %w", err)
	}
	if raw.fault != nil {
		return nil, fmt.Errorf("header row (line %d): %w", raw.row, raw.fault)
	}
	fields, err := c.parse(raw.text, nil)
	if err != nil {
		if errors.Is(err, ErrNUL) {
			err = fmt.Errorf("%w (a file in UTF-16 without a byte-order mark looks like this: give charset=utf-16le)", err)
		}
		return nil, fmt.Errorf("header row (line %d): %w", raw.row, err)
	}
	c.header = headerNames(fields)
	return c, nil
}

// headerNames trims names and collapses their white space (a header cell
// with a line break in it), names empty columns column_N and numbers
// repeated names (phone, phone_2), so no column hides another.
func headerNames(fields []string) []string {
	seen := make(map[string]bool, len(fields))
	out := make([]string, len(fields))
	for i, f := range fields {
		name := strings.Join(strings.Fields(strings.ReplaceAll(f, "\ufeff", "")), " ")
		if name == "" {
			name = "column_" + strconv.Itoa(i+1)
		}
		for n, base := 2, name; seen[name]; n++ {
			name = base + "_" + strconv.Itoa(n)
		}
		seen[name] = true
		out[i] = name
	}
	return out
}

// firstLine returns the first non-empty line that the buffer holds.
func firstLine(br *bufio.Reader) []byte {
	b, _ := br.Peek(min(br.Size(), 16<<10))
	for len(b) > 0 {
		line, rest, _ := bytes.Cut(b, []byte{'\n'})
		if line = bytes.TrimSuffix(line, []byte{'\r'}); len(line) > 0 {
			return line
		}
		b = rest
	}
	return nil
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
func (c *CSV) Delimiter() rune { return c.comma }

// Charset returns the charset the file is read in: utf-8, windows-1251,
// windows-1252, utf-16le or utf-16be. A detected charset may still change
// from utf-8 to windows-1252 while only ASCII has been read; read it after
// the last row for a report.
func (c *CSV) Charset() string {
	if c.cs.name == "" {
		return "utf-8"
	}
	return c.cs.name
}

// CharsetSource says where Charset came from: CharsetGiven, CharsetBOM or
// CharsetDetected.
func (c *CSV) CharsetSource() string { return c.cs.source }

// Record is one data row.
type Record struct {
	Row    int               // line of the file where the row starts (the header is line 1)
	Values map[string]string // column name → value
	// Raw is the row's fields; for a row that could not be split into
	// fields, the start of its text. In a *RowError's record, bytes that
	// are not text (NUL, invalid in the charset) are shown as U+FFFD.
	Raw []string
}

// Faults of a CSV row found in its fields, besides the splitter's
// (ErrRowTooLong, ErrOpenQuote, ErrBadQuote).
var (
	ErrNUL      = errors.New("a NUL byte")
	ErrEncoding = errors.New("bytes that are not text in the file's charset")
)

// RowError is a row that could not be read at all; reading goes on.
type RowError struct {
	Row int
	Err error
}

func (e *RowError) Error() string { return fmt.Sprintf("row %d: %v", e.Row, e.Err) }

func (e *RowError) Unwrap() error { return e.Err }

// Next returns the next record, a *RowError for a row that cannot be read
// (call Next again to go on), io.EOF, or an error reading the input.
func (c *CSV) Next() (Record, error) {
	raw, err := c.sp.next()
	if err == io.EOF {
		return Record{}, io.EOF
	}
	if err != nil {
		return Record{}, fmt.Errorf("reading the file at line %d: %w", c.sp.line, err)
	}
	if raw.fault != nil {
		return Record{Row: raw.row, Raw: []string{c.sample(raw.text)}}, &RowError{Row: raw.row, Err: raw.fault}
	}
	rec, err := c.parse(raw.text, c.header)
	if err != nil {
		if rec == nil {
			rec = []string{c.sample(raw.text)}
		}
		return Record{Row: raw.row, Raw: showable(rec)}, &RowError{Row: raw.row, Err: err}
	}
	if len(rec) > len(c.header) {
		extra := strings.Join(rec[len(c.header):], "")
		if strings.TrimSpace(extra) != "" {
			return Record{Row: raw.row, Raw: rec}, &RowError{Row: raw.row, Err: fmt.Errorf("%d fields, the header has %d", len(rec), len(c.header))}
		}
	}
	values := make(map[string]string, len(c.header))
	for i, name := range c.header {
		if i < len(rec) {
			values[name] = rec[i]
		}
	}
	return Record{Row: raw.row, Values: values, Raw: rec}, nil
}

// errSplit means the splitter and encoding/csv disagreed on where a
// record ends; fuzzing checks that it never happens.
var errSplit = errors.New("the row could not be split into fields")

// parse decodes one record's text, splits it into fields with
// encoding/csv and checks them for NUL bytes and bytes invalid in the
// charset. header names the columns in messages (nil: by number).
func (c *CSV) parse(text []byte, header []string) ([]string, error) {
	text, invalid, undefined := c.toUTF8(text)
	if n := len(text); n > 0 && text[n-1] != '\n' {
		text = append(text, '\n')
	}
	c.feed.b, c.feed.eof = text, false
	rec, err := c.cr.Read()
	c.fed += int64(len(text))
	if err != nil || c.feed.eof || len(c.feed.b) > 0 || c.cr.InputOffset() != c.fed {
		c.resetParser()
		return nil, errSplit
	}
	nul := bytes.IndexByte(text, 0) >= 0
	if !nul && !invalid {
		return rec, nil
	}
	for i, f := range rec {
		col := "column " + strconv.Itoa(i+1)
		if i < len(header) {
			col = "column " + header[i]
		}
		switch {
		case nul && strings.IndexByte(f, 0) >= 0:
			return rec, faultf(ErrNUL, "a NUL byte at %s: remove it, or export the file again as CSV (UTF-8)", col)
		case invalid && c.cs.table == nil && !utf8.ValidString(f):
			return rec, faultf(ErrEncoding, "invalid UTF-8 at %s; save the file as UTF-8 or upload with charset=windows-1252", col)
		case invalid && c.cs.table != nil && strings.ContainsRune(f, utf8.RuneError):
			return rec, faultf(ErrEncoding, "byte 0x%X at %s is not a %s character; save the file as UTF-8 or upload with its charset", undefined, col, c.cs.name)
		}
	}
	return rec, faultf(ErrEncoding, "bytes that are not text") // not reached: the bytes are in some field
}

// toUTF8 returns a record's text as UTF-8, and whether it holds bytes
// invalid in the charset (for a single-byte charset, the first one).
func (c *CSV) toUTF8(text []byte) (_ []byte, invalid bool, undefined byte) {
	if c.cs.name == "" {
		if isASCII(text) {
			return text, false, 0
		}
		// Only ASCII so far: the first row that is not decides, with
		// what the buffer holds after it.
		v, i := utf8Evidence(text, false)
		ahead, _ := c.sp.src.Peek(c.sp.src.Buffered())
		v2, i2 := utf8Evidence(append(c.sp.replay[:len(c.sp.replay):len(c.sp.replay)], ahead...), true)
		c.cs.set(guessCharset(v+v2, i+i2))
	}
	if c.cs.table == nil {
		return text, !utf8.Valid(text), 0
	}
	if isASCII(text) {
		return text, false, 0
	}
	c.dec, undefined = decode(c.dec[:0], text, c.cs.table)
	return c.dec, undefined != 0, undefined
}

// resetParser starts a new encoding/csv reader on the feed.
func (c *CSV) resetParser() {
	c.feed = recordFeed{}
	c.cr = csv.NewReader(&c.feed)
	c.cr.Comma = c.comma
	c.cr.LazyQuotes = true
	c.cr.FieldsPerRecord = -1
	c.fed = 0
}

// sample is the start of a record's text, as text.
func (c *CSV) sample(b []byte) string {
	b = b[:min(len(b), sampleBytes)]
	if c.cs.table != nil {
		b, _ = decode(nil, b, c.cs.table)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if len(b) == sampleBytes {
		s += "…"
	}
	return showable([]string{s})[0]
}

// showable replaces what is not text (NUL, invalid UTF-8) with U+FFFD, so
// a rejected row can be stored and shown.
func showable(fields []string) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = strings.ReplaceAll(strings.ToValidUTF8(f, "\uFFFD"), "\x00", "\uFFFD")
	}
	return out
}

// recordFeed hands encoding/csv one record at a time.
type recordFeed struct {
	b   []byte
	eof bool // encoding/csv asked for more than the record
}

func (f *recordFeed) Read(p []byte) (int, error) {
	if len(f.b) == 0 {
		f.eof = true
		return 0, io.EOF
	}
	n := copy(p, f.b)
	f.b = f.b[n:]
	return n, nil
}

package intake

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/unicode"
)

func utf16(t *testing.T, end unicode.Endianness, s string) string {
	t.Helper()
	out, err := unicode.UTF16(end, unicode.UseBOM).NewEncoder().String(s)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCSVCharset: a BOM wins, then a given charset, then detection; an
// ordinary Excel export in Windows-1252 reads as José, not as a reject.
func TestCSVCharset(t *testing.T) {
	t.Parallel()
	ascii := "phone,first_name\n" + strings.Repeat("+12125550101,Ann\n", 200) // 3,400 bytes of ASCII
	for _, tc := range []struct {
		name, src, charset string
		sniff              int
		want, source       string // Charset(), CharsetSource()
		last               string // first_name of the last row
	}{
		{"utf-8", "phone,first_name\n+12125550101,José\n", "", 0, "utf-8", CharsetDetected, "José"},
		{"ascii", "phone,first_name\n+12125550101,Ann\n", "", 0, "utf-8", CharsetDetected, "Ann"},
		{"excel windows-1252", "phone,first_name\n+12125550101,Jos\xe9\n", "", 0, "windows-1252", CharsetDetected, "José"},
		{"windows-1252 euro and quotes", "phone,first_name\n+12125550101,\x93Jo\x94 \x80\n", "", 0, "windows-1252", CharsetDetected, "“Jo” €"},
		{"utf-8 bom", "\ufeffphone,first_name\n+12125550101,José\n", "", 0, "utf-8", CharsetBOM, "José"},
		{"utf-8 bom beats a given charset", "\ufeffphone,first_name\n+12125550101,José\n", "windows-1251", 0, "utf-8", CharsetBOM, "José"},
		{"utf-16le bom", utf16(t, unicode.LittleEndian, "phone;first_name\r\n+12125550101;José\r\n"), "", 0, "utf-16le", CharsetBOM, "José"},
		{"utf-16be bom", utf16(t, unicode.BigEndian, "phone,first_name\n+12125550101,Zoë\n"), "utf-8", 0, "utf-16be", CharsetBOM, "Zoë"},
		{"utf-16 given, with bom", utf16(t, unicode.LittleEndian, "phone,first_name\n+12125550101,José\n"), "utf-16", 0, "utf-16le", CharsetBOM, "José"},
		{"utf-16le given, no bom", strings.TrimPrefix(utf16(t, unicode.LittleEndian, "phone,first_name\n+12125550101,José\n"), "\xff\xfe"), "UTF-16LE", 0, "utf-16le", CharsetGiven, "José"},
		{"windows-1251 given", "phone;first_name\n+79161234567;\xc8\xe2\xe0\xed\n", "cp1251", 0, "windows-1251", CharsetGiven, "Иван"},
		{"latin1 is read as windows-1252", "phone,first_name\n+12125550101,Jos\xe9 \x80\n", "ISO-8859-1", 0, "windows-1252", CharsetGiven, "José €"},
		{"given utf-8 overrides detection", "phone,first_name\n+12125550101,Jos\xe9\n+12125550102,Ann\n", "utf-8", 0, "utf-8", CharsetGiven, "Ann"},
		{"us-ascii means detect", "phone,first_name\n+12125550101,Jos\xe9\n", "us-ascii", 0, "windows-1252", CharsetDetected, "José"},
		// Past the sniffed prefix, the first row that is not ASCII decides.
		{"late windows-1252", ascii + "+12125550102,Jos\xe9\n", "", 1024, "windows-1252", CharsetDetected, "José"},
		{"late utf-8", ascii + "+12125550102,José\n", "", 1024, "utf-8", CharsetDetected, "José"},
		// Mostly valid UTF-8 with one damaged byte stays UTF-8.
		{"utf-8 with a damaged row", "phone,first_name\n+12125550101,Jos\xe9\n+12125550102,Zoë\n+12125550103,Renée\n", "", 0, "utf-8", CharsetDetected, "Renée"},
	} {
		c, err := NewCSVWith(strings.NewReader(tc.src), CSVOptions{Charset: tc.charset, SniffBytes: tc.sniff})
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		ok, _ := readAll(t, c)
		if len(ok) == 0 {
			t.Errorf("%s: no rows", tc.name)
			continue
		}
		last := ok[len(ok)-1].Values["first_name"]
		if c.Charset() != tc.want || c.CharsetSource() != tc.source || last != tc.last {
			t.Errorf("%s: charset %s (%s), last name %q; want %s (%s), %q", tc.name, c.Charset(), c.CharsetSource(), last, tc.want, tc.source, tc.last)
		}
	}
	for _, bad := range []string{"latin-9", "utf-32", "koi8-r"} {
		_, err := NewCSV(strings.NewReader("phone\n1\n"), bad)
		if err == nil || !strings.Contains(err.Error(), "windows-1252") || !strings.Contains(err.Error(), "utf-16le") {
			t.Errorf("charset %q: %v, want an error listing the accepted ones", bad, err)
		}
	}
	if _, err := NewCSV(strings.NewReader("phone\n1\n"), "utf-16"); err == nil || !strings.Contains(err.Error(), "byte-order mark") {
		t.Errorf("utf-16 without a BOM: %v", err)
	}
}

// TestCSVRowFaults: a NUL byte or bytes invalid in the charset reject that
// row only, with its number and what to do; the rejected row's text can be
// stored (valid UTF-8, no NUL).
func TestCSVRowFaults(t *testing.T) {
	t.Parallel()
	// UTF-8 detected from the first KB; row 70 has a Latin-1 byte.
	var b strings.Builder
	b.WriteString("phone,first_name,email\n+12125550100,José,j@example.com\n")
	for i := 3; i < 70; i++ {
		b.WriteString("+12125550101,Ann,a@example.com\n")
	}
	b.WriteString("+12125550170,Ann,caf\xe9@example.com\n") // line 70
	b.WriteString("+12125550171,Bo\x00b,b@example.com\n")   // line 71
	b.WriteString("+12125550172,Cy,c@example.com\n")        // line 72
	c, err := NewCSVWith(strings.NewReader(b.String()), CSVOptions{SniffBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	ok, bad := readAll(t, c)
	if len(ok) != 69 || len(bad) != 2 || c.Charset() != "utf-8" {
		t.Fatalf("ok %d, bad %v, charset %s", len(ok), bad, c.Charset())
	}
	if bad[0].Row != 70 || !errors.Is(bad[0], ErrEncoding) ||
		bad[0].Err.Error() != "invalid UTF-8 at column email; save the file as UTF-8 or upload with charset=windows-1252" {
		t.Errorf("row 70: %v", bad[0])
	}
	if bad[1].Row != 71 || !errors.Is(bad[1], ErrNUL) || !strings.Contains(bad[1].Err.Error(), "column first_name") {
		t.Errorf("row 71: %v", bad[1])
	}
	if ok[68].Row != 72 {
		t.Errorf("last row at line %d, want 72", ok[68].Row)
	}
	// The rejected rows' Raw is text a database can store.
	c, _ = NewCSVWith(strings.NewReader(b.String()), CSVOptions{SniffBytes: 1024})
	for {
		r, err := c.Next()
		if err == io.EOF {
			break
		}
		for _, f := range r.Raw {
			if !utf8.ValidString(f) || strings.IndexByte(f, 0) >= 0 {
				t.Errorf("row %d: raw %q is not text", r.Row, f)
			}
		}
	}
	// A byte Windows-1252 does not define.
	c, _ = NewCSV(strings.NewReader("phone,notes\n+12125550101,a\x81b\n+12125550102,ok\n"), "windows-1252")
	ok, bad = readAll(t, c)
	if len(ok) != 1 || len(bad) != 1 || bad[0].Row != 2 || !strings.Contains(bad[0].Err.Error(), "0x81 at column notes") {
		t.Errorf("undefined windows-1252 byte: ok %d bad %v", len(ok), bad)
	}
	// A NUL in the header is not a row: the import fails, with a hint.
	if _, err := NewCSV(strings.NewReader("p\x00h\x00o\x00n\x00e\x00\n\x00"), ""); err == nil || !strings.Contains(err.Error(), "utf-16le") {
		t.Errorf("NUL header: %v", err)
	}
}

// TestCSVQuotes: an unterminated or stray quote rejects its row — with the
// line where the quote opened — and the rows it would have swallowed are
// read as rows of their own, with their own numbers.
func TestCSVQuotes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, src string
		max       int
		badRow    int
		kind      error
		okRows    []int
	}{
		{"never closed", "phone,name\n+12125550101,Ann\n+12125550102,\"Bob\n+12125550103,Cy\n+12125550104,Di\n", 0,
			3, ErrOpenQuote, []int{2, 4, 5}},
		{"never closed, CRLF, no final newline", "phone,name\r\n+12125550101,\"Ann\r\n\r\n+12125550103,Cy\r\n+12125550104,Di", 0,
			2, ErrOpenQuote, []int{4, 5}},
		{"closed by a stray quote lines later", "phone,name\n+12125550101,\"Ann\n+12125550102,Bob\n+12125550103,Cy \"the guy\" Lee\n+12125550104,Di\n", 0,
			2, ErrBadQuote, []int{3, 4, 5}},
		{"stray quote on its own line", "phone,name\n+12125550101,\"A\"nn\n+12125550102,Bob\n", 0,
			2, ErrBadQuote, []int{3}},
		{"not closed within the limit", "phone,name\n+12125550101,\"Ann\n" + strings.Repeat("+12125550102,Bob\n", 20), 200,
			2, ErrOpenQuote, []int{3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22}},
		{"a long row", "phone,name\n+12125550101,Ann\n+12125550102," + strings.Repeat("x", 300) + "\n+12125550103,Cy\n", 200,
			3, ErrRowTooLong, []int{2, 4}},
		{"a long quoted row over lines", "phone,notes\n+12125550101,\"" + strings.Repeat("x\n", 150) + "\"\n+12125550103,Cy\n", 200,
			2, ErrOpenQuote, nil}, // its lines are read again; the x lines are rows without a phone, for Build to reject
	} {
		c, err := NewCSVWith(strings.NewReader(tc.src), CSVOptions{MaxRowBytes: tc.max})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		ok, bad := readAll(t, c)
		if len(bad) == 0 || bad[0].Row != tc.badRow || !errors.Is(bad[0], tc.kind) {
			t.Errorf("%s: rejects %v, want row %d: %v", tc.name, bad, tc.badRow, tc.kind)
			continue
		}
		if tc.okRows == nil {
			continue
		}
		var rows []int
		for _, r := range ok {
			rows = append(rows, r.Row)
		}
		if len(bad) != 1 || !slicesEqual(rows, tc.okRows) {
			t.Errorf("%s: rows %v (rejects %v), want %v", tc.name, rows, bad, tc.okRows)
		}
	}
	// The message names the line where the quote opened.
	c, _ := NewCSV(strings.NewReader("phone,name\n+12125550101,Ann\n+12125550102,\"Bob\n+12125550103,Cy\n"), "")
	_, bad := readAll(t, c)
	if len(bad) != 1 || !strings.Contains(bad[0].Error(), "row 3: a quoted field is never closed: check line 3") {
		t.Errorf("message: %v", bad)
	}
	// A quoted field over lines that is closed properly is one row, as before.
	c, _ = NewCSV(strings.NewReader("phone,notes\n+12125550101,\"a \"\"b\"\"\r\n\r\nc, d\"\n+12125550102,e\n"), "")
	ok, bad := readAll(t, c)
	if len(bad) != 0 || len(ok) != 2 || ok[0].Values["notes"] != "a \"b\"\n\nc, d" || ok[1].Row != 5 {
		t.Errorf("multi-line field: %+v %v", ok, bad)
	}
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// genReader streams n bytes of a repeated pattern without holding them.
type genReader struct {
	head    string
	pattern []byte
	n       int64
	off     int
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.head != "" {
		n := copy(p, g.head)
		g.head = g.head[n:]
		return n, nil
	}
	if g.n <= 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && g.n > 0 {
		k := int(min(int64(copy(p[n:], g.pattern[g.off:])), g.n))
		n += k
		g.n -= int64(k)
		g.off = (g.off + k) % len(g.pattern)
	}
	return n, nil
}

// TestCSVBoundedMemory: a 32 MB line is a rejected row that costs no more
// memory than a normal one (encoding/csv alone would hold all of it), and
// a stray quote early in a long file costs one row, not the file.
func TestCSVBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 45 MB")
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	c, err := NewCSV(&genReader{head: "phone,notes\n+12125550101,", pattern: []byte("xxxxxxx\"yy"), n: 32 << 20}, "")
	if err != nil {
		t.Fatal(err)
	}
	ok, bad := readAll(t, c)
	runtime.ReadMemStats(&after)
	if len(ok) != 0 || len(bad) != 1 || bad[0].Row != 2 || !errors.Is(bad[0], ErrRowTooLong) {
		t.Fatalf("ok %d bad %v", len(ok), bad)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
		t.Errorf("reading a 32 MB row allocated %d MB", grew>>20)
	}

	// A stray quote on row 2 of a 13 MB file.
	row := []byte("+12125550199,Ann Lee,Acme,ann@example.com\n") // 42 bytes
	const rows = 300_000
	c, err = NewCSV(&genReader{head: "phone,name,company,email\n+12125550101,\"Bob,Acme,bob@example.com\n", pattern: row, n: int64(rows * len(row))}, "")
	if err != nil {
		t.Fatal(err)
	}
	n, rejects, last := 0, 0, 0
	for {
		r, err := c.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			rejects++
			continue
		}
		n++
		last = r.Row
	}
	if rejects != 1 || n != rows || last != rows+2 {
		t.Errorf("rows %d (last at line %d), rejects %d; want %d rows, last at line %d, 1 reject", n, last, rejects, rows, rows+2)
	}
	if total := int64(len(row))*rows + 60; c.sp.scanned > 2*total {
		t.Errorf("scanned %d bytes of %d", c.sp.scanned, total)
	}
}

// TestCSVHeader: repeated, empty and multi-line header names do not hide
// columns.
func TestCSVHeader(t *testing.T) {
	t.Parallel()
	c, err := NewCSV(strings.NewReader("phone,phone,,\"First\nName\"\n+12125550101,+12125550102,x,Ann\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"phone", "phone_2", "column_3", "First Name"}
	if strings.Join(c.Header(), "|") != strings.Join(want, "|") {
		t.Fatalf("header %q, want %q", c.Header(), want)
	}
	ok, _ := readAll(t, c)
	if len(ok) != 1 || ok[0].Values["phone_2"] != "+12125550102" || ok[0].Row != 3 {
		t.Fatalf("rows %+v", ok)
	}
	l, err := Build(ok[0].Values, nil, "US")
	if err != nil || l.Phone != "+12125550101" || l.FirstName != "Ann" || l.Attributes["phone_2"] != "+12125550102" {
		t.Errorf("lead %+v %v", l, err)
	}
}

// TestCSVAgreesWithEncodingCSV: on well-formed files the reader returns
// exactly what encoding/csv returns, with its line numbers.
func TestCSVAgreesWithEncodingCSV(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		"a,b,c\n1,\"2\n3\",4\r\n\n5,\"\"\"6\"\"\",7\n\"8,9\",,\n",
		"a;b\r\n\"x;y\";\"z\"\"\"\r\n\r\n\r\n1;2",
		"a\tb\nx\"y\tz\n \"q\"\tr\n",
		"a,b\n\"1\"x,2\n",
	} {
		compareWithEncodingCSV(t, src)
	}
}

// compareWithEncodingCSV checks, when the reader found no fault in src,
// that it returned what encoding/csv (LazyQuotes) returns.
func compareWithEncodingCSV(t *testing.T, src string) {
	t.Helper()
	c, err := NewCSV(strings.NewReader(src), "")
	if err != nil || c.Charset() != "utf-8" || c.CharsetSource() != CharsetDetected {
		return
	}
	var got [][]string
	var rows []int
	for {
		r, err := c.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return // faults are not compared
		}
		got = append(got, r.Raw)
		rows = append(rows, r.Row)
	}
	cr := csv.NewReader(strings.NewReader(src))
	cr.Comma, cr.LazyQuotes, cr.FieldsPerRecord = c.Delimiter(), true, -1
	if _, err := cr.Read(); err != nil {
		t.Fatalf("%q: encoding/csv header: %v", src, err)
	}
	for i := 0; ; i++ {
		rec, err := cr.Read()
		if err == io.EOF {
			if i != len(got) {
				t.Fatalf("%q: %d records, encoding/csv has %d", src, len(got), i)
			}
			return
		}
		if err != nil {
			t.Fatalf("%q: encoding/csv: %v", src, err)
		}
		line, _ := cr.FieldPos(0)
		if i >= len(got) || strings.Join(rec, "\x00|") != strings.Join(got[i], "\x00|") || rows[i] != line {
			t.Fatalf("%q: record %d: %q at line %d, encoding/csv has %q at line %d", src, i, got[min(i, len(got)-1)], rows[min(i, len(rows)-1)], rec, line)
		}
	}
}

func FuzzCSV(f *testing.F) {
	f.Add("phone,name\n+12125550101,\"A\nB\"\n", "")
	f.Add("\ufeffa;b\r\n1;2", "")
	f.Add("a,b\n\"1\n2,\"x\"y\n3,4\n", "")
	f.Add("a,b\n1,\"x\"\"\n\"\"y\"\n", "windows-1252")
	f.Add("a,b\n1,Jos\xe9\n2,Zo\xc3\xab\n", "")
	f.Add("\xff\xfea\x00,\x00b\x00\n\x001\x00,\x002\x00", "")
	f.Fuzz(func(t *testing.T, src, charset string) {
		for _, max := range []int{0, 16} {
			c, err := NewCSVWith(strings.NewReader(src), CSVOptions{Charset: charset, MaxRowBytes: max, SniffBytes: 8})
			if err != nil {
				continue
			}
			last := 1
			for i := 0; ; i++ {
				if i > len(src)+1 {
					t.Fatal("more records than lines")
				}
				r, err := c.Next()
				if err == io.EOF {
					break
				}
				var re *RowError
				if err != nil && !errors.As(err, &re) {
					t.Fatalf("not a row error: %v", err)
				}
				if errors.Is(err, errSplit) {
					t.Fatalf("splitter and encoding/csv disagree on %q", src)
				}
				if r.Row <= last || (re != nil && re.Row != r.Row) {
					t.Fatalf("row %d after %d (%v)", r.Row, last, err)
				}
				last = r.Row
				for _, v := range r.Raw {
					if re != nil && (!utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0) {
						t.Fatalf("rejected row %d keeps bytes that are not text: %q", r.Row, v)
					}
				}
				if err == nil {
					for _, v := range r.Values {
						if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
							t.Fatalf("row %d: value %q is not text", r.Row, v)
						}
					}
					_, _ = Build(r.Values, nil, "US")
				}
			}
			if c.sp.scanned > 3*int64(len(src))+64 {
				t.Fatalf("scanned %d bytes of %d", c.sp.scanned, len(src))
			}
		}
		if charset == "" && utf8.ValidString(src) && !bytes.HasPrefix([]byte(src), []byte{0xEF, 0xBB, 0xBF}) {
			compareWithEncodingCSV(t, src)
		}
	})
}

// TestCSVLinearWork: however quotes are scattered, a broken quote's lines
// are read again at most about once: the work stays linear in the input
// (1.25 times the input at most here).
func TestCSVLinearWork(t *testing.T) {
	t.Parallel()
	alphabet := []byte("\"\"\",,\naaaa")
	rng := rand.New(rand.NewPCG(1, 2))
	for seed := range 40 {
		src := make([]byte, 20_000)
		for i := range src {
			src[i] = alphabet[rng.IntN(len(alphabet))]
		}
		copy(src, "a,b\n")
		for _, max := range []int{64, 1024} {
			c, err := NewCSVWith(bytes.NewReader(src), CSVOptions{MaxRowBytes: max})
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			for {
				if _, err := c.Next(); err == io.EOF {
					break
				} else if errors.Is(err, errSplit) {
					t.Fatalf("seed %d: %v", seed, err)
				}
			}
			if c.sp.scanned > 2*int64(len(src)) {
				t.Errorf("seed %d, max %d: scanned %d bytes of %d", seed, max, c.sp.scanned, len(src))
			}
		}
	}
}

package intake

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Where the charset of a CSV file came from, as (*CSV).CharsetSource says.
const (
	CharsetGiven    = "given"    // named by the caller (HTTP charset=, --charset)
	CharsetBOM      = "bom"      // the file starts with a byte-order mark
	CharsetDetected = "detected" // guessed from the bytes
)

var charsets = []string{"utf-8", "windows-1251", "cp1251", "windows-1252", "cp1252", "iso-8859-1", "latin1",
	"utf-16 (with a byte-order mark)", "utf-16le", "utf-16be", "us-ascii"}

// Charsets lists the charset names NewCSV accepts. iso-8859-1 and latin1
// are read as windows-1252, as browsers do (the WHATWG Encoding Standard):
// the two agree on every printable Latin-1 character. us-ascii and ascii
// mean "detect": ASCII is a subset of every charset here, and a file
// labelled ASCII that is not is usually UTF-8.
func Charsets() []string { return slices.Clone(charsets) }

// charsetState is how a file's bytes become text.
type charsetState struct {
	name   string     // canonical name; "" while only ASCII has been seen
	source string     // CharsetGiven, CharsetBOM or CharsetDetected
	table  *[128]rune // a single-byte charset's 0x80–0xFF; nil for UTF-8
}

var (
	windows1251 = singleByte(charmap.Windows1251)
	windows1252 = singleByte(charmap.Windows1252)
)

// singleByte tabulates a charmap's upper half; undefined bytes are
// utf8.RuneError.
func singleByte(cm *charmap.Charmap) *[128]rune {
	var t [128]rune
	for i := range t {
		t[i] = cm.DecodeByte(byte(0x80 + i))
	}
	return &t
}

func (cs *charsetState) set(name string) {
	cs.name = name
	switch name {
	case "windows-1251":
		cs.table = windows1251
	case "windows-1252":
		cs.table = windows1252
	default:
		cs.table = nil
	}
}

// openCharset reads the start of r for a byte-order mark and, when no
// charset is given, for the charset; it returns the reader to go on with
// (transcoded to UTF-8 for UTF-16).
func openCharset(r io.Reader, label string, sniff int) (charsetState, io.Reader, error) {
	var cs charsetState
	name, err := charsetName(label)
	if err != nil {
		return cs, nil, err
	}
	n := sniff
	if name != "" {
		n = 3 // only the byte-order mark
	}
	prefix := make([]byte, n)
	got, err := io.ReadFull(r, prefix)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return cs, nil, fmt.Errorf("reading the file: %w", err)
	}
	prefix = prefix[:got]
	rest := func(skip int) io.Reader { return io.MultiReader(bytes.NewReader(prefix[skip:]), r) }
	switch {
	case bytes.HasPrefix(prefix, []byte{0xEF, 0xBB, 0xBF}):
		cs.set("utf-8")
		cs.source = CharsetBOM
		return cs, rest(3), nil
	case bytes.HasPrefix(prefix, []byte{0xFF, 0xFE}):
		cs.set("utf-8")
		cs.name, cs.source = "utf-16le", CharsetBOM
		return cs, transform.NewReader(rest(2), unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM).NewDecoder()), nil
	case bytes.HasPrefix(prefix, []byte{0xFE, 0xFF}):
		cs.set("utf-8")
		cs.name, cs.source = "utf-16be", CharsetBOM
		return cs, transform.NewReader(rest(2), unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM).NewDecoder()), nil
	}
	cs.source = CharsetGiven
	switch name {
	case "":
		cs.source = CharsetDetected
		if !isASCII(prefix) {
			cs.set(guessCharset(utf8Evidence(prefix, got == sniff)))
		}
	case "utf-16":
		return cs, nil, fmt.Errorf("charset utf-16 needs a byte-order mark at the start of the file, and this file has none: give utf-16le or utf-16be")
	case "utf-16le", "utf-16be":
		end := unicode.LittleEndian
		if name == "utf-16be" {
			end = unicode.BigEndian
		}
		cs.set("utf-8")
		cs.name = name
		return cs, transform.NewReader(rest(0), unicode.UTF16(end, unicode.IgnoreBOM).NewDecoder()), nil
	default:
		cs.set(name)
	}
	return cs, rest(0), nil
}

// charsetName reads a charset label: "" means detect.
func charsetName(label string) (string, error) {
	switch strings.ToLower(strings.Trim(strings.TrimSpace(label), `"'`)) {
	case "", "us-ascii", "ascii":
		return "", nil
	case "utf-8", "utf8":
		return "utf-8", nil
	case "windows-1251", "cp1251":
		return "windows-1251", nil
	case "windows-1252", "cp1252", "iso-8859-1", "iso8859-1", "latin1", "latin-1":
		return "windows-1252", nil
	case "utf-16":
		return "utf-16", nil
	case "utf-16le":
		return "utf-16le", nil
	case "utf-16be":
		return "utf-16be", nil
	}
	return "", fmt.Errorf("charset %s is not supported: use %s", Quote(label), strings.Join(charsets, ", "))
}

// guessCharset picks UTF-8 when the bytes hold valid multi-byte UTF-8
// sequences at least as often as invalid ones, else Windows-1252. Text in
// a single-byte charset almost never forms valid UTF-8 sequences, while a
// UTF-8 file may have a few damaged rows: those rows are then rejected with
// advice, instead of the whole file silently turning into mojibake.
func guessCharset(valid, invalid int) string {
	if valid > 0 && valid >= invalid {
		return "utf-8"
	}
	return "windows-1252"
}

// utf8Evidence counts valid multi-byte UTF-8 sequences and invalid bytes.
// cut says the sample may end in the middle of a character.
func utf8Evidence(b []byte, cut bool) (valid, invalid int) {
	if cut {
		for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
			if utf8.RuneStart(b[i]) {
				if !utf8.FullRune(b[i:]) {
					b = b[:i]
				}
				break
			}
		}
	}
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			invalid++
		} else {
			valid++
		}
		i += size
	}
	return valid, invalid
}

// isASCII reports whether b is all ASCII, eight bytes at a time.
func isASCII(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// decode appends b, in the single-byte charset t, to dst as UTF-8, and
// returns the first byte the charset does not define (0 for none).
func decode(dst, b []byte, t *[128]rune) ([]byte, byte) {
	var bad byte
	for _, c := range b {
		if c < utf8.RuneSelf {
			dst = append(dst, c)
			continue
		}
		r := t[c-0x80]
		if r == utf8.RuneError && bad == 0 {
			bad = c
		}
		dst = utf8.AppendRune(dst, r)
	}
	return dst, bad
}

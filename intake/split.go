package intake

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Faults of a CSV row that the record splitter finds. They come wrapped in
// a *RowError with the row number and what to do.
var (
	ErrRowTooLong = errors.New("the row is too long")
	ErrOpenQuote  = errors.New("a quoted field is never closed")
	ErrBadQuote   = errors.New(`a quoted field over several lines has a " that is not doubled`)
)

// splitter cuts a byte stream into CSV records without parsing their
// fields. It follows quotes across lines exactly as encoding/csv does with
// LazyQuotes, so that each record's text can be handed to encoding/csv, but
// holds at most max bytes of a record. A quote that is never closed, or not
// within max bytes, or that swallows lines and then meets a stray " (the
// signs of a stray quote), makes the record a fault, and the lines after
// the one where the quote opened are read again as records of their own:
// one bad row is rejected instead of the rest of the file. A line longer
// than max is skipped to its end.
type splitter struct {
	src    *bufio.Reader // size > max, so a line of up to max bytes comes whole
	replay []byte        // lines to read again before src
	comma  byte
	max    int
	line   int // number of the line the next read starts in (1-based)

	rec []byte // the current record
	st  quoteState

	scanned int64 // bytes examined, replays included: tests check it stays linear
}

// quoteState is where the splitter is inside a record.
type quoteState struct {
	inQuote  bool // inside a quoted field
	openLine int  // line where that field opened
	lazy     bool // the field holds a " that is not doubled (LazyQuotes keeps it)
	multi    bool // the field spans lines
}

// rawRecord is one record's text (its lines, each ending in \n but
// perhaps the last), valid until the next call.
type rawRecord struct {
	text  []byte
	row   int   // line where the record starts
	fault error // nil, or why the record is rejected
}

// next returns the next record, or io.EOF, or the reader's error.
func (s *splitter) next() (rawRecord, error) {
	s.rec = s.rec[:0]
	s.st = quoteState{}
	row := 0
	openEnd := -1 // end in rec of the line where the open quote started
	for {
		line := s.line
		chunk, complete, err := s.read()
		eof := err == io.EOF
		if err != nil && !eof {
			return rawRecord{}, err
		}
		s.scanned += int64(len(chunk))
		if row == 0 { // no record yet: skip empty lines
			if isBlank(chunk, eof) {
				if complete {
					s.line++
					continue
				}
				return rawRecord{}, io.EOF
			}
			row = line
		}
		if len(chunk) == 0 { // the input ends inside a quoted field
			return s.quoteFault(row, openEnd, nil, s.neverClosed()), nil
		}
		if len(s.rec)+len(chunk) > s.max || (!complete && !eof) {
			if line > row { // inside a quote that opened on an earlier line
				return s.quoteFault(row, openEnd, chunk, faultf(ErrOpenQuote,
					"a quoted field is not closed within %d bytes: check line %d for a stray \" (the lines after it are read as rows of their own)", s.max, s.st.openLine)), nil
			}
			return s.skipLine(row, chunk, complete || eof)
		}
		s.rec = append(s.rec, chunk...)
		ends, bad := s.scan(chunk, eof, line)
		if complete {
			s.line++
		}
		switch {
		case bad:
			return s.quoteFault(row, openEnd, nil, faultf(ErrBadQuote,
				"a quoted field that runs over several lines from line %d has a \" on line %d that is not doubled: write \"\" for a quote inside quotes (the lines after line %d are read as rows of their own)",
				s.st.openLine, line, s.st.openLine)), nil
		case ends:
			return rawRecord{text: s.rec, row: row}, nil
		case eof:
			return s.quoteFault(row, openEnd, nil, s.neverClosed()), nil
		}
		if s.st.openLine == line {
			openEnd = len(s.rec)
		}
	}
}

func (s *splitter) neverClosed() error {
	return faultf(ErrOpenQuote, "a quoted field is never closed: check line %d for a stray \" (the lines after it are read as rows of their own)", s.st.openLine)
}

// rowFault is a row's fault: a message saying what to do, and its kind
// for errors.Is.
type rowFault struct {
	kind error
	msg  string
}

func (f *rowFault) Error() string { return f.msg }
func (f *rowFault) Unwrap() error { return f.kind }

func faultf(kind error, format string, args ...any) error {
	return &rowFault{kind, fmt.Sprintf(format, args...)}
}

// quoteFault rejects the record for a broken quote and reads the lines
// after the one where the quote opened again, with pending (a chunk not
// yet in the record) after them.
func (s *splitter) quoteFault(row, openEnd int, pending []byte, fault error) rawRecord {
	if openEnd >= 0 {
		again := make([]byte, 0, len(s.rec)-openEnd+len(pending)+len(s.replay))
		again = append(append(append(again, s.rec[openEnd:]...), pending...), s.replay...)
		s.rec = s.rec[:openEnd]
		s.replay = again
		s.line = s.st.openLine + 1
	}
	return rawRecord{text: s.rec, row: row, fault: fault}
}

// skipLine rejects a record whose line is longer than max and reads on to
// the end of that line; the record keeps a sample of its start.
func (s *splitter) skipLine(row int, chunk []byte, done bool) (rawRecord, error) {
	if len(s.rec) < sampleBytes {
		s.rec = append(s.rec, chunk[:min(len(chunk), sampleBytes-len(s.rec))]...)
	}
	for !done {
		c, complete, err := s.read()
		s.scanned += int64(len(c))
		if err != nil && err != io.EOF {
			return rawRecord{}, err
		}
		done = complete || err == io.EOF
	}
	s.line++
	return rawRecord{text: s.rec, row: row, fault: faultf(ErrRowTooLong, "the row is longer than %d bytes: shorten its fields or split it", s.max)}, nil
}

// read returns the next line, or as much of it as the buffer holds
// (complete false), or the last bytes before the end of the input
// (io.EOF).
func (s *splitter) read() (chunk []byte, complete bool, err error) {
	if len(s.replay) > 0 {
		if i := bytes.IndexByte(s.replay, '\n'); i >= 0 {
			chunk, s.replay = s.replay[:i+1], s.replay[i+1:]
			return chunk, true, nil
		}
		chunk, s.replay = s.replay, nil
		if _, err := s.src.Peek(1); err == io.EOF {
			return chunk, false, io.EOF
		}
		return chunk, false, nil
	}
	chunk, err = s.src.ReadSlice('\n')
	switch err {
	case nil:
		return chunk, true, nil
	case bufio.ErrBufferFull:
		return chunk, false, nil
	}
	return chunk, false, err
}

// scan follows the quotes of one whole line of the current record (eof:
// the last line, perhaps without \n) and says whether the record ends with
// it, or has a stray quote in a field over several lines.
func (s *splitter) scan(b []byte, eof bool, line int) (ends, bad bool) {
	st := &s.st
	i := 0
	for {
		if !st.inQuote {
			j := bytes.IndexByte(b[i:], '"')
			if j < 0 {
				return true, false
			}
			j += i
			if j == 0 || b[j-1] == s.comma { // a quote opens only at a field's start
				*st = quoteState{inQuote: true, openLine: line}
			}
			i = j + 1
			continue
		}
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 { // the line ends inside the quoted field
			if eof {
				return false, false
			}
			if st.lazy {
				return false, true
			}
			st.multi = true
			return false, false
		}
		j += i
		rest := b[j+1:]
		switch {
		case len(rest) > 0 && rest[0] == '"': // "" is a quote
			i = j + 2
		case len(rest) > 0 && rest[0] == s.comma: // ", ends the field
			st.inQuote = false
			i = j + 2
		case isLineEnd(rest, eof): // "\n ends the record
			st.inQuote = false
			return true, false
		default: // a stray quote, kept as it is (LazyQuotes)
			if st.multi {
				return false, true
			}
			st.lazy = true
			i = j + 1
		}
	}
}

func isLineEnd(b []byte, eof bool) bool {
	return len(b) == 0 || string(b) == "\n" || string(b) == "\r\n" || eof && string(b) == "\r"
}

func isBlank(b []byte, eof bool) bool {
	return len(b) == 0 || string(b) == "\n" || string(b) == "\r\n" || eof && string(b) == "\r"
}

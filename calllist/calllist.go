// Package calllist imports call lists (CSV) into campaigns: it reads and
// checks a file's header against a column mapping, builds a lead of every
// row on every core, and hands the rows in file order to the store's
// set-based import — for real, in the background, or as a dry run that
// keeps nothing. The HTTP API, the web UI's upload wizard and `qualdial
// import` all import through it: there is one path from a file to leads.
package calllist

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/intake"
	"github.com/qualdial/qualdial/store"
)

// Waker wakes a campaign's dispatcher in the import's transaction, once,
// when the import accepted leads; the queue implements it.
type Waker interface {
	WakeTx(ctx context.Context, tx pgx.Tx, campaignID int64) error
}

// RowCounter is a Waker that also counts the rows of finished imports by
// outcome (the queue does, for the metrics).
type RowCounter interface {
	ImportRows(accepted, duplicates, dnc, rejected int)
}

// MaxMappingLen bounds a mapping given as text (ParseMapping).
const MaxMappingLen = 16 << 10

// ParseMapping reads column renames: "Handy:phone,Vorname:first_name". A
// target is a lead field (intake.Fields) or one of its aliases (Handy:mobile).
// Problems come back as intake.Errors on the field "mapping".
func ParseMapping(s string) (map[string]string, error) {
	m := map[string]string{}
	if s == "" {
		return m, nil
	}
	if msg := intake.CheckText(s, MaxMappingLen, false); msg != "" {
		return nil, intake.Errors{{Field: "mapping", Message: msg}}
	}
	var errs intake.Errors
	add := func(format string, args ...any) {
		errs = append(errs, intake.FieldError{Field: "mapping", Message: fmt.Sprintf(format, args...)})
	}
	for _, pair := range strings.Split(s, ",") {
		col, field, ok := strings.Cut(pair, ":")
		col, field = strings.TrimSpace(col), strings.TrimSpace(field)
		switch {
		case !ok || col == "" || field == "":
			add("%s: use column:field pairs, e.g. Handy:phone,Vorname:first_name", intake.Quote(pair))
		case utf8.RuneCountInString(col) > intake.MaxAttributeNameLen:
			add("the column name %s is longer than %d characters", intake.Quote(col), intake.MaxAttributeNameLen)
		case intake.Canonical(field) == "":
			add("%s is not a lead field: use %s (or one of their aliases, e.g. mobile)", intake.Quote(field), strings.Join(intake.Fields(), ", "))
		case m[col] != "":
			add("the column %s is mapped twice", intake.Quote(col))
		default:
			m[col] = field
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return m, nil
}

// CheckCharset says whether NewCSV reads a charset name ("" detects it),
// before any of a file is read.
func CheckCharset(name string) error {
	if _, err := intake.NewCSV(strings.NewReader("\ufeffphone\n"), name); err != nil {
		return intake.Errors{{Field: "charset", Message: err.Error()}}
	}
	return nil
}

// Options says how to read a call list.
type Options struct {
	Filename string
	// Charset names the file's encoding; "" detects it.
	Charset string
	// Mapping renames columns (column → lead field or alias; another
	// target renames an attribute); other columns are read by their names.
	Mapping map[string]string
	// Ignore lists columns left out of the leads (kept in rejected rows).
	Ignore []string
	// Progress, if set, is told the rows read so far.
	Progress func(rows int)
	// CreatedBy is the API key that uploaded the file (0: none).
	CreatedBy int64
}

// List is a call list whose header was read and checked against its
// mapping, ready to import once.
type List struct {
	c  *store.Campaign
	o  Options
	rd *intake.CSV
}

// Open reads a call list's header and checks it against the mapping: a
// file that cannot be imported at all (no phone column, a mapped column
// it does not have) is refused with intake.Errors before an import starts.
func Open(c *store.Campaign, o Options, body io.Reader) (*List, error) {
	rd, err := intake.NewCSV(body, o.Charset)
	if err != nil {
		return nil, intake.Errors{{Field: "file", Message: err.Error()}}
	}
	var errs intake.Errors
	hasPhone := false
	for _, h := range rd.Header() {
		target := h
		if t, ok := o.Mapping[h]; ok {
			target = t
		}
		hasPhone = hasPhone || (intake.Canonical(target) == "phone" && !slices.Contains(o.Ignore, h))
	}
	for _, col := range slices.Sorted(maps.Keys(o.Mapping)) {
		if !slices.Contains(rd.Header(), col) {
			errs = append(errs, intake.FieldError{Field: "mapping", Message: fmt.Sprintf("the file has no column %s (its columns: %s)",
				intake.Quote(col), intake.Quote(strings.Join(rd.Header(), ", ")))})
		}
	}
	if !hasPhone {
		errs = append(errs, intake.FieldError{Field: "file", Message: fmt.Sprintf(
			"no phone column among %s: name it phone (or telephone, mobile…) or pass mapping=<column>:phone", intake.Quote(strings.Join(rd.Header(), ", ")))})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &List{c: c, o: o, rd: rd}, nil
}

// Params are the store's parameters of the list's import.
func (l *List) Params() store.ImportParams {
	return store.ImportParams{CampaignID: l.c.ID, Filename: l.o.Filename, CreatedBy: l.o.CreatedBy,
		Charset: func() (string, string) { return l.rd.Charset(), l.rd.CharsetSource() }}
}

// Import imports a call list into a campaign and waits for the end: the
// API's and the command line's way. w may be nil.
func Import(ctx context.Context, st *store.Store, w Waker, c *store.Campaign, o Options, body io.Reader) (*store.Import, error) {
	list, err := Open(c, o, body)
	if err != nil {
		return nil, err
	}
	imp, err := st.StartImport(ctx, list.Params())
	if err != nil {
		return nil, err
	}
	return list.Run(ctx, st, w, imp.ID)
}

// Run imports the rows of the started import id and waits for its end
// (see store.RunImport). w, if set, wakes the campaign's dispatcher.
func (l *List) Run(ctx context.Context, st *store.Store, w Waker, id int64) (*store.Import, error) {
	var wake store.Enqueuer
	if w != nil {
		wake = func(ctx context.Context, tx pgx.Tx, campaignID int64) error { return w.WakeTx(ctx, tx, campaignID) }
	}
	var imp *store.Import
	err := l.rows(ctx, st, func(next func() (store.ImportItem, error)) error {
		var err error
		imp, err = st.RunImport(ctx, id, l.Params(), next, wake, l.o.Progress)
		return err
	})
	if rc, ok := w.(RowCounter); ok && imp != nil {
		rc.ImportRows(imp.Accepted, imp.Duplicates, imp.OnDNC, imp.Rejected)
	}
	return imp, err
}

// DryRun sorts the rows out as Run would and keeps nothing (see
// store.DryRunImport): the report, with its first rejects rows not
// taken, is what importing the list now would report. Options.Progress
// is told the rows read, as by Run.
func (l *List) DryRun(ctx context.Context, st *store.Store, rejects int) (*store.ImportReport, error) {
	var rep *store.ImportReport
	err := l.rows(ctx, st, func(next func() (store.ImportItem, error)) error {
		var err error
		rep, err = st.DryRunImport(ctx, l.Params(), next, rejects, l.o.Progress)
		return err
	})
	return rep, err
}

// buildBatchRows is how many rows a worker builds at a time.
const buildBatchRows = 256

// buildBatch is a run of rows in file order, built by one worker.
type buildBatch struct {
	recs  []intake.Record
	items []store.ImportItem // a row the reader could not read is rejected already
	done  chan struct{}      // closed when items are built
}

// rows hands sink the list's rows as import items, in file order.
// Normalising phone numbers with libphonenumber is the costly part: rows
// are built on every core, in batches; the channels between the reader,
// the workers and sink are bounded, so memory stays flat.
func (l *List) rows(ctx context.Context, st *store.Store, sink func(next func() (store.ImportItem, error)) error) error {
	ctx, cancel := context.WithCancel(ctx)
	var pipeline sync.WaitGroup
	defer pipeline.Wait()
	defer cancel()
	workers := runtime.GOMAXPROCS(0)
	work := make(chan *buildBatch, 2*workers)
	ordered := make(chan *buildBatch, 2*workers)
	var readErr error
	pipeline.Go(func() {
		defer close(ordered)
		defer close(work)
		readErr = l.read(ctx, work, ordered)
	})
	for range workers {
		pipeline.Go(func() { l.build(work, st) })
	}
	var cur *buildBatch
	return sink(func() (store.ImportItem, error) {
		for cur == nil || len(cur.items) == 0 {
			b, ok := <-ordered
			if !ok {
				if readErr != nil {
					return store.ImportItem{}, readErr
				}
				if err := ctx.Err(); err != nil {
					return store.ImportItem{}, err
				}
				return store.ImportItem{}, io.EOF
			}
			select {
			case <-b.done:
			case <-ctx.Done():
				return store.ImportItem{}, ctx.Err()
			}
			cur = b
		}
		it := cur.items[0]
		cur.items = cur.items[1:]
		return it, nil
	})
}

// read sends the file's rows in batches to the workers and, in the same
// order, to the sink.
func (l *List) read(ctx context.Context, work, ordered chan<- *buildBatch) error {
	b := &buildBatch{done: make(chan struct{})}
	send := func() bool {
		for _, ch := range []chan<- *buildBatch{work, ordered} {
			select {
			case ch <- b:
			case <-ctx.Done():
				return false
			}
		}
		b = &buildBatch{recs: make([]intake.Record, 0, buildBatchRows), done: make(chan struct{})}
		return true
	}
	for {
		rec, err := l.rd.Next()
		var re *intake.RowError
		switch {
		case errors.As(err, &re):
			rec = intake.Record{Row: re.Row, Raw: rec.Raw}
			b.items = append(b.items, store.ImportItem{Row: re.Row, Reject: re.Err.Error()})
		case errors.Is(err, io.EOF):
			if len(b.recs) > 0 {
				send()
			}
			return nil
		case err != nil:
			return err
		default:
			b.items = append(b.items, store.ImportItem{})
		}
		b.recs = append(b.recs, rec)
		if len(b.recs) == buildBatchRows && !send() {
			return nil
		}
	}
}

// build makes the leads of the batches it receives.
func (l *List) build(work <-chan *buildBatch, st *store.Store) {
	c := l.c
	dest := c.Destinations()
	delim := string(l.rd.Delimiter())
	opts := intake.BuildOptions{Mapping: l.o.Mapping, Country: c.DefaultCountry, Destinations: &dest, Now: st.Now()}
	for b := range work {
		for i, rec := range b.recs {
			it := &b.items[i]
			it.Row, it.Raw = rec.Row, strings.Join(rec.Raw, delim)
			if it.Reject != "" {
				continue
			}
			for _, col := range l.o.Ignore {
				delete(rec.Values, col)
			}
			if lead, err := intake.BuildWith(rec.Values, opts); err != nil {
				it.Reject = err.Error()
			} else {
				p := LeadParams(c.ID, lead, "import")
				it.Lead, it.Warnings = &p, lead.Warnings
			}
		}
		b.recs = nil
		close(b.done)
	}
}

// LeadParams are the store's parameters of a lead built by intake.
func LeadParams(campaignID int64, l intake.Lead, source string) store.LeadParams {
	return store.LeadParams{CampaignID: campaignID, Phone: l.Phone, FirstName: l.FirstName, LastName: l.LastName, Email: l.Email,
		Company: l.Company, TimeZone: l.TimeZone, Region: l.Region, PostalCode: l.PostalCode, Source: source, ExternalID: l.ExternalID,
		Attributes: l.Attributes, Consent: store.Consent{Source: l.Consent.Source, Text: l.Consent.Text, Version: l.Consent.Version,
			At: l.Consent.At, IP: l.Consent.IP, Page: l.Consent.Page}}
}

// WriteRejects writes an import's rows not taken as CSV rows (row,
// reason, data) through row, after a header row.
func WriteRejects(ctx context.Context, st *store.Store, importID int64, row func(cells ...string) error) error {
	if err := row("row", "reason", "data"); err != nil {
		return err
	}
	err := st.ImportRejects(ctx, importID, func(rj store.ImportReject) error {
		return row(strconv.Itoa(rj.Row), rj.Reason, rj.Raw)
	})
	if err != nil {
		return fmt.Errorf("import %d rejects: %w", importID, err)
	}
	return nil
}

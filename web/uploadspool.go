package web

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/qualdial/qualdial/intake"
	"github.com/qualdial/qualdial/store"
)

// The upload wizard's spooled files: each a temporary file known by a
// random token, bound to the user and the campaign, with the mapping the
// user chose; removed when imported, replaced, an hour old, or on Close.

// upload is a spooled call list between the wizard's steps.
type upload struct {
	token              string
	userID, campaignID int64
	path, filename     string
	charset            string // as chosen: "" detects it
	lines              int    // the file's line breaks: its rows, roughly
	// choices are the mapping step's choices, one per column; nil until
	// the mapping was saved.
	choices []string
	// dry is the dry run of the saved mapping (guarded by uploads.mu).
	dry     *dryRun
	expires time.Time
}

// dryRun is an upload's dry run, running in the background until done.
type dryRun struct {
	rows int // read so far
	done bool
	rep  *store.ImportReport
	err  error
}

// uploads are the spooled call lists, and the row estimates of the
// imports started from them (for their progress bars).
type uploads struct {
	mu        sync.Mutex
	m         map[string]*upload
	estimates map[int64]int
}

func newUploads() *uploads {
	return &uploads{m: map[string]*upload{}, estimates: map[int64]int{}}
}

// put keeps a spooled file: expired ones and the user's oldest beyond
// maxPendingUploads are removed.
func (us *uploads) put(u *upload, now time.Time) {
	us.mu.Lock()
	defer us.mu.Unlock()
	var mine []*upload
	for tok, o := range us.m {
		switch {
		case now.After(o.expires):
			delete(us.m, tok)
			_ = os.Remove(o.path)
		case o.userID == u.userID:
			mine = append(mine, o)
		}
	}
	slices.SortFunc(mine, func(a, b *upload) int { return a.expires.Compare(b.expires) })
	for len(mine) >= maxPendingUploads {
		delete(us.m, mine[0].token)
		_ = os.Remove(mine[0].path)
		mine = mine[1:]
	}
	us.m[u.token] = u
}

// get returns a copy of the user's upload into the campaign, or nil; an
// expired one is removed.
func (us *uploads) get(token string, userID, campaignID int64, now time.Time) *upload {
	us.mu.Lock()
	defer us.mu.Unlock()
	u := us.m[token]
	if u != nil && now.After(u.expires) {
		delete(us.m, token)
		_ = os.Remove(u.path)
		return nil
	}
	if u == nil || u.userID != userID || u.campaignID != campaignID {
		return nil
	}
	cp := *u
	return &cp
}

// setChoices saves an upload's mapping with a new dry run of it, which
// it returns (nil when the upload is gone).
func (us *uploads) setChoices(token string, choices []string) *dryRun {
	us.mu.Lock()
	defer us.mu.Unlock()
	u := us.m[token]
	if u == nil {
		return nil
	}
	u.choices, u.dry = choices, &dryRun{}
	return u.dry
}

// dryState returns a copy of an upload's dry run, or nil.
func (us *uploads) dryState(token string) *dryRun {
	us.mu.Lock()
	defer us.mu.Unlock()
	u := us.m[token]
	if u == nil || u.dry == nil {
		return nil
	}
	cp := *u.dry
	return &cp
}

// dryProgress records the rows a dry run has read.
func (us *uploads) dryProgress(d *dryRun, rows int) {
	us.mu.Lock()
	defer us.mu.Unlock()
	d.rows = rows
}

// dryDone records a dry run's end.
func (us *uploads) dryDone(d *dryRun, rep *store.ImportReport, err error) {
	us.mu.Lock()
	defer us.mu.Unlock()
	d.done, d.rep, d.err = true, rep, err
}

// take hands an upload's file over to its import: it is no longer the
// wizard's. It is false when another request took it first.
func (us *uploads) take(token string) bool {
	us.mu.Lock()
	defer us.mu.Unlock()
	_, ok := us.m[token]
	delete(us.m, token)
	return ok
}

// estimate records an import's estimated rows.
func (us *uploads) estimate(importID int64, rows int) {
	us.mu.Lock()
	defer us.mu.Unlock()
	if len(us.estimates) > 1000 {
		clear(us.estimates)
	}
	us.estimates[importID] = rows
}

func (us *uploads) estimated(importID int64) int {
	us.mu.Lock()
	defer us.mu.Unlock()
	return us.estimates[importID]
}

// removeAll removes every spooled file (Close).
func (us *uploads) removeAll() {
	us.mu.Lock()
	defer us.mu.Unlock()
	for tok, u := range us.m {
		delete(us.m, tok)
		_ = os.Remove(u.path)
	}
}

// errNoFile is an upload form without a file, or with an empty one.
var errNoFile = errors.New("no file")

// spool reads the upload form: its charset field and its file, copied to
// a temporary file while its line breaks are counted.
func (s *Server) spool(r *http.Request) (_ *upload, err error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, fmt.Errorf("read the form: %w", err)
	}
	up := &upload{}
	defer func() {
		if up.path != "" && err != nil {
			_ = os.Remove(up.path)
		}
	}()
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch part.FormName() {
		case "charset":
			b, err := io.ReadAll(io.LimitReader(part, maxCharsetField+1))
			if err != nil {
				return nil, err
			}
			up.charset = strings.TrimSpace(string(b))
			if len(b) > maxCharsetField {
				up.charset = "(too long)"
			}
		case "file":
			if up.path != "" || part.FileName() == "" {
				continue
			}
			if err := s.spoolFile(up, part); err != nil {
				return nil, err
			}
		}
	}
	if up.path == "" {
		return nil, errNoFile
	}
	if up.charset == "auto" {
		up.charset = ""
	}
	return up, nil
}

// spoolFile copies the file part to a temporary file.
func (s *Server) spoolFile(up *upload, part *multipart.Part) error {
	f, err := os.CreateTemp("", "qualdial-upload-*.csv")
	if err != nil {
		return fmt.Errorf("spool upload: %w", err)
	}
	up.path = f.Name()
	lc := &lineCounter{w: f}
	n, err := io.Copy(lc, io.LimitReader(part, s.cfg.MaxUpload+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if n > s.cfg.MaxUpload {
		return &http.MaxBytesError{Limit: s.cfg.MaxUpload}
	}
	if lc.n == 0 {
		return errNoFile
	}
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	up.token, up.lines = hex.EncodeToString(tok), lc.lines
	up.filename = part.FileName()
	if intake.CheckText(up.filename, 255, false) != "" {
		up.filename = ""
	}
	return nil
}

// lineCounter counts the bytes and line breaks written through it.
type lineCounter struct {
	w        io.Writer
	n, lines int
}

func (l *lineCounter) Write(p []byte) (int, error) {
	l.n += len(p)
	l.lines += bytes.Count(p, []byte{'\n'})
	return l.w.Write(p)
}

package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qualdial/qualdial/calllist"
	"github.com/qualdial/qualdial/intake"
	"github.com/qualdial/qualdial/internal/csvdownload"
	"github.com/qualdial/qualdial/store"
)

// The call-list upload wizard: drop a file and pick its charset → map its
// columns to lead fields (auto-mapped, the first rows shown) → the dry
// run's report → import in the background, with live progress, the same
// report and the rejected rows as CSV. Every step reads the spooled file
// through calllist, the API's import path; the file lives in a temporary
// file known to the server by a random token bound to the user and the
// campaign, never by a path from the client.
const (
	uploadTTL         = time.Hour // a spooled file not imported by then is removed
	maxPendingUploads = 3         // spooled files per user; the oldest goes first
	maxUploadColumns  = 200       // columns the mapping step shows
	previewRows       = 5         // rows shown beside the mapping
	shownRejects      = 20        // rows not taken listed on a report
	uploadFormSlack   = 64 << 10  // multipart headers and the charset field
	maxCharsetField   = 64        // bytes of the charset field
	uploadCloseWait   = 10 * time.Second
	importTimeout     = 30 * time.Minute // one import's bound, as the API's
)

// Choices of a column in the mapping step besides the lead fields.
const (
	asAttribute = ""  // keep the column as an attribute of the lead
	ignoreCol   = "-" // leave the column out
)

// uploadData is the wizard's page: one step of it.
type uploadData struct {
	C        *store.Campaign
	Step     string // file, mapping, report, import
	Token    string
	Charsets []charsetChoice
	Charset  string
	// Refused says why the campaign takes no upload; Error what is wrong
	// with the step's input.
	Refused, Error string

	// The mapping step.
	Filename      string
	Columns       []uploadColumn
	Preview       []previewRow
	Delimiter     string
	FileCharset   string // as read: utf-8, windows-1252…
	CharsetSource string
	Fields        []string

	// The report (dry run) and the import.
	Report   *store.ImportReport
	InCamp   int // duplicates already in the campaign
	Estimate int // the file's rows, roughly, for the progress bars
	DryRows  int // rows the dry run has read
}

// charsetChoice is a charset of the first step's select.
type charsetChoice struct{ Value, Label string }

// charsetChoices are the charsets intake reads, by the name it takes
// ("utf-16 (with a byte-order mark)" is utf-16).
func charsetChoices() []charsetChoice {
	var out []charsetChoice
	for _, label := range intake.Charsets() {
		value, _, _ := strings.Cut(label, " (")
		out = append(out, charsetChoice{Value: value, Label: label})
	}
	return out
}

// uploadColumn is a column of the file with its choice in the mapping.
type uploadColumn struct {
	Index        int
	Name, Choice string
	Auto         string // the lead field its name means, "" for none
	Error        string
}

// previewRow is one of the first rows of the file.
type previewRow struct {
	Row    int
	Cells  []string
	Reject string // a row that cannot be read
}

func (s *Server) uploadRoutes(mux *http.ServeMux) {
	mkt := []string{store.RoleAdmin, store.RoleMarketing}
	mux.Handle("GET /campaigns/{id}/upload", s.role(s.uploadPage, mkt...))
	mux.Handle("POST /campaigns/{id}/upload", s.role(s.uploadFile, mkt...))
	mux.Handle("GET /campaigns/{id}/upload/{token}", s.role(s.mappingPage, mkt...))
	mux.Handle("POST /campaigns/{id}/upload/{token}", s.role(s.saveMapping, mkt...))
	mux.Handle("GET /campaigns/{id}/upload/{token}/report", s.role(s.dryRunPage, mkt...))
	mux.Handle("POST /campaigns/{id}/upload/{token}/import", s.role(s.startImport, mkt...))
	mux.Handle("GET /campaigns/{id}/uploaded/{import}", s.role(s.importPage, mkt...))
	mux.Handle("GET /campaigns/{id}/uploaded/{import}/progress", s.role(s.importProgress, mkt...))
	mux.Handle("GET /campaigns/{id}/uploaded/{import}/rejects.csv", s.role(s.importRejectsCSV, mkt...))
}

// refusal says why a campaign takes no new leads, or "".
func refusal(c *store.Campaign) string {
	if c.Status == store.CampaignFinished {
		return "Campaign " + c.Name + " is finished: it takes no new leads. Upload the list to another campaign."
	}
	return ""
}

func (s *Server) uploadPage(w http.ResponseWriter, r *http.Request, u *store.User) error {
	c, err := s.pathCampaign(w, r)
	if c == nil {
		return err
	}
	d := uploadData{C: c, Step: "file", Charsets: charsetChoices(), Refused: refusal(c)}
	status := http.StatusOK
	if d.Refused != "" {
		status = http.StatusConflict
	}
	s.renderStatus(w, r, status, "upload", u, d)
	return nil
}

// uploadFile spools the file (bounded by MaxUpload; a slow upload holds
// no database connection), checks its charset and header, and goes on to
// the mapping.
func (s *Server) uploadFile(w http.ResponseWriter, r *http.Request, u *store.User) error {
	c, err := s.pathCampaign(w, r)
	if c == nil {
		return err
	}
	d := uploadData{C: c, Step: "file", Charsets: charsetChoices(), Refused: refusal(c)}
	refuse := func(status int, msg string) error {
		d.Error = msg
		s.renderStatus(w, r, status, "upload", u, d)
		return nil
	}
	if d.Refused != "" {
		s.renderStatus(w, r, http.StatusConflict, "upload", u, d)
		return nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUpload+uploadFormSlack)
	up, err := s.spool(r)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return refuse(http.StatusRequestEntityTooLarge, fmt.Sprintf("The file is larger than %s: split it into smaller files.", byteSize(s.cfg.MaxUpload)))
	case errors.Is(err, errNoFile):
		return refuse(http.StatusUnprocessableEntity, "Choose a CSV file to upload.")
	case err != nil:
		s.cfg.Logger.InfoContext(r.Context(), "upload broke off", "campaign_id", c.ID, "user_id", u.ID, "error", err)
		return refuse(http.StatusBadRequest, "The upload could not be read: choose the file and send the form again.")
	}
	d.Charset = up.charset
	keep := false
	defer func() {
		if !keep {
			_ = os.Remove(up.path)
		}
	}()
	if err := calllist.CheckCharset(up.charset); err != nil {
		d.Charset = ""
		return refuse(http.StatusUnprocessableEntity, fieldMessage(err))
	}
	f, err := os.Open(up.path)
	if err != nil {
		return fmt.Errorf("open the spooled upload: %w", err)
	}
	rd, err := intake.NewCSV(f, up.charset)
	_ = f.Close()
	if err != nil {
		return refuse(http.StatusUnprocessableEntity, "The file cannot be read as a call list: "+err.Error()+".")
	}
	if n := len(rd.Header()); n > maxUploadColumns {
		return refuse(http.StatusUnprocessableEntity, fmt.Sprintf("The file has %d columns, more than %d: leave out the columns a call does not need.", n, maxUploadColumns))
	}
	up.userID, up.campaignID, up.expires = u.ID, c.ID, s.store.Now().Add(uploadTTL)
	s.uploads.put(up, s.store.Now())
	keep = true
	s.cfg.Logger.InfoContext(r.Context(), "call list spooled", "campaign_id", c.ID, "user_id", u.ID, "lines", up.lines)
	http.Redirect(w, r, fmt.Sprintf("/campaigns/%d/upload/%s", c.ID, up.token), http.StatusSeeOther)
	return nil
}

// fieldMessage is the message of intake.Errors without the field names.
func fieldMessage(err error) string {
	var fe intake.Errors
	if !errors.As(err, &fe) {
		return err.Error()
	}
	msgs := make([]string, len(fe))
	for i, e := range fe {
		msgs[i] = e.Message
	}
	return strings.Join(msgs, "; ")
}

// byteSize writes a size the way people read it.
func byteSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MB", n>>20)
	}
	return fmt.Sprintf("%d KB", max(n>>10, 1))
}

// wizardUpload loads the campaign and the user's upload of the path;
// nil when either is gone, or when mapped is asked for and the upload's
// columns are not mapped yet (answered here).
func (s *Server) wizardUpload(w http.ResponseWriter, r *http.Request, u *store.User, mapped bool) (*store.Campaign, *upload, error) {
	c, err := s.pathCampaign(w, r)
	if c == nil {
		return nil, nil, err
	}
	up := s.uploads.get(r.PathValue("token"), u.ID, c.ID, s.store.Now())
	if up == nil {
		s.flash(r, "That upload is gone (imported, replaced by a newer one, or older than an hour): upload the file again.")
		http.Redirect(w, r, fmt.Sprintf("/campaigns/%d/upload", c.ID), http.StatusSeeOther)
		return nil, nil, nil
	}
	if msg := refusal(c); msg != "" {
		s.renderStatus(w, r, http.StatusConflict, "upload", u, uploadData{C: c, Step: "file", Refused: msg})
		return nil, nil, nil
	}
	if mapped && up.choices == nil {
		http.Redirect(w, r, fmt.Sprintf("/campaigns/%d/upload/%s", c.ID, up.token), http.StatusSeeOther)
		return nil, nil, nil
	}
	return c, up, nil
}

func (s *Server) mappingPage(w http.ResponseWriter, r *http.Request, u *store.User) error {
	c, up, err := s.wizardUpload(w, r, u, false)
	if up == nil {
		return err
	}
	d, err := s.mappingData(c, up)
	if err != nil {
		return err
	}
	s.render(w, r, "upload", u, d)
	return nil
}

// mappingData reads the file's header and first rows for the mapping
// step, with the saved choices or the automatic ones.
func (s *Server) mappingData(c *store.Campaign, up *upload) (uploadData, error) {
	d := uploadData{C: c, Step: "mapping", Token: up.token, Filename: up.filename, Charset: up.charset, Fields: intake.Fields()}
	f, err := os.Open(up.path)
	if err != nil {
		return d, fmt.Errorf("open the spooled upload: %w", err)
	}
	defer f.Close()
	rd, err := intake.NewCSV(f, up.charset)
	if err != nil {
		return d, fmt.Errorf("read the spooled upload: %w", err)
	}
	for i, h := range rd.Header() {
		col := uploadColumn{Index: i, Name: h, Auto: intake.Canonical(h)}
		col.Choice = col.Auto
		if i < len(up.choices) {
			col.Choice = up.choices[i]
		}
		d.Columns = append(d.Columns, col)
	}
	for len(d.Preview) < previewRows {
		rec, err := rd.Next()
		var re *intake.RowError
		switch {
		case errors.As(err, &re):
			d.Preview = append(d.Preview, previewRow{Row: re.Row, Reject: re.Err.Error()})
			continue
		case errors.Is(err, io.EOF):
		case err != nil:
			return d, fmt.Errorf("read the spooled upload: %w", err)
		default:
			row := previewRow{Row: rec.Row}
			for _, h := range rd.Header() {
				row.Cells = append(row.Cells, rec.Values[h])
			}
			d.Preview = append(d.Preview, row)
			continue
		}
		break
	}
	d.FileCharset, d.CharsetSource = rd.Charset(), rd.CharsetSource()
	d.Delimiter = map[rune]string{',': "comma", ';': "semicolon", '\t': "tab"}[rd.Delimiter()]
	return d, nil
}

// saveMapping checks the mapping (every choice a lead field, attribute or
// ignore; no field chosen twice; a phone column) and goes on to the dry
// run, or shows the mapping again with the errors beside the columns.
func (s *Server) saveMapping(w http.ResponseWriter, r *http.Request, u *store.User) error {
	c, up, err := s.wizardUpload(w, r, u, false)
	if up == nil {
		return err
	}
	if !readForm(w, r, uploadFormSlack) {
		return nil
	}
	d, err := s.mappingData(c, up)
	if err != nil {
		return err
	}
	choices := make([]string, len(d.Columns))
	for i := range d.Columns {
		d.Columns[i].Choice = r.PostFormValue("col" + strconv.Itoa(i))
		choices[i] = d.Columns[i].Choice
	}
	if !checkChoices(&d) {
		s.renderStatus(w, r, http.StatusUnprocessableEntity, "upload", u, d)
		return nil
	}
	if dry := s.uploads.setChoices(up.token, choices); dry != nil {
		up.choices = choices
		s.startDryRun(c, up, dry)
	}
	http.Redirect(w, r, fmt.Sprintf("/campaigns/%d/upload/%s/report", c.ID, up.token), http.StatusSeeOther)
	return nil
}

// startDryRun runs the dry run of an upload's mapping in the background
// (a large file takes a while; a request should not wait for it).
func (s *Server) startDryRun(c *store.Campaign, up *upload, dry *dryRun) {
	log := s.cfg.Logger.With("campaign_id", c.ID)
	done := func(rep *store.ImportReport, err error) {
		var fe intake.Errors
		if err != nil && !errors.As(err, &fe) {
			log.Warn("dry run failed", "error", err)
		}
		s.uploads.dryDone(dry, rep, err)
	}
	list, f, err := s.openList(c, up, func(rows int) { s.uploads.dryProgress(dry, rows) })
	if err != nil {
		done(nil, err)
		return
	}
	s.imports.Go(func(ctx context.Context) {
		defer f.Close()
		done(list.DryRun(ctx, s.store, shownRejects))
	})
}

// checkChoices marks the columns whose choice is wrong, and the step when
// no column holds the phone; it says whether all is well.
func checkChoices(d *uploadData) bool {
	fields := intake.Fields()
	chosen := map[string][]string{}
	for i := range d.Columns {
		col := &d.Columns[i]
		switch {
		case col.Choice == asAttribute || col.Choice == ignoreCol:
		case !slices.Contains(fields, col.Choice):
			col.Error = fmt.Sprintf("%s is not a lead field: choose one from the list.", intake.Quote(col.Choice))
			col.Choice = asAttribute
		default:
			chosen[col.Choice] = append(chosen[col.Choice], col.Name)
		}
	}
	ok := true
	for i := range d.Columns {
		col := &d.Columns[i]
		ok = ok && col.Error == ""
		if names := chosen[col.Choice]; len(names) > 1 {
			col.Error = fmt.Sprintf("%s is chosen for %d columns (%s): keep one, make the others attributes or ignore them.",
				col.Choice, len(names), strings.Join(names, ", "))
			ok = false
		}
	}
	if len(chosen["phone"]) == 0 {
		d.Error = "No column is mapped to phone: choose the column that holds the phone numbers."
		ok = false
	}
	return ok
}

// listOptions turns the mapping's choices into calllist options: a lead
// field is a rename, an ignored column is left out, and a column whose
// name means a lead field but is kept as an attribute is renamed so it
// stays one.
func listOptions(up *upload, header []string) calllist.Options {
	o := calllist.Options{Filename: up.filename, Charset: up.charset, Mapping: map[string]string{}}
	for i, h := range header {
		choice := asAttribute
		if i < len(up.choices) {
			choice = up.choices[i]
		}
		switch {
		case choice == ignoreCol:
			o.Ignore = append(o.Ignore, h)
		case choice != asAttribute:
			o.Mapping[h] = choice
		case intake.Canonical(h) != "":
			o.Mapping[h] = "column_" + h
		}
	}
	return o
}

// openList opens the upload's file as a call list with its mapping;
// progress, if set, is told the rows read. The caller closes f.
func (s *Server) openList(c *store.Campaign, up *upload, progress func(rows int)) (*calllist.List, *os.File, error) {
	f, err := os.Open(up.path)
	if err != nil {
		return nil, nil, fmt.Errorf("open the spooled upload: %w", err)
	}
	rd, err := intake.NewCSV(f, up.charset)
	if err != nil {
		_ = f.Close()
		return nil, nil, fmt.Errorf("read the spooled upload: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		_ = f.Close()
		return nil, nil, fmt.Errorf("rewind the spooled upload: %w", err)
	}
	o := listOptions(up, rd.Header())
	o.Progress = progress
	list, err := calllist.Open(c, o, f)
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	return list, f, nil
}

// dryRunPage shows the dry run of the saved mapping: its progress while
// it runs (the page polls), then what importing the file would do.
func (s *Server) dryRunPage(w http.ResponseWriter, r *http.Request, u *store.User) error {
	c, up, err := s.wizardUpload(w, r, u, true)
	if up == nil {
		return err
	}
	dry := s.uploads.dryState(up.token)
	if dry == nil { // taken by its import meanwhile
		http.Redirect(w, r, fmt.Sprintf("/campaigns/%d/upload", c.ID), http.StatusSeeOther)
		return nil
	}
	d := uploadData{C: c, Step: "report", Token: up.token, Filename: up.filename, Estimate: max(up.lines-1, 1, dry.rows), DryRows: dry.rows}
	status := http.StatusOK
	var fe intake.Errors
	switch {
	case !dry.done:
	case errors.As(dry.err, &fe): // the file and the mapping disagree
		d.Error, status = fieldMessage(dry.err), http.StatusUnprocessableEntity
	case dry.err != nil:
		d.Error, status = "something went wrong on our side; it has been logged. Save the mapping again to retry.", http.StatusUnprocessableEntity
	default:
		d.Report, d.InCamp = dry.rep, dry.rep.Import.Duplicates-dry.rep.Import.DuplicatesInFile
	}
	if r.Header.Get("HX-Request") == "true" {
		s.renderBlock(w, r, status, "upload", "report", d)
		return nil
	}
	s.renderStatus(w, r, status, "upload", u, d)
	return nil
}

// startImport imports the file in the background and shows its progress.
func (s *Server) startImport(w http.ResponseWriter, r *http.Request, u *store.User) error {
	c, up, err := s.wizardUpload(w, r, u, true)
	if up == nil {
		return err
	}
	if !s.uploads.take(up.token) { // a second click
		http.Redirect(w, r, fmt.Sprintf("/campaigns/%d", c.ID), http.StatusSeeOther)
		return nil
	}
	handedOver := false
	defer func() {
		if !handedOver {
			_ = os.Remove(up.path)
		}
	}()
	list, f, err := s.openList(c, up, nil)
	if err != nil {
		return err
	}
	imp, err := s.store.StartImport(r.Context(), list.Params())
	if err != nil {
		_ = f.Close()
		return err
	}
	handedOver = true
	s.uploads.estimate(imp.ID, max(up.lines-1, 1))
	log := s.cfg.Logger.With("import_id", imp.ID, "campaign_id", c.ID, "user_id", u.ID)
	log.Info("call list import started")
	s.imports.Go(func(ctx context.Context) {
		defer func() {
			_ = f.Close()
			_ = os.Remove(up.path)
		}()
		if _, err := list.Run(ctx, s.store, s.cfg.Dialer, imp.ID); err != nil {
			log.Warn("import failed", "error", err)
		}
	})
	http.Redirect(w, r, fmt.Sprintf("/campaigns/%d/uploaded/%d", c.ID, imp.ID), http.StatusSeeOther)
	return nil
}

// importOf loads the import of the path with its report; nil when it is
// not the campaign's (answered with 404).
func (s *Server) importOf(w http.ResponseWriter, r *http.Request) (*uploadData, error) {
	c, err := s.pathCampaign(w, r)
	if c == nil {
		return nil, err
	}
	id, err := strconv.ParseInt(r.PathValue("import"), 10, 64)
	if err != nil || id <= 0 {
		s.notFound(w, r)
		return nil, nil
	}
	rep, err := s.store.ImportReport(r.Context(), id, shownRejects)
	if errors.Is(err, store.ErrNotFound) || (err == nil && rep.Import.CampaignID != c.ID) {
		s.notFound(w, r)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	d := &uploadData{C: c, Step: "import", Filename: rep.Import.Filename, Report: rep,
		InCamp: rep.Import.Duplicates - rep.Import.DuplicatesInFile, Estimate: s.uploads.estimated(id)}
	d.Estimate = max(d.Estimate, rep.Import.TotalRows)
	return d, nil
}

func (s *Server) importPage(w http.ResponseWriter, r *http.Request, u *store.User) error {
	d, err := s.importOf(w, r)
	if d == nil {
		return err
	}
	s.render(w, r, "upload", u, *d)
	return nil
}

// importProgress is the progress fragment the import page polls: the
// bar while the import runs, then the result.
func (s *Server) importProgress(w http.ResponseWriter, r *http.Request, u *store.User) error {
	d, err := s.importOf(w, r)
	if d == nil {
		return err
	}
	s.renderBlock(w, r, http.StatusOK, "upload", "progress", d)
	return nil
}

// importRejectsCSV streams an import's rows not taken, neutralised like
// the API's.
func (s *Server) importRejectsCSV(w http.ResponseWriter, r *http.Request, u *store.User) error {
	d, err := s.importOf(w, r)
	if d == nil {
		return err
	}
	id := d.Report.Import.ID
	out := csvdownload.New(w, fmt.Sprintf("import-%d-rejects.csv", id), s.cfg.Logger)
	return out.Finish(calllist.WriteRejects(r.Context(), s.store, id, out.Row))
}

// closeUploads stops the imports still running (each ends failed, saying
// the server shut down) and removes the spooled files.
func (s *Server) closeUploads() {
	ctx, cancel := context.WithTimeout(context.Background(), uploadCloseWait)
	defer cancel()
	if err := s.imports.Close(ctx); err != nil {
		s.cfg.Logger.WarnContext(ctx, "imports did not stop", "error", err)
	}
	s.uploads.removeAll()
}

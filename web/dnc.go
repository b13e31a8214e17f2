package web

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nyaruka/phonenumbers"

	"github.com/qualdial/qualdial/intake"
	"github.com/qualdial/qualdial/store"
)

// The do-not-call screen: search, add, remove (admins), upload a list and
// export it. Every change goes through the store's AddDNC and RemoveDNC,
// like the API's /v1/dnc, with the API's rules for numbers and reasons.
const (
	dncPage        = 50        // entries per page of the list
	maxDNCReason   = 500       // as the API
	maxDNCUpload   = 5 << 20   // bytes of an uploaded file
	maxDNCRows     = 100_000   // numbers in an uploaded file
	dncChunk       = 1000      // numbers added per transaction
	maxShownReject = 200       // rejected rows listed on the page
	defaultCountry = "US"      // for numbers written without a country code
	dncExportPage  = 500       // rows read per query of the export
	dncUploadSlack = 256 << 10 // multipart headers and the other fields
)

// e164 is a number as the list stores it (the API's check of a cursor).
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// phoneColumns are the names an uploaded file's phone column may have.
var phoneColumns = []string{"phone", "phone_number", "number", "telephone", "mobile"}

// dncData is the DNC page.
type dncData struct {
	// Erased counts the numbers kept only as hashes (erased people).
	Erased int64

	// Search: the number asked about, as typed, and the answer.
	Query, Country string
	Searched, On   bool
	Phone          string           // the number searched, in E.164
	Found          *store.DNCRecord // its entry, when on the list
	SearchError    string

	// Add.
	AddPhone, AddCountry, AddReason string
	AddError, AddNotice             string

	// Upload.
	Upload      *dncUpload
	UploadError string

	// The list, newest first, a page at a time.
	Entries     []store.DNCRecord
	After, Next string
	Notice      string // what a removal did
	RemoveError string
}

// dncUpload is what an uploaded list did.
type dncUpload struct {
	Rows, Added, Listed, Duplicates int
	Rejected                        []dncReject
	MoreRejected                    int
}

type dncReject struct {
	Row          int
	Value, Error string
}

func (s *Server) dncRoutes(mux *http.ServeMux) {
	mkt := []string{store.RoleAdmin, store.RoleMarketing}
	mux.Handle("GET /dnc", s.role(s.dncPage, mkt...))
	mux.Handle("POST /dnc", s.role(s.addDNC, mkt...))
	mux.Handle("POST /dnc/upload", s.role(s.uploadDNC, mkt...))
	mux.Handle("POST /dnc/remove", s.role(s.removeDNC, store.RoleAdmin))
	mux.Handle("GET /dnc/export.csv", s.role(s.exportDNC, mkt...))
}

// userActor names a web user in the list's history and lead events.
func userActor(u *store.User) string { return fmt.Sprintf("user:%d", u.ID) }

// dncNumber normalises a number typed into a form: the API's checks, with
// US for a number written without a country code unless country says
// otherwise. It returns the E.164 number or what is wrong.
func dncNumber(raw, country string) (string, string) {
	raw = strings.TrimSpace(raw)
	country = strings.ToUpper(strings.TrimSpace(country))
	if raw == "" {
		return "", "Give a phone number."
	}
	if msg := intake.CheckText(raw, intake.MaxPhoneLen, false); msg != "" {
		return "", "The phone number " + msg + "."
	}
	if country == "" {
		country = defaultCountry
	} else if _, ok := phonenumbers.GetSupportedRegions()[country]; !ok || len(country) != 2 {
		return "", fmt.Sprintf("%q is not a country: use an ISO 3166 alpha-2 code such as US, GB or DE.", country)
	}
	p, err := intake.NormalizePhone(raw, country)
	if err != nil {
		return "", "Not a number we can call or block: " + err.Error() + "."
	}
	return p, ""
}

// dncReason checks an optional reason as the API does.
func dncReason(reason string) string {
	if msg := intake.CheckText(reason, maxDNCReason, false); msg != "" {
		return "The reason " + msg + " (one line of at most 500 characters)."
	}
	return ""
}

func (s *Server) dncPage(w http.ResponseWriter, r *http.Request, u *store.User) error {
	q := r.URL.Query()
	d := dncData{Query: q.Get("phone"), Country: q.Get("country"), After: q.Get("after")}
	status := http.StatusOK
	if q.Has("phone") {
		d.Searched = true
		d.Phone, d.SearchError = dncNumber(d.Query, d.Country)
		if d.SearchError != "" {
			status = http.StatusUnprocessableEntity
		} else if err := s.dncLookup(r.Context(), &d); err != nil {
			return err
		}
	}
	return s.renderDNC(w, r, u, d, status)
}

// dncLookup says whether d.Phone is on the list, with its entry.
func (s *Server) dncLookup(ctx context.Context, d *dncData) error {
	on, err := store.OnDNC(ctx, s.store.Pool(), d.Phone)
	if err != nil || !on {
		return err
	}
	d.On = true
	list, err := s.store.DNCList(ctx, store.DNCFilter{Search: strings.TrimPrefix(d.Phone, "+"), Limit: 500})
	if err != nil {
		return err
	}
	for i := range list {
		if list[i].Phone == d.Phone {
			d.Found = &list[i]
			return s.nameActors(ctx, list[i:i+1])
		}
	}
	return nil
}

// nameActors shows the web users among the entries' actors ("user:N") by
// their e-mail address.
func (s *Server) nameActors(ctx context.Context, list []store.DNCRecord) error {
	if !slices.ContainsFunc(list, func(e store.DNCRecord) bool { return strings.HasPrefix(e.Actor, "user:") }) {
		return nil
	}
	users, err := s.store.Users(ctx)
	if err != nil {
		return err
	}
	emails := map[string]string{}
	for _, u := range users {
		emails[userActor(u)] = u.Email
	}
	for i := range list {
		if e, ok := emails[list[i].Actor]; ok {
			list[i].Actor = e
		}
	}
	return nil
}

// renderDNC shows the page, or its body for htmx, with a page of the list.
func (s *Server) renderDNC(w http.ResponseWriter, r *http.Request, u *store.User, d dncData, status int) error {
	f := store.DNCFilter{Limit: dncPage}
	if d.After != "" {
		at, phone, ok := readCursor(d.After)
		if !ok {
			http.Error(w, "not a page of the list: go back to /dnc", http.StatusBadRequest)
			return nil
		}
		f.AfterAt, f.AfterPhone = at, phone
	}
	list, err := s.store.DNCList(r.Context(), f)
	if err != nil {
		return err
	}
	if err := s.nameActors(r.Context(), list); err != nil {
		return err
	}
	d.Entries = list
	if d.Erased, err = s.store.ErasedOnDNC(r.Context()); err != nil {
		return err
	}
	if len(list) == f.Limit {
		last := list[len(list)-1]
		d.Next = base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%s|%s", last.CreatedAt.UTC().Format(time.RFC3339Nano), last.Phone))
	}
	if r.Header.Get("HX-Request") == "true" {
		s.renderBlock(w, r, status, "dnc", "body", page{User: u, Data: d, Path: "/dnc"})
		return nil
	}
	s.renderStatus(w, r, status, "dnc", u, d)
	return nil
}

// readCursor reads a page cursor, the API's format: base64 of time|phone.
func readCursor(c string) (time.Time, string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	at, phone, ok := strings.Cut(string(b), "|")
	t, terr := time.Parse(time.RFC3339Nano, at)
	return t, phone, err == nil && ok && terr == nil && e164.MatchString(phone)
}

// smallFormBytes bounds a posted form without a file.
const smallFormBytes = 16 << 10

// readSmallForm reads a posted form without a file; false when it has
// answered (the form was too large or unreadable).
func readSmallForm(w http.ResponseWriter, r *http.Request) bool {
	return readForm(w, r, smallFormBytes)
}

// readForm reads a posted form of at most limit bytes; false when it has
// answered: 413 naming the bound for a form too large (a field pasted far
// beyond what it takes), 400 for one that cannot be read.
func readForm(w http.ResponseWriter, r *http.Request, limit int64) bool {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	err := r.ParseForm()
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		http.Error(w, fmt.Sprintf("the form is larger than %d KiB: a field holds far more than it takes; go back, shorten it and send it again",
			limit>>10), http.StatusRequestEntityTooLarge)
		return false
	case err != nil:
		http.Error(w, "the form could not be read: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

// addDNC puts one number on the list (source manual).
func (s *Server) addDNC(w http.ResponseWriter, r *http.Request, u *store.User) error {
	if !readSmallForm(w, r) {
		return nil
	}
	d := dncData{AddPhone: r.PostForm.Get("phone"), AddCountry: r.PostForm.Get("country"), AddReason: strings.TrimSpace(r.PostForm.Get("reason"))}
	phone, msg := dncNumber(d.AddPhone, d.AddCountry)
	if msg == "" {
		msg = dncReason(d.AddReason)
	}
	if msg != "" {
		d.AddError = msg
		return s.renderDNC(w, r, u, d, http.StatusUnprocessableEntity)
	}
	added, err := s.store.AddDNC(r.Context(), s.store.Pool(), store.DNCEntry{Phone: phone, Source: store.DNCManual, Reason: d.AddReason, Actor: userActor(u)})
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if added {
		d.AddNotice = phone + " is now on the do-not-call list."
		s.cfg.Logger.InfoContext(r.Context(), "dnc added", "user_id", u.ID)
	} else {
		d.AddNotice, status = phone+" is already on the do-not-call list.", http.StatusOK
	}
	return s.dncAnswer(w, r, u, dncData{AddNotice: d.AddNotice}, status, d.AddNotice)
}

// dncAnswer answers a change: htmx gets the page's body with d, a plain
// form goes back to the page with msg.
func (s *Server) dncAnswer(w http.ResponseWriter, r *http.Request, u *store.User, d dncData, status int, msg string) error {
	if r.Header.Get("HX-Request") != "true" {
		s.flash(r, "%s", msg)
		http.Redirect(w, r, "/dnc", http.StatusSeeOther)
		return nil
	}
	return s.renderDNC(w, r, u, d, status)
}

// removeDNC takes a number off the list (admins).
func (s *Server) removeDNC(w http.ResponseWriter, r *http.Request, u *store.User) error {
	if !readSmallForm(w, r) {
		return nil
	}
	var d dncData
	phone := strings.TrimSpace(r.PostForm.Get("phone"))
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	status := http.StatusOK
	if !e164.MatchString(phone) {
		d.RemoveError, status = "Pick a number of the list to remove.", http.StatusUnprocessableEntity
	} else if msg := dncReason(reason); msg != "" {
		d.RemoveError, status = msg, http.StatusUnprocessableEntity
	} else {
		removed, err := s.store.RemoveDNC(r.Context(), s.store.Pool(), phone, userActor(u), reason)
		if err != nil {
			return err
		}
		if removed {
			d.Notice = phone + " is off the do-not-call list: it may be called again."
			s.cfg.Logger.InfoContext(r.Context(), "dnc removed", "user_id", u.ID)
		} else {
			d.RemoveError, status = phone+" is not on the do-not-call list (removed meanwhile?).", http.StatusConflict
		}
	}
	return s.dncAnswer(w, r, u, d, status, d.Notice+d.RemoveError)
}

// errDNCUpload is a file the upload refuses as a whole.
type errDNCUpload struct{ msg string }

func (e *errDNCUpload) Error() string { return e.msg }

// uploadDNC puts the numbers of an uploaded file on the list (source
// import): a CSV file with a phone column, or one number a line.
func (s *Server) uploadDNC(w http.ResponseWriter, r *http.Request, u *store.User) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxDNCUpload+dncUploadSlack)
	var d dncData
	refuse := func(status int, msg string) error {
		d.UploadError = msg
		return s.renderDNC(w, r, u, d, status)
	}
	if err := r.ParseMultipartForm(maxDNCUpload + dncUploadSlack); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return refuse(http.StatusRequestEntityTooLarge, "The file is larger than 5 MB: split it into smaller files.")
		}
		return refuse(http.StatusBadRequest, "The upload could not be read: choose a file and send the form again.")
	}
	defer func() { _ = r.MultipartForm.RemoveAll() }()
	file, hdr, err := r.FormFile("file")
	if err != nil {
		return refuse(http.StatusUnprocessableEntity, "Choose a file of phone numbers to upload.")
	}
	defer file.Close()
	if hdr.Size > maxDNCUpload {
		return refuse(http.StatusRequestEntityTooLarge, "The file is larger than 5 MB: split it into smaller files.")
	}
	country := strings.ToUpper(strings.TrimSpace(r.PostFormValue("country")))
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if _, msg := dncNumber("+12125550123", country); msg != "" {
		return refuse(http.StatusUnprocessableEntity, msg)
	}
	if msg := dncReason(reason); msg != "" {
		return refuse(http.StatusUnprocessableEntity, msg)
	}
	rep, phones, err := readDNCFile(file, country)
	var bad *errDNCUpload
	if errors.As(err, &bad) {
		return refuse(http.StatusUnprocessableEntity, bad.msg)
	}
	if err != nil {
		return err
	}
	if err := s.addDNCMany(r.Context(), u, phones, reason, rep); err != nil {
		return err
	}
	s.cfg.Logger.InfoContext(r.Context(), "dnc upload", "user_id", u.ID, "rows", rep.Rows, "added", rep.Added)
	d.Upload = rep
	return s.renderDNC(w, r, u, d, http.StatusOK)
}

// readDNCFile reads an uploaded file's numbers: the valid ones once each,
// and a report of the others.
func readDNCFile(f io.Reader, country string) (*dncUpload, []string, error) {
	c, err := intake.NewCSV(f, "")
	if err != nil {
		return nil, nil, &errDNCUpload{"The file could not be read: " + err.Error() + "."}
	}
	rep := &dncUpload{}
	var phones []string
	seen := map[string]bool{}
	add := func(row int, value string) error {
		rep.Rows++
		if rep.Rows > maxDNCRows {
			return &errDNCUpload{fmt.Sprintf("The file has more than %d numbers: split it into smaller files. Nothing was added.", maxDNCRows)}
		}
		phone, msg := dncNumber(value, country)
		switch {
		case msg != "":
			rep.reject(row, value, msg)
		case seen[phone]:
			rep.Duplicates++
		default:
			seen[phone] = true
			phones = append(phones, phone)
		}
		return nil
	}
	header := c.Header()
	col := -1
	for i, h := range header {
		if col < 0 && slices.Contains(phoneColumns, strings.ToLower(h)) {
			col = i
		}
	}
	if col < 0 {
		if len(header) != 1 {
			return nil, nil, &errDNCUpload{"The file has no phone column: name one \"phone\", or upload one number a line."}
		}
		col = 0
		// One number a line without a header: the first line is a number.
		if _, msg := dncNumber(header[0], country); msg == "" {
			if err := add(1, header[0]); err != nil {
				return nil, nil, err
			}
		}
	}
	name := header[col]
	for {
		rec, err := c.Next()
		if err == io.EOF {
			break
		}
		var re *intake.RowError
		if errors.As(err, &re) {
			rep.Rows++
			rep.reject(re.Row, strings.Join(rec.Raw, ","), "The row could not be read: "+re.Err.Error()+".")
			continue
		}
		if err != nil {
			return nil, nil, &errDNCUpload{"The file could not be read: " + err.Error() + "."}
		}
		if err := add(rec.Row, rec.Values[name]); err != nil {
			return nil, nil, err
		}
	}
	if rep.Rows == 0 {
		return nil, nil, &errDNCUpload{"The file has no phone numbers."}
	}
	return rep, phones, nil
}

func (u *dncUpload) reject(row int, value, msg string) {
	if len(u.Rejected) == maxShownReject {
		u.MoreRejected++
		return
	}
	if len(value) > 80 {
		value = strings.ToValidUTF8(value[:80], "") + "…"
	}
	u.Rejected = append(u.Rejected, dncReject{Row: row, Value: value, Error: msg})
}

// addDNCMany adds numbers with the store's AddDNC, a transaction per
// chunk; numbers already listed are counted, not added again.
func (s *Server) addDNCMany(ctx context.Context, u *store.User, phones []string, reason string, rep *dncUpload) error {
	for len(phones) > 0 {
		chunk := phones[:min(dncChunk, len(phones))]
		phones = phones[len(chunk):]
		var added, listed int
		err := s.store.Tx(ctx, func(tx pgx.Tx) error {
			added, listed = 0, 0
			on, err := store.OnDNCMany(ctx, tx, chunk)
			if err != nil {
				return err
			}
			for _, p := range chunk {
				if on[p] {
					listed++
					continue
				}
				ok, err := s.store.AddDNC(ctx, tx, store.DNCEntry{Phone: p, Source: store.DNCImport, Reason: reason, Actor: userActor(u)})
				if err != nil {
					return err
				}
				if ok {
					added++
				} else {
					listed++
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		rep.Added += added
		rep.Listed += listed
	}
	return nil
}

// exportDNC streams the whole list as CSV, newest first.
func (s *Server) exportDNC(w http.ResponseWriter, r *http.Request, u *store.User) error {
	f := store.DNCFilter{Limit: dncExportPage}
	list, err := s.store.DNCList(r.Context(), f)
	if err != nil {
		return err // nothing sent yet: an ordinary error page
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="dnc.csv"`)
	h.Set("Cache-Control", "no-store")
	out := csv.NewWriter(w)
	_ = out.Write([]string{"phone", "source", "reason", "campaign_id", "actor", "created_at"})
	for {
		for _, e := range list {
			campaign := ""
			if e.CampaignID != nil {
				campaign = strconv.FormatInt(*e.CampaignID, 10)
			}
			_ = out.Write([]string{safeCell(e.Phone), safeCell(e.Source), safeCell(e.Reason), campaign, safeCell(e.Actor),
				e.CreatedAt.UTC().Format(time.RFC3339)})
		}
		out.Flush()
		if err := out.Error(); err != nil {
			s.cfg.Logger.ErrorContext(r.Context(), "DNC export failed", "user_id", u.ID, "error", err)
			panic(http.ErrAbortHandler)
		}
		if len(list) < f.Limit {
			return nil
		}
		last := list[len(list)-1]
		f.AfterAt, f.AfterPhone = last.CreatedAt, last.Phone
		if list, err = s.store.DNCList(r.Context(), f); err != nil {
			// Half a file must not look whole: abort the response.
			s.cfg.Logger.ErrorContext(r.Context(), "DNC export failed after it started; aborting the response", "user_id", u.ID, "error", err)
			panic(http.ErrAbortHandler)
		}
	}
}

// plainNumber is a cell a spreadsheet reads only as a number.
var plainNumber = regexp.MustCompile(`^[+-]?[0-9]+(\.[0-9]+)?$`)

// safeCell keeps a spreadsheet from running a cell as a formula (the
// API's csvCell): one starting with = + - @ tab or CR gets a leading
// apostrophe, unless it is a plain number such as an E.164 phone.
func safeCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) && !plainNumber.MatchString(v) {
		return "'" + v
	}
	return v
}

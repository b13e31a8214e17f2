package web_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/qualdial/qualdial/store"
)

// userID finds a user's id by e-mail.
func (s *site) userID(t *testing.T, email string) int64 {
	t.Helper()
	users, err := s.st.Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if strings.EqualFold(u.Email, email) {
			return u.ID
		}
	}
	t.Fatalf("no user %s", email)
	return 0
}

// onDNC reads the list itself.
func (s *site) onDNC(t *testing.T, phone string) bool {
	t.Helper()
	on, err := store.OnDNC(context.Background(), s.st.Pool(), phone)
	if err != nil {
		t.Fatal(err)
	}
	return on
}

// dncRow reads a number's source, reason and actor from the table.
func (s *site) dncRow(t *testing.T, phone string) (source, reason, actor string) {
	t.Helper()
	err := s.st.Pool().QueryRow(context.Background(), `SELECT source, coalesce(reason, ''), actor FROM dnc WHERE phone = $1`, phone).
		Scan(&source, &reason, &actor)
	if err != nil {
		t.Fatalf("%s in dnc: %v", phone, err)
	}
	return source, reason, actor
}

// esc is how the pages write a number (html/template escapes its +).
func esc(s string) string { return strings.ReplaceAll(s, "+", "&#43;") }

// upload posts a multipart form with a file, as a browser does.
func (b *browser) upload(path, content string, fields ...string) reply {
	b.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		_ = mw.WriteField(fields[i], fields[i+1])
	}
	fw, _ := mw.CreateFormFile("file", "numbers.csv")
	_, _ = io.WriteString(fw, content)
	_ = mw.Close()
	req, _ := http.NewRequest("POST", b.site.srv.URL+path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	data, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		b.t.Fatal(err)
	}
	return reply{status: res.StatusCode, location: res.Header.Get("Location"), body: string(data), header: res.Header}
}

func TestDNCAddSearchRemove(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	admin := s.user(t, store.RoleAdmin, "admin@example.com")
	mkt := s.user(t, store.RoleMarketing, "mkt@example.com")
	sales := s.user(t, store.RoleSales, "rep@example.com")
	mktActor := fmt.Sprintf("user:%d", s.userID(t, "mkt@example.com"))
	adminActor := fmt.Sprintf("user:%d", s.userID(t, "admin@example.com"))
	const phone = "+12125550123"

	// Sales may not see or change the list.
	for _, r := range []reply{sales.do("GET", "/dnc", nil), sales.do("GET", "/dnc/export.csv", nil),
		sales.do("POST", "/dnc", url.Values{"phone": {phone}})} {
		if r.status != http.StatusForbidden {
			t.Errorf("sales: %d", r.status)
		}
	}
	if s.onDNC(t, phone) {
		t.Fatal("sales added a number")
	}
	r := mkt.do("GET", "/dnc", nil)
	if r.status != 200 || !strings.Contains(r.body, "No number on the list") || strings.Contains(r.body, `class="remove"`) ||
		!strings.Contains(r.body, `href="/dnc" aria-current="page">DNC</a>`) {
		t.Fatalf("marketing's DNC page: %d %s", r.status, r.body)
	}
	if strings.Contains(sales.do("GET", "/", nil).body, `href="/dnc"`) {
		t.Error("sales sees the DNC link")
	}

	// A post from another site changes nothing.
	if r := mkt.do("POST", "/dnc", url.Values{"phone": {phone}}, "Sec-Fetch-Site", "cross-site"); r.status != http.StatusForbidden || s.onDNC(t, phone) {
		t.Fatalf("cross-site add: %d", r.status)
	}

	// Add, written the American way (US by default): back to the page
	// with a message.
	r = mkt.do("POST", "/dnc", url.Values{"phone": {"(212) 555-0123"}, "reason": {"asked twice"}})
	if r.status != http.StatusSeeOther || r.location != "/dnc" {
		t.Fatalf("add: %d → %q %s", r.status, r.location, r.body)
	}
	if src, reason, actor := s.dncRow(t, phone); src != store.DNCManual || reason != "asked twice" || actor != mktActor {
		t.Errorf("stored: %s %q %s", src, reason, actor)
	}
	r = mkt.do("GET", "/dnc", nil)
	if !strings.Contains(r.body, esc(phone)+" is now on the do-not-call list.") || !strings.Contains(r.body, `data-phone="`+esc(phone)+`"`) {
		t.Errorf("after add: %s", r.body)
	}
	// Again, with htmx: the page's body, saying so.
	r = mkt.do("POST", "/dnc", url.Values{"phone": {"+1 212 555 0123"}}, "HX-Request", "true")
	if r.status != 200 || !strings.Contains(r.body, esc(phone)+" is already on the do-not-call list.") || strings.Contains(r.body, "<html") {
		t.Errorf("add again: %d %s", r.status, r.body)
	}
	// A number in another country, given by its code.
	if r := mkt.do("POST", "/dnc", url.Values{"phone": {"030 901820"}, "country": {"de"}}, "HX-Request", "true"); r.status != http.StatusCreated ||
		!s.onDNC(t, "+4930901820") {
		t.Errorf("German number: %d %s", r.status, r.body)
	}

	// Bad input: 422 with the message on the page, nothing stored.
	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"phone": {"12"}}, "Not a number we can call or block"},
		{url.Values{"phone": {"911"}}, "emergency"},
		{url.Values{"phone": {""}}, "Give a phone number."},
		{url.Values{"phone": {"2125550199"}, "country": {"ZZ"}}, "is not a country"},
		{url.Values{"phone": {"2125550199"}, "reason": {"two\nlines"}}, "The reason"},
		{url.Values{"phone": {"2125550199"}, "reason": {strings.Repeat("x", 501)}}, "The reason"},
	} {
		for _, hx := range []string{"", "true"} {
			r := mkt.do("POST", "/dnc", tc.form, "HX-Request", hx)
			if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, tc.want) || !strings.Contains(r.body, `role="alert"`) {
				t.Errorf("add %v (htmx %q): %d, want %q in %s", tc.form, hx, r.status, tc.want, r.body)
			}
		}
	}
	if s.onDNC(t, "+12125550199") {
		t.Error("a refused number was added")
	}

	// Search, in any format.
	r = mkt.do("GET", "/dnc?phone="+url.QueryEscape("212.555.0123"), nil)
	if r.status != 200 || !strings.Contains(r.body, "<strong>&#43;12125550123</strong> is <strong>on</strong>") ||
		!strings.Contains(r.body, "asked twice") || !strings.Contains(r.body, "by mkt@example.com") || !strings.Contains(r.body, "<dd>manual</dd>") {
		t.Errorf("search a listed number: %d %s", r.status, r.body)
	}
	if r := mkt.do("GET", "/dnc?phone=%2B12125550124", nil); r.status != 200 || !strings.Contains(r.body, "is <strong>not</strong> on") {
		t.Errorf("search another number: %d %s", r.status, r.body)
	}
	if r := mkt.do("GET", "/dnc?phone=abc", nil); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `id="search-error"`) {
		t.Errorf("search a bad number: %d %s", r.status, r.body)
	}
	if r := mkt.do("GET", "/dnc?after=nonsense", nil); r.status != http.StatusBadRequest {
		t.Errorf("bad cursor: %d", r.status)
	}

	// Only admins remove; marketing is refused and the number stays.
	if r := mkt.do("POST", "/dnc/remove", url.Values{"phone": {phone}}); r.status != http.StatusForbidden || !s.onDNC(t, phone) {
		t.Fatalf("marketing removes: %d", r.status)
	}
	if r := admin.do("POST", "/dnc/remove", url.Values{"phone": {phone}}, "Sec-Fetch-Site", "cross-site"); r.status != http.StatusForbidden || !s.onDNC(t, phone) {
		t.Fatalf("cross-site remove: %d", r.status)
	}
	r = admin.do("GET", "/dnc", nil)
	if !strings.Contains(r.body, `hx-confirm="Take `+esc(phone)+` off the do-not-call list?`) || !strings.Contains(r.body, `class="remove" aria-label="Remove `+esc(phone)+`"`) {
		t.Errorf("admin has no remove button: %s", r.body)
	}
	r = admin.do("POST", "/dnc/remove", url.Values{"phone": {phone}}, "HX-Request", "true")
	if r.status != 200 || !strings.Contains(r.body, esc(phone)+" is off the do-not-call list") || strings.Contains(r.body, `data-phone="`+esc(phone)+`"`) {
		t.Fatalf("remove: %d %s", r.status, r.body)
	}
	if s.onDNC(t, phone) {
		t.Fatal("still on the list")
	}
	var actor string
	if err := s.st.Pool().QueryRow(context.Background(), `SELECT actor FROM dnc_changes WHERE phone = $1 AND action = 'removed'`, phone).Scan(&actor); err != nil || actor != adminActor {
		t.Errorf("removal recorded by %q (%v), want %s", actor, err, adminActor)
	}
	// Again, without JavaScript: the page says it is not on the list.
	if r := admin.do("POST", "/dnc/remove", url.Values{"phone": {phone}}); r.location != "/dnc" {
		t.Errorf("remove again: %d → %q", r.status, r.location)
	}
	if r := admin.do("GET", "/dnc", nil); !strings.Contains(r.body, "is not on the do-not-call list") {
		t.Errorf("after removing again: %s", r.body)
	}
	if r := admin.do("POST", "/dnc/remove", url.Values{"phone": {"not a number"}}, "HX-Request", "true"); r.status != http.StatusUnprocessableEntity {
		t.Errorf("remove a bad number: %d", r.status)
	}
}

func TestDNCUpload(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	mkt := s.user(t, store.RoleMarketing, "mkt@example.com")
	mktActor := fmt.Sprintf("user:%d", s.userID(t, "mkt@example.com"))
	if r := mkt.do("POST", "/dnc", url.Values{"phone": {"+12125550123"}}); r.status != http.StatusSeeOther {
		t.Fatal(r.status)
	}
	// A CSV with a phone column: added, already listed, repeated, rejected.
	file := "name,Phone\nAnn,212 555 0130\nBob,12\nCarl,+1 212 555 0131\nDup,2125550130\nEve,+12125550123\nFay,\n"
	r := mkt.upload("/dnc/upload", file, "reason", "complaint")
	if r.status != 200 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	for _, want := range []string{`data-k="added">2<`, `data-k="listed">1<`, `data-k="duplicates">1<`, `data-k="rejected">2<`,
		`<td class="num">3</td><td>12</td>`, `<td class="num">7</td>`, "Upload: 6 rows"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("upload report lacks %s: %s", want, r.body)
		}
	}
	for _, p := range []string{"+12125550130", "+12125550131"} {
		if src, reason, actor := s.dncRow(t, p); src != store.DNCImport || reason != "complaint" || actor != mktActor {
			t.Errorf("%s stored as %s %q %s", p, src, reason, actor)
		}
	}
	// One number a line, no header.
	r = mkt.upload("/dnc/upload", "2125550140\r\n+1 212 555 0141\n\n", "country", "US")
	if r.status != 200 || !strings.Contains(r.body, `data-k="added">2<`) || !s.onDNC(t, "+12125550140") || !s.onDNC(t, "+12125550141") {
		t.Errorf("one a line: %d %s", r.status, r.body)
	}

	// Whole files refused: 4xx with the message, nothing added.
	for _, tc := range []struct {
		content string
		status  int
		want    string
	}{
		{"name,email\nAnn,ann@example.com\n", http.StatusUnprocessableEntity, "no phone column"},
		{"", http.StatusUnprocessableEntity, "could not be read"},
		{strings.Repeat("2125550150\n", 100_001), http.StatusUnprocessableEntity, "more than 100000 numbers"},
		{"phone\n" + strings.Repeat("2125550150", 550_000), http.StatusRequestEntityTooLarge, "larger than 5 MB"},
	} {
		r := mkt.upload("/dnc/upload", tc.content)
		if r.status != tc.status || !strings.Contains(r.body, tc.want) || !strings.Contains(r.body, `id="upload-error"`) {
			t.Errorf("upload %.20q: %d, want %d %q", tc.content, r.status, tc.status, tc.want)
		}
	}
	if s.onDNC(t, "+12125550150") {
		t.Error("a refused file added numbers")
	}
	if r := mkt.upload("/dnc/upload", "2125550160\n", "country", "XX"); r.status != http.StatusUnprocessableEntity || s.onDNC(t, "+12125550160") {
		t.Errorf("bad country: %d", r.status)
	}
	if r := mkt.do("POST", "/dnc/upload", url.Values{}); r.status != http.StatusBadRequest {
		t.Errorf("not multipart: %d", r.status)
	}
}

func TestDNCPagesAndExport(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	mkt := s.user(t, store.RoleMarketing, "mkt@example.com")
	var file strings.Builder
	for i := range 520 {
		fmt.Fprintf(&file, "+1415555%04d\n", 2000+i)
	}
	r := mkt.upload("/dnc/upload", file.String())
	if !strings.Contains(r.body, `data-k="added">520<`) {
		t.Fatalf("upload 520: %d %s", r.status, r.body)
	}
	if r := mkt.do("POST", "/dnc", url.Values{"phone": {"+12125550123"}, "reason": {"=HYPERLINK(\"http://evil.example\")"}}); r.status != http.StatusSeeOther {
		t.Fatal(r.status)
	}

	// The list: 50 a page, with a link to the next.
	seen := map[string]bool{}
	rowRe := regexp.MustCompile(`data-phone="&#43;([0-9]+)"`)
	nextRe := regexp.MustCompile(`href="/dnc\?after=([A-Za-z0-9_-]+)" rel="next"`)
	path, pages := "/dnc", 0
	for path != "" {
		r := mkt.do("GET", path, nil)
		rows := rowRe.FindAllStringSubmatch(r.body, -1)
		if r.status != 200 || len(rows) == 0 || len(rows) > 50 {
			t.Fatalf("%s: %d, %d rows", path, r.status, len(rows))
		}
		for _, m := range rows {
			if seen[m[1]] {
				t.Fatalf("%s twice", m[1])
			}
			seen[m[1]] = true
		}
		path = ""
		if m := nextRe.FindStringSubmatch(r.body); m != nil {
			path = "/dnc?after=" + m[1]
		}
		pages++
	}
	if len(seen) != 521 || pages != 11 {
		t.Errorf("paged through %d numbers in %d pages", len(seen), pages)
	}

	// The export: every number once, formulas neutralised, numbers intact.
	r = mkt.do("GET", "/dnc/export.csv", nil)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") || !strings.Contains(r.header.Get("Content-Disposition"), "dnc.csv") {
		t.Fatalf("export: %d %v", r.status, r.header)
	}
	recs, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 522 || strings.Join(recs[0], ",") != "phone,source,reason,campaign_id,actor,created_at" {
		t.Fatalf("export: %d rows, header %v", len(recs), recs[0])
	}
	phones := map[string]bool{}
	for _, rec := range recs[1:] {
		phones[rec[0]] = true
		if rec[0] == "+12125550123" && rec[2] != `'=HYPERLINK("http://evil.example")` {
			t.Errorf("reason cell not neutralised: %q", rec[2])
		}
	}
	if len(phones) != 521 || !phones["+14155552000"] || !phones["+12125550123"] {
		t.Errorf("export has %d numbers", len(phones))
	}
}

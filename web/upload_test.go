package web_test

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/charmap"

	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/scripts"
	"github.com/qualdial/qualdial/store"
	"github.com/qualdial/qualdial/web"
)

// messyList is a call list as a German spreadsheet saves it: Windows-1252
// (Latin-1), semicolons, columns no alias knows. Row 4 repeats row 2, row
// 5 is on the DNC list, row 6 is in the campaign already, rows 7 to 9
// cannot be imported (no number, a formula, no time zone).
const messyList = "Handy;Vorname;Nachname;Zeitzone\r\n" +
	"(212) 555-0101;Jürgen;Müller;America/New_York\r\n" +
	"212-555-0102;Änne;Groß;America/Chicago\r\n" +
	"+1 212 555 0101;Jürgen;Müller;America/New_York\r\n" +
	"212 555 0108;Dora;Nein;America/New_York\r\n" +
	"212 555 0109;Bea;Schon;America/New_York\r\n" +
	"keine Nummer;Kurz;Falsch;America/New_York\r\n" +
	"=1+2;Evil;Formel;Europe/Berlin\r\n" +
	"(212) 555-0110;Ohne;Zone;Mars/Olympus\r\n"

// messyMapping maps messyList's columns, as the wizard's form posts it.
var messyMapping = url.Values{"col0": {"phone"}, "col1": {"first_name"}, "col2": {"last_name"}, "col3": {"time_zone"}}

func latin1(t testing.TB, s string) []byte {
	t.Helper()
	b, err := charmap.Windows1252.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// uploadCampaign makes a campaign with a lead and a number on the DNC list
// that messyList repeats.
func uploadCampaign(t testing.TB, s *site, name string) *store.Campaign {
	t.Helper()
	ctx := context.Background()
	c, err := s.st.CreateCampaign(ctx, store.CampaignParams{Name: name, ScriptID: "bant-en", CallerID: "+15550100"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.st.InsertLead(ctx, s.st.Pool(), store.LeadParams{CampaignID: c.ID, Phone: "+12125550109"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.AddDNC(ctx, s.st.Pool(), store.DNCEntry{Phone: "+12125550108", Source: "manual"}); err != nil {
		t.Fatal(err)
	}
	return c
}

// uploadBundle is a site with a campaign for uploads and a user logged in.
type uploadBundle struct {
	s    *site
	c    *store.Campaign
	b    *browser
	base string // the wizard's first step
}

func setupUpload(t *testing.T, role string) *uploadBundle {
	t.Helper()
	s := newSite(t)
	c := uploadCampaign(t, s, "messe")
	return &uploadBundle{s: s, c: c, b: s.user(t, role, "user@example.com"), base: fmt.Sprintf("/campaigns/%d/upload", c.ID)}
}

// holdLead writes a web-form lead of the campaign in a transaction left
// open: an import or dry run of a list with its number waits for it until
// release rolls it back (called at cleanup too).
func holdLead(t testing.TB, s *site, campaignID int64, phone string) (release func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.st.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	release = func() { _ = tx.Rollback(ctx) }
	t.Cleanup(release)
	if _, _, err := s.st.InsertLead(ctx, tx, store.LeadParams{CampaignID: campaignID, Phone: phone}); err != nil {
		t.Fatal(err)
	}
	return release
}

// sendList posts the wizard's first form: a charset and a file (none
// chosen when filename is "").
func (b *browser) sendList(path, charset, filename string, content []byte, header ...string) reply {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("charset", charset)
	fw, _ := mw.CreateFormFile("file", filename)
	_, _ = fw.Write(content)
	_ = mw.Close()
	req, _ := http.NewRequest("POST", b.site.srv.URL+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.send(req, header...)
}

// waitDryRun polls an upload's dry run until its report (or failure)
// shows.
func (b *browser) waitDryRun(path string) reply {
	b.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r := b.do("GET", path+"/report", nil, "HX-Request", "true")
		if strings.Contains(r.body, `id="dry"`) {
			return r
		}
		if r.status != http.StatusOK || !strings.Contains(r.body, `id="dry-progress"`) || time.Now().After(deadline) {
			b.t.Fatalf("dry run of %s: %d %s", path, r.status, r.body)
		}
	}
}

// waitImport polls an import's progress until its result shows.
func (b *browser) waitImport(path string) reply {
	b.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r := b.do("GET", path+"/progress", nil, "HX-Request", "true")
		if strings.Contains(r.body, `id="result"`) {
			return r
		}
		if r.status != http.StatusOK || !strings.Contains(r.body, `hx-trigger="every 1s"`) || time.Now().After(deadline) {
			b.t.Fatalf("progress of %s: %d %s", path, r.status, r.body)
		}
	}
}

// card reads a report card's number.
func card(body, id string) string {
	m := regexp.MustCompile(`id="` + id + `">([0-9]+)<`).FindStringSubmatch(body)
	if m == nil {
		return "none"
	}
	return m[1]
}

// cards reads the report's cards: rows, accepted, in file, in campaign,
// DNC, rejected, without consent.
func cards(body string) string {
	var out []string
	for _, id := range []string{"n-total", "n-accepted", "n-dup-file", "n-dup-campaign", "n-dnc", "n-rejected", "n-no-consent"} {
		out = append(out, card(body, id))
	}
	return strings.Join(out, " ")
}

// TestUploadWizard: a messy list through every step: the file, the
// mapping (first rows shown, charset and delimiter detected, errors
// beside the columns), the dry run's report, the import with its progress
// and the same report, and the rejected rows as formula-safe CSV.
func TestUploadWizard(t *testing.T) {
	t.Parallel()
	u := setupUpload(t, store.RoleMarketing)
	s, c, b, base := u.s, u.c, u.b, u.base
	ctx := context.Background()

	if r := b.do("GET", fmt.Sprintf("/campaigns/%d", c.ID), nil); !strings.Contains(r.body, `href="`+base+`"`) {
		t.Errorf("the campaign page does not link to the wizard")
	}
	r := b.do("GET", base, nil)
	if r.status != 200 || !strings.Contains(r.body, `name="file" type="file"`) || !strings.Contains(r.body, `accept=".csv,.txt`) ||
		!strings.Contains(r.body, `<option value="windows-1252">windows-1252</option>`) || !strings.Contains(r.body, `aria-current="step">File`) {
		t.Fatalf("step 1: %d %s", r.status, r.body)
	}
	// Every charset offered is one the import reads.
	for _, m := range regexp.MustCompile(`<option value="([^"]*)">`).FindAllStringSubmatch(r.body, -1) {
		if r := b.sendList(base, m[1], "a.csv", []byte("\ufeffphone\n+12125550101\n")); r.status != http.StatusSeeOther {
			t.Errorf("charset %s: %d %s", m[1], r.status, r.body)
		}
	}
	r = b.sendList(base, "auto", "messe.csv", latin1(t, messyList))
	if r.status != http.StatusSeeOther || !regexp.MustCompile(`^`+base+`/[0-9a-f]{32}$`).MatchString(r.location) {
		t.Fatalf("upload: %d → %q %s", r.status, r.location, r.body)
	}
	mapping := r.location
	r = b.do("GET", mapping, nil)
	for _, want := range []string{`<strong id="file-charset">windows-1252</strong> <span class="hint">(detected)</span>`,
		`<strong id="file-delimiter">semicolon</strong>`, `<label for="col0">Handy</label>`, `<td>Jürgen</td><td>Müller</td>`,
		`<td>Änne</td><td>Groß</td>`, `<th scope="row">6</th>`, `<option value="" selected>keep as attribute</option>`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("mapping step lacks %s", want)
		}
	}
	if strings.Contains(r.body, `<th scope="row">7</th>`) {
		t.Error("the mapping step shows more than 5 rows")
	}
	// No phone column; a field chosen twice; a value not offered.
	r = b.do("POST", mapping, url.Values{"col0": {""}, "col1": {"first_name"}, "col2": {"first_name"}, "col3": {"<b>tz</b>"}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "No column is mapped to phone") ||
		!strings.Contains(r.body, `<p class="error" id="col1-error">first_name is chosen for 2 columns (Vorname, Nachname)`) ||
		!strings.Contains(r.body, `&#34;&lt;b&gt;tz&lt;/b&gt;&#34; is not a lead field`) {
		t.Errorf("bad mapping: %d %s", r.status, r.body)
	}
	// The dry run runs in the background: while a web-form lead with a
	// number of the list is being written, it waits, and the page shows
	// its progress, polling.
	release := holdLead(t, s, c.ID, "+12125550102")
	r = b.do("POST", mapping, messyMapping)
	if r.status != http.StatusSeeOther || r.location != mapping+"/report" {
		t.Fatalf("mapping: %d → %q %s", r.status, r.location, r.body)
	}
	r = b.do("GET", mapping+"/report", nil)
	if !strings.Contains(r.body, `<section id="checking" hx-get="`+mapping+`/report" hx-trigger="every 1s"`) || !strings.Contains(r.body, `id="dry-progress" max="8"`) {
		t.Errorf("the dry run's progress: %d %s", r.status, r.body)
	}
	release()
	r = b.waitDryRun(mapping)
	const want = "8 2 1 1 1 3 2"
	if got := cards(r.body); r.status != 200 || got != want {
		t.Fatalf("dry run: %d cards %s, want %s\n%s", r.status, got, want, r.body)
	}
	if r := b.do("GET", mapping+"/report", nil); cards(r.body) != want || !strings.Contains(r.body, `aria-current="step">Dry run`) {
		t.Errorf("the dry run's page: %d %s", r.status, r.body)
	}
	for _, want := range []string{`<th scope="row">duplicate of row …</th><td class="num">1</td>`, "Import 2 leads",
		`<td class="raw">=1&#43;2;Evil;Formel;Europe/Berlin</td>`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the dry run's report lacks %s", want)
		}
	}
	var leads int
	count := func() int {
		if err := s.st.Pool().QueryRow(ctx, `SELECT count(*) FROM leads WHERE campaign_id = $1`, c.ID).Scan(&leads); err != nil {
			t.Fatal(err)
		}
		return leads
	}
	if n := count(); n != 1 {
		t.Fatalf("the dry run kept leads: %d", n)
	}

	r = b.do("POST", mapping+"/import", url.Values{})
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, fmt.Sprintf("/campaigns/%d/uploaded/", c.ID)) {
		t.Fatalf("import: %d → %q %s", r.status, r.location, r.body)
	}
	done := r.location
	if again := b.do("POST", mapping+"/import", url.Values{}); again.location != base {
		t.Errorf("a second click: %d → %q", again.status, again.location)
	}
	b.waitImport(done)
	r = b.do("GET", done, nil)
	if got := cards(r.body); got != want || !strings.Contains(r.body, "rejects.csv") {
		t.Errorf("import: cards %s, want %s\n%s", got, want, r.body)
	}
	if n := count(); n != 3 {
		t.Errorf("%d leads in the campaign, want 3", n)
	}
	r = b.do("GET", done+"/rejects.csv", nil)
	if r.status != 200 || r.header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		!strings.Contains(r.body, "8,") || !strings.Contains(r.body, `'=1+2;Evil;Formel;Europe/Berlin`) ||
		!strings.Contains(r.body, "4,duplicate of row 2,") || strings.Count(r.body, "\n") != 7 {
		t.Errorf("rejects.csv: %d %q", r.status, r.body)
	}
	// The upload is gone once imported.
	if r := b.do("GET", mapping, nil); r.status != http.StatusSeeOther || r.location != base {
		t.Errorf("the upload after its import: %d → %q", r.status, r.location)
	}
}

// TestUploadAutoMapping: columns named like lead fields are mapped
// without asking, a second phone column is an error beside it, and a
// column may be kept as an attribute or ignored.
func TestUploadAutoMapping(t *testing.T) {
	t.Parallel()
	u := setupUpload(t, store.RoleAdmin)
	s, b, base := u.s, u.b, u.base
	r := b.sendList(base, "utf-8", "auto.csv", []byte("phone,First Name,tz,State,consent,mobile,note\n+12125550150,Ann,America/New_York,NY,yes,+12125550151,x\n"))
	if r.status != http.StatusSeeOther {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	mapping := r.location
	r = b.do("GET", mapping, nil)
	for i, field := range []string{"phone", "first_name", "time_zone", "region", "consent_text", "phone", ""} {
		re := regexp.MustCompile(`(?s)id="col` + fmt.Sprint(i) + `".*?<option(?: value="[^"]*")? selected>([^<]*)<`)
		m := re.FindStringSubmatch(r.body)
		want := field
		if field == "" {
			want = "keep as attribute"
		}
		if m == nil || m[1] != want {
			t.Errorf("column %d auto-mapped to %v, want %s", i, m, want)
		}
	}
	// Saving the automatic choices: phone twice.
	auto := url.Values{"col0": {"phone"}, "col1": {"first_name"}, "col2": {"time_zone"}, "col3": {"region"}, "col4": {"consent_text"},
		"col5": {"phone"}, "col6": {""}}
	r = b.do("POST", mapping, auto)
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `id="col5-error">phone is chosen for 2 columns (phone, mobile)`) {
		t.Errorf("phone twice: %d %s", r.status, r.body)
	}
	auto.Set("col5", "")
	auto.Set("col6", "-")
	if r := b.do("POST", mapping, auto); r.status != http.StatusSeeOther {
		t.Fatalf("mapping: %d %s", r.status, r.body)
	}
	r = b.do("POST", mapping+"/import", url.Values{})
	if r.status != http.StatusSeeOther {
		t.Fatalf("import: %d %s", r.status, r.body)
	}
	b.waitImport(r.location)
	var attrs, region, consent string
	if err := s.st.Pool().QueryRow(context.Background(), `SELECT attributes::text, region, consent_text FROM leads WHERE phone = '+12125550150'`).Scan(
		&attrs, &region, &consent); err != nil {
		t.Fatal(err)
	}
	if attrs != `{"column_mobile": "+12125550151"}` || region != "NY" || consent != "yes" {
		t.Errorf("lead: attributes %s, region %s, consent %s", attrs, region, consent)
	}
}

// TestUploadRefusals: no file, an unknown charset, a header-only or
// empty file, a finished campaign, another user's upload, a sales user
// and a cross-origin post are all refused.
func TestUploadRefusals(t *testing.T) {
	t.Parallel()
	u := setupUpload(t, store.RoleMarketing)
	s, c, b, base := u.s, u.c, u.b, u.base
	ctx := context.Background()
	for _, tc := range []struct {
		name, charset, filename, content string
		status                           int
		want                             string
	}{
		{"no file", "auto", "", "", http.StatusUnprocessableEntity, "Choose a CSV file to upload."},
		{"empty file", "auto", "empty.csv", "", http.StatusUnprocessableEntity, "Choose a CSV file to upload."},
		{"unknown charset", "ebcdic", "a.csv", "phone\n+12125550101\n", http.StatusUnprocessableEntity, "ebcdic"},
		{"not a list", "auto", "a.csv", "\n\n", http.StatusUnprocessableEntity, "The file cannot be read as a call list"},
	} {
		r := b.sendList(base, tc.charset, tc.filename, []byte(tc.content))
		if r.status != tc.status || !strings.Contains(r.body, tc.want) || !strings.Contains(r.body, `id="upload-error"`) {
			t.Errorf("%s: %d %s", tc.name, r.status, r.body)
		}
	}
	// No phone column in the file: the mapping step says so.
	r := b.sendList(base, "auto", "names.csv", []byte("name,city\nAnn,Berlin\n"))
	if r.status != http.StatusSeeOther {
		t.Fatalf("names: %d %s", r.status, r.body)
	}
	mapping := r.location
	if r := b.do("POST", mapping, url.Values{"col0": {"full_name"}, "col1": {""}}); r.status != http.StatusUnprocessableEntity ||
		!strings.Contains(r.body, "No column is mapped to phone") {
		t.Errorf("no phone column: %d %s", r.status, r.body)
	}
	// The report before a mapping goes back to the mapping.
	if r := b.do("GET", mapping+"/report", nil); r.location != mapping {
		t.Errorf("report before the mapping: %d → %q", r.status, r.location)
	}
	// Another user may not use the upload, nor guess a token.
	other := s.user(t, store.RoleMarketing, "other@example.com")
	for _, path := range []string{mapping, mapping + "/report", base + "/00112233445566778899aabbccddeeff"} {
		if r := other.do("GET", path, nil); r.status != http.StatusSeeOther || r.location != base {
			t.Errorf("another user's %s: %d → %q", path, r.status, r.location)
		}
	}
	if r := other.do("POST", mapping+"/import", url.Values{}); r.location != base {
		t.Errorf("another user's import: %d → %q", r.status, r.location)
	}
	// A sales user is refused; a cross-origin post is refused.
	sales := s.user(t, store.RoleSales, "rep@example.com")
	if r := sales.do("GET", base, nil); r.status != http.StatusForbidden {
		t.Errorf("sales: %d", r.status)
	}
	if r := sales.sendList(base, "auto", "a.csv", []byte("phone\n+12125550101\n")); r.status != http.StatusForbidden {
		t.Errorf("sales upload: %d", r.status)
	}
	if r := b.sendList(base, "auto", "a.csv", []byte("phone\n+12125550101\n"), "Sec-Fetch-Site", "cross-site"); r.status != http.StatusForbidden ||
		!strings.Contains(r.body, "cross-origin") {
		t.Errorf("cross-origin upload: %d %s", r.status, r.body)
	}
	if r := b.do("POST", mapping, url.Values{"col0": {"phone"}}, "Sec-Fetch-Site", "cross-site"); r.status != http.StatusForbidden {
		t.Errorf("cross-origin mapping: %d", r.status)
	}
	// An unknown campaign, an import of another campaign.
	if r := b.do("GET", "/campaigns/999999/upload", nil); r.status != http.StatusNotFound {
		t.Errorf("unknown campaign: %d", r.status)
	}
	// A finished campaign takes no upload, and its page offers none.
	src, _ := scripts.Read("bant-en")
	if err := s.st.StartCampaign(ctx, c.ID, ivr.MustParse("bant-en.yaml", src), src); err != nil {
		t.Fatal(err)
	}
	if err := s.st.MoveCampaign(ctx, c.ID, store.CampaignFinished, []store.CampaignStatus{store.CampaignActive}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if r := b.do("GET", base, nil); r.status != http.StatusConflict || !strings.Contains(r.body, "is finished: it takes no new leads") ||
		strings.Contains(r.body, `type="file"`) {
		t.Errorf("finished: %d %s", r.status, r.body)
	}
	if r := b.sendList(base, "auto", "a.csv", []byte("phone\n+12125550101\n")); r.status != http.StatusConflict {
		t.Errorf("finished upload: %d", r.status)
	}
	if r := b.do("POST", mapping, url.Values{"col0": {"phone"}}); r.status != http.StatusConflict {
		t.Errorf("finished mapping: %d", r.status)
	}
	if r := b.do("GET", fmt.Sprintf("/campaigns/%d", c.ID), nil); strings.Contains(r.body, `id="upload-link"`) {
		t.Error("a finished campaign's page links to the upload")
	}
}

// TestUploadImportStopsOnClose: an import still running when the UI
// closes ends failed, saying why, with nothing of it kept; its page says
// so.
func TestUploadImportStopsOnClose(t *testing.T) {
	t.Parallel()
	u := setupUpload(t, store.RoleMarketing)
	s, c, b, base := u.s, u.c, u.b, u.base
	ctx := context.Background()
	r := b.sendList(base, "", "list.csv", []byte("phone\n+12125550101\n+12125550102\n"))
	mapping := r.location
	if r := b.do("POST", mapping, url.Values{"col0": {"phone"}}); r.status != http.StatusSeeOther {
		t.Fatalf("mapping: %d %s", r.status, r.body)
	}
	b.waitDryRun(mapping)
	// A lead being written with a number of the list holds the import.
	release := holdLead(t, s, c.ID, "+12125550102")
	r = b.do("POST", mapping+"/import", url.Values{})
	if r.status != http.StatusSeeOther {
		t.Fatalf("import: %d %s", r.status, r.body)
	}
	done := r.location
	if p := b.do("GET", done, nil); !strings.Contains(p.body, `id="import-progress"`) {
		t.Fatalf("no progress while the import waits: %s", p.body)
	}
	s.ui.Close()
	release()
	r = b.do("GET", done, nil)
	if !strings.Contains(r.body, "failed") || !strings.Contains(r.body, "the server shut down before the import finished") {
		t.Errorf("after Close: %s", r.body)
	}
	var n int
	if err := s.st.Pool().QueryRow(ctx, `SELECT count(*) FROM leads WHERE campaign_id = $1`, c.ID).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d leads after the stopped import (%v), want the 1 there before", n, err)
	}
}

// TestUploadTooLarge: a file over MaxUpload is refused.
func TestUploadTooLarge(t *testing.T) {
	t.Parallel()
	s := newSite(t, func(c *web.Config) { c.MaxUpload = 1 << 10 })
	c := uploadCampaign(t, s, "small")
	b := s.user(t, store.RoleMarketing, "mkt@example.com")
	big := "phone\n" + strings.Repeat("+12125550101\n", 200)
	r := b.sendList(fmt.Sprintf("/campaigns/%d/upload", c.ID), "", "big.csv", []byte(big))
	if r.status != http.StatusRequestEntityTooLarge || !strings.Contains(r.body, "The file is larger than 1 KB") {
		t.Errorf("too large: %d %s", r.status, r.body)
	}
	if r := b.sendList(fmt.Sprintf("/campaigns/%d/upload", c.ID), "", "small.csv", []byte(big[:1<<10])); r.status != http.StatusSeeOther {
		t.Errorf("1 KB: %d %s", r.status, r.body)
	}
}

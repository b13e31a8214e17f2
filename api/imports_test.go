package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/qualdial/qualdial/api"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

// TestImportAccountsForEveryRow: rows that cannot be read (NUL, bytes
// invalid in the charset, over-long, a quote never closed) are rejected
// with reasons; a repeated external_id — within the file or against the
// campaign — is a duplicate (it used to vanish); warnings, the charset and
// the accepted leads without consent are in the report; and every row is
// counted: accepted + duplicates + on_dnc + rejected = total.
func TestImportAccountsForEveryRow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cid := b.campaign(t, "acct", map[string]any{"require_consent": true})
	if res := b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json",
		strings.NewReader(`{"campaign": "acct", "phone": "+12125550150", "external_id": "crm-9"}`)); res.status != 202 {
		t.Fatalf("seed: %d %s", res.status, res.body)
	}
	if res := b.do(t, "POST", "/v1/dnc", store.RoleMarketing, "application/json", strings.NewReader(`{"phone": "+12125550108"}`)); res.status != 201 {
		t.Fatalf("dnc: %d %s", res.status, res.body)
	}
	file := "phone,first_name,external_id,consent_source,consent_at\n" + // line 1
		"+12125550101,Ann,crm-1,web,2026-01-01T00:00:00Z\n" + // 2: accepted, with consent
		"+12125550102,Bob,crm-1,,\n" + // 3: duplicate of row 2 (external_id)
		"+12125550103,Cy,crm-9,,\n" + // 4: already in the campaign (external_id)
		"+1 212 555 0104 x12,Di,crm-4,,\n" + // 5: accepted with a warning, without consent
		"+12125550105,E\x00ve,crm-5,,\n" + // 6: NUL
		"+12125550106,Fr\xffed,crm-6,,\n" + // 7: invalid UTF-8
		"+12125550108,Hal,crm-8,,\n" + // 8: on the DNC list
		"+12125550109,Ivy,crm-10,,\n" + // 9: duplicate of row 2 by phone? no: accepted, without consent
		"+12125550101,Jo,crm-11,,\n" + // 10: duplicate of row 2 (phone)
		"+12125550110," + strings.Repeat("L", 70<<10) + ",crm-12,,\n" + // 11: over-long row
		"+12125550111,\"Kim,crm-13,,\n" // 12: a quote never closed
	res := b.do(t, "POST", path("/v1/campaigns/%d/imports?charset=utf-8&filename=list.csv", cid), store.RoleMarketing, "text/csv", strings.NewReader(file))
	if res.status != 201 {
		t.Fatalf("import: %d %s", res.status, res.body)
	}
	imp := res.json(t)
	want := map[string]any{"total_rows": 11.0, "accepted": 3.0, "duplicates": 3.0, "on_dnc": 1.0, "rejected": 4.0, "warnings": 1.0,
		"without_consent": 2.0, "charset": "utf-8", "charset_source": "given", "filename": "list.csv"}
	for k, v := range want {
		if imp[k] != v {
			t.Errorf("%s = %v, want %v", k, imp[k], v)
		}
	}
	if imp["accepted"].(float64)+imp["duplicates"].(float64)+imp["on_dnc"].(float64)+imp["rejected"].(float64) != imp["total_rows"].(float64) {
		t.Errorf("rows unaccounted for: %s", res.body)
	}
	samples := imp["warning_samples"].([]any)
	if len(samples) != 1 || samples[0].(map[string]any)["row"] != 5.0 || !strings.Contains(samples[0].(map[string]any)["message"].(string), "extension") {
		t.Errorf("warning samples %v", samples)
	}
	res = b.do(t, "GET", path("/v1/campaigns/%d/imports/%v/rejects.csv", cid, imp["id"]), store.RoleMarketing, "", nil)
	rows, err := csv.NewReader(bytes.NewReader(res.body)).ReadAll()
	if err != nil {
		t.Fatalf("rejects: %v\n%s", err, res.body)
	}
	got := map[string]string{}
	for _, r := range rows[1:] {
		got[r[0]] = r[1]
	}
	for row, reason := range map[string]string{"3": "duplicate of row 2 (the same external_id)", "4": "already in the campaign (the same external_id)",
		"6": "NUL", "7": "invalid UTF-8", "8": "do-not-call", "10": "duplicate of row 2", "11": "longer than", "12": "never closed"} {
		if !strings.Contains(got[row], reason) {
			t.Errorf("row %s: reason %q, want %q", row, got[row], reason)
		}
	}
	if len(rows)-1 != 8 {
		t.Errorf("%d rows in rejects.csv, want 8 (duplicates, DNC and rejects): %v", len(rows)-1, got)
	}
	// The extension was kept.
	var ext string
	b.st.Pool().QueryRow(context.Background(), `SELECT attributes->>'phone_extension' FROM leads WHERE phone = '+12125550104'`).Scan(&ext)
	if ext != "12" {
		t.Errorf("phone_extension %q", ext)
	}
	// A detected charset says so.
	res = b.do(t, "POST", path("/v1/campaigns/%d/imports", cid), store.RoleMarketing, "text/csv", strings.NewReader("phone,name\n+12125550120,Ren\xe9\n"))
	if imp := res.json(t); imp["charset"] != "windows-1252" || imp["charset_source"] != "detected" || imp["accepted"] != 1.0 {
		t.Errorf("detected charset: %s", res.body)
	}
}

// TestImportMapping: a mapping may name any alias of a field (Handy:mobile
// is a phone column), must name fields that exist and columns the file has.
func TestImportMapping(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cid := b.campaign(t, "mapped", nil)
	file := "Handy,Vorname\n+12125550101,Ann\n"
	res := b.do(t, "POST", path("/v1/campaigns/%d/imports?mapping=Handy:mobile,Vorname:first_name", cid), store.RoleMarketing, "text/csv", strings.NewReader(file))
	if res.status != 201 || res.json(t)["accepted"] != 1.0 {
		t.Errorf("Handy:mobile: %d %s", res.status, res.body)
	}
	for _, tc := range []struct{ mapping, field, words string }{
		{"Handy:telefono", "mapping", "not a lead field"},
		{"Fax:phone", "mapping", "has no column"},
		{"Handy", "mapping", "column:field"},
		{"Handy:phone,Handy:email", "mapping", "twice"},
		{"", "file", "no phone column"},
	} {
		res := b.do(t, "POST", path("/v1/campaigns/%d/imports?mapping=%s", cid, tc.mapping), store.RoleMarketing, "text/csv", strings.NewReader(file))
		problem(t, "mapping "+tc.mapping, res, 422, tc.field, tc.words)
	}
	problem(t, "charset", b.do(t, "POST", path("/v1/campaigns/%d/imports?charset=ebcdic", cid), store.RoleMarketing, "text/csv", strings.NewReader(file)),
		422, "charset", "not supported")
}

// TestIntakeWarnings: what a web-form lead was accepted despite is in the
// answer.
func TestIntakeWarnings(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.campaign(t, "warn", nil)
	res := b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json",
		strings.NewReader(`{"campaign": "warn", "phone": "+1 212 555 0160 ext. 12", "mobile": "+12125550161"}`))
	if res.status != 202 {
		t.Fatalf("%d %s", res.status, res.body)
	}
	ws := fmt.Sprint(res.json(t)["warnings"])
	for _, w := range []string{"extension", "two phone numbers"} {
		if !strings.Contains(ws, w) {
			t.Errorf("warnings %s, want %q", ws, w)
		}
	}
}

// slowBody sends start, then says it waits and waits for release before
// ending.
type slowBody struct {
	start   []byte
	waiting chan<- struct{}
	release chan struct{}
	once    sync.Once
}

func (s *slowBody) Read(p []byte) (int, error) {
	if len(s.start) > 0 {
		n := copy(p, s.start)
		s.start = s.start[n:]
		return n, nil
	}
	s.once.Do(func() { s.waiting <- struct{}{} })
	<-s.release
	return 0, io.EOF
}

// TestSlowUploadsHoldNoConnection: an upload is spooled to a temporary
// file before the import touches the database, so uploads that trickle in
// cannot take the pool's connections from everybody else; the file is
// removed after. (Not parallel: it points TMPDIR at its own directory.)
func TestSlowUploadsHoldNoConnection(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 3
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	st := store.New(pool, store.Config{Now: fixture.Clock()})
	q, err := queue.New(st, queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Config{Store: st, Dialer: q, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	token, _, err := st.CreateAPIKey(ctx, store.RoleMarketing, "ops")
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.CreateCampaign(ctx, store.CampaignParams{Name: "slow", ScriptID: "bant-en", CallerID: "+15550100"})
	if err != nil {
		t.Fatal(err)
	}
	send := func(method, path string, body io.Reader) (*http.Response, error) {
		req, _ := http.NewRequest(method, srv.URL+path, body)
		req.Header.Set("Authorization", "Bearer "+token)
		// A given charset: the reader sniffs nothing ahead, so the rows
		// stream from the start.
		req.Header.Set("Content-Type", "text/csv; charset=utf-8")
		return http.DefaultClient.Do(req)
	}
	const rowsEach = 1500
	release := make(chan struct{})
	var once sync.Once
	releaseAll := func() { once.Do(func() { close(release) }) }
	defer releaseAll() // before the server closes: it waits for the uploads
	done := make(chan int, 4)
	waiting := make(chan struct{}, 4)
	for i := range 4 { // more uploads than the pool has connections
		go func() {
			// More than the reader looks ahead (16 KB), so that rows are
			// read while the rest is still to come.
			start := []byte("phone\n")
			for j := range rowsEach {
				start = fmt.Appendf(start, "+1%d555%04d\n", []int{212, 213, 312, 415}[i], 2000+j)
			}
			res, err := send("POST", fmt.Sprintf("/v1/campaigns/%d/imports", c.ID), &slowBody{start: start, waiting: waiting, release: release})
			if err != nil {
				done <- 0
				return
			}
			res.Body.Close()
			done <- res.StatusCode
		}()
	}
	// The uploads are under way, stalled mid-body: the API still answers
	// at once.
	for range 4 {
		select {
		case <-waiting:
		case <-time.After(10 * time.Second):
			t.Fatal("the uploads did not start")
		}
	}
	time.Sleep(time.Second) // the server has read what was sent
	qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(qctx, "GET", fmt.Sprintf("%s/v1/campaigns/%d", srv.URL, c.ID), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("the API stalled behind slow uploads: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("GET campaign: %d", res.StatusCode)
	}
	if files, _ := filepath.Glob(filepath.Join(tmp, "qualdial-upload-*")); len(files) != 4 {
		t.Errorf("%d uploads spooled, want 4", len(files))
	}
	releaseAll()
	for range 4 {
		if code := <-done; code != 201 {
			t.Errorf("upload: %d", code)
		}
	}
	if files, _ := filepath.Glob(filepath.Join(tmp, "qualdial-upload-*")); len(files) != 0 {
		t.Errorf("spool files left behind: %v", files)
	}
	var n int
	st.Pool().QueryRow(ctx, `SELECT count(*) FROM leads`).Scan(&n)
	if n != 4*rowsEach {
		t.Errorf("%d leads imported, want %d", n, 4*rowsEach)
	}
	_ = os.Remove(tmp)
}

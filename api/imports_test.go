package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
	res := b.importList(t, path("/v1/campaigns/%d/imports?charset=utf-8&filename=list.csv", cid), store.RoleMarketing, "text/csv", strings.NewReader(file))
	if res.status != 200 {
		t.Fatalf("import: %d %s", res.status, res.body)
	}
	imp := res.json(t)
	want := map[string]any{"total_rows": 11.0, "accepted": 3.0, "duplicates": 3.0, "duplicates_in_file": 2.0, "on_dnc": 1.0, "rejected": 4.0, "warnings": 1.0,
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
	res = b.importList(t, path("/v1/campaigns/%d/imports", cid), store.RoleMarketing, "text/csv", strings.NewReader("phone,name\n+12125550120,Ren\xe9\n"))
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
	res := b.importList(t, path("/v1/campaigns/%d/imports?mapping=Handy:mobile,Vorname:first_name", cid), store.RoleMarketing, "text/csv", strings.NewReader(file))
	if res.status != 200 || res.json(t)["accepted"] != 1.0 {
		t.Errorf("Handy:mobile: %d %s", res.status, res.body)
	}
	for _, tc := range []struct{ mapping, field, words string }{
		{"Handy:telefono", "mapping", "not a lead field"},
		{"Fax:phone", "mapping", "has no column"},
		{"Handy", "mapping", "column:field"},
		{"Handy:phone,Handy:email", "mapping", "twice"},
		{"", "file", "no phone column"},
	} {
		res := b.importList(t, path("/v1/campaigns/%d/imports?mapping=%s", cid, tc.mapping), store.RoleMarketing, "text/csv", strings.NewReader(file))
		problem(t, "mapping "+tc.mapping, res, 422, tc.field, tc.words)
	}
	problem(t, "charset", b.importList(t, path("/v1/campaigns/%d/imports?charset=ebcdic", cid), store.RoleMarketing, "text/csv", strings.NewReader(file)),
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

// importServer serves the API on st with a marketing key and a campaign;
// dialer, if set, wraps the queue.
func importServer(t *testing.T, st *store.Store, campaign string, dialer func(*queue.Queue) api.Dialer) (*api.Server, *httptest.Server, string, *store.Campaign) {
	t.Helper()
	ctx := context.Background()
	q, err := queue.New(st, queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var d api.Dialer = q
	if dialer != nil {
		d = dialer(q)
	}
	h, err := api.New(api.Config{Store: st, Dialer: d, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	token, _, err := st.CreateAPIKey(ctx, store.RoleMarketing, "ops")
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.CreateCampaign(ctx, store.CampaignParams{Name: campaign, ScriptID: "bant-en", CallerID: "+15550100"})
	if err != nil {
		t.Fatal(err)
	}
	return h, srv, token, c
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
// removed when its import ends. (Not parallel: it points TMPDIR at its own directory.)
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
	_, srv, token, c := importServer(t, st, "slow", nil)
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
	// The server has spooled what was sent: each upload has its file (on
	// a loaded machine the last may take a moment).
	spooled := func() int { files, _ := filepath.Glob(filepath.Join(tmp, "qualdial-upload-*")); return len(files) }
	for deadline := time.Now().Add(15 * time.Second); spooled() < 4 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
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
	if n := spooled(); n != 4 {
		t.Errorf("%d uploads spooled, want 4", n)
	}
	releaseAll()
	for range 4 {
		if code := <-done; code != http.StatusAccepted {
			t.Errorf("upload: %d", code)
		}
	}
	// The imports run in the background: each removes its file when it
	// has ended.
	var running int
	var files []string
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		st.Pool().QueryRow(ctx, `SELECT count(*) FROM imports WHERE status = $1`, store.ImportRunning).Scan(&running)
		files, _ = filepath.Glob(filepath.Join(tmp, "qualdial-upload-*"))
		if running == 0 && len(files) == 0 {
			break
		}
	}
	if running != 0 || len(files) != 0 {
		t.Errorf("%d imports still running, spool files left behind: %v", running, files)
	}
	var completed int
	st.Pool().QueryRow(ctx, `SELECT count(*) FROM imports WHERE status = $1`, store.ImportCompleted).Scan(&completed)
	if completed != 4 {
		t.Errorf("%d imports completed, want 4", completed)
	}
	var n int
	st.Pool().QueryRow(ctx, `SELECT count(*) FROM leads`).Scan(&n)
	if n != 4*rowsEach {
		t.Errorf("%d leads imported, want %d", n, 4*rowsEach)
	}
	_ = os.Remove(tmp)
}

// importList uploads a call list. An import that starts answers 202 at
// once, with the import (running) and where to watch it; importList polls
// that until the import ends and returns the last answer (200, completed
// or failed). Any other answer is returned as it is.
func (b *bundle) importList(t *testing.T, path, role, contentType string, body io.Reader) response {
	t.Helper()
	res := b.do(t, "POST", path, role, contentType, body)
	if res.status != http.StatusAccepted {
		return res
	}
	imp := res.json(t)
	loc := res.header.Get("Location")
	if imp["status"] != store.ImportRunning || imp["total_rows"] != 0.0 || !strings.HasSuffix(loc, fmt.Sprintf("/imports/%v", imp["id"])) {
		t.Fatalf("202 %s, Location %q", res.body, loc)
	}
	return b.awaitImport(t, loc, role)
}

// awaitImport polls an import until it is no longer running.
func (b *bundle) awaitImport(t *testing.T, loc, role string) response {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		res := b.do(t, "GET", loc, role, "", nil)
		if res.status != http.StatusOK || res.json(t)["status"] != store.ImportRunning {
			return res
		}
		if time.Now().After(deadline) {
			t.Fatalf("import still running after a minute: %s", res.body)
		}
	}
}

// TestImportInTheBackground: the upload answers 202 with the import's id
// and its address at once; polling shows it running, then completed with
// its report. An imported lead is queued and due now, has no event of its
// own — the import records the import — and its history still shows its
// creation, by the import.
func TestImportInTheBackground(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	cid := b.campaign(t, "bg", nil)
	res := b.do(t, "POST", path("/v1/campaigns/%d/imports?filename=bg.csv", cid), store.RoleMarketing, "text/csv",
		strings.NewReader("phone,first_name\n+12125550101,Ann\n+12125550102,Bob\nnot a number,Cy\n"))
	if res.status != http.StatusAccepted {
		t.Fatalf("POST: %d %s", res.status, res.body)
	}
	imp := res.json(t)
	loc := res.header.Get("Location")
	if want := path("/v1/campaigns/%d/imports/%v", cid, imp["id"]); loc != want || imp["status"] != store.ImportRunning || imp["filename"] != "bg.csv" {
		t.Fatalf("202: Location %q (want %q), %s", loc, want, res.body)
	}
	res = b.awaitImport(t, loc, store.RoleMarketing)
	done := res.json(t)
	for k, v := range map[string]any{"status": store.ImportCompleted, "total_rows": 3.0, "accepted": 2.0, "rejected": 1.0} {
		if done[k] != v {
			t.Errorf("%s = %v, want %v: %s", k, done[k], v, res.body)
		}
	}
	if done["finished_at"] == nil {
		t.Errorf("no finished_at: %s", res.body)
	}
	var leadID int64
	var status store.LeadStatus
	var reason string
	var due, created time.Time
	if err := b.st.Pool().QueryRow(ctx, `SELECT id, status, status_reason, next_attempt_at, created_at FROM leads WHERE phone = '+12125550101'`).Scan(
		&leadID, &status, &reason, &due, &created); err != nil {
		t.Fatal(err)
	}
	if status != queue.StatusQueued || reason != "waiting for a dialer" || !due.Equal(created) {
		t.Errorf("imported lead: %s %q, due %v (created %v)", status, reason, due, created)
	}
	if ev := b.events(t, leadID); len(ev) != 0 {
		t.Errorf("events written for an imported lead: %v", ev)
	}
	// In the schedule, due now; no job until the dispatcher hands it out.
	var jobs int
	if err := b.st.Pool().QueryRow(ctx, `SELECT count(*) FROM river_job`).Scan(&jobs); err != nil {
		t.Fatal(err)
	}
	if !b.due(t, leadID) || jobs != 0 {
		t.Errorf("imported lead due %v, %d jobs; want due now and no job", b.due(t, leadID), jobs)
	}
	res = b.do(t, "GET", path("/v1/leads/%d", leadID), store.RoleMarketing, "", nil)
	var hist struct {
		Events []struct {
			At    time.Time      `json:"at"`
			Actor string         `json:"actor"`
			Kind  string         `json:"kind"`
			Data  map[string]any `json:"data"`
		} `json:"events"`
	}
	if err := json.Unmarshal(res.body, &hist); err != nil {
		t.Fatalf("%v: %s", err, res.body)
	}
	started, _ := time.Parse(time.RFC3339Nano, done["started_at"].(string))
	if len(hist.Events) != 1 || hist.Events[0].Kind != "lead.created" || hist.Events[0].Actor != fmt.Sprintf("import:%v", done["id"]) ||
		hist.Events[0].Data["source"] != "import" || hist.Events[0].Data["import_id"] != done["id"] || !hist.Events[0].At.Equal(started) {
		t.Errorf("history of an imported lead: %s", res.body)
	}
}

// TestImportOfManyBadRows: a file of mostly bad rows imports the good ones;
// every bad row is counted and listed with its row number and reason, in
// file order, though rows are built on every core.
func TestImportOfManyBadRows(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cid := b.campaign(t, "bad", nil)
	const n = 3000
	var file strings.Builder
	file.WriteString("phone,first_name\n")
	want := map[int]string{} // row → reason
	good := 0
	for i := range n {
		row := i + 2
		switch i % 4 {
		case 0:
			fmt.Fprintf(&file, "+1212%03d%04d,Good\n", 200+i/10000, i%10000)
			good++
		case 1:
			fmt.Fprintf(&file, "call me %d,Bad\n", i)
			want[row] = "phone:"
		case 2:
			fmt.Fprintf(&file, "+1212555%04d,Bad,extra\n", i)
			want[row] = "3 fields, the header has 2"
		default:
			fmt.Fprintf(&file, ",Nobody\n")
			want[row] = "phone: a phone number is required"
		}
	}
	res := b.importList(t, path("/v1/campaigns/%d/imports", cid), store.RoleMarketing, "text/csv", strings.NewReader(file.String()))
	imp := res.json(t)
	if imp["status"] != store.ImportCompleted || imp["total_rows"] != float64(n) || imp["accepted"] != float64(good) || imp["rejected"] != float64(len(want)) {
		t.Fatalf("import: %s", res.body)
	}
	res = b.do(t, "GET", path("/v1/campaigns/%d/imports/%v/rejects.csv", cid, imp["id"]), store.RoleMarketing, "", nil)
	rows, err := csv.NewReader(bytes.NewReader(res.body)).ReadAll()
	if err != nil {
		t.Fatalf("rejects: %v", err)
	}
	if len(rows)-1 != len(want) {
		t.Fatalf("%d rejects listed, want %d", len(rows)-1, len(want))
	}
	last := 0
	for _, r := range rows[1:] {
		row, _ := strconv.Atoi(r[0])
		if row <= last {
			t.Errorf("row %d listed after row %d", row, last)
		}
		last = row
		if !strings.HasPrefix(r[1], want[row]) {
			t.Errorf("row %d: %q, want %q…", row, r[1], want[row])
		}
	}
}

// wakeBlocker holds an import in its transaction (its leads inserted, not
// committed) until its context ends.
type wakeBlocker struct {
	*queue.Queue
	reached chan int64
}

func (w *wakeBlocker) WakeTx(ctx context.Context, tx pgx.Tx, campaignID int64) error {
	w.reached <- campaignID
	<-ctx.Done()
	return context.Cause(ctx)
}

// TestImportStoppedByShutdown: an import still running when the server
// closes ends failed, saying so, and keeps nothing: no lead, no rejected
// row. An upload after that is refused (503) and its import ends failed
// the same way at once.
func TestImportStoppedByShutdown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(pgtest.DB(t), store.Config{Now: fixture.Clock()})
	var d *wakeBlocker
	h, srv, token, c := importServer(t, st, "stopped", func(q *queue.Queue) api.Dialer {
		d = &wakeBlocker{Queue: q, reached: make(chan int64, 1)}
		return d
	})
	upload := func(want int) int64 {
		req, _ := http.NewRequest("POST", fmt.Sprintf("%s/v1/campaigns/%d/imports", srv.URL, c.ID),
			strings.NewReader("phone\n+12125550101\nnot a number\n+12125550101\n"))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "text/csv")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var imp struct {
			ID     int64
			Detail string
		}
		if err := json.NewDecoder(res.Body).Decode(&imp); err != nil || res.StatusCode != want {
			t.Fatalf("upload: %d %v, want %d", res.StatusCode, err, want)
		}
		if want == http.StatusServiceUnavailable && !strings.Contains(imp.Detail, "shutting down") {
			t.Errorf("upload while shutting down: %q", imp.Detail)
		}
		return imp.ID
	}
	first := upload(http.StatusAccepted)
	<-d.reached // its leads are in, not committed
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	upload(http.StatusServiceUnavailable)
	imp, err := st.Import(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if imp.Status != store.ImportFailed || !strings.Contains(imp.Error, "the server shut down") || imp.FinishedAt == nil {
		t.Errorf("import %d: %s %q", first, imp.Status, imp.Error)
	}
	var failed int
	st.Pool().QueryRow(ctx, `SELECT count(*) FROM imports WHERE status = $1 AND error LIKE '%server shut down%'`, store.ImportFailed).Scan(&failed)
	if failed != 2 {
		t.Errorf("%d imports failed for the shutdown, want 2", failed)
	}
	var leads, rejects int
	st.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM leads), (SELECT count(*) FROM import_rejects)`).Scan(&leads, &rejects)
	if leads != 0 || rejects != 0 {
		t.Errorf("a stopped import kept %d leads and %d rejected rows", leads, rejects)
	}
}

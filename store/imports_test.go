package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/store"
)

// rowsOf streams phones as import rows.
func rowsOf(campaignID int64, phones ...string) func() (store.ImportItem, error) {
	i := 0
	return func() (store.ImportItem, error) {
		if i == len(phones) {
			return store.ImportItem{}, io.EOF
		}
		i++
		return store.ImportItem{Row: i + 1, Raw: phones[i-1], Lead: &store.LeadParams{CampaignID: campaignID, Phone: phones[i-1]}}, nil
	}
}

// TestConcurrentImportsAccountForEveryRow: two imports of the same numbers
// into one campaign overlap; the second one's rows conflict with the first
// one's when it inserts, and are counted as duplicates instead of
// vanishing (accepted + duplicates + on_dnc + rejected = total rows).
func TestConcurrentImportsAccountForEveryRow(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	c := campaign(t, s, "overlap")
	phones := []string{"+12125550101", "+12125550102", "+12125550103"}
	type result struct {
		imp *store.Import
		err error
	}
	second := make(chan result, 1)
	first, err := s.ImportLeads(ctx, store.ImportParams{CampaignID: c.ID, Filename: "a.csv"}, rowsOf(c.ID, phones...),
		func(ctx context.Context, tx pgx.Tx, campaignID int64) error {
			// The first import has inserted, not committed: start the second
			// and hold the commit until it waits on the first one's rows.
			go func() {
				imp, err := s.ImportLeads(ctx, store.ImportParams{CampaignID: c.ID, Filename: "b.csv"}, rowsOf(c.ID, append(phones, "+12125550104")...), nil, nil)
				second <- result{imp, err}
			}()
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				var waiting bool
				if err := s.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
					AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO leads%')`).Scan(&waiting); err != nil {
					return err
				}
				if waiting {
					return nil
				}
				time.Sleep(5 * time.Millisecond)
			}
			return fmt.Errorf("the second import never waited for the first")
		}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := <-second
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, imp := range []*store.Import{first, r.imp} {
		if imp.Accepted+imp.Duplicates+imp.OnDNC+imp.Rejected != imp.TotalRows {
			t.Errorf("import %s: %d rows, %d accepted + %d duplicates + %d DNC + %d rejected", imp.Filename, imp.TotalRows,
				imp.Accepted, imp.Duplicates, imp.OnDNC, imp.Rejected)
		}
	}
	if first.Accepted != 3 || r.imp.Accepted != 1 || r.imp.Duplicates != 3 {
		t.Errorf("first %+v, second %+v", first, r.imp)
	}
	var reasons []string
	_ = s.ImportRejects(ctx, r.imp.ID, func(rj store.ImportReject) error { reasons = append(reasons, rj.Reason); return nil })
	if len(reasons) != 3 || !strings.Contains(reasons[0], "while this import ran") {
		t.Errorf("reasons %q", reasons)
	}
}

// TestImportProgressThenCancel: a running import shows the rows read so
// far; cancelled, it ends failed with the cancellation's cause and keeps
// nothing — no lead, no rejected row.
func TestImportProgressThenCancel(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	c := campaign(t, s, "cancel")
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	stopped := errors.New("stopped: the test cancelled it")
	n := 0
	var progress *store.Import
	_, err := s.ImportLeads(ctx, store.ImportParams{CampaignID: c.ID}, func() (store.ImportItem, error) {
		n++
		if n == 10001 {
			var id int64
			if err := s.Pool().QueryRow(ctx, `SELECT id FROM imports WHERE campaign_id = $1`, c.ID).Scan(&id); err != nil {
				return store.ImportItem{}, err
			}
			imp, err := s.Import(ctx, id)
			if err != nil {
				return store.ImportItem{}, err
			}
			progress = imp
			cancel(stopped)
		}
		if n%2 == 0 {
			return store.ImportItem{Row: n + 1, Raw: "x", Reject: "phone: not a number"}, nil
		}
		return store.ImportItem{Row: n + 1, Raw: "x", Lead: &store.LeadParams{CampaignID: c.ID, Phone: fmt.Sprintf("+1212%07d", n)}}, nil
	}, nil, nil)
	if err == nil {
		t.Fatal("a cancelled import succeeded")
	}
	if progress == nil || progress.Status != store.ImportRunning || progress.TotalRows != 10000 {
		t.Errorf("progress while running: %+v", progress)
	}
	var imp store.Import
	var leads, rejects int
	if err := s.Pool().QueryRow(context.Background(), `SELECT status, error, (SELECT count(*) FROM leads), (SELECT count(*) FROM import_rejects)
		FROM imports WHERE campaign_id = $1`, c.ID).Scan(&imp.Status, &imp.Error, &leads, &rejects); err != nil {
		t.Fatal(err)
	}
	if imp.Status != store.ImportFailed || imp.Error != stopped.Error() || leads != 0 || rejects != 0 {
		t.Errorf("cancelled import: %s %q, %d leads, %d rejected rows kept", imp.Status, imp.Error, leads, rejects)
	}
}

// TestImportHeartbeatAndWorker: a running import names its process and
// keeps its updated_at fresh, which is what settling relies on.
func TestImportHeartbeatAndWorker(t *testing.T) {
	t.Parallel()
	s, clock := newStore(t)
	ctx := context.Background()
	c := campaign(t, s, "beat")
	var worker string
	var seen []time.Time
	next := rowsOf(c.ID, "+12125550101", "+12125550102", "+12125550103")
	n := 0
	_, err := s.ImportLeads(ctx, store.ImportParams{CampaignID: c.ID, Heartbeat: 20 * time.Millisecond}, func() (store.ImportItem, error) {
		if n++; n <= 3 {
			// Wait for a beat stamped after the clock moved (however long
			// a loaded machine takes to run the ticker): up to 20 s.
			var at time.Time
			for wait := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				if err := s.Pool().QueryRow(ctx, `SELECT worker, updated_at FROM imports WHERE status = 'running'`).Scan(&worker, &at); err != nil {
					return store.ImportItem{}, err
				}
				if len(seen) == 0 || at.After(seen[len(seen)-1]) || time.Now().After(wait) {
					break
				}
			}
			seen = append(seen, at)
			clock.Advance(time.Minute)
		}
		return next()
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if worker != store.DefaultWorker() {
		t.Errorf("worker %q, want %q", worker, store.DefaultWorker())
	}
	if len(seen) < 3 || !seen[2].After(seen[0]) {
		t.Errorf("heartbeat did not move: %v", seen)
	}
}

// TestSettleInterruptedImports: a running import whose process is gone, or
// that showed no sign of life for staleAfter, is settled as failed with a
// clear error; a live one is left alone.
func TestSettleInterruptedImports(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	c := campaign(t, s, "settle")
	now := s.Now()
	add := func(worker string, seen time.Time) int64 {
		var id int64
		if err := s.Pool().QueryRow(ctx, `INSERT INTO imports (campaign_id, worker, started_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING id`,
			c.ID, worker, seen).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	dead := add("thishost/4242", now)
	stale := add("otherhost/17", now.Add(-time.Hour))
	live := add("otherhost/18", now.Add(-10*time.Second))
	gone := func(w string) bool { return w == "thishost/4242" }
	n, err := s.SettleInterruptedImports(ctx, gone, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("settled %d, want 2", n)
	}
	for id, want := range map[int64]string{dead: "thishost/4242) ended", stale: "no sign of life", live: ""} {
		imp, err := s.Import(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case want == "" && imp.Status != "running":
			t.Errorf("live import %d: %s", id, imp.Status)
		case want != "" && (imp.Status != "failed" || !strings.Contains(imp.Error, want) || imp.FinishedAt == nil):
			t.Errorf("import %d: %s %q, want failed %q", id, imp.Status, imp.Error, want)
		}
	}
	if n, _ := s.SettleInterruptedImports(ctx, gone, 5*time.Minute); n != 0 {
		t.Errorf("settled %d again", n)
	}
}

// TestRefusalsMatchSchema: the Go reading of consent (IsRefusal,
// HasConsent) is the schema's generated column leads.has_consent.
func TestRefusalsMatchSchema(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	c := campaign(t, s, "consent")
	at := s.Now()
	words := []string{"no", "No ", "n", "false", "f", "0", "off", "none", "declined", "DENIED", "refused", "revoked", "withdrawn",
		"unsubscribed", "yes", "true", "on", "web_form", "I agree", "1", "nope", ""}
	for i, w := range words {
		for j, cs := range []store.Consent{{Source: w, At: at}, {Source: "web_form", Text: w, At: at}, {Source: w}} {
			p := store.LeadParams{CampaignID: c.ID, Phone: fmt.Sprintf("+1212555%02d%02d", i, j), Consent: cs}
			id := lead(t, s, p)
			l, err := store.GetLead(ctx, s.Pool(), id)
			if err != nil {
				t.Fatal(err)
			}
			if l.HasConsent != cs.HasConsent() {
				t.Errorf("%+v: schema says %v, Go says %v", cs, l.HasConsent, cs.HasConsent())
			}
		}
	}
}

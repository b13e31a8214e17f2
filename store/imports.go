package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// ImportItem is one row of a call list: a lead ready to insert, or the
// reason it cannot be.
type ImportItem struct {
	Row      int
	Lead     *LeadParams // nil when rejected
	Reject   string
	Raw      string   // the row as it was, for the rejects file
	Warnings []string // what the lead was accepted despite
}

// Import is an import's report. Every row is accounted for: TotalRows =
// Accepted + Duplicates + OnDNC + Rejected.
type Import struct {
	ID         int64  `json:"id"`
	CampaignID int64  `json:"campaign_id"`
	Filename   string `json:"filename,omitempty"`
	Status     string `json:"status"`
	TotalRows  int    `json:"total_rows"`
	Accepted   int    `json:"accepted"`
	// Duplicates counts both kinds: DuplicatesInFile repeat an earlier row
	// of the file (by phone or external id); the others were already in
	// the campaign.
	Duplicates       int    `json:"duplicates"`
	DuplicatesInFile int    `json:"duplicates_in_file"`
	OnDNC            int    `json:"on_dnc"`
	Rejected         int    `json:"rejected"`
	Charset          string `json:"charset,omitempty"`
	CharsetSource    string `json:"charset_source,omitempty"`
	// Warnings counts rows read with a warning (an extension kept aside, a
	// second phone number, a spreadsheet number read with an assumed final
	// 0); WarningSamples shows the first few.
	Warnings       int             `json:"warnings"`
	WarningSamples []ImportWarning `json:"warning_samples"`
	// WithoutConsent counts accepted leads without consent (has_consent):
	// a campaign that requires consent will not call them.
	WithoutConsent int        `json:"without_consent"`
	Error          string     `json:"error,omitempty"`
	StartedAt      time.Time  `json:"started_at"`
	FinishedAt     *time.Time `json:"finished_at,omitempty"`
}

// An import's status: running until it ends completed (everything
// accounted for) or failed (nothing kept, Error says why).
const (
	ImportRunning   = "running"
	ImportCompleted = "completed"
	ImportFailed    = "failed"
	// ImportDryRun is the status of DryRunImport's report: nothing kept.
	ImportDryRun = "dry run"
)

// ImportWarning is a row accepted with a warning.
type ImportWarning struct {
	Row     int    `json:"row"`
	Message string `json:"message"`
}

// maxWarningSamples is how many warnings an import report shows.
const maxWarningSamples = 10

// Enqueuer wakes the campaign's dispatcher inside the import's
// transaction; it is called once per import, when anything was accepted.
type Enqueuer func(ctx context.Context, tx pgx.Tx, campaignID int64) error

// ImportParams describes an import.
type ImportParams struct {
	CampaignID int64
	Filename   string
	// CreatedBy is the API key that uploaded the file (0: the command line).
	CreatedBy int64
	// Worker names this process (its instance id, DefaultWorker, by
	// default): an import whose process is gone is settled as failed by
	// SettleInterruptedImports.
	Worker string
	// Heartbeat is how often a running import says it is alive; default
	// 10s.
	Heartbeat time.Duration
	// Charset, when set, is asked after the last row for the charset the
	// file was read in and where that came from (given, bom, detected).
	Charset func() (name, source string)
}

// ImportLeads imports a call list atomically: StartImport, then
// RunImport.
func (s *Store) ImportLeads(ctx context.Context, p ImportParams, next func() (ImportItem, error),
	enqueue Enqueuer, progress func(rows int)) (*Import, error) {
	imp, err := s.StartImport(ctx, p)
	if err != nil {
		return nil, err
	}
	return s.RunImport(ctx, imp.ID, p, next, enqueue, progress)
}

// StartImport records a new import, running, before any row is read: its
// id can be given out (and its progress polled) at once. RunImport does
// the work; a process that dies between the two leaves it to
// SettleInterruptedImports.
func (s *Store) StartImport(ctx context.Context, p ImportParams) (*Import, error) {
	if p.Worker == "" {
		p.Worker = DefaultWorker()
	}
	imp := Import{CampaignID: p.CampaignID, Filename: p.Filename, Status: ImportRunning, WarningSamples: []ImportWarning{}}
	if err := s.pool.QueryRow(ctx, `INSERT INTO imports (campaign_id, filename, created_by, worker, started_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $5) RETURNING id, started_at`,
		p.CampaignID, nullString(p.Filename), zeroNull(p.CreatedBy), p.Worker, s.now()).Scan(&imp.ID, &imp.StartedAt); err != nil {
		return nil, fmt.Errorf("start import: %w", err)
	}
	return &imp, nil
}

// RunImport imports the rows of a started import atomically: every row
// ends accepted, a duplicate (within the file or already in the campaign,
// by phone or external id), on the DNC list, or rejected with its reason —
// and if anything fails midway nothing of it is kept and the import ends
// failed with the reason (the context's cause when it was cancelled). Rows
// stream from next (io.EOF ends them) through one COPY into a staging
// table, rejected rows included, and are sorted out set-based, so memory
// stays flat whatever the file. The import row shows progress and a
// heartbeat while it runs. Imported leads are queued, due now; enqueue
// wakes the campaign's dispatcher in the same transaction.
func (s *Store) RunImport(ctx context.Context, id int64, p ImportParams, next func() (ImportItem, error),
	enqueue Enqueuer, progress func(rows int)) (*Import, error) {
	if p.Heartbeat <= 0 {
		p.Heartbeat = 10 * time.Second
	}
	imp := Import{ID: id, CampaignID: p.CampaignID, Filename: p.Filename}
	stop := s.heartbeat(ctx, imp.ID, p.Heartbeat)
	err := s.Tx(ctx, func(tx pgx.Tx) error { return s.importRows(ctx, tx, &imp, p, next, enqueue, progress) })
	stop()
	if err != nil {
		msg := err.Error()
		if cause := context.Cause(ctx); cause != nil {
			msg = cause.Error()
		}
		if _, uerr := s.pool.Exec(context.WithoutCancel(ctx), `UPDATE imports SET status = $4, error = $2, finished_at = $3, updated_at = $3
			WHERE id = $1`, imp.ID, msg, s.now(), ImportFailed); uerr != nil {
			err = errors.Join(err, fmt.Errorf("record the failure: %w", uerr))
		}
		return nil, fmt.Errorf("import %d: %w", imp.ID, err)
	}
	return s.Import(ctx, imp.ID)
}

// heartbeat marks a running import alive every interval until stopped.
func (s *Store) heartbeat(ctx context.Context, id int64, every time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				_, _ = s.pool.Exec(ctx, `UPDATE imports SET updated_at = $2 WHERE id = $1 AND status = 'running'`, id, s.now())
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// SettleInterruptedImports marks running imports failed whose process is
// gone — gone(worker) says so; it is asked only about imports that name a
// worker — or that have not made progress for staleAfter (0: never stale).
// Their transaction died with the process, so nothing of them was kept.
// Call it when a process starts; it returns how many it settled.
func (s *Store) SettleInterruptedImports(ctx context.Context, gone func(worker string) bool, staleAfter time.Duration) (int, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, coalesce(worker, ''), coalesce(updated_at, started_at) FROM imports WHERE status = 'running'`)
	if err != nil {
		return 0, fmt.Errorf("settle interrupted imports: %w", err)
	}
	type running struct {
		id     int64
		worker string
		seen   time.Time
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (running, error) {
		var r running
		err := row.Scan(&r.id, &r.worker, &r.seen)
		return r, err
	})
	if err != nil {
		return 0, fmt.Errorf("settle interrupted imports: %w", err)
	}
	now := s.now()
	settled := 0
	for _, r := range list {
		var msg string
		var staleBefore any // when set, only if no heartbeat since
		switch {
		case r.worker != "" && gone != nil && gone(r.worker):
			msg = fmt.Sprintf("interrupted: the process that ran it (%s) ended before it finished; nothing of it was kept — upload the file again", r.worker)
		case staleAfter > 0 && now.Sub(r.seen) > staleAfter:
			msg = fmt.Sprintf("interrupted: no sign of life from its process (%s) since %s; nothing of it was kept — upload the file again",
				cmp.Or(r.worker, "unknown"), r.seen.UTC().Format(time.RFC3339))
			staleBefore = now.Add(-staleAfter)
		default:
			continue
		}
		tag, err := s.pool.Exec(ctx, `UPDATE imports SET status = 'failed', error = $2, finished_at = $3, updated_at = $3
			WHERE id = $1 AND status = 'running' AND ($4::timestamptz IS NULL OR coalesce(updated_at, started_at) < $4::timestamptz)`,
			r.id, msg, now, staleBefore)
		if err != nil {
			return settled, fmt.Errorf("settle import %d: %w", r.id, err)
		}
		settled += int(tag.RowsAffected())
	}
	return settled, nil
}

func (s *Store) importRows(ctx context.Context, tx pgx.Tx, imp *Import, p ImportParams, next func() (ImportItem, error), enqueue Enqueuer,
	progress func(int)) error {
	// Numbers erased for a data-subject request stay on the DNC list as
	// hashes: when there are any, each row's number is hashed here, on the
	// way to the stage, far cheaper than in SQL.
	var erased bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM dnc_hashes)`).Scan(&erased); err != nil {
		return fmt.Errorf("erased numbers: %w", err)
	}
	// Every row goes to the stage, a rejected one with its reason: nothing
	// is held in memory but the warning samples.
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE import_stage (
		row_number int, phone text, first_name text, last_name text, email text, company text, time_zone text, region text,
		postal_code text, external_id text, attributes jsonb, consent_source text, consent_text text, consent_version text,
		consent_at timestamptz, consent_ip inet, consent_page text, raw text, reject text, phone_hash bytea) ON COMMIT DROP`); err != nil {
		return fmt.Errorf("create the staging table: %w", err)
	}
	samples := []ImportWarning{}
	rows := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		it, err := next()
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		rows++
		if rows%10000 == 0 {
			// Progress shows on the import row, from another connection.
			if _, err := s.pool.Exec(ctx, `UPDATE imports SET total_rows = $2, updated_at = $3 WHERE id = $1`, imp.ID, rows, s.now()); err != nil {
				return nil, fmt.Errorf("record progress: %w", err)
			}
			if progress != nil {
				progress(rows)
			}
		}
		if it.Lead == nil {
			return []any{it.Row, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, it.Raw, cmp.Or(it.Reject, "rejected"), nil}, nil
		}
		if len(it.Warnings) > 0 {
			imp.Warnings++
			if len(samples) < maxWarningSamples {
				samples = append(samples, ImportWarning{Row: it.Row, Message: strings.Join(it.Warnings, "; ")})
			}
		}
		l := it.Lead
		attrs, err := json.Marshal(orEmpty(l.Attributes))
		if err != nil {
			return nil, fmt.Errorf("row %d attributes: %w", it.Row, err)
		}
		var at, ip, hash any
		if erased {
			hash = PhoneHash(l.Phone)
		}
		if !l.Consent.At.IsZero() {
			at = l.Consent.At
		}
		if l.Consent.IP.IsValid() {
			ip = l.Consent.IP
		}
		return []any{it.Row, l.Phone, nullString(l.FirstName), nullString(l.LastName), nullString(l.Email), nullString(l.Company),
			nullString(l.TimeZone), nullString(l.Region), nullString(l.PostalCode), nullString(l.ExternalID), attrs,
			nullString(l.Consent.Source), nullString(l.Consent.Text), nullString(l.Consent.Version), at, ip, nullString(l.Consent.Page),
			it.Raw, nil, hash}, nil
	})
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"import_stage"}, []string{"row_number", "phone", "first_name", "last_name", "email",
		"company", "time_zone", "region", "postal_code", "external_id", "attributes", "consent_source", "consent_text", "consent_version",
		"consent_at", "consent_ip", "consent_page", "raw", "reject", "phone_hash"}, src); err != nil {
		return fmt.Errorf("read rows: %w", err)
	}
	if progress != nil {
		progress(rows)
	}
	// The planner knows nothing of a temporary table until it is analysed.
	if _, err := tx.Exec(ctx, `ANALYZE import_stage`); err != nil {
		return fmt.Errorf("analyse the staging table: %w", err)
	}
	// Each step moves rows out of the stage with the reason they are not
	// imported; what is left is new. Within the file the first row wins.
	steps := []struct {
		what   string
		sql    string
		counts *int
		args   []any
		skip   bool
	}{
		{"rejected rows", `WITH d AS (DELETE FROM import_stage WHERE reject IS NOT NULL RETURNING row_number, reject, raw)
			INSERT INTO import_rejects SELECT $1, row_number, reject, raw FROM d`, &imp.Rejected, []any{imp.ID}, false},
		{"duplicates in the file", `WITH d AS (DELETE FROM import_stage s USING import_stage f WHERE s.phone = f.phone AND s.row_number > f.row_number
			RETURNING s.row_number, f.row_number AS first, s.raw)
			INSERT INTO import_rejects SELECT $1, row_number, 'duplicate of row ' || min(first), min(raw) FROM d GROUP BY row_number`, &imp.DuplicatesInFile, []any{imp.ID}, false},
		{"duplicate external ids in the file", `WITH d AS (DELETE FROM import_stage s USING import_stage f WHERE s.external_id = f.external_id AND s.row_number > f.row_number
			RETURNING s.row_number, f.row_number AS first, s.raw)
			INSERT INTO import_rejects SELECT $1, row_number, 'duplicate of row ' || min(first) || ' (the same external_id)', min(raw)
			FROM d GROUP BY row_number`, &imp.DuplicatesInFile, []any{imp.ID}, false},
		{"numbers on the do-not-call list", `WITH d AS (DELETE FROM import_stage s USING dnc WHERE dnc.phone = s.phone RETURNING s.row_number, s.raw)
			INSERT INTO import_rejects SELECT $1, row_number, 'on the do-not-call list', raw FROM d`, &imp.OnDNC, []any{imp.ID}, false},
		{"erased numbers on the do-not-call list", `WITH d AS (DELETE FROM import_stage s USING dnc_hashes h WHERE h.phone_hash = s.phone_hash
			RETURNING s.row_number, s.raw)
			INSERT INTO import_rejects SELECT $1, row_number, 'on the do-not-call list', raw FROM d`, &imp.OnDNC, []any{imp.ID}, !erased},
		{"leads already in the campaign", `WITH d AS (DELETE FROM import_stage s USING leads l WHERE l.campaign_id = $2 AND (l.phone = s.phone OR l.external_id = s.external_id)
			RETURNING s.row_number, s.phone, s.raw)
			INSERT INTO import_rejects SELECT $1, d.row_number,
				CASE WHEN EXISTS (SELECT 1 FROM leads l WHERE l.campaign_id = $2 AND l.phone = d.phone) THEN 'already in the campaign'
				ELSE 'already in the campaign (the same external_id)' END, d.raw
			FROM d`, &imp.Duplicates, []any{imp.ID, imp.CampaignID}, false},
	}
	for _, st := range steps {
		if st.skip {
			continue
		}
		tag, err := tx.Exec(ctx, st.sql, st.args...)
		if err != nil {
			return fmt.Errorf("sort out %s: %w", st.what, err)
		}
		*st.counts += int(tag.RowsAffected())
	}
	// The leads are queued, due now: the leads table is the schedule. No
	// event is written per lead: the import row records the import, and a
	// lead's history shows its creation from its import_id. A lead another
	// import (or a web form) added to the campaign while this one ran
	// conflicts here: it is a duplicate too, not a lost row.
	var lost int
	now := s.now()
	err := tx.QueryRow(ctx, `WITH ins AS (
			INSERT INTO leads (campaign_id, phone, first_name, last_name, email, company, time_zone,
				region, postal_code, source, external_id, import_id, attributes, consent_source, consent_text, consent_version, consent_at,
				consent_ip, consent_page, status, status_reason, next_attempt_at, created_at, updated_at)
			SELECT $1, phone, first_name, last_name, email, company, time_zone, region, postal_code, 'import', external_id, $2, attributes,
				consent_source, consent_text, consent_version, consent_at, consent_ip, consent_page, 'queued', 'waiting for a dialer', $3, $3, $3
			FROM import_stage ORDER BY row_number
			ON CONFLICT DO NOTHING RETURNING phone, has_consent),
		lost AS (
			INSERT INTO import_rejects SELECT $2, s.row_number, 'already in the campaign (added while this import ran)', s.raw
			FROM import_stage s WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.phone = s.phone) RETURNING 1)
		SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM ins WHERE NOT has_consent), (SELECT count(*) FROM lost)`,
		imp.CampaignID, imp.ID, now).Scan(&imp.Accepted, &imp.WithoutConsent, &lost)
	if err != nil {
		return fmt.Errorf("insert leads: %w", err)
	}
	imp.Duplicates += imp.DuplicatesInFile + lost
	if enqueue != nil && imp.Accepted > 0 {
		if err := enqueue(ctx, tx, imp.CampaignID); err != nil {
			return fmt.Errorf("wake the campaign's dialing: %w", err)
		}
	}
	imp.TotalRows = rows
	if p.Charset != nil {
		imp.Charset, imp.CharsetSource = p.Charset()
	}
	sampleJSON, err := json.Marshal(samples)
	if err != nil {
		return fmt.Errorf("warning samples: %w", err)
	}
	_, err = tx.Exec(ctx, `UPDATE imports SET status = $13, total_rows = $2, accepted = $3, duplicates = $4, on_dnc = $5,
		rejected = $6, charset = $7, charset_source = $8, warnings = $9, warning_samples = $10, without_consent = $11,
		finished_at = $12, updated_at = $12, duplicates_in_file = $14 WHERE id = $1`, imp.ID, imp.TotalRows, imp.Accepted, imp.Duplicates,
		imp.OnDNC, imp.Rejected, nullString(imp.Charset), nullString(imp.CharsetSource), imp.Warnings, sampleJSON, imp.WithoutConsent, s.now(),
		ImportCompleted, imp.DuplicatesInFile)
	if err != nil {
		return fmt.Errorf("finish import: %w", err)
	}
	return nil
}

// mustQuery defers a query error to the row collector.
func mustQuery(ctx context.Context, db DB, sql string, args ...any) pgx.Rows {
	rows, _ := db.Query(ctx, sql, args...)
	return rows
}

// Import loads an import's report.
func (s *Store) Import(ctx context.Context, id int64) (*Import, error) {
	return loadImport(ctx, s.pool, id)
}

func loadImport(ctx context.Context, db DB, id int64) (*Import, error) {
	var imp Import
	var filename, msg, charset, charsetSource *string
	var samples []byte
	err := db.QueryRow(ctx, `SELECT id, campaign_id, filename, status, total_rows, accepted, duplicates, duplicates_in_file, on_dnc,
		rejected, error, charset, charset_source, warnings, warning_samples, without_consent, started_at, finished_at FROM imports WHERE id = $1`,
		id).Scan(&imp.ID, &imp.CampaignID, &filename, &imp.Status, &imp.TotalRows, &imp.Accepted, &imp.Duplicates, &imp.DuplicatesInFile,
		&imp.OnDNC, &imp.Rejected, &msg, &charset, &charsetSource, &imp.Warnings, &samples, &imp.WithoutConsent, &imp.StartedAt, &imp.FinishedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("import %d: %w", id, err)
	}
	for _, f := range []struct {
		dst *string
		src *string
	}{{&imp.Filename, filename}, {&imp.Error, msg}, {&imp.Charset, charset}, {&imp.CharsetSource, charsetSource}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	imp.WarningSamples = []ImportWarning{}
	if err := json.Unmarshal(samples, &imp.WarningSamples); err != nil {
		return nil, fmt.Errorf("import %d warnings: %w", id, err)
	}
	return &imp, nil
}

// ImportReject is a row an import did not take, with the reason.
type ImportReject struct {
	Row    int
	Reason string
	Raw    string
}

// ImportRejects streams an import's rejected rows in row order.
func (s *Store) ImportRejects(ctx context.Context, id int64, each func(ImportReject) error) error {
	return importRejects(ctx, s.pool, id, 0, each)
}

// importRejects streams an import's first limit rejected rows (0: all).
func importRejects(ctx context.Context, db DB, id int64, limit int, each func(ImportReject) error) error {
	rows, err := db.Query(ctx, `SELECT row_number, reason, raw FROM import_rejects WHERE import_id = $1 ORDER BY row_number
		LIMIT nullif($2, 0)`, id, limit)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r ImportReject
		if err := rows.Scan(&r.Row, &r.Reason, &r.Raw); err != nil {
			return err
		}
		if err := each(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

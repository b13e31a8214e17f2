package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
)

// ImportItem is one row of a call list: a lead ready to insert, or the
// reason it cannot be.
type ImportItem struct {
	Row    int
	Lead   *LeadParams // nil when rejected
	Reject string
	Raw    string // the row as it was, for the rejects file
}

// Import is an import's report.
type Import struct {
	ID         int64      `json:"id"`
	CampaignID int64      `json:"campaign_id"`
	Filename   string     `json:"filename,omitempty"`
	Status     string     `json:"status"`
	TotalRows  int        `json:"total_rows"`
	Accepted   int        `json:"accepted"`
	Duplicates int        `json:"duplicates"`
	OnDNC      int        `json:"on_dnc"`
	Rejected   int        `json:"rejected"`
	Error      string     `json:"error,omitempty"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// Enqueuer schedules dial jobs for new leads inside the import's
// transaction.
type Enqueuer func(ctx context.Context, tx pgx.Tx, leadIDs []int64) error

// ImportLeads imports a call list atomically: every row ends accepted, a
// duplicate (within the file or already in the campaign), on the DNC list,
// or rejected with its reason — and if anything fails midway nothing of it
// is kept. Rows stream from next (io.EOF ends them) through COPY, so memory
// stays flat. The import row is visible (status running, with progress)
// while it runs. enqueue schedules the accepted leads' dial jobs in the same
// transaction.
func (s *Store) ImportLeads(ctx context.Context, campaignID int64, filename string, next func() (ImportItem, error),
	enqueue Enqueuer, progress func(rows int)) (*Import, error) {
	var imp Import
	if err := s.pool.QueryRow(ctx, `INSERT INTO imports (campaign_id, filename, started_at) VALUES ($1, $2, $3) RETURNING id, started_at`,
		campaignID, nullString(filename), s.now()).Scan(&imp.ID, &imp.StartedAt); err != nil {
		return nil, fmt.Errorf("start import: %w", err)
	}
	imp.CampaignID, imp.Filename = campaignID, filename
	err := s.Tx(ctx, func(tx pgx.Tx) error { return s.importRows(ctx, tx, &imp, next, enqueue, progress) })
	if err != nil {
		_, _ = s.pool.Exec(context.WithoutCancel(ctx), `UPDATE imports SET status = 'failed', error = $2, finished_at = $3 WHERE id = $1`,
			imp.ID, err.Error(), s.now())
		return nil, fmt.Errorf("import %d: %w", imp.ID, err)
	}
	return s.Import(ctx, imp.ID)
}

func (s *Store) importRows(ctx context.Context, tx pgx.Tx, imp *Import, next func() (ImportItem, error), enqueue Enqueuer, progress func(int)) error {
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE import_stage (
		row_number int, phone text, first_name text, last_name text, email text, company text, time_zone text, region text,
		postal_code text, external_id text, attributes jsonb, consent_source text, consent_text text, consent_version text,
		consent_at timestamptz, consent_ip inet, consent_page text, raw text) ON COMMIT DROP`); err != nil {
		return err
	}
	var rejects [][]any
	rows := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		for {
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
				_, _ = s.pool.Exec(ctx, `UPDATE imports SET total_rows = $2 WHERE id = $1`, imp.ID, rows)
				if progress != nil {
					progress(rows)
				}
			}
			if it.Lead == nil {
				rejects = append(rejects, []any{imp.ID, it.Row, it.Reject, it.Raw})
				continue
			}
			l := it.Lead
			attrs, _ := json.Marshal(orEmpty(l.Attributes))
			var at, ip any
			if !l.Consent.At.IsZero() {
				at = l.Consent.At
			}
			if l.Consent.IP.IsValid() {
				ip = l.Consent.IP
			}
			return []any{it.Row, l.Phone, nullString(l.FirstName), nullString(l.LastName), nullString(l.Email), nullString(l.Company),
				nullString(l.TimeZone), nullString(l.Region), nullString(l.PostalCode), nullString(l.ExternalID), attrs,
				nullString(l.Consent.Source), nullString(l.Consent.Text), nullString(l.Consent.Version), at, ip, nullString(l.Consent.Page), it.Raw}, nil
		}
	})
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"import_stage"}, []string{"row_number", "phone", "first_name", "last_name", "email",
		"company", "time_zone", "region", "postal_code", "external_id", "attributes", "consent_source", "consent_text", "consent_version",
		"consent_at", "consent_ip", "consent_page", "raw"}, src); err != nil {
		return fmt.Errorf("read rows: %w", err)
	}
	if len(rejects) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"import_rejects"}, []string{"import_id", "row_number", "reason", "raw"}, pgx.CopyFromRows(rejects)); err != nil {
			return fmt.Errorf("save rejected rows: %w", err)
		}
	}
	// Each step moves rows out of the stage with the reason they are not
	// imported; what is left is new.
	steps := []struct {
		sql    string
		counts *int
		args   []any
	}{
		{`WITH d AS (DELETE FROM import_stage s USING import_stage f WHERE s.phone = f.phone AND s.row_number > f.row_number
			RETURNING s.row_number, 'duplicate of row ' || f.row_number AS reason, s.raw)
			INSERT INTO import_rejects SELECT $1, row_number, min(reason), min(raw) FROM d GROUP BY row_number`, &imp.Duplicates, []any{imp.ID}},
		{`WITH d AS (DELETE FROM import_stage s USING dnc WHERE dnc.phone = s.phone RETURNING s.row_number, s.raw)
			INSERT INTO import_rejects SELECT $1, row_number, 'on the do-not-call list', raw FROM d`, &imp.OnDNC, []any{imp.ID}},
		{`WITH d AS (DELETE FROM import_stage s USING leads l WHERE l.campaign_id = $2 AND (l.phone = s.phone OR l.external_id = s.external_id)
			RETURNING s.row_number, s.raw)
			INSERT INTO import_rejects SELECT $1, row_number, 'already in the campaign', min(raw) FROM d GROUP BY row_number`, &imp.Duplicates, []any{imp.ID, imp.CampaignID}},
	}
	for _, st := range steps {
		tag, err := tx.Exec(ctx, st.sql, st.args...)
		if err != nil {
			return fmt.Errorf("sort rows: %w", err)
		}
		*st.counts += int(tag.RowsAffected())
	}
	ids, err := pgx.CollectRows(mustQuery(ctx, tx, `INSERT INTO leads (campaign_id, phone, first_name, last_name, email, company, time_zone,
		region, postal_code, source, external_id, import_id, attributes, consent_source, consent_text, consent_version, consent_at,
		consent_ip, consent_page, status, status_reason, created_at, updated_at)
		SELECT $1, phone, first_name, last_name, email, company, time_zone, region, postal_code, 'import', external_id, $2, attributes,
			consent_source, consent_text, consent_version, consent_at, consent_ip, consent_page, 'queued', 'waiting for a dialer', $3, $3
		FROM import_stage ORDER BY row_number
		ON CONFLICT DO NOTHING RETURNING id`, imp.CampaignID, imp.ID, s.now()), pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("insert leads: %w", err)
	}
	imp.Accepted = len(ids)
	if _, err := tx.Exec(ctx, `INSERT INTO lead_events (lead_id, actor, kind, data, at)
		SELECT id, 'import:' || $1::bigint, 'lead.created', jsonb_build_object('source', 'import', 'import_id', $1::bigint), $2
		FROM leads WHERE import_id = $1::bigint`, imp.ID, s.now()); err != nil {
		return fmt.Errorf("record events: %w", err)
	}
	if enqueue != nil && len(ids) > 0 {
		if err := enqueue(ctx, tx, ids); err != nil {
			return fmt.Errorf("schedule calls: %w", err)
		}
	}
	imp.TotalRows = rows
	imp.Rejected = len(rejects)
	_, err = tx.Exec(ctx, `UPDATE imports SET status = 'completed', total_rows = $2, accepted = $3, duplicates = $4, on_dnc = $5,
		rejected = $6, finished_at = $7 WHERE id = $1`, imp.ID, imp.TotalRows, imp.Accepted, imp.Duplicates, imp.OnDNC, imp.Rejected, s.now())
	return err
}

// mustQuery defers a query error to the row collector.
func mustQuery(ctx context.Context, db DB, sql string, args ...any) pgx.Rows {
	rows, _ := db.Query(ctx, sql, args...)
	return rows
}

// Import loads an import's report.
func (s *Store) Import(ctx context.Context, id int64) (*Import, error) {
	var imp Import
	var filename, msg *string
	err := s.pool.QueryRow(ctx, `SELECT id, campaign_id, filename, status, total_rows, accepted, duplicates, on_dnc, rejected, error,
		started_at, finished_at FROM imports WHERE id = $1`, id).Scan(&imp.ID, &imp.CampaignID, &filename, &imp.Status, &imp.TotalRows,
		&imp.Accepted, &imp.Duplicates, &imp.OnDNC, &imp.Rejected, &msg, &imp.StartedAt, &imp.FinishedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if filename != nil {
		imp.Filename = *filename
	}
	if msg != nil {
		imp.Error = *msg
	}
	return &imp, err
}

// ImportReject is a row an import did not take, with the reason.
type ImportReject struct {
	Row    int
	Reason string
	Raw    string
}

// ImportRejects streams an import's rejected rows in row order.
func (s *Store) ImportRejects(ctx context.Context, id int64, each func(ImportReject) error) error {
	rows, err := s.pool.Query(ctx, `SELECT row_number, reason, raw FROM import_rejects WHERE import_id = $1 ORDER BY row_number`, id)
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

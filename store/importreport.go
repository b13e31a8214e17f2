package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ImportReport is an import's report as the upload wizard shows it: the
// counts, the rows not taken counted by reason, and the first of them.
type ImportReport struct {
	Import *Import
	// Reasons counts the rows not taken by reason, most frequent first;
	// the values a reason quotes and the row it names are left out, so
	// alike rows count together ("phone: "…" is not a phone number").
	Reasons []Count
	// Rejects are the first rows not taken, in row order.
	Rejects []ImportReject
}

// ImportReport loads an import's report with its first rejects rows
// not taken.
func (s *Store) ImportReport(ctx context.Context, id int64, rejects int) (*ImportReport, error) {
	return importReport(ctx, s.pool, id, rejects)
}

func importReport(ctx context.Context, db DB, id int64, rejects int) (*ImportReport, error) {
	imp, err := loadImport(ctx, db, id)
	if err != nil {
		return nil, err
	}
	rep := &ImportReport{Import: imp}
	rows, err := db.Query(ctx, `SELECT reason, count(*) FROM (
			SELECT regexp_replace(regexp_replace(reason, '"(?:[^"\\]|\\.)*"', '"…"', 'g'), 'row [0-9]+', 'row …', 'g') AS reason
			FROM import_rejects WHERE import_id = $1) r
		GROUP BY reason ORDER BY count(*) DESC, reason`, id)
	if err == nil {
		rep.Reasons, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Count])
	}
	if err != nil {
		return nil, fmt.Errorf("import %d reasons: %w", id, err)
	}
	if rejects > 0 {
		err = importRejects(ctx, db, id, rejects, func(r ImportReject) error {
			rep.Rejects = append(rep.Rejects, r)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("import %d rejects: %w", id, err)
		}
	}
	return rep, nil
}

// errDryRun rolls a dry run's transaction back.
var errDryRun = errors.New("dry run")

// DryRunImport sorts out a call list exactly as RunImport would — the
// same set-based steps against the campaign's leads and the DNC list as
// they are now, in one transaction — and rolls that transaction back:
// nothing is kept, not even the import row, and the report (with its
// first rejects rows not taken) is the one an import of the same rows
// would give. Its Import has no id and its status says "dry run".
// progress, if set, is told the rows read so far.
func (s *Store) DryRunImport(ctx context.Context, p ImportParams, next func() (ImportItem, error), rejects int,
	progress func(rows int)) (*ImportReport, error) {
	var rep *ImportReport
	err := s.Tx(ctx, func(tx pgx.Tx) error {
		imp := Import{CampaignID: p.CampaignID, Filename: p.Filename}
		if err := tx.QueryRow(ctx, `INSERT INTO imports (campaign_id, filename, started_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING id`,
			p.CampaignID, nullString(p.Filename), s.now()).Scan(&imp.ID); err != nil {
			return fmt.Errorf("record the dry run: %w", err)
		}
		if err := s.importRows(ctx, tx, &imp, p, next, nil, progress); err != nil {
			return err
		}
		var err error
		if rep, err = importReport(ctx, tx, imp.ID, rejects); err != nil {
			return err
		}
		rep.Import.ID, rep.Import.Status, rep.Import.FinishedAt = 0, ImportDryRun, nil
		return errDryRun
	})
	if !errors.Is(err, errDryRun) {
		return nil, fmt.Errorf("dry run of an import into campaign %d: %w", p.CampaignID, err)
	}
	return rep, nil
}

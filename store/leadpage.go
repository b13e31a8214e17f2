package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// LeadDetail is what a lead's page shows beyond Lead: its result's points
// per dimension and its consent as captured.
type LeadDetail struct {
	// Scores are the points per dimension of the lead's last completed
	// script (nil before one), with its script.
	Scores        map[string]int
	ScriptID      string
	ScriptVersion int
	// ConsentSource … ConsentPage are the consent fields as captured;
	// ConsentAt is nil when none was given.
	ConsentSource, ConsentText, ConsentVersion string
	ConsentAt                                  *time.Time
	ConsentIP, ConsentPage                     string
}

// GetLeadDetail reads a lead's scores and consent (read-only).
func (s *Store) GetLeadDetail(ctx context.Context, id int64) (*LeadDetail, error) {
	var d LeadDetail
	var scores []byte
	err := s.pool.QueryRow(ctx, `SELECT scores, coalesce(script_id, ''), coalesce(script_version, 0), coalesce(consent_source, ''),
		coalesce(consent_text, ''), coalesce(consent_version, ''), consent_at, coalesce(host(consent_ip), ''), coalesce(consent_page, '')
		FROM leads WHERE id = $1`, id).Scan(&scores, &d.ScriptID, &d.ScriptVersion, &d.ConsentSource, &d.ConsentText, &d.ConsentVersion,
		&d.ConsentAt, &d.ConsentIP, &d.ConsentPage)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if scores != nil {
		if err := json.Unmarshal(scores, &d.Scores); err != nil {
			return nil, err
		}
	}
	return &d, nil
}

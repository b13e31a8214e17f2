package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrVersionTaken is returned by AddScriptVersion for a version of the
// script that is saved already, or that a campaign pinned with another
// text: a script id and version name one text, forever (results record
// them).
var ErrVersionTaken = errors.New("that version of the script exists already")

// ScriptVersion is one version of a script: saved from the editor, or only
// pinned by campaigns (started with a script from a file or the API).
type ScriptVersion struct {
	ScriptID string
	Version  int
	// YAML is the script's text; ScriptVersions leaves it empty.
	YAML string
	// Saved: the version is in script_versions; SHA256 (hex, of YAML),
	// CreatedBy (the user's e-mail, or name; empty once the user is
	// deleted) and CreatedAt are set only then.
	Saved     bool
	SHA256    string
	CreatedBy string
	CreatedAt time.Time
	// Campaigns are the campaigns pinned to this version, oldest first.
	Campaigns []PinnedCampaign
}

// PinnedCampaign is a campaign that runs a script version.
type PinnedCampaign struct {
	ID     int64
	Name   string
	Status CampaignStatus
}

// NewScriptVersion is a version to save.
type NewScriptVersion struct {
	ScriptID string
	Version  int
	YAML     string
	// CreatedBy is the user saving it (0: none, e.g. a command).
	CreatedBy int64
}

// ScriptSHA256 is the digest script_versions keeps of a script's text.
func ScriptSHA256(yaml string) string {
	h := sha256.Sum256([]byte(yaml))
	return hex.EncodeToString(h[:])
}

// AddScriptVersion saves a new version of a script. The version must be
// new: ErrVersionTaken when it is saved already or a campaign pinned that
// id and version with another text. Callers take the number from
// NextScriptVersion and try the next one on ErrVersionTaken (two saves at
// once).
func (s *Store) AddScriptVersion(ctx context.Context, v NewScriptVersion) (*ScriptVersion, error) {
	sum := ScriptSHA256(v.YAML)
	var createdBy any
	if v.CreatedBy != 0 {
		createdBy = v.CreatedBy
	}
	sv := &ScriptVersion{ScriptID: v.ScriptID, Version: v.Version, YAML: v.YAML, Saved: true, SHA256: sum}
	err := s.pool.QueryRow(ctx, `INSERT INTO script_versions (script_id, version, yaml, sha256, created_by, created_at)
		SELECT $1, $2, $3, $4, $5, $6
		WHERE NOT EXISTS (SELECT 1 FROM campaigns WHERE script_id = $1 AND script_version = $2 AND script_yaml IS DISTINCT FROM $3)
		RETURNING created_at, coalesce((SELECT coalesce(email, name) FROM users WHERE id = $5), '')`,
		v.ScriptID, v.Version, v.YAML, sum, createdBy, s.now()).Scan(&sv.CreatedAt, &sv.CreatedBy)
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows), errors.As(err, &pgErr) && pgErr.Code == "23505": // unique_violation
		return nil, fmt.Errorf("save script %s v%d: %w", v.ScriptID, v.Version, ErrVersionTaken)
	case err != nil:
		return nil, fmt.Errorf("save script %s v%d: %w", v.ScriptID, v.Version, err)
	}
	return sv, nil
}

// NextScriptVersion returns one more than the highest version of script id
// saved or pinned by a campaign; 1 when there is none.
func (s *Store) NextScriptVersion(ctx context.Context, id string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT greatest(
		(SELECT coalesce(max(version), 0) FROM script_versions WHERE script_id = $1),
		(SELECT coalesce(max(script_version), 0) FROM campaigns WHERE script_id = $1)) + 1`, id).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("next version of script %s: %w", id, err)
	}
	return n, nil
}

// ScriptVersions lists the versions of every script, saved or pinned by a
// campaign, with the campaigns pinned to each: by script id, newest version
// first, at most limit (1-1000, default 500), without their text.
func (s *Store) ScriptVersions(ctx context.Context, limit int) ([]*ScriptVersion, error) {
	if limit <= 0 || limit > 1000 {
		limit = 500
	}
	rows, err := s.pool.Query(ctx, `WITH pinned AS (
			SELECT script_id, script_version AS version,
				array_agg(id ORDER BY id) AS ids, array_agg(name ORDER BY id) AS names, array_agg(status ORDER BY id) AS statuses
			FROM campaigns WHERE script_version IS NOT NULL GROUP BY script_id, script_version)
		SELECT coalesce(v.script_id, p.script_id), coalesce(v.version, p.version), v.script_id IS NOT NULL,
			coalesce(v.sha256, ''), coalesce(u.email, u.name, ''), v.created_at,
			coalesce(p.ids, '{}'), coalesce(p.names, '{}'), coalesce(p.statuses, '{}')
		FROM script_versions v
		FULL JOIN pinned p ON p.script_id = v.script_id AND p.version = v.version
		LEFT JOIN users u ON u.id = v.created_by
		ORDER BY 1, 2 DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list script versions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*ScriptVersion, error) {
		var v ScriptVersion
		var at *time.Time
		var ids []int64
		var names, statuses []string
		if err := row.Scan(&v.ScriptID, &v.Version, &v.Saved, &v.SHA256, &v.CreatedBy, &at, &ids, &names, &statuses); err != nil {
			return nil, err
		}
		if at != nil {
			v.CreatedAt = *at
		}
		for i, id := range ids {
			v.Campaigns = append(v.Campaigns, PinnedCampaign{ID: id, Name: names[i], Status: CampaignStatus(statuses[i])})
		}
		return &v, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list script versions: %w", err)
	}
	return out, nil
}

// ScriptVersionText returns one version of a script with its text: the
// saved one, else the copy a campaign pinned (Saved false); ErrNotFound
// when neither has it.
func (s *Store) ScriptVersionText(ctx context.Context, id string, version int) (*ScriptVersion, error) {
	return scriptVersionText(ctx, s.pool, id, version)
}

// scriptVersionText is ScriptVersionText in db.
func scriptVersionText(ctx context.Context, db DB, id string, version int) (*ScriptVersion, error) {
	v := ScriptVersion{ScriptID: id, Version: version}
	var at *time.Time
	err := db.QueryRow(ctx, `SELECT * FROM (
			SELECT v.yaml, true AS saved, v.sha256, coalesce(u.email, u.name, ''), v.created_at
			FROM script_versions v LEFT JOIN users u ON u.id = v.created_by WHERE v.script_id = $1 AND v.version = $2
			UNION ALL
			(SELECT script_yaml, false, '', '', NULL::timestamptz FROM campaigns
			 WHERE script_id = $1 AND script_version = $2 AND script_yaml IS NOT NULL ORDER BY id LIMIT 1)) x
		ORDER BY saved DESC LIMIT 1`, id, version).Scan(&v.YAML, &v.Saved, &v.SHA256, &v.CreatedBy, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("script %s v%d: %w", id, version, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("script %s v%d: %w", id, version, err)
	}
	if at != nil {
		v.CreatedAt = *at
	}
	return &v, nil
}

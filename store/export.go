package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ExportScript is a script the leads of an export were scored with, as
// the leads recorded it (ScriptID "" for leads without a result yet), in
// one of their campaigns, with the dimensions their scores name.
type ExportScript struct {
	CampaignID int64
	ScriptID   string
	Version    int
	// ScoreKeys are the dimensions in these leads' scores, sorted.
	ScoreKeys []string
	// YAML is the text to read their answers with: the version they
	// recorded (ScriptVersionText's), else their campaign's script, as
	// the lead page reads them ("" when the campaign has none).
	YAML string
}

// ExportLead is a lead as an export writes it: the lead, its campaign's
// name, who claimed it, its sales follow-up, its result's script, scores
// and answers, and its notes.
type ExportLead struct {
	Lead
	Campaign string
	// ClaimedBy is the e-mail of the rep who claimed it ("" for none; the
	// user's number when the user is gone).
	ClaimedBy   string
	ContactedAt *time.Time
	// SLAStatus is pending, met or breached ("" without a deadline).
	SLAStatus     string
	ScriptID      string
	ScriptVersion int
	// Scores are the points per dimension of the lead's result (nil
	// before one).
	Scores map[string]int
	// Answers are those of the call that gave the lead its result (its last
	// completed or opted-out attempt), in the order they were given.
	Answers []AnswerView
	// Notes are the reps' notes (lead.note events), oldest first.
	Notes []Note
}

// Note is a rep's note on a lead.
type Note struct {
	At time.Time `json:"at"`
	// By is the author's e-mail (the event's actor when the user is gone).
	By   string `json:"by"`
	Text string `json:"text"`
}

// exportWhere is the WHERE clause of f (but its cursor and limit) and its
// parameters.
func exportWhere(f LeadFilter) (string, []any) {
	var args []any
	where := f.where(func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	})
	if len(where) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(where, " AND "), args
}

// exportScripts lists the scripts the leads f selects were scored with,
// per campaign, and the dimensions of their scores.
func exportScripts(ctx context.Context, db DB, where string, args []any) ([]ExportScript, error) {
	rows, err := db.Query(ctx, `SELECT l.campaign_id, coalesce(l.script_id, ''), coalesce(l.script_version, 0),
		coalesce(array_agg(DISTINCT k ORDER BY k) FILTER (WHERE k IS NOT NULL), '{}')
		FROM leads l LEFT JOIN LATERAL jsonb_object_keys(coalesce(l.scores, '{}')) k ON true`+where+`
		GROUP BY 1, 2, 3 ORDER BY 2, 3, 1`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ExportScript
	for rows.Next() {
		var e ExportScript
		if err := rows.Scan(&e.CampaignID, &e.ScriptID, &e.Version, &e.ScoreKeys); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// exportTexts fills the scripts' texts, in db: head then needs no other
// connection while the export holds one.
func exportTexts(ctx context.Context, db DB, scripts []ExportScript) error {
	versions := map[string]string{} // by id and version
	for i := range scripts {
		e := &scripts[i]
		key := fmt.Sprintf("%s\x00%d", e.ScriptID, e.Version)
		text, ok := versions[key]
		if !ok && e.ScriptID != "" {
			v, err := scriptVersionText(ctx, db, e.ScriptID, e.Version)
			switch {
			case errors.Is(err, ErrNotFound):
			case err != nil:
				return err
			default:
				text = v.YAML
			}
			versions[key] = text
		}
		if text == "" {
			c, err := GetCampaign(ctx, db, e.CampaignID)
			if err != nil {
				return err
			}
			text = c.ScriptYAML
		}
		e.YAML = text
	}
	return nil
}

// ExportLeads streams the leads f selects, for a file with a column per
// dimension and per question: first head gets the scripts the leads were
// scored with (what the columns are made of), then each gets the leads
// one by one, most urgent first (as ListLeads orders them), with
// everything an export writes. Both read one snapshot (a read-only
// transaction), so no lead has a script head did not get; each lead comes
// from one query, so memory stays that of one lead whatever their number.
// f's cursor and limit do not apply. The ExportLead given to each is
// reused for the next lead: each must not keep it. head and each run while
// the export holds a connection: they must not wait for another one.
func (s *Store) ExportLeads(ctx context.Context, f LeadFilter, head func([]ExportScript) error, each func(*ExportLead) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("export leads: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // read-only: a no-op after Commit
	// The rows' subqueries are cheap index lookups that the planner costs
	// high over many leads: compiling them (JIT) took seconds before the
	// first row, for nothing.
	if _, err := tx.Exec(ctx, `SET LOCAL jit = off`); err != nil {
		return fmt.Errorf("export leads: %w", err)
	}
	where, args := exportWhere(f)
	scripts, err := exportScripts(ctx, tx, where, args)
	if err != nil {
		return fmt.Errorf("export scripts: %w", err)
	}
	if err := exportTexts(ctx, tx, scripts); err != nil {
		return fmt.Errorf("export scripts: %w", err)
	}
	if err := head(scripts); err != nil {
		return err
	}
	if err := exportRows(ctx, tx, where, args, each); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// exportQuery selects the leads of an export with where, most urgent
// first.
func exportQuery(where string) string {
	// The result's answers: those of the last attempt that completed or
	// opted out (an incomplete call keeps the earlier result). The notes'
	// authors: the users their events' actors name (user:<id>).
	return `SELECT ` + leadColumns + `, c.name,
		CASE WHEN l.assigned_to IS NULL THEN '' ELSE coalesce(u.email, u.name, 'user ' || l.assigned_to) END,
		l.contacted_at, coalesce(l.sla_status, ''), coalesce(l.script_id, ''), coalesce(l.script_version, 0), l.scores,
		(SELECT coalesce(jsonb_agg(jsonb_build_object('question', an.question, 'keys', an.keys, 'value', an.value, 'points', an.points,
				'from_form', an.from_form) ORDER BY an.seq), '[]')
			FROM answers an WHERE an.attempt_id = (SELECT a.id FROM call_attempts a WHERE a.lead_id = l.id AND a.outcome IN ('completed', 'opted_out')
				ORDER BY a.attempt_no DESC LIMIT 1)),
		(SELECT coalesce(jsonb_agg(jsonb_build_object('at', e.at, 'by', coalesce(nu.email, nu.name, e.actor), 'text', coalesce(e.data->>'text', ''))
				ORDER BY e.at, e.id), '[]')
			FROM lead_events e LEFT JOIN users nu ON nu.id = CASE WHEN e.actor ~ '^user:[0-9]{1,18}$' THEN substr(e.actor, 6)::bigint END
			WHERE e.lead_id = l.id AND e.kind = '` + string(EventLeadNote) + `')
		FROM leads l JOIN campaigns c ON c.id = l.campaign_id LEFT JOIN users u ON u.id = l.assigned_to` + where + `
		ORDER BY coalesce(l.sla_due_at, 'infinity'::timestamptz), l.id`
}

// exportRows streams the leads of an export to each.
func exportRows(ctx context.Context, db DB, where string, args []any, each func(*ExportLead) error) error {
	rows, err := db.Query(ctx, exportQuery(where), args...)
	if err != nil {
		return fmt.Errorf("export leads: %w", err)
	}
	defer rows.Close()
	var e ExportLead
	for rows.Next() {
		var scores, answers, notes []byte
		l, err := scanLead(rows, &e.Campaign, &e.ClaimedBy, &e.ContactedAt, &e.SLAStatus, &e.ScriptID, &e.ScriptVersion, &scores, &answers, &notes)
		if err != nil {
			return fmt.Errorf("export leads: %w", err)
		}
		e.Lead, e.Scores, e.Answers, e.Notes = *l, nil, nil, nil
		if scores != nil {
			if err := json.Unmarshal(scores, &e.Scores); err != nil {
				return fmt.Errorf("export lead %d scores: %w", l.ID, err)
			}
		}
		if err := json.Unmarshal(answers, &e.Answers); err != nil {
			return fmt.Errorf("export lead %d answers: %w", l.ID, err)
		}
		if err := json.Unmarshal(notes, &e.Notes); err != nil {
			return fmt.Errorf("export lead %d notes: %w", l.ID, err)
		}
		if err := each(&e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("export leads: %w", err)
	}
	return nil
}

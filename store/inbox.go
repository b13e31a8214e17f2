package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
)

// ResultAnswers reads, in one query, the answers of the call that gave
// each lead its result: its last attempt that completed or opted out (an
// incomplete call keeps the earlier result), in the order they were
// given. Leads without one are absent from the map.
func (s *Store) ResultAnswers(ctx context.Context, leadIDs []int64) (map[int64][]AnswerView, error) {
	out := map[int64][]AnswerView{}
	if len(leadIDs) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT a.lead_id, an.question, an.keys, an.value, an.points, an.from_form
		FROM (SELECT DISTINCT ON (lead_id) id, lead_id FROM call_attempts
			WHERE lead_id = ANY($1::bigint[]) AND outcome IN ('completed', 'opted_out')
			ORDER BY lead_id, attempt_no DESC) a
		JOIN answers an ON an.attempt_id = a.id
		ORDER BY a.lead_id, an.seq`, leadIDs)
	if err != nil {
		return nil, fmt.Errorf("result answers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var v AnswerView
		var points []byte
		if err := rows.Scan(&id, &v.Question, &v.Keys, &v.Value, &points, &v.FromForm); err != nil {
			return nil, fmt.Errorf("result answers: %w", err)
		}
		if err := json.Unmarshal(points, &v.Points); err != nil {
			return nil, fmt.Errorf("result answers: lead %d question %s points: %w", id, v.Question, err)
		}
		out[id] = append(out[id], v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("result answers: %w", err)
	}
	return out, nil
}

// SalesClasses lists the classes of the leads routed to sales in a
// working stage (WorkingStages), sorted: what the inbox may filter by.
// It reads the open leads and the claimed ones through their partial
// indexes, not the whole table (a contacted lead whose rep was deleted
// is left out).
func (s *Store) SalesClasses(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT class FROM (
			SELECT class FROM leads WHERE sales_stage = 'open' AND route = 'sales'
			UNION ALL
			SELECT class FROM leads WHERE assigned_to IS NOT NULL AND route = 'sales' AND sales_stage = ANY($1::text[])) c
		WHERE class IS NOT NULL ORDER BY class`, WorkingStages)
	if err != nil {
		return nil, fmt.Errorf("sales classes: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("sales classes: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// MaxNoteLength bounds a note on a lead, in characters.
const MaxNoteLength = 2000

// AddNote records a user's note on a lead: an event of kind lead.note
// with data {"text": text}, by "user:<id>". The caller checks that the
// user may see the lead and bounds the text (MaxNoteLength).
func (s *Store) AddNote(ctx context.Context, leadID, userID int64, text string) error {
	return s.AddEvent(ctx, s.pool, leadID, "user:"+strconv.FormatInt(userID, 10), EventLeadNote, map[string]any{"text": text})
}

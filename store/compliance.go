package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/scripts"
)

// CompliancePack is everything that shows how one lead was called: the
// consent it was called on (each snapshot as recorded), the scripts its
// calls played (their full text, by version), each call with its caller
// ID, timings against the 2-second rule, machine detection and answers,
// and the do-not-call entries and events of the lead. It is what a
// compliance officer hands over when a call is disputed.
type CompliancePack struct {
	GeneratedAt time.Time          `json:"generated_at"`
	Lead        ComplianceLead     `json:"lead"`
	Consent     []ConsentRecord    `json:"consent"`
	Scripts     []ComplianceScript `json:"scripts"`
	Calls       []AttemptView      `json:"calls"`
	DNC         *ComplianceDNC     `json:"dnc"`
	Events      []EventView        `json:"events"`
}

// ComplianceLead is the lead the pack is about.
type ComplianceLead struct {
	ID         int64      `json:"id"`
	CampaignID int64      `json:"campaign_id"`
	Phone      string     `json:"phone"`
	Source     string     `json:"source"`
	Status     string     `json:"status"`
	HasConsent bool       `json:"has_consent"`
	CreatedAt  time.Time  `json:"created_at"`
	ErasedAt   *time.Time `json:"erased_at,omitempty"`
}

// ConsentRecord is one consent snapshot, as recorded (consent_records).
type ConsentRecord struct {
	Source     string    `json:"source"`
	Text       string    `json:"text,omitempty"`
	Version    string    `json:"version,omitempty"`
	Page       string    `json:"page,omitempty"`
	IP         string    `json:"ip,omitempty"`
	GivenAt    time.Time `json:"given_at"`
	RecordedAt time.Time `json:"recorded_at"`
	FormSHA256 string    `json:"form_sha256"`
}

// ComplianceScript is a script version a call played, with its text: the
// saved version, the campaign's pinned text, or the shipped script of that
// version (empty when none is that version any more; the id and version
// still name it).
type ComplianceScript struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	YAML    string `json:"yaml,omitempty"`
}

// ComplianceDNC is the lead's number on the do-not-call list, if it is.
type ComplianceDNC struct {
	Source    string    `json:"source"`
	Reason    string    `json:"reason,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// Hashed: the person was erased, and the number is on the list as its
	// hash (since CreatedAt); the reason is gone with the number.
	Hashed bool `json:"hashed,omitempty"`
}

// CompliancePack gathers the pack of lead id (ErrNotFound without it).
func (s *Store) CompliancePack(ctx context.Context, id int64) (*CompliancePack, error) {
	p := &CompliancePack{GeneratedAt: s.now(), Consent: []ConsentRecord{}, Scripts: []ComplianceScript{}}
	err := s.pool.QueryRow(ctx, `SELECT id, campaign_id, phone, source, status, has_consent, created_at, erased_at FROM leads WHERE id = $1`, id).
		Scan(&p.Lead.ID, &p.Lead.CampaignID, &p.Lead.Phone, &p.Lead.Source, &p.Lead.Status, &p.Lead.HasConsent, &p.Lead.CreatedAt, &p.Lead.ErasedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("compliance pack of lead %d: %w", id, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT source, coalesce(text, ''), coalesce(version, ''), coalesce(page, ''), coalesce(host(ip), ''),
		given_at, recorded_at, form_sha256 FROM consent_records WHERE lead_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("compliance pack of lead %d: %w", id, err)
	}
	p.Consent, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (ConsentRecord, error) {
		var c ConsentRecord
		err := r.Scan(&c.Source, &c.Text, &c.Version, &c.Page, &c.IP, &c.GivenAt, &c.RecordedAt, &c.FormSHA256)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("compliance pack of lead %d: consent: %w", id, err)
	}
	// The calls, as the lead's history shows them: caller ID, timings,
	// machine verdict and answers included.
	attempts, events, err := s.LeadHistory(ctx, id)
	if err != nil {
		return nil, err
	}
	p.Calls = attempts
	if p.Calls == nil {
		p.Calls = []AttemptView{}
	}
	p.Events = events
	if p.Events == nil {
		p.Events = []EventView{}
	}
	// The scripts the calls played: the saved version, else the text the
	// campaign pinned when it is that version.
	rows, err = s.pool.Query(ctx, `SELECT DISTINCT a.script_id, a.script_version,
			coalesce(v.yaml, CASE WHEN c.script_id = a.script_id AND c.script_version = a.script_version THEN c.script_yaml END, '')
		FROM call_attempts a JOIN campaigns c ON c.id = a.campaign_id
		LEFT JOIN script_versions v ON v.script_id = a.script_id AND v.version = a.script_version
		WHERE a.lead_id = $1 ORDER BY 1, 2`, id)
	if err != nil {
		return nil, fmt.Errorf("compliance pack of lead %d: %w", id, err)
	}
	p.Scripts, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (ComplianceScript, error) {
		var c ComplianceScript
		err := r.Scan(&c.ID, &c.Version, &c.YAML)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("compliance pack of lead %d: scripts: %w", id, err)
	}
	for i, sc := range p.Scripts {
		if sc.YAML != "" {
			continue
		}
		// A shipped script's version, never saved: the one in the binary,
		// when it is that version.
		if b, err := scripts.Read(sc.ID); err == nil {
			if parsed, _ := ivr.Parse(sc.ID+".yaml", b); parsed != nil && parsed.Version == sc.Version {
				p.Scripts[i].YAML = string(b)
			}
		}
	}
	var d ComplianceDNC
	var reason *string
	err = s.pool.QueryRow(ctx, `SELECT source, reason, created_at FROM dnc WHERE phone = $1`, p.Lead.Phone).Scan(&d.Source, &reason, &d.CreatedAt)
	switch {
	case err == nil:
		if reason != nil {
			d.Reason = *reason
		}
		p.DNC = &d
	case !errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("compliance pack of lead %d: dnc: %w", id, err)
	case p.Lead.ErasedAt != nil:
		// An erased number is on the list as its hash, which the
		// erasure's event names.
		d = ComplianceDNC{Hashed: true}
		err = s.pool.QueryRow(ctx, `SELECT h.source, h.listed_at FROM lead_events e
			JOIN dnc_hashes h ON h.phone_hash = decode(substr(e.data->>'phone_hash', 8), 'hex')
			WHERE e.lead_id = $1 AND e.kind = $2 AND e.data->>'phone_hash' LIKE 'sha256:%'
			ORDER BY e.at DESC LIMIT 1`, id, EventLeadErased).Scan(&d.Source, &d.CreatedAt)
		switch {
		case err == nil:
			p.DNC = &d
		case !errors.Is(err, pgx.ErrNoRows):
			return nil, fmt.Errorf("compliance pack of lead %d: dnc: %w", id, err)
		}
	}
	return p, nil
}

package store_test

import (
	"context"
	"io"
	"reflect"
	"testing"

	"github.com/qualdial/qualdial/store"
)

// TestImportDryRunKeepsNothingAndMatches: a dry run of a messy list
// (a rejected row, a duplicate in the file, a number on the DNC list, a
// lead already in the campaign) reports what the real import then
// reports — counts, reasons and rejects — and keeps nothing: no lead,
// no import, no rejected row.
func TestImportDryRunKeepsNothingAndMatches(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	c := campaign(t, s, "dry")
	lead(t, s, store.LeadParams{CampaignID: c.ID, Phone: "+12125550109"})
	if _, err := s.AddDNC(ctx, s.Pool(), store.DNCEntry{Phone: "+12125550108", Source: "manual"}); err != nil {
		t.Fatal(err)
	}
	items := func() func() (store.ImportItem, error) {
		rows := []store.ImportItem{
			{Row: 2, Raw: "+12125550101", Lead: &store.LeadParams{CampaignID: c.ID, Phone: "+12125550101"}},
			{Row: 3, Raw: "+12125550102", Lead: &store.LeadParams{CampaignID: c.ID, Phone: "+12125550102"}},
			{Row: 4, Raw: "+12125550101 again", Lead: &store.LeadParams{CampaignID: c.ID, Phone: "+12125550101"}},
			{Row: 5, Raw: "+12125550108", Lead: &store.LeadParams{CampaignID: c.ID, Phone: "+12125550108"}},
			{Row: 6, Raw: "+12125550109", Lead: &store.LeadParams{CampaignID: c.ID, Phone: "+12125550109"}},
			{Row: 7, Raw: "abc", Reject: `phone: "abc" is not a phone number`},
			{Row: 8, Raw: "xyz", Reject: `phone: "xyz" is not a phone number`},
		}
		return func() (store.ImportItem, error) {
			if len(rows) == 0 {
				return store.ImportItem{}, io.EOF
			}
			it := rows[0]
			rows = rows[1:]
			return it, nil
		}
	}
	count := func(sql string) int {
		var n int
		if err := s.Pool().QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := [3]int{count(`SELECT count(*) FROM leads`), count(`SELECT count(*) FROM imports`), count(`SELECT count(*) FROM import_rejects`)}
	p := store.ImportParams{CampaignID: c.ID, Filename: "messy.csv"}
	dry, err := s.DryRunImport(ctx, p, items(), 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	after := [3]int{count(`SELECT count(*) FROM leads`), count(`SELECT count(*) FROM imports`), count(`SELECT count(*) FROM import_rejects`)}
	if after != before {
		t.Fatalf("the dry run kept something: leads, imports, rejects %v before, %v after", before, after)
	}
	d := dry.Import
	if d.Status != store.ImportDryRun || d.ID != 0 || d.TotalRows != 7 || d.Accepted != 2 || d.Duplicates != 2 || d.DuplicatesInFile != 1 ||
		d.OnDNC != 1 || d.Rejected != 2 || d.WithoutConsent != 2 {
		t.Fatalf("dry run %+v", d)
	}
	wantReasons := []store.Count{{Key: `phone: "…" is not a phone number`, N: 2}, {Key: "already in the campaign", N: 1},
		{Key: "duplicate of row …", N: 1}, {Key: "on the do-not-call list", N: 1}}
	if !reflect.DeepEqual(dry.Reasons, wantReasons) {
		t.Errorf("reasons %+v", dry.Reasons)
	}

	imp, err := s.ImportLeads(ctx, p, items(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	real, err := s.ImportReport(ctx, imp.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	// The same report but for what only a kept import has.
	r := *real.Import
	r.ID, r.Status, r.StartedAt, r.FinishedAt = d.ID, d.Status, d.StartedAt, d.FinishedAt
	if !reflect.DeepEqual(&r, d) || !reflect.DeepEqual(real.Reasons, dry.Reasons) || !reflect.DeepEqual(real.Rejects, dry.Rejects) {
		t.Errorf("the import's report differs from the dry run's:\n%+v %v %v\n%+v %v %v", &r, real.Reasons, real.Rejects, d, dry.Reasons, dry.Rejects)
	}
	if len(dry.Rejects) != 5 || dry.Rejects[0].Row != 4 || dry.Rejects[0].Reason != "duplicate of row 2" {
		t.Errorf("rejects %+v", dry.Rejects)
	}
	if n := count(`SELECT count(*) FROM leads`); n != 3 {
		t.Errorf("%d leads after the import, want 3", n)
	}
}

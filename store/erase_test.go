package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/store"
)

// The person erased in these tests: values found nowhere else.
const (
	erasePhone   = "+12125550187"
	eraseFirst   = "Zebulon"
	eraseLast    = "Quaxworth"
	eraseEmail   = "zebulon.q@example.org"
	eraseCompany = "Zyxwv Holdings"
)

// eraseTraces are the strings that must be nowhere in the database after
// the erasure: the number in its forms, name, e-mail, company, attribute,
// external id, consent IP and a note's words.
var eraseTraces = []string{"2125550187", "555-0187", "555 0187", eraseFirst, eraseLast, "zebulon.q", eraseCompany,
	"Quuxplan", "crm-zq-77", "203.0.113.77", "prefers Tuesdays"}

// callLead places one answered, completed call for a lead: it ends sales
// ready (class sql), with answers.
func callLead(t *testing.T, s *store.Store, c *store.Campaign, leadID int64, phone string) *store.Attempt {
	t.Helper()
	ctx := context.Background()
	sc := script(t)
	var a *store.Attempt
	if err := s.Tx(ctx, func(tx pgx.Tx) error {
		var err error
		a, err = s.StartAttempt(ctx, tx, store.AttemptParams{LeadID: leadID, CampaignID: c.ID, Phone: phone, Driver: "twilio", Worker: "test", Script: sc})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	eng := ivr.NewEngine(sc)
	st, _ := eng.Start(nil)
	for _, k := range []string{"1", "1", "1", "1", "1", "1"} {
		st, _, _ = eng.Next(st, ivr.Input{Keys: k})
	}
	res := eng.Result(st)
	if _, err := s.Pool().Exec(ctx, `UPDATE call_attempts SET provider_call_id = 'CA0187-' || id, engine_state = $2,
		reason = 'sip:' || $3 || '@trunk answered' WHERE id = $1`, a.ID, fmt.Sprintf(`{"fields": {"first_name": %q}}`, eraseFirst), phone); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishAttempt(ctx, s.Pool(), store.AttemptResult{AttemptID: a.ID, LeadID: leadID, Disposition: "answered", SIPCode: 200,
		Result: &res, Status: "completed", SLA: 24 * time.Hour, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	return a
}

// databaseTraces lists, per table, the rows of every table in the schema
// whose text holds one of traces.
func databaseTraces(t *testing.T, s *store.Store, traces []string) []string {
	t.Helper()
	ctx := context.Background()
	rows, err := s.Pool().Query(ctx, `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables
		WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(tables) < 20 {
		t.Fatalf("tables %v %v", tables, err)
	}
	var found []string
	for _, table := range tables {
		rows, err := s.Pool().Query(ctx, `SELECT t::text FROM `+table+` t`)
		if err != nil {
			t.Fatal(err)
		}
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range texts {
			for _, tr := range traces {
				if strings.Contains(strings.ToLower(text), strings.ToLower(tr)) {
					found = append(found, fmt.Sprintf("%s holds %q: %s", table, tr, text))
				}
			}
		}
	}
	return found
}

// rollupsExact checks that the dashboards' lead and call rollups equal the
// counts of the rows there are.
func rollupsExact(t *testing.T, s *store.Store) {
	t.Helper()
	var diff int
	if err := s.Pool().QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM ((SELECT campaign_id, day, sum(leads), sum(dialled), sum(reached), sum(completed), sum(sql), sum(accepted),
				sum(contacted), sum(won), sum(mql), sum(disqualified), sum(opted_out), sum(scored_to_sales) FROM lead_day_counts GROUP BY 1, 2)
			EXCEPT (SELECT c.campaign_id, c.day, sum(c.leads), sum(c.dialled), sum(c.reached), sum(c.completed), sum(c.sql), sum(c.accepted),
				sum(c.contacted), sum(c.won), sum(c.mql), sum(c.disqualified), sum(c.opted_out), sum(c.scored_to_sales)
				FROM leads l, qualdial_lead_counts(l, 1) c GROUP BY 1, 2)) d)
		+ (SELECT count(*) FROM ((SELECT campaign_id, day, class, outcome, answered, finished, sum(calls) FROM attempt_day_counts GROUP BY 1, 2, 3, 4, 5, 6
				HAVING sum(calls) <> 0)
			EXCEPT (SELECT c.campaign_id, c.day, c.class, c.outcome, c.answered, c.finished, sum(c.calls)
				FROM call_attempts a, qualdial_attempt_counts(a, 1) c GROUP BY 1, 2, 3, 4, 5, 6)) d)`).Scan(&diff); err != nil {
		t.Fatal(err)
	}
	if diff != 0 {
		t.Errorf("%d rollup groups differ from the rows", diff)
	}
}

// TestEraseLead: a person with two leads (two campaigns), a call with a
// Twilio session, an opt-out on the DNC list, a note, a webhook delivery,
// an idempotency key and an import row is erased: afterwards no text of
// any table holds their number, name, e-mail or anything else of theirs;
// the leads keep their non-personal facts, the dashboards stay exact, the
// number is refused as a hash (pre-dial check, imports), a second erasure
// changes nothing, and other people are untouched.
func TestEraseLead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, clock := newStore(t)
	c := campaign(t, s, "erase-one")
	c2 := campaign(t, s, "erase-two")
	if _, err := s.CreateSubscription(ctx, "https://crm.example/hook", []string{"lead.qualified", "lead.opted_out"}); err != nil {
		t.Fatal(err)
	}
	person := store.LeadParams{CampaignID: c.ID, Phone: erasePhone, FirstName: eraseFirst, LastName: eraseLast, Email: eraseEmail,
		Company: eraseCompany, Region: "NY", PostalCode: "10001", ExternalID: "crm-zq-77", Source: "web_form",
		Attributes: map[string]string{"plan": "Quuxplan"},
		Consent:    store.Consent{Source: "web_form", Text: "I agree to be called", At: clock.Now(), IP: netip.MustParseAddr("203.0.113.77"), Page: "https://acme.example/?e=" + eraseEmail}}
	id := lead(t, s, person)
	person.CampaignID, person.ExternalID = c2.ID, ""
	id2 := lead(t, s, person)
	other := lead(t, s, store.LeadParams{CampaignID: c.ID, Phone: "+12125550999", FirstName: "Olive", Email: "olive@example.org"})

	a := callLead(t, s, c, id, erasePhone)
	if err := s.CreateSession(ctx, "tok-0187-0000000000", []byte(fmt.Sprintf(`{"attempt_id": "%d", "to": %q}`, a.ID, erasePhone))); err != nil {
		t.Fatal(err)
	}
	if err := s.AddEvent(ctx, s.Pool(), id, "user:1", store.EventLeadNote, map[string]any{"text": "Zebulon prefers Tuesdays"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddDNC(ctx, s.Pool(), store.DNCEntry{Phone: erasePhone, Source: store.DNCOptOut, Reason: "pressed 9 on +12125550187",
		LeadID: id2, CampaignID: c2.ID, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateAPIKey(ctx, store.RoleIntake, "form"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, `INSERT INTO idempotency_keys (api_key_id, key, body_hash, lead_id, response_status, response, created_at)
		SELECT id, 'form-1', sha256('x'), $1, 202, jsonb_build_object('phone', $2::text), $3 FROM api_keys LIMIT 1`, id, erasePhone, clock.Now()); err != nil {
		t.Fatal(err)
	}
	// A call list that rejected the person's row (national format), and
	// another one's.
	imp, err := s.ImportLeads(ctx, store.ImportParams{CampaignID: c.ID, Filename: "list.csv"}, func() func() (store.ImportItem, error) {
		items := []store.ImportItem{
			{Row: 2, Raw: "Zebulon,Quaxworth,(212) 555-0187,zebulon.q@example.org", Reject: "consent: not a date"},
			{Row: 3, Raw: "Olive,(212) 555-0999", Reject: "consent: not a date"},
		}
		return func() (store.ImportItem, error) {
			if len(items) == 0 {
				return store.ImportItem{}, io.EOF
			}
			it := items[0]
			items = items[1:]
			return it, nil
		}
	}(), nil, nil)
	if err != nil || imp.Rejected != 2 {
		t.Fatalf("import %+v %v", imp, err)
	}
	// A failed dial job of the lead's that quotes the number.
	if _, err := s.Pool().Exec(ctx, `INSERT INTO river_job (args, kind, max_attempts, queue, state, errors, finalized_at, attempt)
		VALUES (jsonb_build_object('lead_id', $1::bigint), 'dial_lead', 20, 'dial_sip', 'discarded',
			ARRAY[jsonb_build_object('error', 'no time zone known for ' || $2::text)], $3, 1)`, id, erasePhone, clock.Now()); err != nil {
		t.Fatal(err)
	}
	if found := databaseTraces(t, s, eraseTraces); len(found) < 10 {
		t.Fatalf("the person is in too few places before the erasure for the test to mean anything: %v", found)
	}
	before, _ := store.GetLead(ctx, s.Pool(), id)

	clock.Advance(time.Hour)
	er, err := s.EraseLead(ctx, id, "api_key:1")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(er.LeadIDs, []int64{id, id2}) || er.AlreadyErased || !er.WasOnDNC || er.ImportRejects != 1 || er.TwilioSessions != 1 ||
		er.WebhookDeliveries == 0 {
		t.Errorf("erasure %+v", er)
	}
	for _, f := range databaseTraces(t, s, eraseTraces) {
		t.Error(f)
	}

	// What stays: the facts, without the person.
	l, err := store.GetLead(ctx, s.Pool(), id)
	if err != nil {
		t.Fatal(err)
	}
	if l.Phone != fmt.Sprintf("erased:%d", id) || l.FirstName != "" || l.Email != "" || len(l.Attributes) != 0 || l.ExternalID != "" ||
		l.Class != before.Class || l.Class == "" || *l.Total != *before.Total || l.SalesStage != store.StageLost || !l.HasConsent || l.AttemptCount != 1 {
		t.Errorf("erased lead %+v (before %+v)", l, before)
	}
	if l2, _ := store.GetLead(ctx, s.Pool(), id2); l2.Status != store.LeadBlocked || l2.NextAttemptAt != nil {
		t.Errorf("the waiting lead of the same person: %+v; want blocked, not due", l2)
	}
	attempts, events, err := s.LeadHistory(ctx, id)
	if err != nil || len(attempts) != 1 || attempts[0].Disposition != "answered" || len(attempts[0].Answers) == 0 {
		t.Errorf("the call record after the erasure: %+v %v", attempts, err)
	}
	if last := events[len(events)-1]; last.Kind != string(store.EventLeadErased) || last.Actor != "api_key:1" {
		t.Errorf("last event %+v; want lead.erased by api_key:1", last)
	}
	if o, _ := store.GetLead(ctx, s.Pool(), other); o.Phone != "+12125550999" || o.FirstName != "Olive" {
		t.Errorf("another person's lead changed: %+v", o)
	}
	var otherRejects int
	s.Pool().QueryRow(ctx, `SELECT count(*) FROM import_rejects WHERE raw LIKE '%555-0999%'`).Scan(&otherRejects)
	if otherRejects != 1 {
		t.Errorf("another person's import row was deleted")
	}
	rollupsExact(t, s)

	// The number stays refused, as its hash.
	rows, err := s.Pool().Query(ctx, `SELECT phone_hash FROM dnc_hashes`)
	if err != nil {
		t.Fatal(err)
	}
	hashes, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil || len(hashes) != 1 || !bytes.Equal(hashes[0], store.PhoneHash(erasePhone)) {
		t.Errorf("dnc_hashes: %x %v; want one row, PhoneHash %x", hashes, err, store.PhoneHash(erasePhone))
	}
	if on, err := store.OnDNC(ctx, s.Pool(), erasePhone); err != nil || !on {
		t.Errorf("OnDNC after erasure: %v %v", on, err)
	}
	if on, _ := store.OnDNCMany(ctx, s.Pool(), []string{erasePhone, "+12125550999"}); !on[erasePhone] || on["+12125550999"] {
		t.Errorf("OnDNCMany after erasure: %v", on)
	}
	again, err := s.ImportLeads(ctx, store.ImportParams{CampaignID: c.ID}, rowsOf(c.ID, erasePhone, "+12125550555"), nil, nil)
	if err != nil || again.OnDNC != 1 || again.Accepted != 1 {
		t.Errorf("re-import of the erased number: %+v %v; want it on the DNC list", again, err)
	}

	// Erasing again changes nothing; an unknown lead is not found.
	clock.Advance(time.Hour)
	if er, err := s.EraseLead(ctx, id2, "api_key:1"); err != nil || !er.AlreadyErased || !slices.Equal(er.LeadIDs, []int64{id2}) {
		t.Errorf("second erasure: %+v %v", er, err)
	}
	if _, err := s.EraseLead(ctx, 1<<40, "api_key:1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown lead: %v", err)
	}
	// Taking the number off the list takes its hash off too.
	if removed, err := s.RemoveDNC(ctx, s.Pool(), erasePhone, "user:1", "asked to be called again"); err != nil || !removed {
		t.Errorf("remove the erased number from the list: %v %v", removed, err)
	}
	if on, _ := store.OnDNC(ctx, s.Pool(), erasePhone); on {
		t.Error("the number is still on the list after its removal")
	}
	// ...and its history keeps the hash, never the number again.
	var plain, hashed int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FILTER (WHERE phone = $1), count(*) FILTER (WHERE phone LIKE 'sha256:%' AND action = 'removed')
		FROM dnc_changes`, erasePhone).Scan(&plain, &hashed); err != nil || plain != 0 || hashed != 1 {
		t.Errorf("DNC history after removing an erased number: %d rows with the number, %d hashed removals (%v)", plain, hashed, err)
	}
}

// TestEraseLeadDuringCall: a lead being called is not erased (the call
// would write the number back); erasing after the call works.
func TestEraseLeadDuringCall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	c := campaign(t, s, "on-call")
	id := lead(t, s, store.LeadParams{CampaignID: c.ID, Phone: erasePhone, FirstName: eraseFirst})
	var a *store.Attempt
	if err := s.Tx(ctx, func(tx pgx.Tx) error {
		var err error
		a, err = s.StartAttempt(ctx, tx, store.AttemptParams{LeadID: id, CampaignID: c.ID, Phone: erasePhone, Driver: "sip", Worker: "test", Script: script(t)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EraseLead(ctx, id, "user:1"); !errors.Is(err, store.ErrErasureDuringCall) || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("erasure during a call: %v; want ErrErasureDuringCall (a conflict)", err)
	}
	if err := s.FinishAttempt(ctx, s.Pool(), store.AttemptResult{AttemptID: a.ID, LeadID: id, Disposition: "busy", SIPCode: 486,
		Status: store.LeadRetryWait, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	if er, err := s.EraseLead(ctx, id, "user:1"); err != nil || len(er.LeadIDs) != 1 {
		t.Fatalf("erasure after the call: %+v %v", er, err)
	}
	if l, _ := store.GetLead(ctx, s.Pool(), id); l.Status != store.LeadBlocked || l.NextAttemptAt != nil {
		t.Errorf("erased lead waiting for a retry: %+v; want blocked", l)
	}
	rollupsExact(t, s)
}

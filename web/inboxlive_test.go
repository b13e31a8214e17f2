package web_test

import (
	"bufio"
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/scripts"
	"github.com/qualdial/qualdial/store"
)

// unlabelledCampaign creates a campaign with bant-en pinned as the version
// after the shipped one, its answers stripped of their labels (the optional
// key that words them): the inbox falls back to the question and its points.
func unlabelledCampaign(t *testing.T, s *site, name string) *store.Campaign {
	t.Helper()
	src, _ := scripts.Read("bant-en")
	shipped := string(src)
	if !strings.Contains(shipped, "\nversion: 3\n") || !strings.Contains(shipped, "next: authority, label: budget approved}") {
		t.Fatalf("bant-en is not the labelled v3: %s", shipped)
	}
	plain := regexp.MustCompile(`, label: [^}\n]*\}`).ReplaceAllString(strings.Replace(shipped, "\nversion: 3\n", "\nversion: 4\n", 1), "}")
	if strings.Contains(plain, "label:") {
		t.Fatalf("labels left: %s", plain)
	}
	return scriptCampaign(t, s, name, plain)
}

// readyLead adds a lead of c that answered bant-en's call (intro, company,
// budget approved, decides, seats, deciding this month): sales-ready,
// open, due in 24 hours.
func readyLead(t *testing.T, s *site, c *store.Campaign, first, phone, seats string) int64 {
	t.Helper()
	return calledLead(t, s, c, store.LeadParams{Phone: phone, FirstName: first, Company: first + " Ltd", Source: "web_form",
		TimeZone: "America/Los_Angeles"}, "1", "1", "1", "1", seats+"#", "1")
}

// TestInboxAnswersAndClass: each row says the answers that weigh most in
// words (the script's labels, else the question and its points); the
// class filter lists the classes present and refuses another; the export
// link and the next page keep the filters.
func TestInboxAnswersAndClass(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	lc := bantCampaign(t, s, "labelled")
	plain := unlabelledCampaign(t, s, "plain")
	worded := readyLead(t, s, lc, "Wanda", "+12125550111", "500")
	bare := readyLead(t, s, plain, "Pete", "+12125550112", "40")
	hot := salesLead(t, s, plain, "Hector", "", s.st.Now().Add(time.Hour))
	if _, err := s.st.Pool().Exec(context.Background(), `UPDATE leads SET class = 'hot' WHERE id = $1`, hot); err != nil {
		t.Fatal(err)
	}
	rep := s.user(t, store.RoleSales, "rep@example.com")

	r := rep.do("GET", "/inbox", nil)
	body := html.UnescapeString(r.body)
	row := func(id int64) string {
		i := strings.Index(body, fmt.Sprintf(`<tr id="lead-%d"`, id))
		if i < 0 {
			t.Fatalf("no row for lead %d", id)
		}
		return body[i : i+strings.Index(body[i:], "</tr>")]
	}
	// budget (−10…30) and authority (0…25) weigh most, then seats and
	// timeline (20 each: the first asked).
	if got := row(worded); !strings.Contains(got, `<td data-label="Answers" class="answers-words">budget approved · decides · 500 seats</td>`) {
		t.Errorf("labelled answers: %s", got)
	}
	if got := row(bare); !strings.Contains(got, `class="answers-words">budget +30 · authority +25 · 40 seats</td>`) {
		t.Errorf("unlabelled answers: %s", got)
	}
	if got := row(hot); !strings.Contains(got, `class="answers-words"></td>`) {
		t.Errorf("a lead without a call: %s", got)
	}
	// The lead page words the labelled answer too.
	if r := rep.do("GET", fmt.Sprintf("/leads/%d", worded), nil); !strings.Contains(r.body, "budget approved; next question authority") {
		t.Errorf("lead page meaning: %s", r.body)
	}

	// The class filter: the classes present, one at a time.
	if !strings.Contains(r.body, `<option value="hot">hot</option>`) || !strings.Contains(r.body, `<option value="sql">sql</option>`) {
		t.Errorf("class options: %s", r.body)
	}
	for query, want := range map[string][]int64{
		"class=hot": {hot},
		"class=sql": {worded, bare}, // both due in 24 hours: the first qualified first
		"class=sql&campaign=" + strconv.FormatInt(lc.ID, 10): {worded},
	} {
		r := rep.do("GET", "/inbox?"+query, nil)
		if ids, _ := inboxRows(t, r.body); r.status != http.StatusOK || fmt.Sprint(ids) != fmt.Sprint(want) {
			t.Errorf("%s: %d %v, want %v", query, r.status, ids, want)
		}
	}
	r = rep.do("GET", "/inbox?class=cold", nil)
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "class &#34;cold&#34; is not a class of the leads in the inbox") {
		t.Errorf("unknown class: %d %s", r.status, r.body)
	}
	if strings.Contains(r.body, "sse-connect") {
		t.Error("a page with a wrong filter streams")
	}
	r = rep.do("GET", "/inbox?class=sql&show=unclaimed&campaign="+strconv.FormatInt(plain.ID, 10), nil)
	if !strings.Contains(r.body, fmt.Sprintf(`id="export-csv" href="/inbox/export.csv?campaign=%d&amp;class=sql&amp;show=unclaimed"`, plain.ID)) ||
		!strings.Contains(r.body, fmt.Sprintf(`sse-connect="/inbox/stream?campaign=%d&amp;class=sql&amp;show=unclaimed"`, plain.ID)) ||
		!strings.Contains(r.body, `<option value="sql" selected>sql</option>`) {
		t.Errorf("filtered page's links: %s", r.body)
	}
	if r := rep.do("GET", "/inbox", nil); !strings.Contains(r.body, `id="export-csv" href="/inbox/export.csv"`) {
		t.Errorf("unfiltered export link: %s", r.body)
	}
}

// TestInboxClassPages: the next page keeps the class filter, and a later
// page does not stream (the stream is the first page's).
func TestInboxClassPages(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	c := bantCampaign(t, s, "spring")
	if _, err := s.st.Pool().Exec(context.Background(), `INSERT INTO leads (campaign_id, phone, status, outcome, class, route, total,
			sales_stage, sla_due_at, sla_status, created_at, updated_at)
		SELECT $1::bigint, '+1415555' || lpad(g::text, 4, '0'), 'completed', 'completed', CASE WHEN g % 2 = 0 THEN 'sql' ELSE 'hot' END, 'sales', 90,
			'open', $2::timestamptz + g * interval '1 minute', 'pending', $2, $2
		FROM generate_series(1, 120) g`, c.ID, s.st.Now()); err != nil {
		t.Fatal(err)
	}
	rep := s.user(t, store.RoleSales, "rep@example.com")
	r := rep.do("GET", "/inbox?class=hot", nil)
	if ids, _ := inboxRows(t, r.body); len(ids) != 50 || !strings.Contains(r.body, `href="/inbox?after=`) || !strings.Contains(r.body, `&amp;class=hot" id="next-page"`) {
		t.Fatalf("first page of hot: %d rows %s", len(ids), r.body)
	}
	i := strings.Index(r.body, `href="/inbox?after=`) + len(`href="`)
	next := html.UnescapeString(r.body[i : i+strings.Index(r.body[i:], `"`)])
	r = rep.do("GET", next, nil)
	ids, _ := inboxRows(t, r.body)
	if r.status != http.StatusOK || len(ids) != 10 || strings.Contains(r.body, "sse-connect") {
		t.Errorf("second page of hot: %d, %d rows, streaming %v", r.status, len(ids), strings.Contains(r.body, "sse-connect"))
	}
}

// sseReader reads a live stream's events.
type sseReader struct {
	t      *testing.T
	events chan string
}

// readSSE reads the events named name of a stream in the background (the
// data lines of each joined); the channel closes when the stream ends.
func readSSE(t *testing.T, res *http.Response, name string) *sseReader {
	r := &sseReader{t: t, events: make(chan string, 64)}
	go func() {
		defer close(r.events)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "" && data != nil:
				r.events <- strings.Join(data, "\n")
				data = nil
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			case line != "" && line != "event: "+name && !strings.HasPrefix(line, ":"):
				r.events <- "unexpected line " + line
			}
		}
	}()
	return r
}

// next waits for the next event.
func (r *sseReader) next() string {
	r.t.Helper()
	select {
	case ev, ok := <-r.events:
		if !ok {
			r.t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(30 * time.Second):
		r.t.Fatal("no event in 30 s")
	}
	return ""
}

// TestInboxStream: /inbox/stream sends the first page's rows with the
// page's filters as server-sent events, and again only when they changed:
// a new sales-ready lead arrives; a wrong filter is 422, marketing 403.
func TestInboxStream(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	c := bantCampaign(t, s, "live")
	first := readyLead(t, s, c, "Fay", "+12125550121", "500")
	hot := salesLead(t, s, c, "Hal", "", s.st.Now().Add(time.Hour))
	if _, err := s.st.Pool().Exec(context.Background(), `UPDATE leads SET class = 'hot' WHERE id = $1`, hot); err != nil {
		t.Fatal(err)
	}
	rep := s.user(t, store.RoleSales, "rep@example.com")
	if r := rep.do("GET", "/inbox", nil); !strings.Contains(r.body, `sse-connect="/inbox/stream"`) {
		t.Fatalf("the inbox does not stream: %s", r.body)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.srv.URL+"/inbox/stream?class=sql", nil)
	res, err := rep.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	events := readSSE(t, res, "inbox")
	ev := events.next()
	if ids, _ := inboxRows(t, ev); fmt.Sprint(ids) != fmt.Sprint([]int64{first}) || !strings.Contains(html.UnescapeString(ev), "budget approved · decides · 500 seats") {
		t.Fatalf("first event: %s", ev)
	}
	// Ticks every 200 ms go by: nothing is sent again unless it changed
	// (at most the clock's next minute, in the countdowns).
	last := ev
	for deadline := time.After(time.Second); ; {
		select {
		case ev := <-events.events:
			if ev == last {
				t.Fatalf("the same rows sent twice: %s", ev)
			}
			if ids, _ := inboxRows(t, ev); fmt.Sprint(ids) != fmt.Sprint([]int64{first}) {
				t.Fatalf("rows changed by themselves: %v", ids)
			}
			last = ev
			continue
		case <-deadline:
		}
		break
	}
	// A new sales-ready lead: the next event with new rows has it, first
	// (due earlier than the first one's 24 hours). A tick between its
	// arrival (due in 24 hours too, after the first) and the update may
	// send that state first.
	fresh := readyLead(t, s, c, "Gus", "+12125550122", "20")
	if _, err := s.st.Pool().Exec(context.Background(), `UPDATE leads SET sla_due_at = sla_due_at - interval '1 hour' WHERE id = $1`, fresh); err != nil {
		t.Fatal(err)
	}
	for {
		ev := events.next()
		ids, _ := inboxRows(t, ev)
		if len(ids) < 2 {
			continue
		}
		if fmt.Sprint(ids) == fmt.Sprint([]int64{fresh, first}) {
			break
		}
		if fmt.Sprint(ids) != fmt.Sprint([]int64{first, fresh}) {
			t.Fatalf("after a new lead: %v", ids)
		}
	}
	cancel()

	if r := rep.do("GET", "/inbox/stream?class=cold", nil); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `class "cold" is not a class`) {
		t.Errorf("stream with a wrong filter: %d %s", r.status, r.body)
	}
	if r := s.user(t, store.RoleMarketing, "mkt@example.com").do("GET", "/inbox/stream", nil); r.status != http.StatusForbidden {
		t.Errorf("marketing stream: %d", r.status)
	}
	if r := s.browser(t).do("GET", "/inbox/stream", nil); r.status != http.StatusSeeOther {
		t.Errorf("anonymous stream: %d", r.status)
	}
	if r := rep.do("GET", "/assets/inbox.js", nil); r.status != http.StatusOK || !strings.Contains(r.body, "Notification") {
		t.Errorf("inbox.js: %d", r.status)
	}
}

// TestLeadNotes: anyone who may see a lead's page adds a note; it is an
// event lead.note {"text"} by the user, shown on the timeline with their
// e-mail; an empty, too long or binary note is refused with the reason,
// a huge form is 413, a cross-origin post and a lead the rep may not see
// store nothing.
func TestLeadNotes(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	c := bantCampaign(t, s, "spring")
	id := salesLead(t, s, c, "Nora", "", s.st.Now().Add(time.Hour))
	rep := s.user(t, store.RoleSales, "rep@example.com")
	path := fmt.Sprintf("/leads/%d/note", id)
	notes := func() []string {
		t.Helper()
		rows, err := s.st.Pool().Query(context.Background(), `SELECT actor || ' ' || (data->>'text') || ' ' || (SELECT count(*) FROM jsonb_object_keys(data))
			FROM lead_events WHERE lead_id = $1 AND kind = 'lead.note' ORDER BY id`, id)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	if r := rep.do("GET", fmt.Sprintf("/leads/%d", id), nil); !strings.Contains(r.body, `action="`+path+`"`) || !strings.Contains(r.body, `maxlength="2000"`) {
		t.Fatalf("no note form: %s", r.body)
	}
	text := "Called back at 3pm:\nwants a <b>demo</b> on Friday."
	r := rep.do("POST", path, url.Values{"text": {"  " + text + "  "}})
	if r.status != http.StatusSeeOther || r.location != fmt.Sprintf("/leads/%d#h-events", id) {
		t.Fatalf("add note: %d → %q %s", r.status, r.location, r.body)
	}
	repActor := fmt.Sprintf("user:%d", s.userID(t, "rep@example.com"))
	if got := notes(); fmt.Sprint(got) != fmt.Sprint([]string{repActor + " " + text + " 1"}) {
		t.Fatalf("stored notes: %q", got)
	}
	r = rep.do("GET", fmt.Sprintf("/leads/%d", id), nil)
	if !strings.Contains(r.body, "Note added to the timeline.") ||
		!strings.Contains(r.body, `<tr class="note"><td>`) ||
		!strings.Contains(r.body, `<th scope="row">note</th><td data-label="By">rep@example.com</td><td class="note-text">Called back at 3pm:
wants a &lt;b&gt;demo&lt;/b&gt; on Friday.</td>`) {
		t.Errorf("timeline: %s", r.body)
	}

	for _, tc := range []struct {
		text, want string
	}{
		{"   ", "The note is empty"},
		{strings.Repeat("é", store.MaxNoteLength+1), "The note has 2001 characters; the limit is 2000"},
		{"a\x00b", "control characters"},
		{"a\xffb", "not valid UTF-8"},
	} {
		r := rep.do("POST", path, url.Values{"text": {tc.text}})
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, tc.want) {
			t.Errorf("note %.20q: %d, want %q", tc.text, r.status, tc.want)
		}
	}
	if r := rep.do("POST", path, url.Values{"text": {strings.Repeat("x", store.MaxNoteLength)}}); r.status != http.StatusSeeOther {
		t.Errorf("a note of exactly the limit: %d %s", r.status, r.body)
	}
	if r := rep.do("POST", path, url.Values{"text": {strings.Repeat("x", 100<<10)}}); r.status != http.StatusRequestEntityTooLarge ||
		!strings.Contains(r.body, "the form is larger than") {
		t.Errorf("a huge note: %d %s", r.status, r.body)
	}
	if r := rep.do("POST", path, url.Values{"text": {"from elsewhere"}}, "Sec-Fetch-Site", "cross-site"); r.status != http.StatusForbidden {
		t.Errorf("cross-site note: %d", r.status)
	}
	if r := rep.do("POST", path, url.Values{"text": {"from elsewhere"}}, "Sec-Fetch-Site", "", "Origin", "https://evil.example"); r.status != http.StatusForbidden {
		t.Errorf("cross-origin note: %d", r.status)
	}
	// Marketing and admin see the page: they may note too.
	for _, email := range []string{"mkt@example.com", "admin@example.com"} {
		role := store.RoleMarketing
		if strings.HasPrefix(email, "admin") {
			role = store.RoleAdmin
		}
		if r := s.user(t, role, email).do("POST", path, url.Values{"text": {"note by " + email}}); r.status != http.StatusSeeOther {
			t.Errorf("%s's note: %d", email, r.status)
		}
	}
	// A rep may not note a lead not routed to sales (not found), nor can
	// anyone note a lead that does not exist.
	nurture, _, err := s.st.InsertLead(context.Background(), s.st.Pool(), store.LeadParams{CampaignID: c.ID, Phone: "+14155559999"})
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.do("POST", fmt.Sprintf("/leads/%d/note", nurture), url.Values{"text": {"hidden"}}); r.status != http.StatusNotFound {
		t.Errorf("note on a lead the rep may not see: %d", r.status)
	}
	if r := rep.do("POST", "/leads/999999/note", url.Values{"text": {"nobody"}}); r.status != http.StatusNotFound {
		t.Errorf("note on no lead: %d", r.status)
	}
	if got := notes(); len(got) != 4 {
		t.Errorf("notes stored: %d, want 4: %q", len(got), got)
	}
}

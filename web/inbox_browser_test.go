package web_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/qualdial/qualdial/store"
)

// TestBrowserInbox: two reps, each in a browser of their own (own
// profile, own cookies), open the inbox and click Next lead at the same
// time, round after round: each gets a lead page, never one the other
// got — on the pages and in the database. Contacted says the SLA was
// breached for a lead past its deadline (set so, or once the store's
// clock moved a day on) and met for one within it;
// a note appears on the timeline with its author; a new sales-ready lead
// appears in an open inbox without a reload, with a browser notification
// when the rep asked for them; the inbox fits a phone.
func TestBrowserInbox(t *testing.T) {
	t.Parallel()
	ctxs := []context.Context{browserContext(t), browserContext(t)}
	s := newSite(t)
	bg := context.Background()
	c := bantCampaign(t, s, "spring-demo")
	now := s.st.Now()
	names := []string{"Ann", "Bob", "Cleo", "Dev", "Eve", "Finn", "Gia", "Hugo", "Ida"}
	ids := map[string]int64{}
	for i, n := range names {
		ids[n] = readyLead(t, s, c, n, fmt.Sprintf("+1212555%04d", 200+i), strconv.Itoa(100*(i+1)))
		due := now.Add(time.Duration(20*60+i) * time.Minute)
		switch n {
		case "Ann":
			due = now.Add(-30 * time.Minute) // past its deadline
		case "Bob":
			due = now.Add(2 * time.Hour)
		}
		if _, err := s.st.Pool().Exec(bg, `UPDATE leads SET sla_due_at = $2 WHERE id = $1`, ids[n], due); err != nil {
			t.Fatal(err)
		}
	}
	emails := []string{"rita@example.com", "ravi@example.com"}
	for i, ctx := range ctxs {
		_, password, err := s.st.CreateUser(bg, emails[i], "", store.RoleSales)
		if err != nil {
			t.Fatal(err)
		}
		do(t, ctx, "open the site", chromedp.Navigate(s.srv.URL+"/"), chromedp.WaitVisible(`#email`))
		firstLogin(t, ctx, emails[i], password, "the rep's long password")
		do(t, ctx, "see the inbox", chromedp.WaitVisible(`table.inbox`))
	}
	if got := liveText(t, ctxs[0], `table.inbox tbody tr:first-child .sla`); !strings.HasSuffix(got, "overdue") {
		t.Errorf("the most urgent lead's countdown: %q", got)
	}
	if got := liveText(t, ctxs[0], fmt.Sprintf(`#lead-%d .answers-words`, ids["Ann"])); got != "budget approved · decides · 100 seats" {
		t.Errorf("Ann's answers: %q", got)
	}

	// Four rounds: both reps click Next lead at once.
	owner := map[string]int{} // lead page → the rep who got it
	for round := range 4 {
		paths := make([]string, 2)
		var wg sync.WaitGroup
		for i, ctx := range ctxs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := chromedp.Do(ctx, chromedp.Click(`#next-lead`), chromedp.WaitVisible(`#h-outcomes`)); err != nil {
					t.Errorf("round %d, rep %d next: %v", round, i, err)
					return
				}
				paths[i], _ = chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname`))
			}()
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		for i, p := range paths {
			if !strings.HasPrefix(p, "/leads/") {
				t.Fatalf("round %d: rep %d is on %q", round, i, p)
			}
			if other, dup := owner[p]; dup {
				t.Errorf("round %d: %s given to rep %d and rep %d", round, p, other, i)
			}
			owner[p] = i
		}
		for _, ctx := range ctxs {
			do(t, ctx, "back to the inbox", chromedp.Navigate(s.srv.URL+"/inbox"), chromedp.WaitVisible(`#next-lead`))
		}
	}
	// The database agrees: eight leads claimed, each once, by the rep
	// whose page showed it.
	repIDs := []int64{s.userID(t, emails[0]), s.userID(t, emails[1])}
	rows, err := s.st.Pool().Query(bg, `SELECT l.id, l.assigned_to, (SELECT count(*) FROM lead_events e WHERE e.lead_id = l.id AND e.kind = 'lead.accepted')
		FROM leads l WHERE l.assigned_to IS NOT NULL ORDER BY l.id`)
	if err != nil {
		t.Fatal(err)
	}
	claims := 0
	for rows.Next() {
		var id, by, accepted int64
		if err := rows.Scan(&id, &by, &accepted); err != nil {
			t.Fatal(err)
		}
		claims++
		rep, ok := owner[fmt.Sprintf("/leads/%d", id)]
		if !ok || repIDs[rep] != by || accepted != 1 {
			t.Errorf("lead %d: claimed by user %d with %d claims; the pages gave it to rep %d (%v)", id, by, accepted, rep, ok)
		}
	}
	rows.Close()
	if claims != 8 {
		t.Errorf("%d leads claimed, want 8", claims)
	}

	// Contacted: breached past the deadline, met within it.
	contacted := func(name, want string) {
		t.Helper()
		p := fmt.Sprintf("/leads/%d", ids[name])
		ctx := ctxs[owner[p]]
		do(t, ctx, "open "+name, chromedp.Navigate(s.srv.URL+p), chromedp.WaitVisible(`#act-contacted`))
		click(t, ctx, `#act-contacted`)
		do(t, ctx, "see the SLA", chromedp.WaitVisible(`.flash`))
		if f := text(t, ctx, `.flash`); !strings.Contains(f, want) {
			t.Errorf("%s contacted: %q, want %q", name, f, want)
		}
	}
	contacted("Ann", "SLA breached")
	contacted("Bob", "SLA met")
	screenshot(t, ctxs[owner[fmt.Sprintf("/leads/%d", ids["Bob"])]], "inbox-contacted")

	// A note, on the timeline with its author.
	bob := fmt.Sprintf("/leads/%d", ids["Bob"])
	ctx := ctxs[owner[bob]]
	do(t, ctx, "write a note", chromedp.SendKeys(`#note-text`, "Wants a demo on Friday, 3pm."))
	click(t, ctx, `#add-note`)
	do(t, ctx, "see the note", chromedp.WaitVisible(`tr.note .note-text`))
	if got := text(t, ctx, `tr.note .note-text`); got != "Wants a demo on Friday, 3pm." {
		t.Errorf("note on the timeline: %q", got)
	}
	if got := text(t, ctx, `tr.note td[data-label="By"]`); got != emails[owner[bob]] {
		t.Errorf("note's author: %q", got)
	}

	// Live: a new sales-ready lead appears in the open inbox, announced.
	ctx = ctxs[0]
	do(t, ctx, "open the inbox", chromedp.Navigate(s.srv.URL+"/inbox"), chromedp.WaitVisible(`#inbox-live table.inbox`), chromedp.WaitVisible(`#notify-toggle`))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		window.stillThisPage = true;
		window.notified = [];
		window.Notification = function (title, opts) { window.notified.push(title + ": " + opts.body); };
		window.Notification.permission = "default";
		window.Notification.requestPermission = () => { window.Notification.permission = "granted"; return Promise.resolve("granted"); };
		return true; })()`)); err != nil {
		t.Fatal(err)
	}
	click(t, ctx, `#notify-toggle`)
	do(t, ctx, "see notifications on", chromedp.WaitVisible(`#notify-hint`))
	if got := text(t, ctx, `#notify-hint`); !strings.Contains(got, "You will be notified") {
		t.Errorf("notify hint: %q", got)
	}
	if on, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`localStorage.getItem("qualdial.inbox.notify")`)); on != "on" {
		t.Errorf("the choice is not remembered: %q", on)
	}
	jon := readyLead(t, s, c, "Jon", "+12125550300", "500")
	row := fmt.Sprintf("#lead-%d", jon)
	for deadline := time.Now().Add(30 * time.Second); ; {
		there, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`!!document.querySelector(%q)`, row)))
		if there {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new lead did not appear in the open inbox")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if same, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.stillThisPage === true`)); !same {
		t.Error("the page was reloaded")
	}
	var notified []string
	for deadline := time.Now().Add(10 * time.Second); len(notified) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		notified, _ = chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.notified`))
	}
	if fmt.Sprint(notified) != "[New sales-ready lead: Jon]" {
		t.Errorf("notifications: %q", notified)
	}
	screenshot(t, ctx, "inbox")

	// A day later by the store's clock, Cleo (due in 20 hours) is past
	// her deadline: contacted now, the SLA is breached.
	s.clock.Advance(21 * time.Hour)
	contacted("Cleo", "SLA breached")
	fitsPhone(t, ctx, s.srv.URL, "/inbox", bob)
}

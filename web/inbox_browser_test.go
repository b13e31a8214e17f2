package web_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/qualdial/qualdial/store"
)

// TestBrowserInbox: two reps, each in a browser of their own, open the
// inbox and click Next lead at once: each gets a lead page, never the same
// one; one marks theirs contacted and reads that the SLA was met; the
// inbox fits a phone.
func TestBrowserInbox(t *testing.T) {
	t.Parallel()
	ctxs := []context.Context{browserContext(t), browserContext(t)}
	s := newSite(t)
	c := bantCampaign(t, s, "spring-demo")
	now := s.st.Now()
	salesLead(t, s, c, "Ann", "Acme", now.Add(-30*time.Minute))
	salesLead(t, s, c, "Bob", "Bolt", now.Add(2*time.Hour))
	salesLead(t, s, c, "Cleo", "Cargo", now.Add(20*time.Hour))
	emails := []string{"rita@example.com", "ravi@example.com"}
	for i, ctx := range ctxs {
		_, password, err := s.st.CreateUser(context.Background(), emails[i], "", store.RoleSales)
		if err != nil {
			t.Fatal(err)
		}
		do(t, ctx, "open the site", chromedp.Navigate(s.srv.URL+"/"), chromedp.WaitVisible(`#email`))
		firstLogin(t, ctx, emails[i], password, "the rep's long password")
		do(t, ctx, "see the inbox", chromedp.WaitVisible(`table.inbox`))
	}
	if got := text(t, ctxs[0], `table.inbox tbody tr:first-child .sla`); !strings.HasSuffix(got, "overdue") {
		t.Errorf("the most urgent lead's countdown: %q", got)
	}
	do(t, ctxs[0], "reload the inbox", chromedp.Navigate(s.srv.URL+"/inbox"), chromedp.WaitVisible(`table.inbox`)) // without the login's message
	screenshot(t, ctxs[0], "inbox")

	paths := make([]string, 2)
	var wg sync.WaitGroup
	for i, ctx := range ctxs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := chromedp.Do(ctx, chromedp.Click(`#next-lead`), chromedp.WaitVisible(`#h-outcomes`)); err != nil {
				t.Errorf("rep %d next: %v", i, err)
				return
			}
			paths[i], _ = chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname`))
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if !strings.HasPrefix(paths[0], "/leads/") || !strings.HasPrefix(paths[1], "/leads/") || paths[0] == paths[1] {
		t.Fatalf("the two reps got %q and %q", paths[0], paths[1])
	}
	// The one due in two hours: contacted in time. (Either rep has it.)
	for i, ctx := range ctxs {
		if h := text(t, ctx, `main h1`); strings.HasPrefix(h, "Bob") {
			click(t, ctx, `#act-contacted`)
			do(t, ctx, "see the SLA", chromedp.WaitVisible(`.flash`))
			if f := text(t, ctx, `.flash`); !strings.Contains(f, "SLA met") {
				t.Errorf("rep %d contacted: %q", i, f)
			}
			screenshot(t, ctx, "inbox-contacted")
		}
	}
	fitsPhone(t, ctxs[0], s.srv.URL, "/inbox", paths[0])
}

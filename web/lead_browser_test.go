package web_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/qualdial/qualdial/store"
)

// TestBrowserLeadPage opens a sales-ready lead's page in headless chromium
// as a sales user, on a phone-sized screen, and reads its class and an
// answer.
func TestBrowserLeadPage(t *testing.T) {
	t.Parallel()
	ctx := browserContext(t)
	s := newSite(t)
	c := bantCampaign(t, s, "spring-demo")
	id := calledLead(t, s, c, store.LeadParams{Phone: "+12125550111", FirstName: "Ann", LastName: "Lee", Company: "Acme",
		TimeZone: "America/New_York", Attributes: map[string]string{"seats": "120"}}, "1", "1", "1", "1", "1")
	_, password, err := s.st.CreateUser(context.Background(), "rep@example.com", "Rita", store.RoleSales)
	if err != nil {
		t.Fatal(err)
	}
	path := "/leads/" + strconv.FormatInt(id, 10)
	do(t, ctx, "open the lead", chromedp.Navigate(s.srv.URL+path), chromedp.WaitVisible(`#email`))
	firstLogin(t, ctx, "rep@example.com", password, "the rep's long password")
	do(t, ctx, "back to the lead", chromedp.Navigate(s.srv.URL+path), chromedp.WaitVisible(`#result`))
	if h := text(t, ctx, `main h1`); !strings.HasPrefix(h, "Ann Lee") || !strings.Contains(h, "+12125550111") {
		t.Errorf("heading %q", h)
	}
	if class := text(t, ctx, `#result dd[data-k="Class"]`); class != "sql" {
		t.Errorf("class %q", class)
	}
	budget := `tr.answer[data-question="budget"]`
	if p := text(t, ctx, budget+` .prompt`); !strings.HasPrefix(p, "Is there a budget for this project?") {
		t.Errorf("budget prompt %q", p)
	}
	if k, m, pts := text(t, ctx, budget+` .keys`), text(t, ctx, budget+` .meaning`), text(t, ctx, budget+` .points`); k != "1" ||
		m != "budget approved; next question authority" || pts != "budget +30" {
		t.Errorf("budget answer: keys %q, meaning %q, points %q", k, m, pts)
	}
	if f := text(t, ctx, `tr.answer[data-question="seats"] .keys`); !strings.Contains(f, "from the form") {
		t.Errorf("seats answer %q", f)
	}
	screenshot(t, ctx, "lead")
	// On a phone: nothing wider than the screen.
	do(t, ctx, "narrow the window", chromedp.EmulateViewport(390, 844))
	wide, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
	if err != nil {
		t.Fatal(err)
	}
	if wide {
		t.Error("the lead page scrolls sideways on a 390-pixel screen")
	}
	screenshot(t, ctx, "lead-phone")
}

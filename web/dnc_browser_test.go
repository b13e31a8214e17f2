package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/qualdial/qualdial/store"
)

// TestBrowserDNC drives the DNC screen in headless chromium as an admin:
// add a number (htmx), search it, remove it (confirming the dialog).
func TestBrowserDNC(t *testing.T) {
	t.Parallel()
	ctx := browserContext(t)
	s := newSite(t)
	_, password, err := s.st.CreateUser(context.Background(), "admin@example.com", "Ada", store.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "open the DNC list", chromedp.Navigate(s.srv.URL+"/dnc"), chromedp.WaitVisible(`#email`))
	firstLogin(t, ctx, "admin@example.com", password, "the admin's long password")
	do(t, ctx, "go to the DNC list", chromedp.Click(`nav a[href="/dnc"]`), chromedp.WaitVisible(`#a-phone`))
	if h := text(t, ctx, `main h1`); h != "Do-not-call list" {
		t.Errorf("heading %q", h)
	}

	const phone = "+12125550123"
	row := `tr[data-phone="` + phone + `"]`
	do(t, ctx, "add a number",
		chromedp.SendKeys(`#a-phone`, "(212) 555-0123"),
		chromedp.SendKeys(`#a-reason`, "asked on the phone"),
		chromedp.Click(`#dnc-add-h ~ form button`),
		chromedp.WaitVisible(`#add-notice`),
		chromedp.WaitVisible(row),
	)
	if n := text(t, ctx, `#add-notice`); n != phone+" is now on the do-not-call list." {
		t.Errorf("notice %q", n)
	}
	if !s.onDNC(t, phone) {
		t.Fatal("not on the list in the database")
	}

	do(t, ctx, "search it",
		chromedp.SendKeys(`#s-phone`, "212 555 0123"),
		chromedp.Submit(`#s-phone`),
		chromedp.WaitVisible(`#search-result`),
	)
	if r := text(t, ctx, `#search-result`); !strings.Contains(r, phone+" is on the do-not-call list") || !strings.Contains(r, "asked on the phone") {
		t.Errorf("search result %q", r)
	}
	screenshot(t, ctx, "dnc")

	// Removing asks first (hx-confirm): accept the dialog.
	confirmed := acceptDialogs(t, ctx)
	do(t, ctx, "remove it",
		chromedp.Click(row+` button.remove`),
		chromedp.WaitVisible(`#remove-notice`),
		chromedp.WaitNotPresent(row),
	)
	if m := <-confirmed; !strings.Contains(m, "Take "+phone+" off the do-not-call list?") {
		t.Errorf("confirmation %q", m)
	}
	if n := text(t, ctx, `#remove-notice`); !strings.HasPrefix(n, phone+" is off the do-not-call list") {
		t.Errorf("notice %q", n)
	}
	if s.onDNC(t, phone) {
		t.Error("still on the list in the database")
	}
}

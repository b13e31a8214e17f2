package web_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/qualdial/qualdial/scripts"
	"github.com/qualdial/qualdial/store"
)

// chromium finds Debian's chromium: the test skips without it, but fails
// under CI (which installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed: .ci/run installs it (apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium); CI runs this test")
	return ""
}

// browserContext starts a headless chromium with its own profile.
func browserContext(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900), chromedp.UserDataDir(t.TempDir()))
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// screenshot saves the page to $QUALDIAL_SCREENSHOTS/name.png when set
// (the README's pictures).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("QUALDIAL_SCREENSHOTS")
	if dir == "" {
		return
	}
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// text reads an element's text.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(v)
}

// do runs browser steps, failing the test with what it was doing.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// firstLogin logs in with a one-time password and chooses a new one.
func firstLogin(t *testing.T, ctx context.Context, email, once, chosen string) {
	t.Helper()
	do(t, ctx, "log in "+email,
		chromedp.WaitVisible(`#email`),
		chromedp.SendKeys(`#email`, email),
		chromedp.SendKeys(`#password`, once),
		chromedp.Submit(`#password`),
		chromedp.WaitVisible(`#again`),
	)
	screenshot(t, ctx, "password")
	do(t, ctx, "choose a password",
		chromedp.SendKeys(`#current`, once),
		chromedp.SendKeys(`#next`, chosen),
		chromedp.SendKeys(`#again`, chosen),
		chromedp.Submit(`#again`),
		chromedp.WaitVisible(`main h1`),
	)
}

// TestBrowserMarketingFlow drives the UI in headless chromium as a new
// marketing user: log in with the one-time password, choose a password,
// see the campaigns, start one (htmx, no reload), stop the live numbers,
// log out; a sales user is refused the campaigns page.
func TestBrowserMarketingFlow(t *testing.T) {
	t.Parallel()
	ctx := browserContext(t)
	s := newSite(t)
	bg := context.Background()
	_, password, err := s.st.CreateUser(bg, "mkt@example.com", "Mia", store.RoleMarketing)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.st.CreateCampaign(bg, store.CampaignParams{Name: "spring-demo", ScriptID: "bant-en", CallerID: "+15550100"})
	if err != nil {
		t.Fatal(err)
	}
	src, _ := scripts.Read("bant-en")
	if err := s.st.SetCampaignScript(bg, c.ID, string(src)); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "open the campaigns", chromedp.Navigate(s.srv.URL+"/campaigns"), chromedp.WaitVisible(`#email`))
	screenshot(t, ctx, "login")
	firstLogin(t, ctx, "mkt@example.com", password, "my own long password")
	row := `#campaign-1`
	do(t, ctx, "see the campaigns", chromedp.WaitVisible(row))
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil || title != "Campaigns · qualdial" {
		t.Errorf("title %q %v", title, err)
	}
	if flash := text(t, ctx, `.flash`); !strings.Contains(flash, "password is saved") {
		t.Errorf("flash %q", flash)
	}
	screenshot(t, ctx, "campaigns")

	// Start: htmx swaps the row in place.
	do(t, ctx, "start the campaign", chromedp.Click(row+` button.start`), chromedp.WaitVisible(row+`[data-status="active"] .notice`))
	if notice := text(t, ctx, row+` .notice`); notice != "Campaign spring-demo is active." {
		t.Errorf("notice %q", notice)
	}
	if got, _ := s.st.Campaign(bg, c.ID); got.Status != store.CampaignActive || got.ScriptVersion != 2 {
		t.Errorf("campaign in the database: %s v%d", got.Status, got.ScriptVersion)
	}
	// Live numbers off: the list stops polling.
	do(t, ctx, "stop the live numbers", chromedp.Click(`input[name="live"][type="checkbox"]`), chromedp.WaitNotPresent(`#campaigns[hx-trigger]`))
	do(t, ctx, "log out", chromedp.Click(`.logout button`), chromedp.WaitVisible(`#email`))

	// A sales user is refused the campaigns page.
	_, repPassword, err := s.st.CreateUser(bg, "rep@example.com", "", store.RoleSales)
	if err != nil {
		t.Fatal(err)
	}
	firstLogin(t, ctx, "rep@example.com", repPassword, "the rep's long password")
	do(t, ctx, "open the campaigns as sales", chromedp.Navigate(s.srv.URL+"/campaigns"), chromedp.WaitVisible(`main h1`))
	if h := text(t, ctx, `main h1`); h != "Not for your role" {
		t.Errorf("sales on /campaigns: %q", h)
	}
}

package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
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
	ctx, cancel = context.WithTimeout(ctx, 4*time.Minute) // a loaded CI machine under -race
	t.Cleanup(cancel)
	return ctx
}

// screenshot saves the page to $QUALDIAL_SCREENSHOTS/name.png when set
// (the README's pictures; a relative folder is the repository's, not web/'s).
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
	if !filepath.IsAbs(dir) {
		dir = filepath.Join("..", dir) // go test runs in web/
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

// liveText is text of an element in a region the page refreshes (every
// 200 ms in tests). The page reads it in one step, so a refresh between
// finding the node and reading it cannot fail the read; while the region
// is being replaced the element is missing or empty, so it is read again
// until it has text, for up to 5 s.
func liveText(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	q, err := json.Marshal(sel)
	if err != nil {
		t.Fatal(err)
	}
	js := fmt.Sprintf(`(document.querySelector(%s)?.innerText ?? "").trim()`, q)
	var got string
	for deadline := time.Now().Add(5 * time.Second); got == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got, err = chromedp.Run(ctx, chromedp.Evaluate[string](js)); err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
	}
	return got
}

// do runs browser steps, failing the test with what it was doing.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// click clicks an element of a live page: the element may be replaced by
// a live update between finding and clicking it, so a missing node is
// tried again.
func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	var err error
	for range 20 {
		if err = chromedp.Do(ctx, chromedp.Click(sel)); err == nil || !strings.Contains(err.Error(), "node") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
}

// acceptDialogs accepts every confirmation the page asks for from now on
// and sends each one's message (a listener must not run commands itself,
// so another goroutine answers).
func acceptDialogs(t *testing.T, ctx context.Context) <-chan string {
	t.Helper()
	opened, confirmed := make(chan string, 4), make(chan string, 4)
	if err := chromedp.Listen(ctx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			select {
			case opened <- d.Message:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			select {
			case m := <-opened:
				_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
				confirmed <- m
			case <-ctx.Done():
				return
			}
		}
	}()
	return confirmed
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
		// The password page has a main h1 too: wait until it has gone, so
		// the next navigation does not abort this one.
		chromedp.WaitNotPresent(`#again`),
		chromedp.WaitVisible(`main h1`),
	)
}

// TestBrowserMarketingFlow drives the UI in headless chromium as a new
// marketing user: log in with the one-time password, choose a password,
// see the campaigns, start one (htmx, no reload), stop the live numbers,
// log out; a sales user is refused the campaigns page.
func TestBrowserMarketingFlow(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := browserContext(t) // closed before the site
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
	click(t, ctx, row+` button.start`)
	do(t, ctx, "see it started", chromedp.WaitVisible(row+`[data-status="active"]`))
	if got, _ := s.st.Campaign(bg, c.ID); got.Status != store.CampaignActive || got.ScriptVersion != 3 {
		t.Errorf("campaign in the database: %s v%d", got.Status, got.ScriptVersion)
	}
	// Live numbers: a lead arriving shows without a reload.
	if _, _, err := s.st.InsertLead(bg, s.st.Pool(), store.LeadParams{CampaignID: c.ID, Phone: "+12125550100"}); err != nil {
		t.Fatal(err)
	}
	leads := func() string { // the row is replaced while it is read: an error is "not yet"
		v, _ := chromedp.Run(ctx, chromedp.Text(row+` td[data-k="leads"]`))
		return strings.TrimSpace(v)
	}
	for deadline := time.Now().Add(15 * time.Second); leads() != "1"; {
		if time.Now().After(deadline) {
			t.Fatal("the live numbers did not show the new lead")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Live numbers off: the stream is closed.
	click(t, ctx, `input[name="live"][type="checkbox"]`)
	do(t, ctx, "see the stream closed", chromedp.WaitNotPresent(`#campaigns[sse-connect]`))
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

// fitsPhone opens each path on a 390-pixel-wide screen and fails the test
// for a page that scrolls sideways (its wide tables must scroll inside).
func fitsPhone(t *testing.T, ctx context.Context, base string, paths ...string) {
	t.Helper()
	do(t, ctx, "narrow the window", chromedp.EmulateViewport(390, 844))
	for _, path := range paths {
		do(t, ctx, "open "+path, chromedp.Navigate(base+path), chromedp.WaitVisible(`main h1`))
		wide, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
		if err != nil {
			t.Fatal(err)
		}
		if wide {
			what, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
				.slice(0, 3).map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + ' (' + Math.round(e.getBoundingClientRect().right) + ' px)').join(', ')`))
			t.Errorf("%s scrolls sideways on a 390-pixel screen: %s", path, what)
		}
	}
	do(t, ctx, "widen the window", chromedp.EmulateViewport(1280, 900))
}

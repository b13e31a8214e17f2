package web_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/store"
)

// TestBrowserUploadWizard drives the upload wizard in headless chromium
// as a marketing user: a messy Latin-1 list with semicolons goes in
// through the file input, its columns are mapped, the dry run reports the
// exact counts, and the import reports the same ones once its progress
// ends — with exactly the accepted leads in the database.
func TestBrowserUploadWizard(t *testing.T) {
	t.Parallel()
	ctx := browserContext(t)
	s := newSite(t)
	bg := context.Background()
	c := uploadCampaign(t, s, "messe")
	_, password, err := s.st.CreateUser(bg, "mkt@example.com", "Mia", store.RoleMarketing)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "messe.csv")
	if err := os.WriteFile(file, latin1(t, messyList), 0o600); err != nil {
		t.Fatal(err)
	}
	page := fmt.Sprintf("%s/campaigns/%d", s.srv.URL, c.ID)
	do(t, ctx, "open the campaign", chromedp.Navigate(page), chromedp.WaitVisible(`#email`))
	firstLogin(t, ctx, "mkt@example.com", password, "my own long password")
	do(t, ctx, "open the wizard", chromedp.Navigate(page), chromedp.WaitVisible(`#upload-link`), chromedp.Click(`#upload-link`),
		chromedp.WaitVisible(`#u-file`))
	do(t, ctx, "upload the list",
		chromedp.SetUploadFiles(`#u-file`, []string{file}),
		chromedp.Submit(`#u-file`),
		chromedp.WaitVisible(`#file-delimiter`),
	)
	if cs, d := text(t, ctx, `#file-charset`), text(t, ctx, `#file-delimiter`); cs != "windows-1252" || d != "semicolon" {
		t.Errorf("read as %s, delimiter %s", cs, d)
	}
	if rows := text(t, ctx, `table.preview tbody`); !strings.Contains(rows, "Jürgen") || !strings.Contains(rows, "Groß") {
		t.Errorf("first rows %q", rows)
	}
	do(t, ctx, "map the columns",
		chromedp.SetValue(`#col0`, "phone"),
		chromedp.SetValue(`#col1`, "first_name"),
		chromedp.SetValue(`#col2`, "last_name"),
		chromedp.SetValue(`#col3`, "time_zone"),
		chromedp.Click(`#dry-run`),
		chromedp.WaitVisible(`#report`),
	)
	report := func(section string) string {
		var out []string
		for _, id := range []string{"n-total", "n-accepted", "n-dup-file", "n-dup-campaign", "n-dnc", "n-rejected", "n-no-consent"} {
			out = append(out, text(t, ctx, section+` #`+id))
		}
		return strings.Join(out, " ")
	}
	const want = "8 2 1 1 1 3 2" // rows, accepted, in the file, in the campaign, DNC, rejected, without consent
	if got := report(`#report`); got != want {
		t.Errorf("dry run %s, want %s", got, want)
	}
	if reasons := text(t, ctx, `#report table.reasons`); !strings.Contains(reasons, "on the do-not-call list") ||
		!strings.Contains(reasons, "already in the campaign") {
		t.Errorf("reasons %q", reasons)
	}
	screenshot(t, ctx, "upload")
	// A web-form lead with a number of the list is being written: the
	// import waits for it, and the page shows its progress, polling, until
	// that lead is rolled back.
	release := holdLead(t, s, c.ID, "+12125550102")
	do(t, ctx, "import", chromedp.Click(`#import`), chromedp.WaitVisible(`#progress[hx-trigger="every 1s"] #import-progress`))
	release()
	do(t, ctx, "see the import end", chromedp.WaitVisible(`#result`), chromedp.WaitNotPresent(`#progress`))
	if got := report(`#result`); got != want {
		t.Errorf("import %s, want %s", got, want)
	}
	rows, _ := s.st.Pool().Query(bg, `SELECT phone FROM leads WHERE campaign_id = $1 ORDER BY phone`, c.ID)
	phones, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(phones, []string{"+12125550101", "+12125550102", "+12125550109"}) {
		t.Errorf("leads in the campaign %q, want the two accepted beside the one there before", phones)
	}
	do(t, ctx, "back to the campaign", chromedp.Click(`#result a[href="/campaigns/`+fmt.Sprint(c.ID)+`"]`), chromedp.WaitVisible(`#upload-link`))
}

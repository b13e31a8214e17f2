package web_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/qualdial/qualdial/store"
)

// TestBrowserAdminKeysAndWebhooks drives the admin screens in headless
// chromium: create an API key and see its secret once, revoke it
// (confirming), subscribe a webhook and read its delivery log.
func TestBrowserAdminKeysAndWebhooks(t *testing.T) {
	t.Parallel()
	ctx := browserContext(t)
	s := newSite(t)
	bg := context.Background()
	_, password, err := s.st.CreateUser(bg, "admin@example.com", "Ada", store.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	confirmed := acceptDialogs(t, ctx)
	do(t, ctx, "open the API keys", chromedp.Navigate(s.srv.URL+"/apikeys"), chromedp.WaitVisible(`#email`))
	firstLogin(t, ctx, "admin@example.com", password, "the admin's long password")
	click(t, ctx, `nav a[href="/apikeys"]`)
	do(t, ctx, "go to the API keys", chromedp.WaitVisible(`#k-name`))

	// Create: the key is shown once.
	do(t, ctx, "create a key",
		chromedp.SendKeys(`#k-name`, "spring landing page"),
		chromedp.SetValue(`#k-role`, store.RoleIntake),
		chromedp.Submit(`#k-name`),
		chromedp.WaitVisible(`#new-key`),
	)
	token := text(t, ctx, `#new-key`)
	key, err := s.st.Authenticate(bg, token)
	if err != nil || key.Role != store.RoleIntake || key.Name != "spring landing page" {
		t.Fatalf("the key shown: %+v %v", key, err)
	}
	row := `#key-` + strconv.FormatInt(key.ID, 10)
	if got := text(t, ctx, row+` th`); got != "spring landing page" {
		t.Errorf("the key's row: %q", got)
	}
	screenshot(t, ctx, "apikeys")
	do(t, ctx, "open the keys again", chromedp.Navigate(s.srv.URL+"/apikeys"), chromedp.WaitVisible(row))
	if body := text(t, ctx, `main`); strings.Contains(body, token) {
		t.Error("the key is shown a second time")
	}

	// Revoke, confirming the question.
	do(t, ctx, "revoke it",
		chromedp.Click(row+` button.remove`),
		chromedp.WaitVisible(`#revoke-notice`),
		chromedp.WaitVisible(row+`[data-state="revoked"]`),
	)
	if m := <-confirmed; !strings.Contains(m, "Revoke the intake key spring landing page") {
		t.Errorf("confirmation %q", m)
	}
	if _, err := s.st.Authenticate(bg, token); !errors.Is(err, store.ErrBadKey) {
		t.Errorf("the revoked key authenticates: %v", err)
	}

	// Subscribe a webhook: its signing secret is shown once.
	click(t, ctx, `nav a[href="/webhooks"]`)
	do(t, ctx, "go to the webhooks", chromedp.WaitVisible(`#w-url`))
	do(t, ctx, "subscribe",
		chromedp.SendKeys(`#w-url`, "https://93.184.216.34/hooks/qualdial"),
		chromedp.Click(`input[name="events"][value="lead.contacted"]`), // all but this one
		chromedp.Submit(`#w-url`),
		chromedp.WaitVisible(`#new-webhook-secret`),
	)
	subs, err := s.st.Subscriptions(bg)
	if err != nil || len(subs) != 1 || len(subs[0].Events) != len(store.WebhookEvents)-1 {
		t.Fatalf("stored: %+v %v", subs, err)
	}
	if secret := text(t, ctx, `#new-webhook-secret`); !strings.HasPrefix(secret, "whsec_") {
		t.Errorf("secret %q", secret)
	}
	screenshot(t, ctx, "webhooks")

	// Its delivery log shows what leads' events sent it.
	c, err := s.st.CreateCampaign(bg, store.CampaignParams{Name: "spring", ScriptID: "bant-en", CallerID: "+15550100"})
	if err != nil {
		t.Fatal(err)
	}
	lead, _, err := s.st.InsertLead(bg, s.st.Pool(), store.LeadParams{CampaignID: c.ID, Phone: "+12125550100"})
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []store.EventKind{store.EventLeadQualified, store.EventLeadOptedOut} {
		if err := s.st.AddEvent(bg, s.st.Pool(), lead, "system", kind, nil); err != nil {
			t.Fatal(err)
		}
	}
	log, err := s.st.DeliveryLog(bg, subs[0].ID, 0, 0)
	if err != nil || len(log) != 2 {
		t.Fatalf("deliveries: %+v %v", log, err)
	}
	if err := s.st.RecordDelivery(bg, log[1].ID, 200, "", true, false); err != nil {
		t.Fatal(err)
	}
	if err := s.st.RecordDelivery(bg, log[0].ID, 503, "HTTP 503 Service Unavailable", false, false); err != nil {
		t.Fatal(err)
	}
	newest := `#delivery-` + strconv.FormatInt(log[0].ID, 10)
	do(t, ctx, "open the delivery log",
		chromedp.Navigate(s.srv.URL+"/webhooks"),
		chromedp.Click(`#webhook-`+strconv.FormatInt(subs[0].ID, 10)+` a`),
		chromedp.WaitVisible(newest),
	)
	if got := text(t, ctx, newest+` .last-error`); got != "HTTP 503 Service Unavailable" {
		t.Errorf("last error %q", got)
	}
	if got := text(t, ctx, `table.deliveries tbody tr:last-child .state`); got != "delivered" {
		t.Errorf("the oldest delivery: %q", got)
	}
	screenshot(t, ctx, "webhook-deliveries")
	// On a phone: the table scrolls, not the page.
	fitsPhone(t, ctx, s.srv.URL, "/webhooks/"+strconv.FormatInt(subs[0].ID, 10), "/webhooks", "/apikeys")
}

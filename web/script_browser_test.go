package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/qualdial/qualdial/store"
)

// TestBrowserScriptEditor opens bant-en in the editor, types a typo and
// sees the inline error at its line, fixes it, then simulates a call with
// the keypad to its class.
func TestBrowserScriptEditor(t *testing.T) {
	t.Parallel()
	ctx := browserContext(t)
	s := newSite(t)
	_, password, err := s.st.CreateUser(context.Background(), "mkt@example.com", "Mia", store.RoleMarketing)
	if err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "open the scripts", chromedp.Navigate(s.srv.URL+"/scripts"), chromedp.WaitVisible(`#email`))
	firstLogin(t, ctx, "mkt@example.com", password, "my own long password")
	do(t, ctx, "open bant-en in the editor",
		chromedp.Navigate(s.srv.URL+"/scripts"),
		chromedp.WaitVisible(`#script-bant-en`),
		chromedp.Click(`#script-bant-en a`),
		chromedp.WaitVisible(`#diagnostics .ok`),
	)
	if ok := text(t, ctx, `#diagnostics .ok`); !strings.HasPrefix(ok, "ok: bant-en v2, 6 questions") {
		t.Errorf("ok line %q", ok)
	}
	// Select "authority" in the first "next: authority" and type a typo over it.
	selectWord := func(word string) {
		t.Helper()
		js := `(() => { const t = document.querySelector('#yaml'); const i = t.value.indexOf('next: ` + word + `') + 6;
			t.focus(); t.setSelectionRange(i, i + ` + `'` + word + `'.length); return t.value.substring(0, i).split('\n').length })()`
		line, err := chromedp.Run(ctx, chromedp.Evaluate[int](js))
		if err != nil || line != 33 {
			t.Fatalf("select %s: line %d %v", word, line, err)
		}
	}
	selectWord("authority")
	do(t, ctx, "type a typo", chromedp.KeyEvent("authorty"), chromedp.WaitVisible(`#diagnostics li.error[data-line="33"]`))
	// A check may answer for the word half typed ("author"): wait for the
	// one of the whole word.
	e := ""
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(e, "authorty"); {
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
		e, _ = chromedp.Run(ctx, chromedp.Text(`#diagnostics li.error`))
	}
	if !strings.HasPrefix(e, "line 33: ") || !strings.Contains(e, "authorty") || !strings.Contains(e, "did you mean") {
		t.Errorf("inline error %q", e)
	}
	screenshot(t, ctx, "script-editor")
	selectWord("authorty")
	do(t, ctx, "fix the typo", chromedp.KeyEvent("authority"), chromedp.WaitVisible(`#diagnostics .ok`), chromedp.WaitNotPresent(`#diagnostics li.error`))

	// The simulator, with the keypad.
	press := func(n int, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		do(t, ctx, "turn "+string(rune('0'+n)), append(steps, chromedp.WaitVisible(`#simulator[data-turns="`+string(rune('0'+n))+`"]`))...)
	}
	for n := 1; n <= 4; n++ {
		press(n, chromedp.Click(`.keypad button[value="1"]`))
	}
	press(5, chromedp.SendKeys(`#keys`, "120#"), chromedp.Click(`.sim-more button[value="keys"]`))
	press(6, chromedp.Click(`.keypad button[value="1"]`))
	do(t, ctx, "see the result", chromedp.WaitVisible(`#sim-class`))
	if c := text(t, ctx, `#sim-class`); c != "sql" {
		t.Errorf("class %q", c)
	}
	if total := text(t, ctx, `#sim-total`); total != "90" {
		t.Errorf("total %q", total)
	}
	if tr := text(t, ctx, `.transcript`); !strings.Contains(tr, "press 120# → +15 need") || !strings.Contains(tr, "A specialist will call you") {
		t.Errorf("transcript %q", tr)
	}
	screenshot(t, ctx, "script-simulator")
}

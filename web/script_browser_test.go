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
	if ok := text(t, ctx, `#diagnostics .ok`); !strings.HasPrefix(ok, "ok: bant-en v3, 6 questions") {
		t.Errorf("ok line %q", ok)
	}
	// CodeMirror replaces the textarea (the textarea stays, hidden, in the form).
	do(t, ctx, "see CodeMirror", chromedp.WaitVisible(`.yaml-editor .cm-content`), chromedp.WaitVisible(`.yaml-editor .cm-lineNumbers`))
	if hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#yaml').hidden`)); err != nil || !hidden {
		t.Errorf("the textarea is not hidden behind the editor: %v %v", hidden, err)
	}
	// Select "authority" in the first "next: authority" and type a typo over it.
	selectWord := func(word string) {
		t.Helper()
		js := `(() => { const v = document.querySelector('#yaml').editorView; const i = v.state.doc.toString().indexOf('next: ` + word + `') + 6;
			v.dispatch({selection: {anchor: i, head: i + '` + word + `'.length}}); v.focus(); return v.state.doc.lineAt(i).number })()`
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
	present(t, ctx, `.yaml-editor .cm-lintRange-error`)
	present(t, ctx, `.yaml-editor .cm-lint-marker-error`)
	// The inline marks are at line 33: the underline and the gutter's marker.
	lineOf := func(sel string) int {
		t.Helper()
		js := `(() => { const v = document.querySelector('#yaml').editorView;
			return v.state.doc.lineAt(v.posAtDOM(document.querySelector('` + sel + `'))).number })()`
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](js))
		if err != nil {
			t.Fatalf("line of %s: %v", sel, err)
		}
		return n
	}
	if n := lineOf(`.yaml-editor .cm-lintRange-error`); n != 33 {
		t.Errorf("the lint underline is at line %d", n)
	}
	if top, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const v = document.querySelector('#yaml').editorView;
		const m = document.querySelector('.cm-lint-marker-error').getBoundingClientRect();
		const l = v.lineBlockAt(v.state.doc.line(33).from); return Math.abs(m.top - (v.documentTop + l.top)) < l.height })()`)); err != nil || !top {
		t.Errorf("the gutter's lint marker is not at line 33: %v", err)
	}
	if !strings.HasPrefix(e, "line 33: ") || !strings.Contains(e, "authorty") || !strings.Contains(e, "did you mean") {
		t.Errorf("inline error %q", e)
	}
	// The hidden textarea holds the editor's text: the forms post it.
	if v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#yaml').value.includes('next: authorty')`)); err != nil || !v {
		t.Errorf("the textarea does not follow the editor: %v", err)
	}
	screenshot(t, ctx, "script-editor")
	selectWord("authorty")
	do(t, ctx, "fix the typo", chromedp.KeyEvent("authority"), chromedp.WaitVisible(`#diagnostics .ok`), chromedp.WaitNotPresent(`#diagnostics li.error`))
	present(t, ctx, `.yaml-editor .cm-lintRange-error`, "not")
	// CodeMirror's injected styles apply under the page's CSP (its <style>
	// carries the page's nonce): the base theme makes the editor a flex box.
	if flex, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('.cm-editor')).display`)); err != nil || flex != "flex" {
		t.Errorf("CodeMirror's styles were refused (display %q): %v", flex, err)
	}

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

	// Save as new version: the page opens the saved v4 (its version line
	// renumbered), and the scripts page lists it.
	do(t, ctx, "save as a new version", chromedp.Click(`button.save-version`), chromedp.WaitVisible(`.flash`))
	if f := text(t, ctx, `.flash`); !strings.Contains(f, "Saved bant-en v4.") {
		t.Errorf("flash %q", f)
	}
	present(t, ctx, `.yaml-editor .cm-content`)
	if v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#yaml').editorView.state.doc.toString().includes('\nversion: 4\n')`)); err != nil || !v {
		t.Errorf("the editor does not hold v4: %v", err)
	}
	if v, err := s.st.ScriptVersionText(context.Background(), "bant-en", 4); err != nil || !strings.Contains(v.YAML, "next: authority") {
		t.Errorf("v4 in the database: %v", err)
	}
	do(t, ctx, "see the versions", chromedp.Navigate(s.srv.URL+"/scripts"), chromedp.WaitVisible(`#version-bant-en-4`))
	if row := text(t, ctx, `#version-bant-en-4`); !strings.Contains(row, "by mkt@example.com") {
		t.Errorf("v4's row %q", row)
	}
	screenshot(t, ctx, "scripts")
}

// present waits until an element matches sel (or, given "not", none
// does), asking the page itself: CodeMirror redraws its lines, and a node
// that chromedp found may be gone before it is seen visible.
func present(t *testing.T, ctx context.Context, sel string, not ...string) {
	t.Helper()
	want := len(not) == 0
	for deadline := time.Now().Add(time.Minute); ; {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!document.querySelector(`"+sel+"`)"))
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("wait for %s %s: %v", strings.Join(not, ""), sel, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

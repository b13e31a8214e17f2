package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/migrations"
	"github.com/qualdial/qualdial/scripts"
)

// TestMain doubles as the qualdial binary for tests that need a real
// process (signals): the test binary re-executes itself with
// QUALDIAL_TEST_RUN_MAIN=1.
func TestMain(m *testing.M) {
	if os.Getenv("QUALDIAL_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	pgtest.Main(m)
}

// runCLI runs one command line in-process with the given environment.
func runCLI(t *testing.T, environ map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string { return environ[k] }
	code = run(t.Context(), args, getenv, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestScriptCheck(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCLI(t, nil, "script", "check", "bant-en", "bant-ru", "anum-en", "champ-en", "faint-en")
	if code != 0 || strings.Count(out, ": ok: ") != 5 || errOut != "" {
		t.Fatalf("shipped scripts: exit %d\n%s\n%s", code, out, errOut)
	}

	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.yaml")
	src, _ := os.ReadFile(filepath.Join("..", "..", "scripts", "bant-en.yaml"))
	src = bytes.Replace(src, []byte("next: authority, label: budget approved}"), []byte("next: authorty, label: budget approved}"), 1)
	src = bytes.Replace(src, []byte(`"1": {score: {timeline: 20}`), []byte(`"1": {score: {timelines: 20}`), 1)
	if err := os.WriteFile(broken, src, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, nil, "script", "check", broken)
	if code != 1 {
		t.Fatalf("broken script: exit %d, want 1\n%s", code, errOut)
	}
	for _, want := range []string{
		broken + `:33: question "budget" key 1: next "authorty" is not a question or an ending (did you mean "authority"?)`,
		broken + `:53: question "timeline" key 1: score names unknown dimension "timelines" (did you mean "timeline"?)`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("missing\n  %s\nin\n%s", want, errOut)
		}
	}
	if strings.Contains(out, "ok") {
		t.Errorf("broken script reported ok: %s", out)
	}

	// Warnings are printed but do not fail.
	warn := filepath.Join(dir, "warn.yaml")
	os.WriteFile(warn, bytes.Replace(src0(t), []byte("Press 1 to start, or press 9"), []byte("Press one to start, or press 9"), 1), 0o644)
	code, _, errOut = runCLI(t, nil, "script", "check", warn)
	if code != 0 || !strings.Contains(errOut, warn+`:21: warning: question "intro" does not announce key(s) 1`) {
		t.Fatalf("warning: exit %d\n%s", code, errOut)
	}

	if code, _, errOut := runCLI(t, nil, "script", "check", filepath.Join(dir, "missing.yaml")); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Fatalf("missing file: exit %d %s", code, errOut)
	}
}

func src0(t *testing.T) []byte {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "scripts", "bant-en.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestScriptSimulateJSON(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCLI(t, nil, "script", "simulate", "bant-en", "--keys", "1,1,1,1,120#,1", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res struct {
		ScriptID      string         `json:"script_id"`
		ScriptVersion int            `json:"script_version"`
		Outcome       string         `json:"outcome"`
		Class         string         `json:"class"`
		Route         string         `json:"route"`
		Total         int            `json:"total"`
		Scores        map[string]int `json:"scores"`
		SLA           string         `json:"sla"`
		Answers       []struct {
			Question string         `json:"question"`
			Keys     string         `json:"keys"`
			Points   map[string]int `json:"points"`
		} `json:"answers"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	var raw map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.ScriptID != "bant-en" || res.ScriptVersion != 3 || res.Outcome != "completed" || res.Class != "sql" ||
		res.Route != "sales" || res.Total != 90 || res.SLA != "24h" || len(res.Answers) != 6 {
		t.Fatalf("result: %+v", res)
	}
	if res.Scores["budget"] != 30 || res.Scores["need"] != 15 || res.Answers[4].Question != "seats" || res.Answers[4].Keys != "120#" || res.Answers[4].Points["need"] != 15 {
		t.Fatalf("scores/answers: %+v", res)
	}
	for _, key := range []string{"script_id", "script_version", "outcome", "class", "route", "total", "scores", "answers", "explanation"} {
		if _, ok := raw[key]; !ok {
			t.Errorf("JSON lacks %q", key)
		}
	}
}

func TestScriptSimulateTranscript(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCLI(t, nil, "script", "simulate", "bant-en", "--keys", "1,1,7,timeout,9", "--lead", "first_name=Ann")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"say   [identify] Hello, this is an automated call from Acme Software",
		"Hi Ann. Four quick questions",
		"press 7 (question budget, try 1",
		"→ not accepted",
		"say   [invalid]  Sorry, that is not one of the options.",
		"timeout (question budget, try 2",
		"say   [opt_out]  Understood. We will not call you again. Goodbye.",
		"outcome  opted_out",
		"why      pressed the opt-out key 9 at question budget",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("transcript lacks %q:\n%s", want, out)
		}
	}
	if code, _, errOut := runCLI(t, nil, "script", "simulate", "bant-en", "--keys", "1,x"); code != 1 || !strings.Contains(errOut, `--keys item 2 "x"`) {
		t.Errorf("bad keys: exit %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, nil, "script", "simulate", "bant-en", "--lead", "nonsense"); code != 1 || !strings.Contains(errOut, "name=value") {
		t.Errorf("bad lead: exit %d %s", code, errOut)
	}
}

func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	url := pgtest.EmptyURL(t)
	files, _ := fs.Glob(migrations.Files, "sql/*.sql")
	latest := 0
	for _, f := range files {
		n, _ := strconv.Atoi(strings.SplitN(path.Base(f), "_", 2)[0])
		latest = max(latest, n)
	}
	code, out, errOut := runCLI(t, map[string]string{"QUALDIAL_DATABASE_URL": url}, "migrate", "--log-level", "warn")
	if want := fmt.Sprintf("schema version %d (applied now: %d qualdial, ", latest, len(files)); code != 0 || !strings.Contains(out, want) {
		t.Fatalf("first migrate: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, map[string]string{"DATABASE_URL": url}, "migrate", "--log-level", "warn")
	if code != 0 || !strings.Contains(out, "applied now: 0 qualdial, 0 River") {
		t.Fatalf("second migrate: exit %d\n%s", code, out)
	}
}

// serveProc is "qualdial serve" running as a real process.
type serveProc struct {
	cmd     *exec.Cmd
	base    string        // http://127.0.0.1:port
	logDone chan struct{} // closed when stderr is drained
	mu      sync.Mutex
	log     bytes.Buffer
}

func (p *serveProc) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// startServe runs "qualdial serve" and waits until it listens.
func startServe(t testing.TB, environ []string, args ...string) *serveProc {
	t.Helper()
	p := &serveProc{logDone: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], append([]string{"serve", "--http", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	p.cmd.Env = append(environ, "QUALDIAL_TEST_RUN_MAIN=1")
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Kill() })
	addr := make(chan string, 1)
	go func() {
		defer close(p.logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "qualdial serving" {
				addr <- line.Addr
			}
		}
	}()
	select {
	case a := <-addr:
		p.base = "http://" + a
		return p
	case <-p.logDone:
		t.Fatalf("serve exited before listening:\n%s", p.Log())
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not start in 60s:\n%s", p.Log())
	}
	return nil
}

func getStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// stop sends SIGTERM and requires a clean exit.
func (p *serveProc) stop(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.logDone: // stderr closes when the process exits
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop within 30s of SIGTERM:\n%s", p.Log())
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("serve exited with %v after SIGTERM:\n%s", err, p.Log())
	}
}

func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "QUALDIAL_") && !strings.HasPrefix(kv, "DATABASE_URL=") {
			out = append(out, kv)
		}
	}
	return out
}

func TestServeMigratesReportsReadyAndStopsOnSIGTERM(t *testing.T) {
	t.Parallel()
	url := pgtest.EmptyURL(t)
	p := startServe(t, append(cleanEnv(), "QUALDIAL_DATABASE_URL="+url))
	if code, body := getStatus(t, p.base+"/readyz"); code != 200 || !strings.Contains(body, `"status":"ready"`) {
		t.Fatalf("/readyz = %d %s", code, body)
	}
	if code, body := getStatus(t, p.base+"/healthz"); code != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("/healthz = %d %s", code, body)
	}
	if !strings.Contains(p.Log(), `"msg":"migrations applied"`) {
		t.Errorf("serve did not migrate on start:\n%s", p.Log())
	}
	p.stop(t)
	if !strings.Contains(p.Log(), `"msg":"stopped"`) {
		t.Errorf("no clean stop in log:\n%s", p.Log())
	}
	// River's chatter (client started/stopped, producer job counts,
	// maintenance runs) is DEBUG: none of it at the default level, info.
	// (No job fails here, so no River record has an error.)
	for _, line := range strings.Split(p.Log(), "\n") {
		if strings.Contains(line, `"component":"river"`) && !strings.Contains(line, `"level":"WARN"`) && !strings.Contains(line, `"level":"ERROR"`) {
			t.Errorf("River logs below WARN at log level info: %s", line)
		}
	}
}

// TestServeWithNoDatabaseConfigured is the fresh-machine case: no database
// URL at all, so serve starts its own PostgreSQL (as an unprivileged user
// when run as root), and stops it again on SIGTERM.
func TestServeWithNoDatabaseConfigured(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "qd-serve-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	dataDir := filepath.Join(dir, "state", "pg")
	for round := 1; round <= 2; round++ { // a restart reuses the cluster
		p := startServe(t, cleanEnv(), "--data-dir", dataDir)
		if code, body := getStatus(t, p.base+"/readyz"); code != 200 {
			t.Fatalf("round %d: /readyz = %d %s\n%s", round, code, body, p.Log())
		}
		p.stop(t)
		log := p.Log()
		if !strings.Contains(log, "private PostgreSQL stopped") {
			t.Fatalf("round %d: private PostgreSQL not stopped:\n%s", round, log)
		}
		if _, err := os.Stat(filepath.Join(dataDir, "postmaster.pid")); !os.IsNotExist(err) {
			t.Fatalf("round %d: postmaster.pid left behind: %v", round, err)
		}
		created := strings.Contains(log, "creating private PostgreSQL cluster")
		if created != (round == 1) {
			t.Fatalf("round %d: cluster created=%v", round, created)
		}
	}
}

func TestServeConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--http", "8080", "--database-url", "postgres://x"}, `invalid argument "8080" for "--http" flag: must be host:port`},
		{[]string{"serve", "--data-dir", "relative", "--database-url", ""}, `invalid argument "relative" for "--data-dir" flag: must be an absolute path`},
		{[]string{"serve", "--log-format", "xml", "--database-url", "postgres://x"}, `invalid argument "xml" for "--log-format" flag: use text or json`},
		{[]string{"serve", "--shutdown-timeout", "0s", "--database-url", "postgres://x"}, `--shutdown-timeout 0s (env QUALDIAL_SHUTDOWN_TIMEOUT) must be positive`},
	} {
		code, _, errOut := runCLI(t, nil, tc.args...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q; want %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestUnreachableDatabaseIsNotReady(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var errOut bytes.Buffer
	code := run(ctx, []string{"serve", "--http", "127.0.0.1:0", "--database-url", "postgres://postgres@127.0.0.1:1/x?connect_timeout=2"},
		func(string) string { return "" }, io.Discard, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "connect to database") {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
}

// TestReadmeExamples keeps the README honest: its script example must pass
// "script check" without a warning, and its simulate example must print what
// the README shows.
func TestReadmeExamples(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```yaml\n")
	if !ok {
		t.Fatal("README has no yaml example")
	}
	example, _, _ := strings.Cut(rest, "```")
	file := filepath.Join(t.TempDir(), "example.yaml")
	os.WriteFile(file, []byte(example), 0o644)
	if code, _, errOut := runCLI(t, nil, "script", "check", file); code != 0 || errOut != "" {
		t.Fatalf("README example: exit %d\n%s", code, errOut)
	}
	// The persona file example loads.
	for _, block := range strings.Split(string(readme), "```yaml\n")[1:] {
		body, _, _ := strings.Cut(block, "```")
		if !strings.Contains(body, "+15550001") {
			continue
		}
		pf := filepath.Join(t.TempDir(), "personas.yaml")
		os.WriteFile(pf, []byte(body), 0o644)
		ps, err := softphone.LoadPersonas(pf)
		if err != nil || len(ps) < 8 {
			t.Fatalf("README persona example: %d personas, %v", len(ps), err)
		}
	}
	_, out, _ := runCLI(t, nil, "script", "simulate", "bant-en", "--keys", "1,1,1,1,120#,1", "--lead", "first_name=Ann")
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "why") || strings.HasPrefix(line, "class") || strings.Contains(line, "press 120#") {
			if !strings.Contains(string(readme), line) {
				t.Errorf("README does not show simulate's line %q", line)
			}
		}
	}
}

// TestAPIKeyAndImportCommands: a key printed once works against the API
// (served by a real serve process), and qualdial import reports rows.
func TestAPIKeyAndImportCommands(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	env := map[string]string{"QUALDIAL_DATABASE_URL": url}
	code, key, errOut := runCLI(t, env, "apikey", "create", "--role", "marketing", "--name", "Mia from marketing")
	key = strings.TrimSpace(key)
	if code != 0 || !strings.HasPrefix(key, "qd_") || !strings.Contains(errOut, "shown only now") {
		t.Fatalf("apikey: exit %d %q %s", code, key, errOut)
	}
	if code, _, errOut := runCLI(t, env, "apikey", "create", "--role", "root", "--name", "x"); code != 1 || !strings.Contains(errOut, "use admin, marketing, sales or intake") {
		t.Errorf("bad role: exit %d %s", code, errOut)
	}
	p := startServe(t, append(cleanEnv(), "QUALDIAL_DATABASE_URL="+url), "--workers=false")
	defer p.stop(t)
	// The first request of a new process on a loaded machine may get 503
	// with Retry-After (the database's 2 s bound): a client tries again.
	var res *http.Response
	for try := 0; ; try++ {
		req, _ := http.NewRequest("POST", p.base+"/v1/campaigns", strings.NewReader(`{"name": "cli", "script_id": "bant-en", "caller_id": "+15550100"}`))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		var err error
		if res, err = http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || try == 3 {
			break
		}
		time.Sleep(time.Second)
	}
	if res.StatusCode != 201 {
		t.Fatalf("create campaign with the new key: %d", res.StatusCode)
	}
	file := filepath.Join(t.TempDir(), "list.csv")
	os.WriteFile(file, []byte("phone;name\n+12125550101;Ann\n+12125550101;Ann again\nnope;Bob\n"), 0o644)
	code, out, errOut := runCLI(t, env, "import", "--campaign", "cli", file)
	if code != 0 || !strings.Contains(out, "3 rows: 1 accepted, 1 duplicates, 0 on the DNC list, 1 rejected") || !strings.Contains(out, "row 4: phone:") {
		t.Fatalf("import: exit %d\n%s\n%s", code, out, errOut)
	}

	// Revoked with the CLI, the key stops working on the running server
	// within seconds (its key cache is short).
	prefix := strings.Join(strings.Split(key, "_")[:2], "_")
	if code, out, errOut := runCLI(t, env, "apikey", "revoke", prefix); code != 0 || !strings.Contains(out, `revoked marketing key "Mia from marketing"`) {
		t.Fatalf("revoke: exit %d %s %s", code, out, errOut)
	}
	revoked := time.Now()
	for {
		req, _ := http.NewRequest("GET", p.base+"/v1/leads", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusUnauthorized {
			break
		}
		if time.Since(revoked) > 6*time.Second {
			t.Fatalf("the server still takes a key revoked %s ago: %d", time.Since(revoked).Round(time.Millisecond), res.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A script whose language no Twilio voice speaks checks with a warning
// (exit 0); the shipped ones (en-US, ru-RU) have voices.
func TestScriptCheckTwilioVoice(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "klingon.yaml")
	os.WriteFile(file, bytes.Replace(src0(t), []byte("\nlanguage: en-US\n"), []byte("\nlanguage: tlh\n"), 1), 0o644)
	code, out, errOut := runCLI(t, nil, "script", "check", file)
	if code != 0 || !strings.Contains(out, ": ok: ") || !strings.Contains(errOut, file+`:6: warning: language "tlh" has no Twilio voice`) {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestCallRefusesWhatItCannotPlace: a request that could never be placed —
// a SIP URI carrying a header, a call cut before it starts, a language
// espeak-ng has no voice for — is a usage error (exit 1) before anything is
// dialled, never a call answered and dropped; script check warns of the
// language.
func TestCallRefusesWhatItCannotPlace(t *testing.T) {
	t.Parallel()
	// Nothing listens here: a call that was dialled would ring out.
	to := "sip:lead@127.0.0.1:9"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"header in the URI", []string{"--to", "sip:+1555@127.0.0.1:9;x=a\r\nX-Inj: 1"}, "control characters"},
		{"call too short", []string{"--to", to, "--max-call-length", "1ns"}, "from 1s"},
		{"caller ID", []string{"--to", to, "--caller-id", "123"}, "not an E.164"},
	} {
		args := append([]string{"call", "--script", "bant-en", "--caller-id", "+15550100"}, tc.args...)
		code, out, errOut := runCLI(t, nil, args...)
		if code != 1 || !strings.Contains(errOut, tc.want) || strings.Contains(out, "disposition") {
			t.Errorf("%s: exit %d\n%s\n%s", tc.name, code, out, errOut)
		}
	}
	// The softphone names its flag when its value is wrong.
	if code, out, errOut := runCLI(t, nil, "softphone", "--listen", "127.0.0.1:0", "--attestation", "x"); code != 1 ||
		!strings.Contains(errOut, `--attestation "x": use A, B or C`) || strings.Contains(out, "listening") {
		t.Errorf("softphone --attestation x: exit %d\n%s\n%s", code, out, errOut)
	}
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("espeak-ng is required in CI")
		}
		t.Skip(err)
	}
	file := filepath.Join(t.TempDir(), "xx.yaml")
	os.WriteFile(file, bytes.Replace(src0(t), []byte("\nlanguage: en-US\n"), []byte("\nlanguage: xx\n"), 1), 0o644)
	code, out, errOut := runCLI(t, nil, "call", "--to", to, "--script", file, "--caller-id", "+15550100")
	if code != 1 || !strings.Contains(errOut, `espeak-ng has no voice "xx"`) || strings.Contains(out, "disposition") {
		t.Errorf("a language without a voice: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, nil, "script", "check", file)
	if code != 0 || !strings.Contains(errOut, file+`:6: warning: espeak-ng has no voice "xx"`) {
		t.Errorf("script check: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestScriptProfile: simulate scores the lead's fields given with --lead
// (explicit points) with the keys, and check warns about profile rules that
// read a field no lead has.
func TestScriptProfile(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCLI(t, nil, "script", "simulate", "bant-en", "--keys", "1,2,2,3,5#,3", "--json",
		"--lead", "job_title=Head of IT", "--lead", "company_size=1,200", "--lead", "email=jo@gmail.com")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res struct {
		Total       int
		Class       string
		Explanation struct {
			Profile []struct{ Rule string }
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, h := range res.Explanation.Profile {
		rules = append(rules, h.Rule)
	}
	// The same keys without the fields score 10 points less.
	code, plain, _ := runCLI(t, nil, "script", "simulate", "bant-en", "--keys", "1,2,2,3,5#,3", "--json")
	var without struct{ Total int }
	if code != 0 || json.Unmarshal([]byte(plain), &without) != nil {
		t.Fatalf("simulate without fields: exit %d", code)
	}
	if strings.Join(rules, ",") != "senior_title,mid_size_company,free_mail" || res.Total != without.Total+10 {
		t.Errorf("profile rules %v, total %d (without fields %d); want senior_title, mid_size_company, free_mail and 10 more", rules,
			res.Total, without.Total)
	}

	src, _ := scripts.Read("bant-en")
	bad := strings.Replace(string(src), `when: "number(lead.company_size) >= 50"`, `when: "lead.zip != '' && lead.phone != ''"`, 1)
	file := filepath.Join(t.TempDir(), "bant.yaml")
	if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCLI(t, nil, "script", "check", file)
	line := strings.Count(bad[:strings.Index(bad, "  - name: mid_size_company")], "\n") + 1
	for _, want := range []string{
		fmt.Sprintf(`:%d: warning: profile rule "mid_size_company" reads lead.zip, which is never set: it is the lead's postal_code`, line),
		fmt.Sprintf(`:%d: warning: profile rule "mid_size_company" reads lead.phone, which scripts are not given`, line),
	} {
		if code != 0 || !strings.Contains(errOut, want) {
			t.Errorf("script check: exit %d, stderr %s; want %q", code, errOut, want)
		}
	}
}

// TestSimulateLeadScore: simulate adds the activities given with
// --activity (decayed by their age) to the profile and the call, and says
// what the thresholds do with the score before a call.
func TestSimulateLeadScore(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCLI(t, nil, "script", "simulate", "bant-en", "--keys", "1,1,1,2,120#,2", "--json",
		"--lead", "job_title=CTO", "--lead", "email=jo@gmail.com", // +10 authority, -5 budget
		"--activity", "download@30d", "--activity", "webinar", "--activity", "unsubscribe@90d", // 8/2 + 15 - 20/2 = 9
		"--points", "demo_request=40/7", "--activity", "demo_request@14d", // 40/4 = 10
		"--call-threshold", "20", "--sales-threshold", "80")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res struct {
		Total     int
		Class     string
		LeadScore struct {
			Profile, Behavior, Call, Total int
			BeforeCall                     int `json:"before_call"`
			Decision                       string
		} `json:"lead_score"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	ls := res.LeadScore
	if ls.Profile != 5 || ls.Behavior != 19 || ls.BeforeCall != 24 || ls.Call != 70 || ls.Total != 94 || res.Total != 75 ||
		ls.Decision != "call_scheduled" || res.Class != "sql" {
		t.Errorf("lead score %+v, call total %d, class %s", ls, res.Total, res.Class)
	}
	for _, tc := range []struct{ flag, want string }{
		{"--activity=nope", `no points for type "nope"`},
		{"--activity=download@soon", "the age after @ is a duration"},
		{"--points=webinar", "use type=points"},
		{"--points=Bad=1", "not an activity type name"},
	} {
		if code, _, errOut := runCLI(t, nil, "script", "simulate", "bant-en", tc.flag); code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, %s; want %q", tc.flag, code, errOut, tc.want)
		}
	}
}

// TestUserCommands: "user create" prints a one-time password that logs in
// to the web UI of a serve process on the same database; bad input is
// refused before the database is touched.
func TestUserCommands(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	env := map[string]string{"QUALDIAL_DATABASE_URL": url}
	code, password, errOut := runCLI(t, env, "user", "create", "--role", "marketing", "--email", "mia@example.com", "--name", "Mia")
	password = strings.TrimSpace(password)
	if code != 0 || len(password) < 16 || !strings.Contains(errOut, "shown only now") {
		t.Fatalf("user create: exit %d %q %s", code, password, errOut)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--role", "intake", "--email", "x@example.com"}, "use admin, marketing, sales"},
		{[]string{"--role", "sales", "--email", "not an address"}, "give an e-mail address"},
		{[]string{"--role", "sales", "--email", "MIA@example.com"}, "exists"},
	} {
		if code, _, errOut := runCLI(t, env, append([]string{"user", "create"}, tc.args...)...); code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("user create %v: exit %d %s; want %q", tc.args, code, errOut, tc.want)
		}
	}
	if code, out, _ := runCLI(t, env, "user", "list"); code != 0 || !strings.Contains(out, "mia@example.com\tmarketing\tMia\tlast login never") {
		t.Errorf("user list: exit %d %q", code, out)
	}
	p := startServe(t, append(cleanEnv(), "QUALDIAL_DATABASE_URL="+url), "--workers=false")
	defer p.stop(t)
	req, _ := http.NewRequest("POST", p.base+"/login", strings.NewReader("email=mia%40example.com&password="+password))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/password" || res.Header.Get("Set-Cookie") == "" {
		t.Errorf("login on serve: %d → %q", res.StatusCode, res.Header.Get("Location"))
	}
}

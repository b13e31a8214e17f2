package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/pgtest"
)

// TestVersion: --version and "version" print the build's version; a build
// with -X main.version=… prints that, with the commit it was built from.
func TestVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--version"}, {"version"}} {
		code, out, errOut := runCLI(t, nil, args...)
		if code != 0 || !strings.HasPrefix(out, "qualdial dev") {
			t.Errorf("%v: exit %d %q %s", args, code, out, errOut)
		}
	}

	if testing.Short() {
		t.Skip("builds a binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to build the binary with:", err)
	}
	bin := filepath.Join(t.TempDir(), "qualdial")
	args := []string{"build", "-o", bin, "-ldflags", "-X main.version=9.9.9-test"}
	if info, ok := debug.ReadBuildInfo(); ok { // reuse the test build's cache
		for _, s := range info.Settings {
			if s.Key == "-race" && s.Value == "true" {
				args = append(args, "-race")
			}
		}
	}
	if out, err := exec.Command(goTool, append(args, ".")...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "qualdial 9.9.9-test") {
		t.Fatalf("built binary: %q %v", out, err)
	}
	goflags, _ := exec.Command(goTool, "env", "GOFLAGS").Output()
	if rev, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil && !strings.Contains(string(goflags), "buildvcs=false") {
		if want := "commit " + string(rev[:12]); !strings.Contains(string(out), want) {
			t.Errorf("built binary: %q lacks %q", out, want)
		}
	}
}

// TestTypoSuggestions: mistyped commands, subcommands, flags and shipped
// script ids fail with the closest names.
func TestTypoSuggestions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serv"}, "Did you mean this?\n\tserve"},
		{[]string{"apikey", "creat"}, `unknown command "creat" for "qualdial apikey"` + "\n\nDid you mean this?\n\tcreate"},
		{[]string{"script", "chek", "bant-en"}, "Did you mean this?\n\tcheck"},
		{[]string{"serve", "--databse-url", "postgres://x"}, "unknown flag: --databse-url\n\nDid you mean this?\n\t--database-url"},
		{[]string{"apikey", "create", "--rol", "admin"}, "Did you mean this?\n\t--role"},
		{[]string{"script", "check", "bant-eng"}, "(did you mean bant-en?)"},
		{[]string{"script", "simulate", "bant-eng", "--keys", "1"}, "(did you mean bant-en?)"},
	} {
		code, _, errOut := runCLI(t, nil, tc.args...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d\n%s\nwant %q", tc.args, code, errOut, tc.want)
		}
	}
	// A group alone still shows its help.
	if code, out, _ := runCLI(t, nil, "apikey"); code != 0 || !strings.Contains(out, "revoke") {
		t.Errorf("apikey alone: exit %d\n%s", code, out)
	}
}

// commandPaths lists every command of the tree, as argument lists.
func commandPaths(c *cobra.Command, prefix []string) [][]string {
	var out [][]string
	for _, sub := range c.Commands() {
		path := append(append([]string{}, prefix...), sub.Name())
		out = append(out, path)
		out = append(out, commandPaths(sub, path)...)
	}
	return out
}

// TestHelpHidesSecrets: no command's help shows a value from the
// environment; it says which variable is set.
func TestHelpHidesSecrets(t *testing.T) {
	t.Parallel()
	environ := map[string]string{
		"QUALDIAL_DATABASE_URL":       "postgres://qd:db-s3cret@db.example/qualdial",
		"DATABASE_URL":                "postgres://other:fallback-s3cret@db.example/x",
		"QUALDIAL_TWILIO_AUTH_TOKEN":  "twilio-s3cret",
		"QUALDIAL_TWILIO_ACCOUNT_SID": "AC-s3cret-sid",
		"QUALDIAL_SIP_PASSWORD":       "sip-s3cret",
		"QUALDIAL_SIP_USERNAME":       "sip-user-s3cret",
		"QUALDIAL_SMTP_PASSWORD":      "smtp-s3cret",
		"QUALDIAL_MAX_CALLS":          "ten", // malformed values do not break help
	}
	paths := commandPaths((&env{getenv: func(string) string { return "" }}).rootCommand(), nil)
	if len(paths) < 10 {
		t.Fatalf("only %d commands found", len(paths))
	}
	for _, path := range append(paths, []string{}) {
		code, out, errOut := runCLI(t, environ, append(path, "--help")...)
		if code != 0 {
			t.Errorf("%v --help: exit %d %s", path, code, errOut)
		}
		for _, secret := range []string{"s3cret"} {
			if strings.Contains(out+errOut, secret) {
				t.Errorf("%v --help shows a secret:\n%s%s", path, out, errOut)
			}
		}
	}
	_, out, _ := runCLI(t, environ, "serve", "--help")
	for _, want := range []string{"QUALDIAL_DATABASE_URL is set", "QUALDIAL_TWILIO_AUTH_TOKEN is set", "QUALDIAL_SIP_PASSWORD is set", "QUALDIAL_SMTP_PASSWORD is set", "(env QUALDIAL_TWILIO_CPS)"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve --help lacks %q:\n%s", want, out)
		}
	}
}

// TestMalformedEnvironmentFailsStartup: a QUALDIAL_* value that does not
// parse stops the command before it does anything, naming the variable and
// what it expects, instead of becoming a zero or false.
func TestMalformedEnvironmentFailsStartup(t *testing.T) {
	t.Parallel()
	unreachable := "postgres://qualdial@127.0.0.1:1/never?connect_timeout=1"
	for _, tc := range []struct {
		cmd             []string
		variable, value string
		want            string
	}{
		{[]string{"serve"}, "QUALDIAL_MAX_CALLS", "ten", "expected a whole number"},
		{[]string{"serve"}, "QUALDIAL_NUMBER_CAP", "3.5", "expected a whole number"},
		{[]string{"serve"}, "QUALDIAL_WORKERS", "yes", "expected true or false"},
		{[]string{"serve"}, "QUALDIAL_TWILIO_MACHINE_DETECTION", "on", "expected true or false"},
		{[]string{"serve"}, "QUALDIAL_SHUTDOWN_TIMEOUT", "5", "expected a duration with a unit"},
		{[]string{"serve"}, "QUALDIAL_TWILIO_CPS", "abc", "expected a number"},
		{[]string{"serve"}, "QUALDIAL_HTTP_ADDR", "8080", "must be host:port"},
		{[]string{"serve"}, "QUALDIAL_LOG_LEVEL", "verbose", "use debug, info, warn or error"},
		{[]string{"serve"}, "QUALDIAL_SIP_CODECS", "G729", `"G729" is not PCMU or PCMA`},
		{[]string{"serve"}, "QUALDIAL_SIP_LISTEN", "5060", "must be host:port"},
		{[]string{"serve"}, "QUALDIAL_RTP_PORT_MIN", "low", "expected a whole number"},
		{[]string{"migrate"}, "QUALDIAL_LOG_FORMAT", "xml", "use text or json"},
		{[]string{"migrate"}, "QUALDIAL_DATA_DIR", "state/pg", "must be an absolute path"},
		{[]string{"demo"}, "QUALDIAL_DEMO_DATA_DIR", "demo-pg", "must be an absolute path"},
		{[]string{"call", "--to", "sip:x@127.0.0.1:9", "--script", "bant-en", "--caller-id", "+15550100"}, "QUALDIAL_SIP_CODECS", "PCMU,G722", `"G722" is not PCMU or PCMA`},
		{[]string{"call", "--to", "sip:x@127.0.0.1:9", "--script", "bant-en", "--caller-id", "+15550100"}, "QUALDIAL_RTP_PORT_MAX", "20000-30000", "expected a whole number"},
	} {
		environ := map[string]string{"QUALDIAL_DATABASE_URL": unreachable, tc.variable: tc.value}
		code, _, errOut := runCLI(t, environ, tc.cmd...)
		if code != 1 || !strings.Contains(errOut, tc.variable+`="`+tc.value+`"`) || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s=%s %v: exit %d %q; want the variable and %q", tc.variable, tc.value, tc.cmd[0], code, errOut, tc.want)
		}
		if strings.Contains(errOut, "connect to database") || strings.Contains(errOut, "disposition") {
			t.Errorf("%s=%s: the command ran before failing: %s", tc.variable, tc.value, errOut)
		}
	}

	// Values are used (0 is parsed, then refused by validation), and a flag
	// on the command line wins over a malformed variable.
	code, _, errOut := runCLI(t, map[string]string{"QUALDIAL_DATABASE_URL": unreachable, "QUALDIAL_MAX_CALLS": "0"}, "serve")
	if code != 1 || !strings.Contains(errOut, "--max-calls 0 (env QUALDIAL_MAX_CALLS) must be at least 1") {
		t.Errorf("QUALDIAL_MAX_CALLS=0: exit %d %s", code, errOut)
	}
	code, _, errOut = runCLI(t, map[string]string{"QUALDIAL_DATABASE_URL": unreachable, "QUALDIAL_MAX_CALLS": "ten"}, "serve", "--max-calls", "0")
	if code != 1 || strings.Contains(errOut, "QUALDIAL_MAX_CALLS=") || !strings.Contains(errOut, "--max-calls 0") {
		t.Errorf("flag over a malformed variable: exit %d %s", code, errOut)
	}
}

// TestAlertMailConfig: a wrong e-mail alert setting stops serve before it
// touches the database, saying what to set and where; a right one passes.
func TestAlertMailConfig(t *testing.T) {
	t.Parallel()
	unreachable := "postgres://qualdial@127.0.0.1:1/never?connect_timeout=1"
	ok := map[string]string{"QUALDIAL_SMTP_ADDR": "smtp.example.com:587", "QUALDIAL_SMTP_FROM": "qualdial <alerts@example.com>",
		"QUALDIAL_ALERT_EMAIL_TO": "Rita <rita@example.com>, ops@example.com", "QUALDIAL_PUBLIC_URL": "https://qualdial.example.com"}
	for _, tc := range []struct {
		variable, value string
		want            []string // "" : valid
	}{
		{"QUALDIAL_SMTP_USER", "alerts", []string{"a username without a password", "QUALDIAL_SMTP_PASSWORD"}},
		{"QUALDIAL_ALERT_EMAIL_TO", "", []string{"set To to the addresses of the sales managers", "QUALDIAL_ALERT_EMAIL_TO"}},
		{"QUALDIAL_ALERT_EMAIL_TO", "rita at example", []string{`recipient "rita at example"`}},
		{"QUALDIAL_SMTP_ADDR", "", []string{"no server address", "QUALDIAL_SMTP_ADDR"}},
		{"QUALDIAL_SMTP_ADDR", "smtp.example.com", []string{"must be host:port"}},
		{"QUALDIAL_SMTP_TLS", "ssl", []string{`QUALDIAL_SMTP_TLS="ssl"`, "use starttls, tls or none"}},
		{"QUALDIAL_SMTP_TLS", "none", []string{"allowed only to a relay on this host"}},
		{"QUALDIAL_SMTP_TIMEOUT", "30", []string{"expected a duration with a unit"}},
		{"QUALDIAL_PUBLIC_URL", "qualdial.example.com", []string{"--public-url", "like https://qualdial.example.com"}},
	} {
		environ := map[string]string{"QUALDIAL_DATABASE_URL": unreachable}
		for k, v := range ok {
			environ[k] = v
		}
		environ[tc.variable] = tc.value
		code, _, errOut := runCLI(t, environ, "serve")
		if tc.want == nil {
			if !strings.Contains(errOut, "connect to database") {
				t.Errorf("%s=%q: exit %d %s; want it valid (then the database is unreachable)", tc.variable, tc.value, code, errOut)
			}
			continue
		}
		for _, want := range tc.want {
			if code != 1 || !strings.Contains(errOut, want) {
				t.Errorf("%s=%q: exit %d %q; want %q", tc.variable, tc.value, code, errOut, want)
			}
		}
		if strings.Contains(errOut, "connect to database") {
			t.Errorf("%s=%q: serve ran before failing: %s", tc.variable, tc.value, errOut)
		}
	}
}

// TestBusyPortFailsFirst: serve and demo on a port in use fail at once, before
// a private PostgreSQL is created or a database migrated.
func TestBusyPortFailsFirst(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()
	for _, cmd := range [][]string{{"serve"}, {"demo"}} {
		dataDir := filepath.Join(t.TempDir(), "pg")
		code, _, errOut := runCLI(t, nil, append(cmd, "--http", busy, "--data-dir", dataDir)...)
		if code != 1 || !strings.Contains(errOut, "listen on "+busy) || !strings.Contains(errOut, "address already in use") {
			t.Errorf("%s on a busy port: exit %d %s", cmd[0], code, errOut)
		}
		if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
			t.Errorf("%s created the private PostgreSQL before listening: %v", cmd[0], err)
		}
	}
	// With a database URL: nothing is migrated.
	url := pgtest.EmptyURL(t)
	code, _, errOut := runCLI(t, map[string]string{"QUALDIAL_DATABASE_URL": url}, "serve", "--http", busy)
	if code != 1 || !strings.Contains(errOut, "address already in use") {
		t.Fatalf("serve with a URL on a busy port: exit %d %s", code, errOut)
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var tables int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&tables); err != nil || tables != 0 {
		t.Errorf("serve migrated before listening: %d tables, %v", tables, err)
	}
}

// TestQuietRiver: River's INFO records are logged at DEBUG; its warnings,
// its records of failed jobs, and everyone else's INFO are untouched.
func TestQuietRiver(t *testing.T) {
	t.Parallel()
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		var buf bytes.Buffer
		log := slog.New(quietRiver{Handler: slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level})})
		river := log.With("component", "queue").With("subsystem", "river").WithGroup("g")
		river.Info("River client started")
		river.Info("Job errored", "error", "boom", "job_id", 1)
		river.Warn("River warns")
		river.Debug("River debug")
		log.With("component", "queue").Info("dial workers running")
		got := buf.String()
		for msg, want := range map[string]string{
			"River client started": map[slog.Level]string{slog.LevelInfo: "", slog.LevelDebug: "DEBUG"}[level],
			"Job errored":          "INFO",
			"River warns":          "WARN",
			"River debug":          map[slog.Level]string{slog.LevelInfo: "", slog.LevelDebug: "DEBUG"}[level],
			"dial workers running": "INFO",
		} {
			re := regexp.MustCompile(`"level":"([A-Z]+)","msg":"` + msg + `"`)
			m := re.FindStringSubmatch(got)
			switch {
			case want == "" && m != nil:
				t.Errorf("level %s: %q logged as %s", level, msg, m[1])
			case want != "" && (m == nil || m[1] != want):
				t.Errorf("level %s: %q logged as %v, want %s\n%s", level, msg, m, want, got)
			}
		}
	}
}

// TestAPIKeyListAndRevokeCommands: keys are listed without secrets (table
// and --json), revoked by id or prefix, idempotently, saying what was done.
func TestAPIKeyListAndRevokeCommands(t *testing.T) {
	t.Parallel()
	env := map[string]string{"QUALDIAL_DATABASE_URL": pgtest.URL(t)}
	code, out, _ := runCLI(t, env, "apikey", "list")
	if code != 0 || !strings.Contains(out, "no API keys yet") {
		t.Fatalf("empty list: exit %d %s", code, out)
	}
	var tokens []string
	for _, args := range [][]string{{"--role", "sales", "--name", "Sam"}, {"--role", "intake", "--name", "spring form", "--signed"}} {
		code, out, errOut := runCLI(t, env, append([]string{"apikey", "create"}, args...)...)
		if code != 0 {
			t.Fatalf("create: exit %d %s", code, errOut)
		}
		tokens = append(tokens, strings.Fields(out)...) // the key, and a signing secret
	}
	code, table, _ := runCLI(t, env, "apikey", "list")
	if code != 0 || !regexp.MustCompile(`(?m)^1\s+Sam\s+sales\s+qd_[0-9a-f]{8}\s+1\s+no\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+-\s+-$`).MatchString(table) ||
		!regexp.MustCompile(`(?m)^2\s+spring form\s+intake\s+qd_[0-9a-f]{8}\s+-\s+yes\s`).MatchString(table) {
		t.Fatalf("list: exit %d\n%s", code, table)
	}
	code, js, _ := runCLI(t, env, "apikey", "list", "--json")
	var keys []map[string]any
	if err := json.Unmarshal([]byte(js), &keys); err != nil || code != 0 || len(keys) != 2 {
		t.Fatalf("list --json: exit %d %v\n%s", code, err, js)
	}
	for _, k := range []string{"id", "name", "role", "prefix", "signed", "created_at", "last_used_at", "revoked_at"} {
		if _, ok := keys[0][k]; !ok {
			t.Errorf("--json lacks %q: %v", k, keys[0])
		}
	}
	for _, secret := range tokens {
		secret = secret[strings.LastIndex(secret, "_")+1:]
		if strings.Contains(table+js, secret) {
			t.Fatalf("the listing shows a secret:\n%s\n%s", table, js)
		}
	}

	code, out, errOut := runCLI(t, env, "apikey", "revoke", "1")
	if code != 0 || !strings.Contains(out, `revoked sales key "Sam" (id 1, prefix qd_`) {
		t.Fatalf("revoke: exit %d %s %s", code, out, errOut)
	}
	code, out, _ = runCLI(t, env, "apikey", "revoke", "1")
	if code != 0 || !strings.Contains(out, `sales key "Sam" (id 1, prefix qd_`) || !strings.Contains(out, "was already revoked on") {
		t.Fatalf("revoke again: exit %d %s", code, out)
	}
	code, out, _ = runCLI(t, env, "apikey", "revoke", tokens[1]) // the whole key works too
	if code != 0 || !strings.Contains(out, `revoked intake key "spring form" (id 2`) || strings.Contains(out, tokens[1]) {
		t.Fatalf("revoke by key: exit %d %s", code, out)
	}
	for arg, want := range map[string]string{"99": "no API key with id 99", "qd_00000000": "no API key with prefix qd_00000000", "Sam": `"Sam" is not a key id`} {
		if code, _, errOut := runCLI(t, env, "apikey", "revoke", arg); code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("revoke %s: exit %d %s", arg, code, errOut)
		}
	}
	_, js, _ = runCLI(t, env, "apikey", "list", "--json")
	json.Unmarshal([]byte(js), &keys)
	if keys[0]["revoked_at"] == nil || keys[1]["revoked_at"] == nil {
		t.Errorf("not shown as revoked: %s", js)
	}
}

// TestDemo runs "qualdial demo" on a private PostgreSQL as a newcomer
// would: every persona must end as expected, the table must show the
// funnel, and then it serves the API with an admin key it prints. A key
// made with "apikey create --demo" works against that API too: the two
// commands meet in the same database without being told where it is.
func TestDemo(t *testing.T) {
	t.Parallel()
	root := (&env{getenv: func(string) string { return "" }}).rootCommand()
	demo, _, _ := root.Find([]string{"demo"})
	if def := demo.Flags().Lookup("data-dir").DefValue; def != (&env{getenv: func(string) string { return "" }}).demoDataDir() {
		t.Fatalf("demo's default data dir %q is not where --demo looks", def)
	}

	dir, err := os.MkdirTemp("", "qd-demo-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755) // the private PostgreSQL may run as another user
	// serve's database (here one that does not answer) is never the
	// demo's: the demo's fictional leads must not be dialled from there.
	environ := map[string]string{"QUALDIAL_DEMO_DATA_DIR": filepath.Join(dir, "demo-pg"), "QUALDIAL_DATABASE_URL": "postgres://serve@127.0.0.1:1/production"}
	getenv := func(k string) string { return environ[k] }

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errOut fixture.SyncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"demo", "--http", "127.0.0.1:0"}, getenv, &out, &errOut) }()
	line := regexp.MustCompile(`(?m)^API +(http://\S+) .*\nadmin key +(qd_\S+)\ntry +curl -H 'Authorization: Bearer qd_\S+' http://\S+/v1/campaigns/\d+/stats\nmore keys +qualdial apikey create --demo`)
	var m []string
	for deadline := time.Now().Add(4 * time.Minute); m == nil; {
		select {
		case code := <-done:
			t.Fatalf("demo exited %d before serving\n%s\n%s", code, out.String(), errOut.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo did not serve in time\n%s\n%s", out.String(), errOut.String())
		}
		m = line.FindStringSubmatch(out.String())
	}
	// The web UI's login it prints works once, then asks for a password.
	web := regexp.MustCompile(`(?m)^web UI +(http://\S+)/login +e-mail (\S+) +password (\S+) `).FindStringSubmatch(out.String())
	if web == nil {
		t.Fatalf("the demo prints no web login:\n%s", out.String())
	}
	req, _ := http.NewRequest("POST", web[1]+"/login", strings.NewReader(url.Values{"email": {web[2]}, "password": {web[3]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/password" {
		t.Errorf("web login: %d → %q", res.StatusCode, res.Header.Get("Location"))
	}
	table := out.String()
	for _, want := range []string{`Personas \(status: how far the calls got; class: the verdict\)`,
		`(?m)^  hot +10 +completed +completed 10 +sql +sql 10$`, `(?m)^  cold +7 +completed +completed 7 +disqualified +disqualified 7$`,
		`(?m)^  opt-out +5 +opted_out +opted_out 5 +opted_out +opted_out 5$`, `(?m)^  decline +3 +rejected +rejected 3 +- +- 3$`,
		"Attempts by disposition", "Speed to first dial", `Sales-ready leads \(15\)`} {
		if !regexp.MustCompile(want).MatchString(table) {
			t.Errorf("demo output lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "qualified (") {
		t.Errorf("the demo shows a class as a status:\n%s", table)
	}
	if strings.Contains(table, "did not end as their persona should") {
		t.Errorf("some personas ended unexpectedly:\n%s", table)
	}
	base, adminKey := m[1], m[2]
	listKeys := func(key string) int {
		req, _ := http.NewRequest("GET", base+"/v1/apikeys", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := listKeys(adminKey); code != http.StatusOK {
		t.Fatalf("the demo's admin key: %d", code)
	}
	code, key, cerr := runCLI(t, environ, "apikey", "create", "--demo", "--role", "admin", "--name", "newcomer")
	if code != 0 {
		t.Fatalf("apikey create --demo: exit %d %s", code, cerr)
	}
	if code := listKeys(strings.TrimSpace(key)); code != http.StatusOK {
		t.Fatalf("a key from apikey create --demo against the demo's API: %d", code)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("demo exited %d after Ctrl-C: %s", code, errOut.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("demo did not stop")
	}
}

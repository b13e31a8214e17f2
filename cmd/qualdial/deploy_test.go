package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/qualdial/qualdial/internal/pgtest"
)

// launch is how a deploy file starts qualdial: the command line after the
// binary, the environment it sets, and how long it gives serve to stop
// after SIGTERM.
type launch struct {
	args    []string
	environ map[string]string
	grace   time.Duration
}

// TestServeAsDeployed builds the binary and runs "qualdial serve" the way
// deploy/qualdial.service and deploy/compose.yaml (with the image's
// environment from deploy/Dockerfile) start it: their command lines and
// environment, read from the files, with only the database URL, the listen
// ports (free ones on this machine) and paths (a temporary directory)
// replaced. "qualdial healthcheck", run with the same environment as a
// container health check is, must fail before serve listens and pass once
// it is ready; SIGTERM must end serve cleanly within the file's stop grace
// period, which must exceed serve's call drain.
func TestServeAsDeployed(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "qualdial")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for name, load := range map[string]func(t *testing.T) launch{
		"systemd": systemdLaunch,
		"compose": composeLaunch,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			l := load(t)
			drain := 2 * time.Minute // serve's --shutdown-timeout default
			if v := l.environ["QUALDIAL_SHUTDOWN_TIMEOUT"]; v != "" {
				d, err := time.ParseDuration(v)
				if err != nil {
					t.Fatalf("QUALDIAL_SHUTDOWN_TIMEOUT=%q: %v", v, err)
				}
				drain = d
			}
			if l.grace <= drain {
				t.Fatalf("stop grace period %s is not above serve's drain %s: calls in progress would be killed", l.grace, drain)
			}
			environ := localize(t, l.environ)
			environ["QUALDIAL_DATABASE_URL"] = pgtest.EmptyURL(t)
			runDeployed(t, bin, l.args, environ, l.grace)
		})
	}
}

// runDeployed starts bin with args and environ, waits for the health check,
// then stops it with SIGTERM.
func runDeployed(t *testing.T, bin string, args []string, environ map[string]string, grace time.Duration) {
	t.Helper()
	env := cleanEnv()
	for k, v := range environ {
		env = append(env, k+"="+v)
	}
	healthcheck := func() (int, string) {
		cmd := exec.Command(bin, "healthcheck")
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), out.String()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, out.String()
	}
	if code, out := healthcheck(); code != 1 || strings.Count(out, "\n") != 1 || !strings.Contains(out, "not ready: GET http://") {
		t.Fatalf("healthcheck before serve started: exit %d %q, want 1 and one line saying why", code, out)
	}

	serve := exec.Command(bin, args...)
	serve.Env = env
	stderr, err := serve.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = serve.Process.Kill() })
	var (
		mu      sync.Mutex
		log     bytes.Buffer
		addr    string
		logDone = make(chan struct{})
	)
	logText := func() string { mu.Lock(); defer mu.Unlock(); return log.String() }
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			mu.Lock()
			log.WriteString(sc.Text() + "\n")
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "qualdial serving" {
				addr = line.Addr
			}
			mu.Unlock()
		}
	}()

	deadline := time.Now().Add(90 * time.Second)
	for {
		code, out := healthcheck()
		if code == 0 {
			break
		}
		select {
		case <-logDone:
			t.Fatalf("serve exited before it was ready (last healthcheck: %s):\n%s", out, logText())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthcheck still failing after 90s: exit %d %s\n%s", code, out, logText())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The deploy file's settings were taken: JSON logs, its HTTP address.
	_, wantPort, _ := net.SplitHostPort(environ["QUALDIAL_HTTP_ADDR"])
	mu.Lock()
	gotAddr := addr
	mu.Unlock()
	if _, port, _ := net.SplitHostPort(gotAddr); port != wantPort {
		t.Errorf("serve listens on %q, want port %s (QUALDIAL_HTTP_ADDR=%s); log:\n%s", gotAddr, wantPort, environ["QUALDIAL_HTTP_ADDR"], logText())
	}
	// Prometheus scrapes the metrics listener the file sets, without a
	// token.
	if m := environ["QUALDIAL_METRICS_ADDR"]; m == "" {
		t.Error("the deploy file sets no QUALDIAL_METRICS_ADDR: its Prometheus has nothing to scrape")
	} else {
		_, port, _ := net.SplitHostPort(m)
		res, err := http.Get("http://127.0.0.1:" + port + "/metrics")
		if err != nil {
			t.Fatalf("metrics on %s: %v", m, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(body), "qualdial_call_slots") {
			t.Errorf("metrics on %s: %d %.200s", m, res.StatusCode, body)
		}
	}

	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-logDone:
	case <-time.After(grace):
		t.Fatalf("serve did not stop within the stop grace period %s of SIGTERM:\n%s", grace, logText())
	}
	if err := serve.Wait(); err != nil {
		t.Fatalf("serve exited with %v after SIGTERM:\n%s", err, logText())
	}
	if !strings.Contains(logText(), `"msg":"stopped"`) {
		t.Errorf("no clean stop in the log:\n%s", logText())
	}
}

// localize makes a deploy file's environment runnable on this machine:
// listen addresses (variables ending in _ADDR or _LISTEN) keep their host
// and get a free port (port 0 for SIP, which reports its own); absolute
// paths move into a temporary directory. Everything else is as written.
func localize(t *testing.T, environ map[string]string) map[string]string {
	t.Helper()
	out := make(map[string]string, len(environ))
	dir := t.TempDir()
	for k, v := range environ {
		host, _, err := net.SplitHostPort(v)
		switch {
		case err == nil && k == "QUALDIAL_SIP_LISTEN":
			v = net.JoinHostPort(host, "0")
		case err == nil && (strings.HasSuffix(k, "_ADDR") || strings.HasSuffix(k, "_LISTEN")):
			v = net.JoinHostPort(host, freePort(t))
		case filepath.IsAbs(v):
			v = filepath.Join(dir, strings.ToLower(k))
		}
		out[k] = v
	}
	return out
}

// freePort is a TCP port free on every interface now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// systemdLaunch reads deploy/qualdial.service: its Environment= lines,
// ExecStart= and TimeoutStopSec=. The settings its header says go in
// /etc/qualdial/env are added: the database URL (replaced by the test's)
// and the SIP public host (required with SIP on every interface).
func systemdLaunch(t *testing.T) launch {
	t.Helper()
	src := deployFile(t, "qualdial.service")
	l := launch{environ: map[string]string{}}
	section := ""
	for _, line := range strings.Split(string(src), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			section = line
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || section != "[Service]" || strings.HasPrefix(line, "#") {
			continue
		}
		switch key {
		case "Environment":
			setPairs(t, "qualdial.service: Environment="+value, value, l.environ)
		case "ExecStart":
			l.args = execArgs(t, "qualdial.service ExecStart", strings.Fields(value))
		case "TimeoutStopSec":
			l.grace = duration(t, "qualdial.service TimeoutStopSec", value)
		}
	}
	if l.args == nil || l.grace == 0 {
		t.Fatalf("qualdial.service: no ExecStart= or TimeoutStopSec= in [Service]")
	}
	if !strings.Contains(string(src), "QUALDIAL_SIP_PUBLIC_HOST=") {
		t.Fatalf("qualdial.service does not say to set QUALDIAL_SIP_PUBLIC_HOST in /etc/qualdial/env")
	}
	l.environ["QUALDIAL_SIP_PUBLIC_HOST"] = "127.0.0.1"
	return l
}

// composeLaunch reads the qualdial service of deploy/compose.yaml (its
// environment with ${VAR:-default} taken at the default, command and
// stop_grace_period) over the image's ENV and ENTRYPOINT from the final
// stage of deploy/Dockerfile.
func composeLaunch(t *testing.T) launch {
	t.Helper()
	src := deployFile(t, "compose.yaml")
	var file struct {
		Services map[string]struct {
			Command         []string          `yaml:"command"`
			Environment     map[string]string `yaml:"environment"`
			StopGracePeriod string            `yaml:"stop_grace_period"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(src, &file); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	svc, ok := file.Services["qualdial"]
	if !ok {
		t.Fatal("compose.yaml has no qualdial service")
	}
	entrypoint, cmd, l := dockerfileFinalStage(t)
	if svc.Command != nil { // compose's command replaces the image's CMD
		cmd = svc.Command
	}
	l.args = append(execArgs(t, "Dockerfile ENTRYPOINT", entrypoint), cmd...)
	for k, v := range svc.Environment {
		l.environ[k] = interpolate(v)
	}
	l.grace = duration(t, "compose.yaml stop_grace_period", svc.StopGracePeriod)
	return l
}

// dockerfileFinalStage reads the ENTRYPOINT, CMD (exec form) and ENV of the
// Dockerfile's last stage: the image built by default.
func dockerfileFinalStage(t *testing.T) (entrypoint, cmd []string, l launch) {
	t.Helper()
	src := deployFile(t, "Dockerfile")
	l.environ = map[string]string{}
	for _, line := range strings.Split(string(src), "\n") {
		instr, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch strings.ToUpper(instr) {
		case "FROM":
			entrypoint, cmd, l.environ = nil, nil, map[string]string{}
		case "ENV":
			setPairs(t, "Dockerfile: ENV "+rest, rest, l.environ)
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(rest), &entrypoint); err != nil {
				t.Fatalf("Dockerfile: ENTRYPOINT %s: want the exec form (no shell in the image): %v", rest, err)
			}
		case "CMD":
			if err := json.Unmarshal([]byte(rest), &cmd); err != nil {
				t.Fatalf("Dockerfile: CMD %s: want the exec form (no shell in the image): %v", rest, err)
			}
		}
	}
	if entrypoint == nil {
		t.Fatal("Dockerfile: no ENTRYPOINT in the final stage")
	}
	return entrypoint, cmd, l
}

// deployFile reads a file of deploy/.
func deployFile(t *testing.T, name string) []byte {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "deploy", name))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// setPairs sets the VAR=value pairs of s (separated by white space, no
// quoting) in env.
func setPairs(t *testing.T, what, s string, env map[string]string) {
	t.Helper()
	for _, kv := range strings.Fields(s) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("%s: want VAR=value pairs", what)
		}
		env[k] = v
	}
}

// execArgs checks that a command line runs the qualdial binary and returns
// its arguments.
func execArgs(t *testing.T, what string, argv []string) []string {
	t.Helper()
	if len(argv) == 0 || filepath.Base(argv[0]) != "qualdial" {
		t.Fatalf("%s %q does not run qualdial", what, argv)
	}
	return append([]string{}, argv[1:]...)
}

// duration reads a stop timeout: a Go duration ("150s", "2m30s") or plain
// seconds ("150", as systemd takes it).
func duration(t *testing.T, what, v string) time.Duration {
	t.Helper()
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s %q: want seconds or a duration like 150s", what, v)
	}
	return d
}

// composeVar is a ${VAR}, ${VAR:-default} or ${VAR-default} reference.
var composeVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}`)

// interpolate replaces compose variable references by their defaults, as
// compose does when none of them is set.
func interpolate(v string) string {
	return composeVar.ReplaceAllString(v, "$2")
}

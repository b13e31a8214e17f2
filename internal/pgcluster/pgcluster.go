// Package pgcluster runs a private PostgreSQL server from the system's
// PostgreSQL binaries, so that qualdial (and its tests) need nothing else
// running. The server listens only on a Unix socket inside its data
// directory. When qualdial runs as root, the cluster is owned and run by an
// unprivileged user, because initdb and postgres refuse to run as root.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Config configures a private cluster. The zero value is not usable: set
// DataDir.
type Config struct {
	// DataDir holds the cluster. It is created (with initdb) on first start
	// and reused afterwards. Required.
	DataDir string
	// BinDir holds initdb, pg_ctl and postgres. Empty: found on PATH, else
	// the newest /usr/lib/postgresql/*/bin.
	BinDir string
	// RunAs is the OS user that owns and runs the cluster when the process
	// is root. Empty: "postgres" if that user exists, else "nobody". Ignored
	// when not root: the cluster then runs as the current user.
	RunAs string
	// Database is created if missing; empty means "qualdial".
	Database string
	// Port only names the socket file (.s.PGSQL.<port>); default 5432.
	Port int
	// Ephemeral trades durability for speed (fsync off): for tests only.
	Ephemeral bool
	// StartTimeout bounds initdb plus start-up; default 90s.
	StartTimeout time.Duration
	// Logger receives progress messages; nil discards them.
	Logger *slog.Logger
}

func (c *Config) withDefaults() Config {
	out := *c
	if out.Database == "" {
		out.Database = "qualdial"
	}
	if out.Port == 0 {
		out.Port = 5432
	}
	if out.StartTimeout == 0 {
		out.StartTimeout = 90 * time.Second
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	return out
}

func (c *Config) validate() error {
	if c.DataDir == "" {
		return errors.New("pgcluster: DataDir is required")
	}
	if !filepath.IsAbs(c.DataDir) {
		return fmt.Errorf("pgcluster: DataDir %q must be an absolute path", c.DataDir)
	}
	// The socket lives in the data directory; Unix socket paths are limited
	// to about 107 bytes.
	if sock := filepath.Join(c.DataDir, ".s.PGSQL."+strconv.Itoa(c.Port)); len(sock) > 100 {
		return fmt.Errorf("pgcluster: data directory %q is too long for a Unix socket path (%d bytes, at most 100): choose a shorter --data-dir", c.DataDir, len(sock))
	}
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("pgcluster: Port %d must be between 1 and 65535", c.Port)
	}
	return nil
}

// Cluster is a running private server.
type Cluster struct {
	cfg   Config
	bin   string
	cred  *syscall.Credential // nil: run as ourselves
	owned bool                // we started it, so we stop it

	stopOnce sync.Once
	stopErr  error
}

// Start initialises the data directory if needed, starts the server (or
// joins one already running on it) and creates the database.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	bin, err := findBinDir(cfg.BinDir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, bin: bin}
	if os.Geteuid() == 0 {
		if c.cred, err = runAs(cfg.RunAs); err != nil {
			return nil, err
		}
	}
	if err := c.prepareDir(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := c.initdb(ctx); err != nil {
			return nil, err
		}
	}
	if err := c.writeConf(); err != nil {
		return nil, err
	}
	if c.running(ctx) {
		cfg.Logger.Info("joining the private PostgreSQL already running", "data_dir", cfg.DataDir)
	} else {
		if err := c.start(ctx); err != nil {
			return nil, err
		}
		c.owned = true
	}
	if err := c.createDatabase(ctx); err != nil {
		return nil, errors.Join(err, c.Stop(context.WithoutCancel(ctx)))
	}
	return c, nil
}

// URL returns a connection string for the cluster's database.
func (c *Cluster) URL() string { return c.DatabaseURL(c.cfg.Database) }

// DatabaseURL returns a connection string for the named database.
func (c *Cluster) DatabaseURL(db string) string {
	q := url.Values{}
	q.Set("host", c.cfg.DataDir)
	q.Set("port", strconv.Itoa(c.cfg.Port))
	q.Set("user", "postgres")
	return (&url.URL{Scheme: "postgres", Path: "/" + db, RawQuery: q.Encode()}).String()
}

// DataDir returns the cluster's data directory.
func (c *Cluster) DataDir() string { return c.cfg.DataDir }

// Stop shuts the server down if this Cluster started it. It is idempotent.
func (c *Cluster) Stop(ctx context.Context) error {
	c.stopOnce.Do(func() {
		if !c.owned {
			return
		}
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if _, err := c.pgctl(ctx, "stop", "-D", c.cfg.DataDir, "-m", "fast", "-w"); err != nil {
			c.stopErr = fmt.Errorf("stop private PostgreSQL: %w", err)
			return
		}
		c.cfg.Logger.Info("private PostgreSQL stopped", "data_dir", c.cfg.DataDir)
	})
	return c.stopErr
}

func (c *Cluster) prepareDir() error {
	dir := c.cfg.DataDir
	// Parents are created searchable (the cluster's user must enter them);
	// the data directory itself stays private.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create data directory: %w", err)
	}
	if c.cred == nil {
		return nil
	}
	if err := os.Chown(dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
		return fmt.Errorf("hand the data directory to uid %d: %w", c.cred.Uid, err)
	}
	// Every parent must be searchable by the cluster's user.
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("check %s: %w", p, err)
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		ownerOK := st != nil && st.Uid == c.cred.Uid && fi.Mode().Perm()&0o100 != 0
		groupOK := st != nil && st.Gid == c.cred.Gid && fi.Mode().Perm()&0o010 != 0
		if !ownerOK && !groupOK && fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("the private PostgreSQL runs as uid %d, which cannot enter %s (mode %s): choose a data directory outside it (for example --data-dir /var/lib/qualdial/postgres) or run chmod o+x %s",
				c.cred.Uid, p, fi.Mode().Perm(), p)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

func (c *Cluster) initdb(ctx context.Context) error {
	c.cfg.Logger.Info("creating private PostgreSQL cluster", "data_dir", c.cfg.DataDir)
	out, err := c.command(ctx, "initdb", "-D", c.cfg.DataDir, "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync")
	if err != nil {
		return fmt.Errorf("initdb %s: %w\n%s", c.cfg.DataDir, err, out)
	}
	conf := filepath.Join(c.cfg.DataDir, "postgresql.conf")
	f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("edit %s: %w", conf, err)
	}
	_, werr := f.WriteString("\n# Settings written by qualdial on every start.\ninclude_if_exists = 'qualdial.conf'\n")
	return errors.Join(werr, f.Close())
}

// writeConf (re)writes the settings qualdial owns: Unix socket only, in the
// data directory.
func (c *Cluster) writeConf() error {
	var b strings.Builder
	fmt.Fprintf(&b, "listen_addresses = ''\nunix_socket_directories = '%s'\nport = %d\n",
		strings.ReplaceAll(c.cfg.DataDir, "'", "''"), c.cfg.Port)
	b.WriteString("max_connections = 200\nlogging_collector = off\n")
	if c.cfg.Ephemeral {
		b.WriteString("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
	}
	path := filepath.Join(c.cfg.DataDir, "qualdial.conf")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if c.cred != nil {
		return os.Chown(path, int(c.cred.Uid), int(c.cred.Gid))
	}
	return nil
}

func (c *Cluster) running(ctx context.Context) bool {
	_, err := c.pgctl(ctx, "status", "-D", c.cfg.DataDir)
	return err == nil
}

func (c *Cluster) start(ctx context.Context) error {
	c.cfg.Logger.Info("starting private PostgreSQL", "data_dir", c.cfg.DataDir)
	logFile := filepath.Join(c.cfg.DataDir, "server.log")
	secs := strconv.Itoa(max(1, int(time.Until(deadline(ctx)).Seconds())))
	if out, err := c.pgctl(ctx, "start", "-D", c.cfg.DataDir, "-l", logFile, "-w", "-t", secs); err != nil {
		tail, _ := os.ReadFile(logFile)
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return fmt.Errorf("start private PostgreSQL in %s: %w\n%s\n%s", c.cfg.DataDir, err, out, tail)
	}
	return nil
}

func deadline(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(time.Minute)
}

func (c *Cluster) createDatabase(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, c.DatabaseURL("postgres"))
	if err != nil {
		return fmt.Errorf("connect to private PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", c.cfg.Database).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", c.cfg.Database, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{c.cfg.Database}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", c.cfg.Database, err)
	}
	return nil
}

func (c *Cluster) pgctl(ctx context.Context, args ...string) ([]byte, error) {
	return c.command(ctx, "pg_ctl", args...)
}

// command runs a PostgreSQL program as the cluster's user.
func (c *Cluster) command(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	cmd.Dir = c.cfg.DataDir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C", "PGTZ=UTC", "HOME="+c.cfg.DataDir)
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// pg_ctl start leaves the server running with our pipes: do not wait for them.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil
	}
	return out.Bytes(), err
}

func runAs(name string) (*syscall.Credential, error) {
	candidates := []string{name}
	if name == "" {
		candidates = []string{"postgres", "nobody"}
	}
	for _, n := range candidates {
		u, err := user.Lookup(n)
		if err != nil {
			continue
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		if uid == 0 {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("running as root, the private PostgreSQL needs an unprivileged user to run as, but none of %s exists: create one or set the run-as user", strings.Join(candidates, ", "))
}

// findBinDir locates the directory of initdb and pg_ctl.
func findBinDir(dir string) (string, error) {
	has := func(d string) bool {
		for _, n := range []string{"initdb", "pg_ctl", "postgres"} {
			if fi, err := os.Stat(filepath.Join(d, n)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if dir != "" {
		if has(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("no initdb, pg_ctl and postgres in %s", dir)
	}
	// Debian's wrappers on PATH may lack postgres itself: prefer the real
	// directory that pg_ctl lives in.
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range append(dirs, "/usr/local/pgsql/bin", "/opt/homebrew/bin", "/usr/local/bin", "/usr/bin") {
		if has(d) {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries found (initdb, pg_ctl, postgres): install them (Debian/Ubuntu: apt-get install postgresql) or give a database URL with QUALDIAL_DATABASE_URL")
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

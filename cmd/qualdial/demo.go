package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nyaruka/phonenumbers"
	"github.com/spf13/cobra"

	"github.com/qualdial/qualdial/api"
	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/sip"
	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/scripts"
	"github.com/qualdial/qualdial/store"
)

// demoAreaCode picks a US area code whose fictional numbers (555-0100 to
// 555-0199, reserved for fiction) no lead of this database has yet: real,
// valid numbers that reach no one, new for every run.
func demoAreaCode(ctx context.Context, st *store.Store) (string, error) {
	var used []string
	rows, err := st.Pool().Query(ctx, `SELECT DISTINCT substr(phone, 3, 3) FROM leads WHERE phone LIKE '+1___55501__'`)
	if err == nil {
		used, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		return "", fmt.Errorf("pick the demo's numbers: %w", err)
	}
	for ac := 201; ac <= 989; ac++ {
		code := strconv.Itoa(ac)
		if slices.Contains(used, code) {
			continue
		}
		if n, err := phonenumbers.Parse("+1"+code+"5550100", ""); err == nil && phonenumbers.IsValidNumber(n) {
			return code, nil
		}
	}
	return "", errors.New("every area code's demo numbers are used: point the demo at a new database (QUALDIAL_DEMO_DATA_DIR)")
}

// demoPersona is one kind of lead in the demo's call list.
type demoPersona struct {
	kind    string
	count   int
	persona softphone.Persona
	status  string // the status (progress) it should end in
	class   string // and the class (verdict), if its call gives one
}

// The demo's leads press keys while the prompts play (~keys), so a call
// takes seconds instead of a minute of speech.
var demoPersonas = []demoPersona{
	{"hot", 10, softphone.Persona{Keys: "~1,~1,~1,~1,~250#,~1"}, queue.StatusCompleted, "sql"},
	{"warm", 10, softphone.Persona{Keys: "~1,~1,~2,~2,~40#,~2", DTMF: softphone.DTMFInfo}, queue.StatusCompleted, "mql"},
	{"cold", 7, softphone.Persona{Keys: "~1,~1,~3,~3,~3#,~3"}, queue.StatusCompleted, "disqualified"},
	{"student", 3, softphone.Persona{Keys: "~1,~2"}, queue.StatusCompleted, "disqualified"},
	{"opt-out", 5, softphone.Persona{Keys: "~9"}, queue.StatusOptedOut, "opted_out"},
	{"busy-then-answer", 5, softphone.Persona{Code: 486, AnswerAfter: 1, Keys: "~1,~1,~1,~1,~120#,~1"}, queue.StatusCompleted, "sql"},
	{"no-answer", 3, softphone.Persona{Answer: "noanswer"}, queue.StatusUnreachable, ""},
	{"hang-up-midway", 4, softphone.Persona{Keys: "~1,~1,~hangup"}, queue.StatusUnreachable, ""},
	{"decline", 3, softphone.Persona{Answer: "reject", Code: 603}, queue.StatusRejected, ""},
}

var demoFirstNames = []string{"Ann", "Boris", "Chen", "Dana", "Emeka", "Farah", "Gus", "Hana", "Ivan", "Jo"}

func (e *env) demoCommand() *cobra.Command {
	var (
		db       databaseConfig
		exit     bool
		httpAddr string
		logLevel string
		timeout  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole product on this machine: a campaign calling a softphone farm",
		Long: `Run qualdial end to end with nothing to set up: a private PostgreSQL (unless a
database URL is given), a loopback softphone farm whose personas are hot, warm and
cold leads, students, opt-outs, busy-then-answer, no-answer, hang-up-midway and
decline, and a BANT campaign of 50 leads dialled through River and SIP with short
retry delays. When every lead has settled it prints the outcome table. With --exit
it stops there; otherwise it keeps serving the API until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := db.validate(); err != nil {
				return err
			}
			log, err := e.newLogger("text", logLevel)
			if err != nil {
				return err
			}
			return e.demo(cmd.Context(), db, exit, httpAddr, timeout, log)
		},
	}
	// Never QUALDIAL_DATABASE_URL: that is serve's database, and the demo's
	// fictional leads must not be dialled or sent to a CRM from there.
	e.databaseFlagsIn(cmd, &db, e.defaultDemoDataDir(), demoDataDirEnv, demoDatabaseURLEnv)
	cmd.Flags().BoolVar(&exit, "exit", false, "stop after printing the outcome table")
	cmd.Flags().Var(newHostPort(&httpAddr, "127.0.0.1:8080", "127.0.0.1:8080 or :8080"), "http", "HTTP address served after the table (without --exit)")
	cmd.Flags().Var(newChoice(&logLevel, "warn", "debug", "info", "warn", "error"), "log-level", "log level on stderr")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "give up waiting for the leads to settle after this long")
	return cmd
}

// demoDataDirEnv names the demo's private PostgreSQL directory; the demo
// keeps its own, apart from serve's, so that its test leads never share a
// database with real ones.
const demoDataDirEnv = "QUALDIAL_DEMO_DATA_DIR"

// demoDatabaseURLEnv gives the demo a database of its own on a server; the
// demo never takes serve's QUALDIAL_DATABASE_URL.
const demoDatabaseURLEnv = "QUALDIAL_DEMO_DATABASE_URL"

func (e *env) defaultDemoDataDir() string {
	return filepath.Join(filepath.Dir(e.defaultDataDir()), "demo-postgres")
}

// demoDataDir is the data directory "qualdial demo" uses when it is given
// none on the command line: what "--demo" of other commands points at.
func (e *env) demoDataDir() string {
	if d := e.getenv(demoDataDirEnv); d != "" {
		return d
	}
	return e.defaultDemoDataDir()
}

func (e *env) demo(ctx context.Context, dbCfg databaseConfig, exit bool, httpAddr string, timeout time.Duration, log *slog.Logger) error {
	out := e.stdout
	start := time.Now()
	// Take the port first: a port in use fails before anything starts.
	var ln net.Listener
	if !exit {
		var err error
		if ln, err = net.Listen("tcp", httpAddr); err != nil {
			return fmt.Errorf("listen on %s: %w", httpAddr, err)
		}
		defer ln.Close()
	}
	fmt.Fprintln(out, "qualdial demo: starting PostgreSQL, a softphone farm and the dialer…")
	pool, _, closeDB, err := openDatabase(ctx, dbCfg, log)
	if err != nil {
		return err
	}
	defer closeDB()
	st := store.New(pool, store.Config{})

	// Each run gets its own numbers: the last run's opt-outs are on the DNC
	// list, and its numbers have used their calls for the day.
	area, err := demoAreaCode(ctx, st)
	if err != nil {
		return err
	}
	personas := map[string]softphone.Persona{}
	var leads []store.LeadParams
	zone := fixture.DaytimeZone(time.Now())
	n := 0
	for _, p := range demoPersonas {
		for range p.count {
			n++
			phone := fmt.Sprintf("+1%s55501%02d", area, n)
			personas[phone] = p.persona
			leads = append(leads, store.LeadParams{Phone: phone, FirstName: demoFirstNames[n%len(demoFirstNames)],
				Company: "Demo Co " + p.kind, TimeZone: zone, Source: "cli", Attributes: map[string]string{"persona": p.kind}})
		}
	}
	phone, err := softphone.Start(softphone.Config{Personas: personas, Logger: log})
	if err != nil {
		return err
	}
	defer phone.Close()
	drv, err := sip.New(sip.Config{ListenAddr: "127.0.0.1:0", Trunk: phone.Addr().String(),
		Prompts: e.promptSource("", log), Logger: log.With("component", "sip")})
	if err != nil {
		return err
	}
	defer drv.Close()
	q, err := queue.New(st, queue.Config{Drivers: map[string]dialer.Driver{"sip": drv}, MaxCalls: 50,
		PaceWait: 3 * time.Second, SoftStopTimeout: 10 * time.Second, Logger: log.With("component", "queue")})
	if err != nil {
		return err
	}
	if err := q.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = q.StopAndCancel(sctx)
	}()

	// Time is compressed: seconds between retries instead of hours.
	retry, incomplete := 2*time.Second, 3*time.Second
	c, err := st.CreateCampaign(ctx, store.CampaignParams{
		Name: "demo " + start.Format("2006-01-02 15:04:05"), ScriptID: "bant-en", CallerID: "+15550100", CallerName: "Acme Software",
		WindowDays: []int{1, 2, 3, 4, 5, 6, 7}, WindowStart: 8 * time.Hour, WindowEnd: 21 * time.Hour,
		MaxAttempts: 2, RetryBusy: &retry, RetryNoAnswer: &retry, RetryCongest: &retry, RetryIncompl: &incomplete,
		RingTimeout: 15 * time.Second, MaxConcurrent: 20, CallsPerSecond: 10,
	})
	if err != nil {
		return err
	}
	src, _ := scripts.Read("bant-en")
	if err := st.StartCampaign(ctx, c.ID, ivr.MustParse("bant-en.yaml", src), src); err != nil {
		return err
	}
	err = st.Tx(ctx, func(tx pgx.Tx) error {
		for _, l := range leads {
			l.CampaignID = c.ID
			id, _, err := st.InsertLead(ctx, tx, l)
			if err != nil {
				return err
			}
			if err := q.EnqueueTx(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "campaign %q: %d leads on the BANT script, leads' time zone %s, softphones at %s\n", c.Name, len(leads), zone, phone.Addr())

	// Wait until every lead has settled.
	deadline := time.Now().Add(timeout)
	final := map[string]bool{queue.StatusCompleted: true, queue.StatusOptedOut: true, queue.StatusUnreachable: true,
		queue.StatusRejected: true, queue.StatusInvalidNumber: true, queue.StatusBlocked: true, queue.StatusFailed: true}
	lastLine := ""
	for {
		ls, err := st.Leads(ctx, c.ID)
		if err != nil {
			return err
		}
		settled, counts := 0, map[string]int{}
		for _, l := range ls {
			counts[l.Status]++
			if final[l.Status] {
				settled++
			}
		}
		line := fmt.Sprintf("  %3.0fs  %d/%d leads settled  %s", time.Since(start).Seconds(), settled, len(ls), countLine(counts))
		if line[7:] != lastLine {
			fmt.Fprintln(out, line)
			lastLine = line[7:]
		}
		if settled == len(ls) {
			break
		}
		if time.Now().After(deadline) {
			fmt.Fprintln(out, "timed out waiting for the leads to settle; the table shows where they are")
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	rep, err := st.Report(ctx, c.ID)
	if err != nil {
		return err
	}
	ls, err := st.Leads(ctx, c.ID)
	if err != nil {
		return err
	}
	asExpected := checkPersonas(out, ls)
	printReport(out, rep, time.Since(start))
	if !asExpected {
		fmt.Fprintln(out, "some leads did not end as their persona should (see Personas above)")
	}
	if exit {
		if !asExpected {
			return exitError{code: 1}
		}
		return nil
	}
	handler, err := api.New(api.Config{Store: st, Dialer: q, Logger: log, Version: buildVersion()})
	if err != nil {
		return err
	}
	token, _, err := st.CreateAPIKey(ctx, store.RoleAdmin, "demo admin "+start.Format("2006-01-02 15:04:05"))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	more := "qualdial apikey create --demo --role intake --name my-form"
	if dbCfg.URL != "" {
		more = "qualdial apikey create --role intake --name my-form (with the same database URL)"
	}
	fmt.Fprintf(out, "\nAPI        %s (healthz, readyz, /v1/openapi.yaml); database %s\n", base, redactURL(dbCfg))
	fmt.Fprintf(out, "admin key  %s\n", token)
	fmt.Fprintf(out, "try        curl -H 'Authorization: Bearer %s' %s/v1/campaigns/%d/stats\n", token, base, c.ID)
	fmt.Fprintf(out, "more keys  %s\n", more)
	fmt.Fprintln(out, "Ctrl-C to stop.")
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(srv.Shutdown(sctx), handler.Close(sctx))
}

func redactURL(c databaseConfig) string {
	if c.URL == "" {
		return "in " + c.DataDir
	}
	return "at the given URL"
}

func countLine(counts map[string]int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, counts[k])
	}
	return strings.Join(parts, ", ")
}

// section prints a titled two-column table.
func section(w io.Writer, title string, rows [][2]string) {
	fmt.Fprintf(w, "\n%s\n", title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintf(tw, "  %s\t%s\n", r[0], r[1])
	}
	_ = tw.Flush()
}

func countRows(cs []store.Count) [][2]string {
	rows := make([][2]string, len(cs))
	for i, c := range cs {
		rows[i] = [2]string{c.Key, fmt.Sprint(c.N)}
	}
	return rows
}

func printReport(w io.Writer, r *store.CampaignReport, took time.Duration) {
	section(w, fmt.Sprintf("Leads by status (%d)", r.Leads), countRows(r.ByStatus))
	section(w, "Leads by class", countRows(r.ByClass))
	section(w, fmt.Sprintf("Attempts by disposition (%d)", r.Attempts), countRows(r.Dispositions))
	section(w, fmt.Sprintf("Speed to first dial (%d leads; paced at the campaign's 10 calls/s and 20 lines)", r.FirstDialDone), [][2]string{
		{"p50", r.FirstDialP50.Round(time.Millisecond).String()},
		{"p95", r.FirstDialP95.Round(time.Millisecond).String()},
		{"max", r.FirstDialMax.Round(time.Millisecond).String()},
	})
	fmt.Fprintf(w, "\nSales-ready leads (%d), most urgent first\n", len(r.SalesReady))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  lead\tphone\tname\tclass\ttotal\tfollow up by (UTC)")
	for _, l := range r.SalesReady {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%d\t%s\n", l.ID, l.Phone, l.Name, l.Class, l.Total, l.SLADueAt.UTC().Format("2006-01-02 15:04"))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\ndone in %s\n", took.Round(time.Second))
}

// checkPersonas prints each persona's expected and actual outcome — its
// status (how far the calls got) and its class (the verdict), side by side,
// never one for the other — and reports whether every lead ended as its
// persona should.
func checkPersonas(w io.Writer, leads []*store.Lead) bool {
	type tally struct {
		p      demoPersona
		status map[string]int
		class  map[string]int
		n      int
	}
	byKind := map[string]*tally{}
	for _, p := range demoPersonas {
		byKind[p.kind] = &tally{p: p, status: map[string]int{}, class: map[string]int{}}
	}
	ok := true
	for _, l := range leads {
		t := byKind[l.Attributes["persona"]]
		if t == nil {
			continue
		}
		t.n++
		t.status[l.Status]++
		class := l.Class
		if class == "" {
			class = "-"
		}
		t.class[class]++
		ok = ok && l.Status == t.p.status && l.Class == t.p.class
	}
	fmt.Fprintln(w, "\nPersonas (status: how far the calls got; class: the verdict)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  persona\tleads\texpected status\tstatus\texpected class\tclass")
	for _, p := range demoPersonas {
		t := byKind[p.kind]
		want := p.class
		if want == "" {
			want = "-"
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%s\n", p.kind, t.n, p.status, countLine(t.status), want, countLine(t.class))
	}
	_ = tw.Flush()
	return ok
}

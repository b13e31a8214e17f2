package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nyaruka/phonenumbers"
	"github.com/spf13/cobra"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/jurisdiction"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/scripts"
	"github.com/qualdial/qualdial/store"
)

// demoAreaCode picks a US area code (not Canada's or the Caribbean's)
// whose fictional numbers (555-0100 to 555-0199, reserved for fiction) no
// lead of this database has yet: real, valid numbers that reach no one,
// new for every run.
func demoAreaCode(ctx context.Context, st *store.Store) (string, error) {
	used, err := st.FictionalAreaCodes(ctx)
	if err != nil {
		return "", fmt.Errorf("pick the demo's numbers: %w", err)
	}
	for ac := 201; ac <= 989; ac++ {
		code := strconv.Itoa(ac)
		if slices.Contains(used, code) {
			continue
		}
		// A US number: the demo's campaign calls only the US (+1 is also
		// Canada's and the Caribbean's).
		if n, err := phonenumbers.Parse("+1"+code+"5550100", ""); err == nil && phonenumbers.IsValidNumber(n) &&
			phonenumbers.GetRegionCodeForNumber(n) == "US" && !stateRules(code) {
			return code, nil
		}
	}
	return "", errors.New("every area code's demo numbers are used: point the demo at a new database (QUALDIAL_DEMO_DATA_DIR)")
}

// stateRules reports whether a state rule binds the numbers of a US area
// code (Sundays or holidays without calls, shorter hours, caps): the demo
// avoids them, so that it runs the same any day.
func stateRules(areaCode string) bool {
	var codes []string
	for _, w := range queue.Jurisdictions(queue.Place{Phone: "+1" + areaCode + "5550100"}) {
		codes = append(codes, w.Code)
	}
	for _, r := range jurisdiction.Default().For(codes, jurisdiction.Unspecified).Rules {
		if strings.Contains(r.Jurisdiction, "-") {
			return true
		}
	}
	return false
}

// demoPersona is one kind of lead in the demo's call list.
type demoPersona struct {
	kind    string
	count   int
	persona softphone.Persona
	status  store.LeadStatus // the status (progress) it should end in
	class   string           // and the class (verdict), if its call gives one
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

// demoConfig is the demo's process: serve's wiring with the demo's
// defaults — its own database, a SIP trunk that is its softphone farm (set
// by Prepare), prompts that may be placeholder hums where espeak-ng is
// missing, 50 call slots, short waits, and an HTTP server only without
// --exit.
func demoConfig(db databaseConfig, exit bool, httpAddr string) appConfig {
	cfg := appConfig{
		DB: db, HTTPAddr: httpAddr, ShutdownTimeout: 10 * time.Second, Workers: true,
		SIP:      sipFlags{listen: "127.0.0.1:0", codecs: "PCMU,PCMA"},
		MaxCalls: 50, NumberCap: store.DefaultNumberCapPer24h, DTMF: dialer.DTMFAuto,
		PlaceholderPrompts: true, DBConnsHTTP: defaultDBConnsHTTP, DBConnsWorkers: defaultDBConnsWorkers,
	}
	if exit {
		cfg.HTTPAddr = ""
	}
	return cfg
}

func (e *env) demo(ctx context.Context, dbCfg databaseConfig, exit bool, httpAddr string, timeout time.Duration, log *slog.Logger) error {
	out := e.stdout
	start := time.Now()
	cfg := demoConfig(dbCfg, exit, httpAddr)
	var (
		phone *softphone.Phone
		leads []store.LeadParams
		zone  string
	)
	defer func() {
		if phone != nil {
			phone.Close()
		}
	}()
	// Before the dialer starts: the leads' numbers, and the softphone farm
	// that answers them, as the SIP trunk.
	cfg.Prepare = func(ctx context.Context, a *app) error {
		// Each run gets its own numbers: the last run's opt-outs are on the
		// DNC list, and its numbers have used their calls for the day.
		area, err := demoAreaCode(ctx, a.store)
		if err != nil {
			return err
		}
		personas := map[string]softphone.Persona{}
		zone = fixture.DaytimeZone(time.Now())
		n := 0
		for _, p := range demoPersonas {
			for i := range p.count {
				n++
				number := fmt.Sprintf("+1%s55501%02d", area, n)
				personas[number] = p.persona
				// Every other lead came from a web form: the dashboard's
				// speed to lead has something to measure.
				source := "cli"
				if i%2 == 0 {
					source = "web_form"
				}
				leads = append(leads, store.LeadParams{Phone: number, FirstName: demoFirstNames[n%len(demoFirstNames)],
					Company: "Demo Co " + p.kind, TimeZone: zone, Source: source, Attributes: map[string]string{"persona": p.kind}})
			}
		}
		if phone, err = softphone.Start(softphone.Config{Personas: personas, Logger: log}); err != nil {
			return err
		}
		a.cfg.SIP.trunk = phone.Addr().String()
		return nil
	}
	cfg.Main = func(ctx context.Context, a *app) error {
		return e.demoCampaign(ctx, a, demoRun{start: start, timeout: timeout, exit: exit, leads: leads, zone: zone, phone: phone.Addr().String()})
	}
	cfg.Starting = func() { fmt.Fprintln(out, "qualdial demo: starting PostgreSQL, a softphone farm and the dialer…") }
	return e.runApp(ctx, cfg, log)
}

// demoRun is what the demo's campaign is run with.
type demoRun struct {
	start   time.Time
	timeout time.Duration
	exit    bool
	leads   []store.LeadParams
	zone    string
	phone   string // the softphone farm's address
}

// demoCampaign runs the demo's sample campaign on the running app, prints
// the outcome table, and then (without --exit) how to reach the API.
func (e *env) demoCampaign(ctx context.Context, a *app, r demoRun) error {
	out, st, q := e.stdout, a.store, a.queue
	start := r.start
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
		for _, l := range r.leads {
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
	fmt.Fprintf(out, "campaign %q: %d leads on the BANT script, leads' time zone %s, softphones at %s\n", c.Name, len(r.leads), r.zone, r.phone)

	// Wait until every lead has settled.
	deadline := time.Now().Add(r.timeout)
	final := map[store.LeadStatus]bool{queue.StatusCompleted: true, queue.StatusOptedOut: true, queue.StatusUnreachable: true,
		queue.StatusRejected: true, queue.StatusInvalidNumber: true, queue.StatusBlocked: true, queue.StatusFailed: true}
	lastLine := ""
	for {
		ls, err := st.Leads(ctx, c.ID)
		if err != nil {
			return err
		}
		settled, counts := 0, map[store.LeadStatus]int{}
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
	if r.exit {
		if !asExpected {
			return exitError{code: 1}
		}
		return nil
	}
	token, _, err := st.CreateAPIKey(ctx, store.RoleAdmin, "demo admin "+start.Format("2006-01-02 15:04:05"))
	if err != nil {
		return err
	}
	// A login for the web UI, new each run (its password works once).
	email := fmt.Sprintf("admin-%s@demo.qualdial.test", start.UTC().Format("20060102-150405"))
	_, password, err := st.CreateUser(ctx, email, "Demo admin", store.RoleAdmin)
	if err != nil {
		return err
	}
	base := "http://" + a.addr.String()
	more := "qualdial apikey create --demo --role intake --name my-form"
	if a.cfg.DB.URL != "" {
		more = "qualdial apikey create --role intake --name my-form (with the same database URL)"
	}
	fmt.Fprintf(out, "\nweb UI     %s/login  e-mail %s  password %s (works once: you choose your own)\n", base, email, password)
	fmt.Fprintf(out, "dashboard  %s/dashboard (funnel, speed to lead, rates, SLA, A/B)\n", base)
	fmt.Fprintf(out, "API        %s (healthz, readyz, /v1/openapi.yaml); database %s\n", base, redactURL(a.cfg.DB))
	fmt.Fprintf(out, "admin key  %s\n", token)
	fmt.Fprintf(out, "try        curl -H 'Authorization: Bearer %s' %s/v1/campaigns/%d/stats\n", token, base, c.ID)
	fmt.Fprintf(out, "more keys  %s\n", more)
	fmt.Fprintln(out, "Ctrl-C to stop.")
	return nil
}

func redactURL(c databaseConfig) string {
	if c.URL == "" {
		return "in " + c.DataDir
	}
	return "at the given URL"
}

func countLine[K ~string](counts map[K]int) string {
	keys := make([]K, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
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
		status map[store.LeadStatus]int
		class  map[string]int
		n      int
	}
	byKind := map[string]*tally{}
	for _, p := range demoPersonas {
		byKind[p.kind] = &tally{p: p, status: map[store.LeadStatus]int{}, class: map[string]int{}}
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

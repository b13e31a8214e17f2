package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/qualdial/qualdial/calllist"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

func (e *env) apikeyCommand() *cobra.Command {
	cmd := group(&cobra.Command{Use: "apikey", Short: "Create, list and revoke API keys"})
	var (
		createDB   cliDatabase
		role, name string
		signed     bool
	)
	create := &cobra.Command{
		Use:   "create --role R --name N",
		Short: "Create an API key and print it once (only its hash is stored)",
		Long: `Create an API key. Roles: admin (everything), marketing (campaigns, imports, DNC,
leads), sales (the sales pull: list, next, contacted/won/lost/recycle/release), intake
(may only create leads: the key a web form holds). The key is printed once.
With --demo, the key is made in the database of "qualdial demo".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, closeDB, err := e.openCLIDatabase(cmd, &createDB)
			if err != nil {
				return err
			}
			defer closeDB()
			token, key, err := st.CreateAPIKey(cmd.Context(), role, name)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, token)
			fmt.Fprintf(e.stderr, "created %s key %q (id %d, prefix %s); it is shown only now\n", key.Role, key.Name, key.ID, key.Prefix)
			if signed {
				secret, err := st.RequireSignature(cmd.Context(), key.ID)
				if err != nil {
					return err
				}
				fmt.Fprintln(e.stdout, secret)
				fmt.Fprintln(e.stderr, "requests with this key must be signed: X-Qualdial-Timestamp (Unix seconds) and X-Qualdial-Signature = v2=hex(HMAC-SHA256(secret, timestamp \\n METHOD \\n path \\n sorted query \\n body)) — see the README, Signed intake; the secret (second line) is shown only now")
			}
			return nil
		},
	}
	e.cliDatabaseFlags(create, &createDB)
	create.Flags().StringVar(&role, "role", "", "admin, marketing, sales or intake")
	create.Flags().StringVar(&name, "name", "", "who or what holds the key, e.g. a rep's name or a form's")
	create.Flags().BoolVar(&signed, "signed", false, "require HMAC-signed requests with this key (for form providers that sign)")

	var (
		listDB cliDatabase
		asJSON bool
	)
	list := &cobra.Command{
		Use:   "list",
		Short: "List API keys, revoked ones included (never their secrets)",
		Long: `List every API key: id, name, role, prefix (the start of the key, as logs show it),
the user it belongs to (what sales leads are assigned to), whether requests must be
signed, and when it was created, last used (to within a minute) and revoked. --json
prints a list of objects with the fields id, name, role, prefix, user_id, signed,
created_at, last_used_at and revoked_at (null when not).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, closeDB, err := e.openCLIDatabase(cmd, &listDB)
			if err != nil {
				return err
			}
			defer closeDB()
			keys, err := st.ListAPIKeys(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				if keys == nil {
					keys = []store.APIKeyInfo{}
				}
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(keys)
			}
			if len(keys) == 0 {
				fmt.Fprintln(e.stdout, "no API keys yet: qualdial apikey create --role admin --name NAME")
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "id\tname\trole\tprefix\tuser\tsigned\tcreated (UTC)\tlast used (UTC)\trevoked (UTC)")
			for _, k := range keys {
				signed, user := "no", "-"
				if k.Signed {
					signed = "yes"
				}
				if k.UserID != nil {
					user = strconv.FormatInt(*k.UserID, 10)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Role, k.Prefix, user, signed,
					k.CreatedAt.UTC().Format(listTime), optTime(k.LastUsedAt), optTime(k.RevokedAt))
			}
			return tw.Flush()
		},
	}
	e.cliDatabaseFlags(list, &listDB)
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON (stable snake_case fields)")

	var revokeDB cliDatabase
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API key; servers refuse it within seconds",
		Long: `Revoke an API key: the server that revokes it through the API refuses it at once,
every other server within a few seconds. ID is the key's id (see "apikey list"), its
prefix (qd_…), or the whole key. Revoking a revoked key changes nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, closeDB, err := e.openCLIDatabase(cmd, &revokeDB)
			if err != nil {
				return err
			}
			defer closeDB()
			id, err := findKey(cmd.Context(), st, args[0])
			if err != nil {
				return err
			}
			// Microseconds, as stored: the time tells whether this call revoked it.
			at := st.Now().UTC().Truncate(time.Microsecond)
			k, err := st.RevokeAPIKey(cmd.Context(), id, at)
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no API key with id %d (qualdial apikey list shows them)", id)
			}
			if err != nil {
				return err
			}
			if k.RevokedAt.Equal(at) {
				fmt.Fprintf(e.stdout, "revoked %s key %q (id %d, prefix %s); servers refuse it within seconds\n", k.Role, k.Name, k.ID, k.Prefix)
			} else {
				fmt.Fprintf(e.stdout, "%s key %q (id %d, prefix %s) was already revoked on %s UTC; nothing changed\n",
					k.Role, k.Name, k.ID, k.Prefix, k.RevokedAt.UTC().Format(listTime))
			}
			return nil
		},
	}
	e.cliDatabaseFlags(revoke, &revokeDB)
	cmd.AddCommand(create, list, revoke)
	return cmd
}

const listTime = "2006-01-02 15:04"

func optTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(listTime)
}

// findKey turns an id, a prefix (qd_…) or a whole key into a key id.
func findKey(ctx context.Context, st *store.Store, arg string) (int64, error) {
	if parts := strings.Split(arg, "_"); len(parts) >= 2 && parts[0] == "qd" {
		prefix := parts[0] + "_" + parts[1]
		keys, err := st.ListAPIKeys(ctx)
		if err != nil {
			return 0, err
		}
		for _, k := range keys {
			if k.Prefix == prefix {
				return k.ID, nil
			}
		}
		return 0, fmt.Errorf("no API key with prefix %s (qualdial apikey list shows them)", prefix)
	}
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%q is not a key id (a number from qualdial apikey list) nor a key prefix (qd_…)", arg)
	}
	return id, nil
}

// cliDatabase is the database of the apikey and import commands: the usual
// flags, or --demo for the database "qualdial demo" uses.
type cliDatabase struct {
	// db is what the database flags say.
	db databaseConfig
	// demo replaces db's data directory with the demo's (--demo).
	demo bool
}

func (e *env) cliDatabaseFlags(cmd *cobra.Command, d *cliDatabase) {
	e.databaseFlags(cmd, &d.db)
	cmd.Flags().BoolVar(&d.demo, "demo", false, `use the database of "qualdial demo": its private PostgreSQL (running or not), or QUALDIAL_DEMO_DATABASE_URL if set`)
}

// openCLIDatabase opens (and migrates) the database of an apikey or import
// command.
func (e *env) openCLIDatabase(cmd *cobra.Command, d *cliDatabase) (*store.Store, func(), error) {
	cfg := d.db
	if d.demo {
		if cmd.Flags().Changed("data-dir") || cmd.Flags().Changed("database-url") {
			return nil, nil, errors.New(`--demo and --data-dir or --database-url all say where the database is: use one of them`)
		}
		// The demo's database, never serve's QUALDIAL_DATABASE_URL.
		cfg.URL, cfg.DataDir = e.getenv(demoDatabaseURLEnv), e.demoDataDir()
	}
	if err := cfg.validate(); err != nil {
		return nil, nil, err
	}
	if cfg.URL == "" && !d.demo {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "PG_VERSION")); errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(e.stderr, "note: no PostgreSQL in %s yet: creating one there (for the database of \"qualdial demo\", add --demo)\n", cfg.DataDir)
		}
	}
	log, err := e.newLogger("text", "warn")
	if err != nil {
		return nil, nil, err
	}
	pool, _, closeDB, err := openDatabase(cmd.Context(), cfg, log)
	if err != nil {
		return nil, nil, err
	}
	return store.New(pool, store.Config{}), closeDB, nil
}

func (e *env) importCommand() *cobra.Command {
	var (
		db                       cliDatabase
		campaign, charset, mapng string
	)
	cmd := &cobra.Command{
		Use:   "import --campaign NAME FILE.csv",
		Short: "Import a call list into a campaign (same rules and report as the API)",
		Long: `Import a CSV call list: UTF-8 with or without BOM (or --charset windows-1251),
delimiter , ; or tab detected, quoted fields with newlines. Columns are matched by
name (phone/telephone/mobile, first_name/name, email, company, timezone, consent…);
--mapping renames others (Handy:phone,Vorname:first_name). The import is atomic;
rows that cannot be imported are listed with their row number and reason.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if campaign == "" {
				return errors.New("--campaign is required (its name or id)")
			}
			log, err := e.newLogger("text", "warn")
			if err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			st, closeDB, err := e.openCLIDatabase(cmd, &db)
			if err != nil {
				return err
			}
			defer closeDB()
			var c *store.Campaign
			if id, perr := strconv.ParseInt(campaign, 10, 64); perr == nil {
				c, err = st.Campaign(cmd.Context(), id)
			} else {
				c, err = st.CampaignByName(cmd.Context(), campaign)
			}
			if err != nil {
				return fmt.Errorf("campaign %q: %w", campaign, err)
			}
			mapping := map[string]string{}
			if mapng != "" {
				if mapping, err = calllist.ParseMapping(mapng); err != nil {
					return err
				}
			}
			q, err := queue.New(st, queue.Config{Logger: log})
			if err != nil {
				return err
			}
			size := int64(0)
			if fi, err := f.Stat(); err == nil {
				size = fi.Size()
			}
			start := time.Now()
			progress := func(rows int) {
				pos, _ := f.Seek(0, 1)
				pct := 0.0
				if size > 0 {
					pct = 100 * float64(pos) / float64(size)
				}
				fmt.Fprintf(e.stderr, "\r%s: %d rows read (%.0f%%), %.0f rows/s ", filepath.Base(args[0]), rows, pct, float64(rows)/time.Since(start).Seconds())
			}
			imp, err := calllist.Import(cmd.Context(), st, q, c, calllist.Options{Filename: filepath.Base(args[0]), Charset: charset, Mapping: mapping, Progress: progress}, f)
			fmt.Fprintln(e.stderr)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "import %d into %q: %s: %d accepted, %d duplicates, %d on the DNC list, %d rejected (%.1fs)\n",
				imp.ID, c.Name, plural(imp.TotalRows, "row"), imp.Accepted, imp.Duplicates, imp.OnDNC, imp.Rejected, time.Since(start).Seconds())
			shown := 0
			return st.ImportRejects(cmd.Context(), imp.ID, func(r store.ImportReject) error {
				if shown++; shown <= 20 {
					fmt.Fprintf(e.stdout, "  row %d: %s\n", r.Row, r.Reason)
				} else if shown == 21 {
					fmt.Fprintln(e.stdout, "  … (GET /v1/campaigns/{id}/imports/{import}/rejects.csv lists them all)")
				}
				return nil
			})
		},
	}
	e.cliDatabaseFlags(cmd, &db)
	cmd.Flags().StringVar(&campaign, "campaign", "", "campaign name or id")
	cmd.Flags().StringVar(&charset, "charset", "", "file encoding: utf-8 (default) or windows-1251")
	cmd.Flags().StringVar(&mapng, "mapping", "", "column:field pairs for columns with other names")
	return cmd
}

// plural says how many of a thing: 1 row, 3 rows.
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/qualdial/qualdial/api"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

func (e *env) apikeyCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "apikey", Short: "Manage API keys"}
	var (
		db         databaseConfig
		role, name string
		signed     bool
	)
	create := &cobra.Command{
		Use:   "create --role R --name N",
		Short: "Create an API key and print it once (only its hash is stored)",
		Long: `Create an API key. Roles: admin (everything), marketing (campaigns, imports, DNC,
leads), sales (the sales pull: list, next, contacted/won/lost/recycle/release), intake
(may only create leads: the key a web form holds). The key is printed once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := db.validate(); err != nil {
				return err
			}
			log, err := e.newLogger("text", "warn")
			if err != nil {
				return err
			}
			pool, _, closeDB, err := openDatabase(cmd.Context(), db, log)
			if err != nil {
				return err
			}
			defer closeDB()
			st := store.New(pool, store.Config{})
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
				fmt.Fprintln(e.stderr, "requests with this key must be signed: X-Qualdial-Timestamp and X-Qualdial-Signature = v1=hex(HMAC-SHA256(secret, timestamp + \".\" + body)); the secret (second line) is shown only now")
			}
			return nil
		},
	}
	e.databaseFlags(create, &db)
	create.Flags().StringVar(&role, "role", "", "admin, marketing, sales or intake")
	create.Flags().StringVar(&name, "name", "", "who or what holds the key, e.g. a rep's name or a form's")
	create.Flags().BoolVar(&signed, "signed", false, "require HMAC-signed requests with this key (for form providers that sign)")
	cmd.AddCommand(create)
	return cmd
}

func (e *env) importCommand() *cobra.Command {
	var (
		db                       databaseConfig
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
			if err := db.validate(); err != nil {
				return err
			}
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
			pool, _, closeDB, err := openDatabase(cmd.Context(), db, log)
			if err != nil {
				return err
			}
			defer closeDB()
			st := store.New(pool, store.Config{})
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
				if mapping, err = api.ParseMapping(mapng); err != nil {
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
			imp, err := api.ImportCSV(cmd.Context(), st, q, c, filepath.Base(args[0]), f, charset, mapping, progress)
			fmt.Fprintln(e.stderr)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "import %d into %q: %d rows: %d accepted, %d duplicates, %d on the DNC list, %d rejected (%.1fs)\n",
				imp.ID, c.Name, imp.TotalRows, imp.Accepted, imp.Duplicates, imp.OnDNC, imp.Rejected, time.Since(start).Seconds())
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
	e.databaseFlags(cmd, &db)
	cmd.Flags().StringVar(&campaign, "campaign", "", "campaign name or id")
	cmd.Flags().StringVar(&charset, "charset", "", "file encoding: utf-8 (default) or windows-1251")
	cmd.Flags().StringVar(&mapng, "mapping", "", "column:field pairs for columns with other names")
	return cmd
}

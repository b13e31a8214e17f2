package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/qualdial/qualdial/store"
)

func (e *env) leadCommand() *cobra.Command {
	cmd := group(&cobra.Command{Use: "lead", Short: "Act on leads from the command line (erase a person's data)"})
	var (
		db     cliDatabase
		asJSON bool
	)
	erase := &cobra.Command{
		Use:   "erase ID",
		Short: "Erase the person a lead is (a data-subject erasure); their number stays on the do-not-call list as a hash",
		Long: `Erase the person a lead is, as DELETE /v1/leads/{id} does: every lead with the lead's
number, in every campaign, loses the person's data (name, e-mail, company, address,
external id, attributes, consent IP and page, the number, notes and reasons in its
events, Twilio sessions, webhook deliveries, idempotency keys, import rows with the
number or e-mail). The leads keep their non-personal facts (status, class, scores, calls
and answers, consent source and time) for reports and compliance. The number goes on
the do-not-call list as a SHA-256 hash, so the person is never called again. Erasing
an erased lead changes nothing. --json prints {lead_ids, already_erased, was_on_dnc,
import_rejects_deleted, twilio_sessions_deleted, webhook_deliveries_deleted}.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("%q is not a lead id: give the lead's number (GET /v1/leads and the web UI show it)", args[0])
			}
			st, closeDB, err := e.openCLIDatabase(cmd, &db)
			if err != nil {
				return err
			}
			defer closeDB()
			er, err := st.EraseLead(cmd.Context(), id, "cli")
			switch {
			case errors.Is(err, store.ErrNotFound):
				return fmt.Errorf("no lead with id %d", id)
			case errors.Is(err, store.ErrErasureDuringCall):
				return fmt.Errorf("lead %d is being called: erase it once the call has ended", id)
			case err != nil:
				return err
			}
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(er)
			}
			if er.AlreadyErased {
				fmt.Fprintf(e.stdout, "lead %d was erased before; nothing changed\n", id)
				return nil
			}
			ids := make([]string, len(er.LeadIDs))
			for i, l := range er.LeadIDs {
				ids[i] = strconv.FormatInt(l, 10)
			}
			fmt.Fprintf(e.stdout, "erased %s with the same number (%s); the number is on the do-not-call list as a hash\n",
				plural(len(er.LeadIDs), "lead"), strings.Join(ids, ", "))
			fmt.Fprintf(e.stdout, "deleted: %d import rows, %d Twilio sessions, %d webhook deliveries\n",
				er.ImportRejects, er.TwilioSessions, er.WebhookDeliveries)
			return nil
		},
	}
	e.cliDatabaseFlags(erase, &db)
	erase.Flags().BoolVar(&asJSON, "json", false, "print JSON (stable snake_case fields)")
	cmd.AddCommand(erase)
	return cmd
}

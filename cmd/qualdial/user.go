package main

import (
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/qualdial/qualdial/store"
)

func (e *env) userCommand() *cobra.Command {
	cmd := group(&cobra.Command{Use: "user", Short: "Create and list the users who log in to the web UI"})
	var (
		createDB          cliDatabase
		role, email, name string
	)
	create := &cobra.Command{
		Use:   "create --role R --email E [--name N]",
		Short: "Create a web UI user and print a one-time password",
		Long: `Create a user who logs in to the web UI (http://HOST:PORT/login) with their e-mail and
a one-time password, printed once: they choose their own at the first login. Roles:
admin (everything, users), marketing (campaigns, lists, scripts, DNC), sales (the
sales inbox). With --demo, the user is made in the database of "qualdial demo".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(store.WebRoles, role) {
				return fmt.Errorf("--role %q: use %s", role, strings.Join(store.WebRoles, ", "))
			}
			if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
				return fmt.Errorf("--email %q: give an e-mail address, e.g. ann@example.com", email)
			}
			st, closeDB, err := e.openCLIDatabase(cmd, &createDB)
			if err != nil {
				return err
			}
			defer closeDB()
			u, password, err := st.CreateUser(cmd.Context(), email, name, role)
			if errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("a user with the e-mail %s exists", email)
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, password)
			fmt.Fprintf(e.stderr, "created %s user %s (id %d); the password above works once and is shown only now: they choose their own at the first login\n",
				u.Role, u.Email, u.ID)
			return nil
		},
	}
	e.cliDatabaseFlags(create, &createDB)
	create.Flags().StringVar(&role, "role", "", "admin, marketing or sales")
	create.Flags().StringVar(&email, "email", "", "the user's e-mail address: their login")
	create.Flags().StringVar(&name, "name", "", "the user's name (default: the e-mail's local part)")

	var listDB cliDatabase
	list := &cobra.Command{
		Use:   "list",
		Short: "List the web UI users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, closeDB, err := e.openCLIDatabase(cmd, &listDB)
			if err != nil {
				return err
			}
			defer closeDB()
			users, err := st.Users(cmd.Context())
			if err != nil {
				return err
			}
			for _, u := range users {
				if u.Role == "" {
					continue // a rep known by an API key only
				}
				last := "never"
				if u.LastLoginAt != nil {
					last = u.LastLoginAt.UTC().Format("2006-01-02 15:04 UTC")
				}
				fmt.Fprintf(e.stdout, "%d\t%s\t%s\t%s\tlast login %s\n", u.ID, u.Email, u.Role, u.Name, last)
			}
			return nil
		},
	}
	e.cliDatabaseFlags(list, &listDB)
	cmd.AddCommand(create, list)
	return cmd
}

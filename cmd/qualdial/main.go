// Command qualdial qualifies sales leads by phone: it dials leads, plays a
// scripted questionnaire, scores the keys pressed and hands sales-ready leads
// to sales with a follow-up deadline. Run "qualdial --help" for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// env is everything a command may take from its environment. Only this
// package reads the process environment.
type env struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

// exitError ends the program with a code after the command has already said
// why.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	e := &env{getenv: getenv, stdout: stdout, stderr: stderr}
	root := e.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintln(stderr, "qualdial:", err)
		return 1
	}
}

func (e *env) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "qualdial",
		Short:         "Qualify sales leads by phone",
		Long:          "qualdial dials new leads, plays a scripted questionnaire, scores the keys pressed and hands sales-ready leads to sales with a follow-up deadline.",
		Version:       buildVersion(),
		SilenceUsage:  true,
		SilenceErrors: true,
		// Every command takes what its command line leaves unset from the
		// environment, before it runs.
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error { return e.applyEnv(cmd) },
	}
	root.SetVersionTemplate("qualdial {{.Version}}\n")
	root.SetFlagErrorFunc(flagError)
	root.AddCommand(e.scriptCommand(), e.serveCommand(), e.migrateCommand(), e.callCommand(), e.softphoneCommand(), e.promptsCommand(),
		e.demoCommand(), e.apikeyCommand(), e.userCommand(), e.leadCommand(), e.importCommand(), e.versionCommand(), e.healthcheckCommand(), e.rulesCommand())
	return root
}

package main

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// envAnnotation is the flag annotation naming the environment variables a
// flag is read from.
const envAnnotation = "qualdial_env"

// bindEnv lets a flag take its value from the first of vars that is set,
// unless the flag is given on the command line (applyEnv does it, before the
// command runs). Flags keep their built-in defaults, so help never shows a
// value from the environment (a password in a database URL, a token): it
// says only which variable is set.
func (e *env) bindEnv(fs *pflag.FlagSet, name string, vars ...string) {
	f := fs.Lookup(name)
	if f == nil {
		panic("bindEnv: no flag --" + name)
	}
	if err := fs.SetAnnotation(name, envAnnotation, vars); err != nil {
		panic(err)
	}
	note := "(env " + strings.Join(vars, ", then ")
	for _, v := range vars {
		if e.getenv(v) != "" {
			note += "; " + v + " is set"
			break
		}
	}
	f.Usage += " " + note + ")"
}

// applyEnv sets every flag of cmd that was not given on the command line
// from its environment variable, with the flag's own parser: a malformed
// value fails the command, naming the variable and what it expects, instead
// of quietly becoming a zero. The flag's Changed stays false: it tells
// whether the flag was given on the command line.
func (e *env) applyEnv(cmd *cobra.Command) error {
	var errs []error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		for _, name := range f.Annotations[envAnnotation] {
			v := e.getenv(name)
			if v == "" {
				continue
			}
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %s (the environment variable for --%s)", name, v, expected(f.Value.Type(), err), f.Name))
			}
			return
		}
	})
	return errors.Join(errs...)
}

// expected says what a flag of the given type accepts; values of our own
// types explain themselves.
func expected(typ string, err error) string {
	switch typ {
	case "int":
		return "expected a whole number"
	case "float64":
		return "expected a number, like 1 or 0.5"
	case "bool":
		return "expected true or false (or 1, 0, t, f)"
	case "duration":
		return "expected a duration with a unit, like 90s, 5m or 1h30m"
	}
	return err.Error()
}

// choiceValue is a string flag that accepts one of a few words.
type choiceValue struct {
	v       *string
	choices []string
}

func newChoice(p *string, def string, choices ...string) *choiceValue {
	*p = def
	return &choiceValue{v: p, choices: choices}
}

func (c *choiceValue) String() string { return *c.v }
func (c *choiceValue) Type() string   { return "string" }
func (c *choiceValue) Set(s string) error {
	s = strings.ToLower(strings.TrimSpace(s))
	if !slices.Contains(c.choices, s) {
		return fmt.Errorf("use %s", orList(c.choices))
	}
	*c.v = s
	return nil
}

func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// hostPortValue is a listen address flag: host:port, the host may be empty.
type hostPortValue struct {
	v       *string
	example string // shown when a value is not host:port
}

func newHostPort(p *string, def, example string) *hostPortValue {
	*p = def
	return &hostPortValue{v: p, example: example}
}

func (h *hostPortValue) String() string { return *h.v }
func (h *hostPortValue) Type() string   { return "host:port" }
func (h *hostPortValue) Set(s string) error {
	if _, _, err := net.SplitHostPort(s); err != nil {
		return fmt.Errorf("must be host:port, like %s", h.example)
	}
	*h.v = s
	return nil
}

// absPathValue is a directory flag that must be an absolute path.
type absPathValue struct{ v *string }

func newAbsPath(p *string, def string) *absPathValue {
	*p = def
	return &absPathValue{v: p}
}

func (a *absPathValue) String() string { return *a.v }
func (a *absPathValue) Type() string   { return "path" }
func (a *absPathValue) Set(s string) error {
	if !filepath.IsAbs(s) {
		return errors.New("must be an absolute path")
	}
	*a.v = s
	return nil
}

// codecsValue is a comma-separated list of the codecs we send.
type codecsValue struct{ v *string }

func newCodecs(p *string, def string) *codecsValue {
	*p = def
	return &codecsValue{v: p}
}

func (c *codecsValue) String() string { return *c.v }
func (c *codecsValue) Type() string   { return "list" }
func (c *codecsValue) Set(s string) error {
	for _, codec := range strings.Split(s, ",") {
		switch strings.ToUpper(strings.TrimSpace(codec)) {
		case "PCMU", "PCMA":
		default:
			return fmt.Errorf("%q is not PCMU or PCMA (list them in order, like PCMU,PCMA)", codec)
		}
	}
	*c.v = s
	return nil
}

// suggest returns the names of candidates close to a mistyped one, by the
// rules cobra uses for mistyped commands (a small edit distance, or a
// prefix): the candidates are put in a throwaway command tree so that
// cobra's own matching does the work.
func suggest(typed string, candidates []string) []string {
	probe := &cobra.Command{SuggestionsMinimumDistance: suggestDistance}
	for _, c := range candidates {
		probe.AddCommand(&cobra.Command{Use: c, Run: func(*cobra.Command, []string) {}})
	}
	return probe.SuggestionsFor(typed)
}

// suggestDistance is cobra's default for mistyped commands, which only its
// own unknown-command error applies.
const suggestDistance = 2

// didYouMean formats suggestions as cobra does for unknown commands.
func didYouMean(prefix string, s []string) string {
	if len(s) == 0 {
		return ""
	}
	return "\n\nDid you mean this?\n\t" + prefix + strings.Join(s, "\n\t"+prefix)
}

// flagError adds the closest flags of the command to an unknown flag error
// (pflag does not suggest).
func flagError(cmd *cobra.Command, err error) error {
	var ne *pflag.NotExistError
	if !errors.As(err, &ne) || ne.GetSpecifiedShortnames() != "" {
		return err
	}
	var names []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			names = append(names, f.Name)
		}
	})
	if s := didYouMean("--", suggest(ne.GetSpecifiedName(), names)); s != "" {
		return fmt.Errorf("%w%s", err, s)
	}
	return err
}

// group makes cmd a command that only holds subcommands: alone it prints its
// help, and an unknown subcommand fails with suggestions, as at the top
// level (cobra suggests only there).
func group(cmd *cobra.Command) *cobra.Command {
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return c.Help()
		}
		if c.SuggestionsMinimumDistance <= 0 {
			c.SuggestionsMinimumDistance = suggestDistance
		}
		return fmt.Errorf("unknown command %q for %q%s", args[0], c.CommandPath(), didYouMean("", c.SuggestionsFor(args[0])))
	}
	return cmd
}

// buildVersion is the version set at build time (-X main.version=…), else
// "dev", with the VCS commit the binary was built from when Go recorded it;
// a "go install …@version" build, which has no commit, shows its module
// version.
func buildVersion() string {
	v := version
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		if v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		return v
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified == "true" {
		rev += ", modified"
	}
	return v + " (commit " + rev + ")"
}

func (e *env) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this build",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(e.stdout, "qualdial %s\n", buildVersion())
			return nil
		},
	}
}

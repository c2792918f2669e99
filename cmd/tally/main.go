// Command tally keeps a fleet's dashboard numbers precomputed: it consumes
// events from NATS JetStream and keeps exactly-once counters in PostgreSQL.
// main only wires; each subcommand has its own file.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tallyhq/tally/internal/config"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, config.Environ()))
}

// env is what every command shares: the streams and the settings source.
type env struct {
	stdout, stderr io.Writer
	environ        map[string]string
	flags          map[string]*string // setting name -> flag value, when given
}

// usageError is a mistake on the command line.
type usageError struct{ error }

// exitError carries a specific exit status (such as verify's 1).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func run(ctx context.Context, args []string, stdout, stderr io.Writer, environ map[string]string) int {
	e := &env{stdout: stdout, stderr: stderr, environ: environ, flags: map[string]*string{}}
	root := e.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "tally: "+oneLine(err.Error()))
	return exitCode(err)
}

func exitCode(err error) int {
	var ee *exitError
	var ue usageError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue), errors.Is(err, config.ErrSetting):
		return exitUsage
	case strings.HasPrefix(err.Error(), "unknown command"), strings.HasPrefix(err.Error(), "unknown flag"),
		strings.Contains(err.Error(), "arg(s)"):
		return exitUsage
	}
	return exitFailure
}

// oneLine puts an error of several lines (pgx lists each address it
// tried on a line of its own, indented) on one: the lines, trimmed, joined
// by "; ", or by a space after a line that ends in a colon.
func oneLine(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if b.Len() > 0 {
			if strings.HasSuffix(b.String(), ":") {
				b.WriteString(" ")
			} else {
				b.WriteString("; ")
			}
		}
		b.WriteString(line)
	}
	return b.String()
}

func (e *env) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "tally",
		Short: "Precomputed fleet dashboard counters, exactly once",
		Long: `tally consumes fleet events (car status, bookings, payments) from NATS JetStream
and keeps exactly-once counters in PostgreSQL summary views (schema tally).

Settings come from TALLY_* environment variables (each with a _FILE variant
for secrets); the flags below override them.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	e.settingFlag(root, "database-url", "TALLY_DATABASE_URL", "PostgreSQL URL")
	e.settingFlag(root, "nats-url", "TALLY_NATS_URL", "NATS URL")
	e.settingFlag(root, "stream", "TALLY_STREAM", "JetStream stream of fleet events")
	root.AddCommand(e.migrateCommand(), e.runCommand(), e.demoCommand(), e.snapshotCommand(), e.playbookCommand(),
		e.rebuildCommand(), e.verifyCommand(), e.dlqCommand(), e.benchCommand())
	return root
}

// settingFlag adds a persistent flag that overrides a TALLY_ setting.
func (e *env) settingFlag(c *cobra.Command, name, setting, usage string) {
	v := new(string)
	c.PersistentFlags().StringVar(v, name, "", usage+" (overrides "+setting+")")
	e.flags[setting] = v
}

// config loads the settings, flags over environment.
func (e *env) config() (config.Config, error) {
	vars := make(map[string]string, len(e.environ))
	for k, v := range e.environ {
		vars[k] = v
	}
	for name, v := range e.flags {
		if *v != "" {
			vars[name] = *v
			delete(vars, name+"_FILE")
		}
	}
	return config.Load(vars)
}

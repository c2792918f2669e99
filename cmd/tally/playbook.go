package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tallyhq/tally/internal/config"
	"github.com/tallyhq/tally/store/playbook"
)

func (e *env) playbookCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "playbook",
		Short: "The crisis playbook: named, read-only data pulls",
		Long: `The crisis playbook: named, parameterised SQL data pulls for when things go
wrong. The built-in entries read tally's own tables, so they work during an
incident without touching the product's database; TALLY_PLAYBOOK_DIR adds
entries (or overrides built-in ones by name), one .sql file each.

Every run is one statement in a read-only transaction, stopped by a
statement timeout (--timeout, TALLY_PLAYBOOK_TIMEOUT, default 30s), with at
most --max-rows rows (TALLY_PLAYBOOK_MAX_ROWS, default 10000); parameters
are bound, never pasted into the SQL. --database-url (or
TALLY_PLAYBOOK_DATABASE_URL) points it at another database, such as a read
replica.`,
	}
	e.settingFlag(c, "database-url", "TALLY_PLAYBOOK_DATABASE_URL", "database the playbook reads, default tally's own")
	c.AddCommand(e.playbookListCommand(), e.playbookShowCommand(), e.playbookRunCommand())
	return c
}

// book loads the playbook: built-in entries and TALLY_PLAYBOOK_DIR's.
func (e *env) book() (*playbook.Book, config.Config, error) {
	cfg, err := e.config()
	if err != nil {
		return nil, cfg, err
	}
	b, err := playbook.Load(cfg.PlaybookDir)
	if err != nil {
		return nil, cfg, &config.Error{Name: "TALLY_PLAYBOOK_DIR", Msg: err.Error()}
	}
	return b, cfg, nil
}

func (e *env) playbookListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the entries with their descriptions and parameters",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			b, _, err := e.book()
			if err != nil {
				return err
			}
			for _, entry := range b.Entries() {
				e.describeEntry(entry)
				fmt.Fprintln(e.stdout)
			}
			e.describeTypes()
			return nil
		},
	}
}

// describeEntry prints an entry's name, source, description and
// parameters, one per line.
func (e *env) describeEntry(entry *playbook.Entry) {
	fmt.Fprintf(e.stdout, "%s  (%s)\n  %s\n", entry.Name, entry.Source, entry.Description)
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	for _, p := range entry.Params {
		def := "required"
		if !p.Required {
			def = "default " + strconv.Quote(p.Default)
		}
		fmt.Fprintf(tw, "  --param %s=<%s>\t%s\t%s\n", p.Name, p.Type, def, p.Description)
	}
	_ = tw.Flush()
}

func (e *env) describeTypes() {
	fmt.Fprintln(e.stdout, "Parameter types (each also as a comma-separated list, such as status[]):")
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	for _, name := range slices.Sorted(maps.Keys(playbook.Types)) {
		fmt.Fprintf(tw, "  %s\t%s\n", name, playbook.Types[name].Help())
	}
	_ = tw.Flush()
}

func (e *env) playbookShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show an entry and the SQL it runs",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			b, _, err := e.book()
			if err != nil {
				return err
			}
			entry, err := b.Get(args[0])
			if err != nil {
				return usageError{err}
			}
			e.describeEntry(entry)
			fmt.Fprintf(e.stdout, "\n%s\n", entry.SQL)
			return nil
		},
	}
}

func (e *env) playbookRunCommand() *cobra.Command {
	var params []string
	var format string
	c := &cobra.Command{
		Use:   "run NAME [--param k=v ...]",
		Short: "Run an entry and print what it returns",
		Example: `  tally playbook run stuck-bookings
  tally playbook run bookings-and-payments --param city=paris --param since=6h --format csv
  tally playbook run entity-events --param id=car-0042 --format json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(playbook.Formats, format) {
				return usageError{fmt.Errorf("--format %q: use %s", format, strings.Join(playbook.Formats, ", "))}
			}
			values, err := paramValues(params)
			if err != nil {
				return err
			}
			return e.runEntry(cmd, args[0], values, format)
		},
	}
	c.Flags().StringArrayVar(&params, "param", nil, "a parameter, name=value (repeat for each)")
	c.Flags().StringVar(&format, "format", "table", "output: table, csv or json")
	e.settingFlag(c, "timeout", "TALLY_PLAYBOOK_TIMEOUT", "statement timeout, such as 30s")
	e.settingFlag(c, "max-rows", "TALLY_PLAYBOOK_MAX_ROWS", "rows returned at most")
	return c
}

func paramValues(params []string) (map[string]string, error) {
	values := map[string]string{}
	for _, p := range params {
		name, value, ok := strings.Cut(p, "=")
		if !ok || name == "" {
			return nil, usageError{fmt.Errorf("--param %q: use name=value", p)}
		}
		if _, dup := values[name]; dup {
			return nil, usageError{fmt.Errorf("--param %s is given twice", name)}
		}
		values[name] = value
	}
	return values, nil
}

func (e *env) runEntry(cmd *cobra.Command, name string, values map[string]string, format string) error {
	b, cfg, err := e.book()
	if err != nil {
		return err
	}
	entry, err := b.Get(name)
	if err != nil {
		return usageError{err}
	}
	q, err := entry.Bind(values, playbook.Clock{Now: time.Now(), Zone: cfg.Zones().Default})
	if errors.Is(err, playbook.ErrParam) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	res, err := playbook.Run(cmd.Context(), cfg.PlaybookURL(), q,
		playbook.Options{Timeout: cfg.PlaybookTimeout, MaxRows: cfg.PlaybookMaxRows})
	if err != nil {
		return err
	}
	if err := res.Write(e.stdout, format); err != nil {
		return err
	}
	if note := res.Note(); note != "" {
		fmt.Fprintln(e.stderr, "tally: note: "+note)
	}
	return nil
}

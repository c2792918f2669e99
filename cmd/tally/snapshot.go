package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tallyhq/tally/internal/config"
	"github.com/tallyhq/tally/internal/telemetry"
	"github.com/tallyhq/tally/store"
	"github.com/tallyhq/tally/store/playbook"
)

func (e *env) snapshotCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "snapshot",
		Short: "Take a snapshot of the counter views now; list snapshots",
		Long: `Takes a snapshot of the contract's counter views now (kind manual): one
consistent database snapshot, exactly the events committed when it starts,
even while workers apply batches. tally.X_at(t) then answers for times from
it on. tally run takes them on its own every TALLY_SNAPSHOT_INTERVAL and at
every local midnight of the business time zone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.withStore(cmd.Context(), func(s *store.Store) error {
				snap, _, err := s.TakeSnapshot(cmd.Context(), store.SnapshotRequest{Kind: store.SnapshotManual})
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "snapshot %d taken at %s: ledger up to position %d, last event at %s; %d rows changed, %d removed\n",
					snap.ID, snap.TakenAt.UTC().Format(time.RFC3339Nano), snap.LedgerPos, orNone(snap.LastEventAt),
					snap.ChangedRows, snap.RemovedRows)
				return nil
			})
		},
	}
	c.AddCommand(e.snapshotListCommand())
	return c
}

func (e *env) snapshotListCommand() *cobra.Command {
	var since, format string
	var limit int
	c := &cobra.Command{
		Use:   "list",
		Short: "List the snapshots, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var from time.Time
			if since != "" {
				t, err := playbook.ParseTime(since, time.Now())
				if err != nil {
					return usageError{fmt.Errorf("--since: %w", err)}
				}
				from = t
			}
			if format != "table" && format != "json" {
				return usageError{fmt.Errorf("--format %q: use table or json", format)}
			}
			return e.withStore(cmd.Context(), func(s *store.Store) error {
				list, err := s.ListSnapshots(cmd.Context(), from, limit)
				if err != nil {
					return err
				}
				return e.printSnapshots(list, format)
			})
		},
	}
	c.Flags().StringVar(&since, "since", "", "only snapshots taken since: a duration such as 7d (that long ago) or an RFC 3339 time")
	c.Flags().IntVar(&limit, "limit", 50, "only the latest N (0: all)")
	c.Flags().StringVar(&format, "format", "table", "table or json")
	return c
}

func (e *env) printSnapshots(list []store.Snapshot, format string) error {
	if format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "id\ttaken_at\tkind\tslot_at\tgen\tledger_pos\tlast_event_at\tchanged_rows\tremoved_rows")
	for _, s := range list {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%s\t%d\t%d\n", s.ID, s.TakenAt.UTC().Format(time.RFC3339), s.Kind,
			orNone(s.SlotAt), s.Gen, s.LedgerPos, orNone(s.LastEventAt), s.ChangedRows, s.RemovedRows)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(e.stdout, "(%d snapshots)\n", len(list))
	return err
}

func orNone(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// withStore opens tally's database, checks its schema and runs fn.
func (e *env) withStore(ctx context.Context, fn func(s *store.Store) error) error {
	cfg, err := e.config()
	if err != nil {
		return err
	}
	log := telemetry.NewLogger(e.stderr, cfg.LogLevel, cfg.LogFormat)
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := store.Open(octx, cfg.DatabaseURL, log)
	if err != nil {
		return &config.Error{Name: "TALLY_DATABASE_URL", Msg: err.Error()}
	}
	defer s.Close()
	if err := s.CheckSchema(ctx); err != nil {
		return &config.Error{Name: "TALLY_DATABASE_URL", Msg: err.Error()}
	}
	return fn(s)
}

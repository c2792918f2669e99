package store

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"text/template"

	"github.com/jackc/pgx/v5"

	"github.com/tallyhq/tally/aggregator"
)

//go:embed sql/generation.sql
var generationSQL string

//go:embed sql/views.sql
var viewsSQL string

var errNoGeneration = errors.New("no current generation")

// Generation is one set of entity states and counters with the zones it
// was built with. The views read the current one.
type Generation struct {
	Gen   int
	Zones aggregator.Zones
}

// Schema returns the PostgreSQL schema holding generation gen.
func Schema(gen int) string { return "tally_g" + strconv.Itoa(gen) }

func expand(tmpl string, gen int) string {
	return strings.ReplaceAll(tmpl, "{{schema}}", Schema(gen))
}

// createGeneration creates the schema and tables of generation gen.
func createGeneration(ctx context.Context, tx pgx.Tx, gen int, z aggregator.Zones, state string) error {
	if _, err := tx.Exec(ctx, expand(generationSQL, gen)); err != nil {
		return fmt.Errorf("create generation %d: %w", gen, err)
	}
	if err := grantGeneration(ctx, tx, gen); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO tally.generations (gen, state, timezone, city_timezones)
		VALUES ($1, $2, $3, $4)`, gen, state, z.DefaultName(), z.CitiesString())
	return wrap(err, "record generation %d", gen)
}

// pointViews makes the contract's views read generation gen, which the
// caller has created or marked current in tally.generations. The views
// follow tally.generations themselves, so this only defines them over the
// generations that exist.
func pointViews(ctx context.Context, tx pgx.Tx, gen int) error {
	return wrap(defineViews(ctx, tx), "point views at generation %d", gen)
}

// viewsTemplate renders the contract's views over a list of viewGen.
var viewsTemplate = template.Must(template.New("views").Parse(viewsSQL))

// viewGen is a generation as the views template sees it.
type viewGen struct {
	Gen    int
	Schema string
}

// viewNames are the contract's views that read the generations, in the
// order they are defined.
var viewNames = []string{"tally.active_cars", "tally.bookings_by_status", "tally.daily_revenue",
	"tally.daily_bookings", "tally.overdue_bookings"}

// defineViews makes the contract's views read every generation whose
// schema exists, each filtered to the current one (see sql/views.sql).
func defineViews(ctx context.Context, tx pgx.Tx) error {
	for _, name := range viewNames {
		if err := defineView(ctx, tx, name); err != nil {
			return err
		}
	}
	return nil
}

// defineView defines one of viewNames over the generations that exist.
func defineView(ctx context.Context, tx pgx.Tx, name string) error {
	rows, err := tx.Query(ctx, "SELECT gen FROM tally.generations WHERE dropped_at IS NULL ORDER BY gen")
	if err != nil {
		return fmt.Errorf("list generations: %w", err)
	}
	gens, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return fmt.Errorf("list generations: %w", err)
	}
	if len(gens) == 0 {
		return errNoGeneration
	}
	vgs := make([]viewGen, len(gens))
	for i, g := range gens {
		vgs[i] = viewGen{Gen: g, Schema: Schema(g)}
	}
	var sql strings.Builder
	if err := viewsTemplate.ExecuteTemplate(&sql, name, vgs); err != nil {
		return fmt.Errorf("render view %s: %w", name, err)
	}
	_, err = tx.Exec(ctx, sql.String())
	return wrap(err, "define view %s over generations %v", name, gens)
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// currentGeneration reads the current generation and parses its zones.
func currentGeneration(ctx context.Context, q querier) (Generation, error) {
	var g Generation
	var tz, cities string
	err := q.QueryRow(ctx, "SELECT gen, timezone, city_timezones FROM tally.generations WHERE state = 'current'").
		Scan(&g.Gen, &tz, &cities)
	if errors.Is(err, pgx.ErrNoRows) {
		return g, errNoGeneration
	}
	if err != nil {
		return g, fmt.Errorf("read current generation: %w", err)
	}
	if g.Zones, err = aggregator.ParseZones(tz, cities); err != nil {
		return g, fmt.Errorf("stored zones of generation %d: %w", g.Gen, err)
	}
	return g, nil
}

// CurrentGeneration returns the generation the views read now.
func (s *Store) CurrentGeneration(ctx context.Context) (Generation, error) {
	g, err := currentGeneration(ctx, s.pool)
	if errors.Is(err, errNoGeneration) || pgCode(err) == "42P01" || pgCode(err) == "3F000" {
		return g, ErrNotMigrated
	}
	return g, err
}

// zoneCache parses a generation's zones once.
type zoneCache struct {
	mu    sync.Mutex
	key   string
	zones aggregator.Zones
}

func (c *zoneCache) get(tz, cities string) (aggregator.Zones, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k := tz + "\x00" + cities; k != c.key {
		z, err := aggregator.ParseZones(tz, cities)
		if err != nil {
			return z, err
		}
		c.key, c.zones = k, z
	}
	return c.zones, nil
}

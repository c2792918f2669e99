package fleetsim

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tallyhq/tally/events"
)

// Config describes a simulation. Zero sizes take the defaults named on each
// field; zero rates mean none of that behaviour, so start from
// DefaultConfig, Troubled or DemoDay for a realistic mix.
//
// Rates are fractions from 0 to 1. The trouble rates (Duplicate, Conflict,
// Bad, UnknownType) are per business event: each event emitted may be
// followed, at that rate, by a copy, a conflicting copy, an invalid message
// or an event of an unknown type. They add messages and never replace a
// business event, so the fleet's history stays whole.
type Config struct {
	// Seed drives every random choice.
	Seed int64
	// Start is the start of the simulated period; default 2026-03-02T00:00:00Z.
	Start time.Time
	// Days is the length of the period in 24-hour days; default 1. Nothing
	// occurs at or after Start + Days.
	Days int
	// Cities are the cities of the fleet; default DefaultCities.
	Cities []string
	// CarsPerCity is the number of cars in each city; default 10.
	CarsPerCity int
	// BookingsPerCarPerDay is the mean rate at which each car is booked;
	// default 4. A car is never booked twice at once, so a booking that
	// would start more than a day ahead is dropped.
	BookingsPerCarPerDay float64
	// Currencies maps a city to its ISO 4217 currency; cities missing from
	// it use DefaultCurrencies, then "EUR".
	Currencies map[string]string
	// RunPrefix starts every id (events, cars, bookings, payments), so two
	// runs share ids exactly when they share the prefix; default "s<Seed>".
	// At most MaxPrefixBytes.
	RunPrefix string
	// MaxEventBytes is the limit over-size messages exceed, tally's
	// TALLY_MAX_EVENT_BYTES; default events.DefaultMaxEventBytes. Over-size
	// messages are at most 1 KiB over it, so the broker must accept that.
	MaxEventBytes int

	// CancelRate is the fraction of bookings cancelled before they start.
	CancelRate float64
	// MaintenanceRate is how often, per car per day, a car goes to
	// maintenance for a few hours.
	MaintenanceRate float64
	// RetireRate is how often, per car per day, a car is retired; half of
	// the retired cars are re-activated one to three days later.
	RetireRate float64
	// RefundRate is the fraction of payments refunded, in full or in part
	// (sometimes in two parts).
	RefundRate float64
	// OverdueRate, times the expected number of bookings, is the number of
	// bookings confirmed and never started whose start_at lies 30 minutes
	// to 4 hours before the end of the period: tally.overdue_bookings shows
	// them as soon as the period ends.
	OverdueRate float64
	// NoSeqRate is the fraction of entities (cars, bookings) whose
	// publisher omits seq, so tally orders their events by occurred_at.
	NoSeqRate float64
	// NoMsgIDRate is the fraction of business events published without a
	// Nats-Msg-Id header.
	NoMsgIDRate float64

	// DuplicateRate: a byte-identical copy of the event, published again
	// soon (a retry) or up to a day later; half of the copies carry
	// Nats-Msg-Id, half do not.
	DuplicateRate float64
	// ConflictRate: a copy with the same id and a different occurred_at,
	// published later without Nats-Msg-Id (as if after the broker's
	// duplicate window).
	ConflictRate float64
	// ReorderRate is the fraction of the entity events that have a
	// successor in their entity (a later event of the same car or booking)
	// which are emitted after it, a second to ten minutes later.
	ReorderRate float64
	// BadRate: an invalid message, taking every kind in turn (see
	// BadKinds).
	BadRate float64
	// UnknownTypeRate: a valid event of a type tally does not know, such
	// as "car.location_updated".
	UnknownTypeRate float64
}

// Defaults and limits of a Config.
const (
	DefaultDays                 = 1
	DefaultCarsPerCity          = 10
	DefaultBookingsPerCarPerDay = 4
	// MaxPrefixBytes bounds RunPrefix so that every id fits in
	// events.MaxIDBytes.
	MaxPrefixBytes = 40
	maxCityBytes   = 40
	maxCarsPerCity = 99999
	maxDays        = 3660
)

// DefaultStart is the start of the simulated period when Config.Start is
// zero: a fixed instant, so that a Config is deterministic.
var DefaultStart = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// DefaultCities are the cities of a Config that names none.
var DefaultCities = []string{"jakarta", "paris", "berlin", "new_york"}

// DefaultCurrencies gives the currency of well-known cities.
var DefaultCurrencies = map[string]string{
	"jakarta": "IDR", "paris": "EUR", "berlin": "EUR", "new_york": "USD",
	"london": "GBP", "tokyo": "JPY", "singapore": "SGD", "sydney": "AUD",
	"madrid": "EUR", "amsterdam": "EUR", "san_francisco": "USD",
}

// DefaultConfig is a realistic fleet without trouble: one day, four
// cities, ten cars each, four bookings per car per day, a few
// cancellations, maintenance stops, retirements, refunds, overdue bookings,
// publishers that omit seq or Nats-Msg-Id.
func DefaultConfig(seed int64) Config {
	return Config{
		Seed:            seed,
		CancelRate:      0.08,
		MaintenanceRate: 0.03,
		RetireRate:      0.005,
		RefundRate:      0.05,
		OverdueRate:     0.005,
		NoSeqRate:       0.15,
		NoMsgIDRate:     0.1,
	}
}

// Troubled is DefaultConfig over three days with every kind of trouble at a
// few percent: about 3,700 messages for integration tests, enough for every
// kind of invalid message to appear.
func Troubled(seed int64) Config {
	c := DefaultConfig(seed)
	c.Days = 3
	c.CarsPerCity = 20
	c.RetireRate = 0.05
	c.RefundRate = 0.1
	c.OverdueRate = 0.02
	c.DuplicateRate = 0.05
	c.ConflictRate = 0.01
	c.ReorderRate = 0.05
	c.BadRate = 0.03
	c.UnknownTypeRate = 0.01
	return c
}

// DemoDay is the simulation `tally demo` publishes: the 24 hours of a fleet
// of 80 cars in four cities that end at now, about 1,300 messages with a few
// dozen duplicates, a conflicting copy or two, a few invalid messages and
// unknown types, and five overdue bookings. Pass time.Now(): no event occurs after
// now, and the overdue bookings' start_at lies 30 minutes to 4 hours before
// it, so tally.overdue_bookings (grace 15 minutes) shows them at once. The
// run prefix comes from now, so each demo publishes new ids.
func DemoDay(seed int64, now time.Time) Config {
	c := DefaultConfig(seed)
	now = now.UTC().Truncate(time.Second)
	c.Start = now.Add(-24 * time.Hour)
	c.Days = 1
	c.CarsPerCity = 20
	c.BookingsPerCarPerDay = 5
	c.RefundRate = 0.1
	c.RunPrefix = "demo" + now.Format("20060102T150405")
	c.OverdueRate = 5.0 / 400 // five of the 400 expected bookings
	c.DuplicateRate = 0.02
	c.ConflictRate = 0.002
	c.ReorderRate = 0.02
	c.BadRate = 0.005
	c.UnknownTypeRate = 0.002
	return c
}

// withDefaults returns c with its zero sizes replaced by the defaults.
func (c Config) withDefaults() Config {
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	if c.Days == 0 {
		c.Days = DefaultDays
	}
	if len(c.Cities) == 0 {
		c.Cities = DefaultCities
	}
	if c.CarsPerCity == 0 {
		c.CarsPerCity = DefaultCarsPerCity
	}
	if c.BookingsPerCarPerDay == 0 {
		c.BookingsPerCarPerDay = DefaultBookingsPerCarPerDay
	}
	if c.RunPrefix == "" {
		c.RunPrefix = "s" + strconv.FormatInt(c.Seed, 10)
	}
	if c.MaxEventBytes == 0 {
		c.MaxEventBytes = events.DefaultMaxEventBytes
	}
	return c
}

// currency returns the currency of a city.
func (c *Config) currency(city string) string {
	if cur, ok := c.Currencies[city]; ok {
		return cur
	}
	if cur, ok := DefaultCurrencies[city]; ok {
		return cur
	}
	return "EUR"
}

// Validate reports the first setting that is out of range, by name. Zero
// sizes are valid: they take their defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	if err := c.validateSizes(); err != nil {
		return err
	}
	if err := c.validateCities(); err != nil {
		return err
	}
	return c.validateRates()
}

func (c *Config) validateSizes() error {
	switch {
	case c.Start.Year() < 1900 || c.Start.Year() > 2200:
		return fmt.Errorf("fleetsim: Start %s is not in the years 1900 to 2200", c.Start.Format(time.RFC3339))
	case c.Days < 1 || c.Days > maxDays:
		return fmt.Errorf("fleetsim: Days %d is not from 1 to %d", c.Days, maxDays)
	case c.CarsPerCity < 1 || c.CarsPerCity > maxCarsPerCity:
		return fmt.Errorf("fleetsim: CarsPerCity %d is not from 1 to %d", c.CarsPerCity, maxCarsPerCity)
	case !(c.BookingsPerCarPerDay > 0 && c.BookingsPerCarPerDay <= 48):
		return fmt.Errorf("fleetsim: BookingsPerCarPerDay %v is not above 0 and at most 48", c.BookingsPerCarPerDay)
	case c.MaxEventBytes < 1024:
		return fmt.Errorf("fleetsim: MaxEventBytes %d is below 1024", c.MaxEventBytes)
	case len(c.RunPrefix) > MaxPrefixBytes || !plainText(c.RunPrefix):
		return fmt.Errorf("fleetsim: RunPrefix %q is not printable ASCII of at most %d bytes", c.RunPrefix, MaxPrefixBytes)
	}
	return nil
}

func (c *Config) validateCities() error {
	seen := make(map[string]bool, len(c.Cities))
	for _, city := range c.Cities {
		if city == "" || len(city) > maxCityBytes || !plainText(city) {
			return fmt.Errorf("fleetsim: city %q is not printable ASCII of 1 to %d bytes", city, maxCityBytes)
		}
		if seen[city] {
			return fmt.Errorf("fleetsim: city %q is listed twice", city)
		}
		seen[city] = true
		if cur := c.currency(city); !isCurrency(cur) {
			return fmt.Errorf("fleetsim: currency %q of city %q is not 3 upper-case letters", cur, city)
		}
	}
	return nil
}

func (c *Config) validateRates() error {
	rates := []struct {
		name string
		v    float64
	}{
		{"CancelRate", c.CancelRate}, {"MaintenanceRate", c.MaintenanceRate},
		{"RetireRate", c.RetireRate}, {"RefundRate", c.RefundRate},
		{"OverdueRate", c.OverdueRate}, {"NoSeqRate", c.NoSeqRate},
		{"NoMsgIDRate", c.NoMsgIDRate}, {"DuplicateRate", c.DuplicateRate},
		{"ConflictRate", c.ConflictRate}, {"ReorderRate", c.ReorderRate},
		{"BadRate", c.BadRate}, {"UnknownTypeRate", c.UnknownTypeRate},
	}
	for _, r := range rates {
		if !(r.v >= 0 && r.v <= 1) {
			return fmt.Errorf("fleetsim: %s %v is not from 0 to 1", r.name, r.v)
		}
	}
	return nil
}

// plainText reports whether s is printable ASCII without the characters
// JSON escapes, so ids built from it stay readable.
func plainText(s string) bool {
	for i := range len(s) {
		if s[i] <= ' ' || s[i] > '~' || strings.IndexByte(`"\<>&`, s[i]) >= 0 {
			return false
		}
	}
	return true
}

func isCurrency(s string) bool {
	return len(s) == 3 && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == ""
}

package aggregator

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Zones maps a city to the time zone its daily buckets use: its own zone
// when it has one, the business zone otherwise. City names match exactly.
type Zones struct {
	Default *time.Location
	Cities  map[string]*time.Location
}

// UTC is the default: every day in UTC.
var UTC = Zones{Default: time.UTC}

// ParseZones parses the business zone and a list of city zones such as
// "jakarta=Asia/Jakarta,paris=Europe/Paris". An empty default means UTC.
func ParseZones(def, cities string) (Zones, error) {
	if def == "" {
		def = "UTC"
	}
	loc, err := loadZone(def)
	if err != nil {
		return Zones{}, err
	}
	z := Zones{Default: loc}
	for item := range strings.SplitSeq(cities, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		city, name, ok := strings.Cut(item, "=")
		city, name = strings.TrimSpace(city), strings.TrimSpace(name)
		if !ok || city == "" || name == "" {
			return Zones{}, fmt.Errorf("city zone %q must look like city=Area/Zone", item)
		}
		if _, dup := z.Cities[city]; dup {
			return Zones{}, fmt.Errorf("city %q has two zones", city)
		}
		cl, err := loadZone(name)
		if err != nil {
			return Zones{}, err
		}
		if z.Cities == nil {
			z.Cities = map[string]*time.Location{}
		}
		z.Cities[city] = cl
	}
	return z, nil
}

func loadZone(name string) (*time.Location, error) {
	// "Local" would silently follow whichever machine runs the worker.
	if name == "Local" {
		return nil, fmt.Errorf("unknown time zone %q: name an IANA zone such as Europe/Paris", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: name an IANA zone such as Europe/Paris", name)
	}
	return loc, nil
}

// Location returns the zone of a city's days.
func (z Zones) Location(city string) *time.Location {
	if loc, ok := z.Cities[city]; ok {
		return loc
	}
	if z.Default == nil {
		return time.UTC
	}
	return z.Default
}

// Day returns the local calendar day of t in the city's zone, as midnight
// UTC of that date (the form PostgreSQL's date takes).
func (z Zones) Day(city string, t time.Time) time.Time {
	y, m, d := t.In(z.Location(city)).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// DefaultName returns the business zone's name.
func (z Zones) DefaultName() string {
	if z.Default == nil {
		return "UTC"
	}
	return z.Default.String()
}

// CitiesString returns the city zones in a canonical form (sorted by city),
// comparable with what is stored.
func (z Zones) CitiesString() string {
	items := make([]string, 0, len(z.Cities))
	for city, loc := range z.Cities {
		items = append(items, city+"="+loc.String())
	}
	slices.Sort(items)
	return strings.Join(items, ",")
}

// Equal reports whether two Zones bucket every event on the same day.
func (z Zones) Equal(o Zones) bool {
	return z.DefaultName() == o.DefaultName() && z.CitiesString() == o.CitiesString()
}

// String describes the zones for people.
func (z Zones) String() string {
	if len(z.Cities) == 0 {
		return z.DefaultName()
	}
	return z.DefaultName() + " (" + z.CitiesString() + ")"
}

package snapshotter

import (
	"time"

	"github.com/tallyhq/tally/store"
)

// slot is an instant a snapshot is due and the kind it is taken as.
type slot struct {
	at   time.Time
	kind store.SnapshotKind
}

// latestSlot returns the last slot at or before t: an interval boundary
// (a multiple of interval since the zero time, so every worker agrees) or
// a local midnight of loc, the midnight winning when both fall together.
func latestSlot(t time.Time, interval time.Duration, loc *time.Location) slot {
	mid := startOfDay(t, loc)
	if iv := t.Truncate(interval); iv.After(mid) {
		return slot{at: iv, kind: store.SnapshotInterval}
	}
	return slot{at: mid, kind: store.SnapshotMidnight}
}

// nextSlot returns the first slot after t.
func nextSlot(t time.Time, interval time.Duration, loc *time.Location) slot {
	mid := nextMidnight(t, loc)
	if iv := t.Truncate(interval).Add(interval); iv.Before(mid) {
		return slot{at: iv, kind: store.SnapshotInterval}
	}
	return slot{at: mid, kind: store.SnapshotMidnight}
}

// startOfDay is the first instant of t's local day in loc.
func startOfDay(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return dayStart(y, m, d, loc)
}

// nextMidnight is the first instant of the local day after t's.
func nextMidnight(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return dayStart(y, m, d+1, loc)
}

// dayStart is the first instant of a local date (normalised, so d may
// overflow the month). Where a daylight-saving change skips midnight,
// time.Date lands in the day before; the day then starts when that zone
// period ends.
func dayStart(y int, m time.Month, d int, loc *time.Location) time.Time {
	y, m, d = time.Date(y, m, d, 12, 0, 0, 0, loc).Date()
	s := time.Date(y, m, d, 0, 0, 0, 0, loc)
	if _, _, sd := s.Date(); sd != d {
		_, s = s.ZoneBounds()
	}
	return s.UTC()
}

//go:build race

package integration

// raceFlags builds the tally the tests run with the race detector when
// the tests themselves are built with it (go test -race), so that the
// worker's own goroutines are checked too.
var raceFlags = []string{"-race"}

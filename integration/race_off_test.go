//go:build !race

package integration

// raceFlags: see race_on_test.go.
var raceFlags []string

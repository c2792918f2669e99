package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tallyhq/tally/internal/testnats"
)

var (
	// tallyBin is the tally binary built for this run.
	tallyBin string
	// currentNATS is an in-process current nats-server, beside the
	// machine's (Debian's 2.9): tally must work with both.
	currentNATS *testnats.Server
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tally-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	tallyBin = filepath.Join(dir, "tally")
	build := exec.Command("go", append(append([]string{"build"}, raceFlags...), "-o", tallyBin, "github.com/tallyhq/tally/cmd/tally")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build tally:", err)
		return 1
	}
	if currentNATS, err = testnats.NewServer(filepath.Join(dir, "nats")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer currentNATS.Shutdown()
	raceLogs := filepath.Join(dir, "race")
	if raceFlags != nil {
		// The binaries' race reports go to files, whatever a test does
		// with their output, and any report fails the run. Other GORACE
		// options stay; a later log_path wins over an earlier one.
		os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" log_path="+raceLogs))
	}
	code := m.Run()
	if reports, _ := filepath.Glob(raceLogs + ".*"); len(reports) > 0 {
		for _, r := range reports {
			b, _ := os.ReadFile(r)
			fmt.Fprintf(os.Stderr, "tally binary: race detector report %s:\n%s\n", filepath.Base(r), b)
		}
		return 1
	}
	return code
}

// broker is a NATS server the suite runs against.
type broker struct {
	name string
	url  string
}

// brokers returns both servers: the machine's and a current in-process one.
func brokers() []broker {
	return []broker{{"nats-machine", testnats.MachineURL()}, {"nats-current", currentNATS.URL()}}
}

package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
	build := exec.Command("go", "build", "-o", tallyBin, "github.com/tallyhq/tally/cmd/tally")
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
	return m.Run()
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

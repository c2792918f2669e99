package failpoint

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The points tally's code reaches.
const (
	// AfterCommit is reached when a batch has committed and none of its
	// messages is acknowledged yet (internal/consumer).
	AfterCommit = "after_commit"
	// BeforeCommit is reached when a batch's transaction has done all its
	// work and is about to commit (store.Apply).
	BeforeCommit = "before_commit"
)

// Names are the failpoints Enable accepts.
var Names = []string{AfterCommit, BeforeCommit}

// point is one enabled failpoint.
type point struct {
	name  string
	kill  bool
	sleep time.Duration
	nth   int64 // 0: every time
	hits  atomic.Int64
}

// enabled holds the enabled points by name; nil when none is, so that
// Inject costs one load.
var enabled atomic.Pointer[map[string]*point]

// killSelf ends the process as a crash would; tests of this package
// replace it.
var killSelf = func() {
	p, err := os.FindProcess(os.Getpid())
	if err == nil {
		_ = p.Kill()
	}
	select {} // SIGKILL is not delivered synchronously everywhere
}

// Enable parses spec (see the package comment) and enables its points,
// replacing any enabled before. An empty spec disables every point.
func Enable(spec string) error {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		enabled.Store(nil)
		return nil
	}
	points := map[string]*point{}
	for part := range strings.SplitSeq(spec, ";") {
		p, err := parse(strings.TrimSpace(part))
		if err != nil {
			return err
		}
		points[p.name] = p
	}
	enabled.Store(&points)
	return nil
}

// parse reads one name=action[@n].
func parse(s string) (*point, error) {
	name, action, ok := strings.Cut(s, "=")
	if !ok || !slices.Contains(Names, name) {
		return nil, fmt.Errorf("failpoint %q: want name=action[@n] with a name among %v", s, Names)
	}
	p := &point{name: name}
	if a, n, ok := strings.Cut(action, "@"); ok {
		nth, err := strconv.ParseInt(n, 10, 64)
		if err != nil || nth < 1 {
			return nil, fmt.Errorf("failpoint %q: @%s is not a count from 1", s, n)
		}
		action, p.nth = a, nth
	}
	switch {
	case action == "kill":
		p.kill = true
	case strings.HasPrefix(action, "sleep(") && strings.HasSuffix(action, ")"):
		d, err := time.ParseDuration(action[len("sleep(") : len(action)-1])
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("failpoint %q: sleep takes a positive duration such as sleep(2s)", s)
		}
		p.sleep = d
	default:
		return nil, fmt.Errorf("failpoint %q: action %q is not kill or sleep(duration)", s, action)
	}
	return p, nil
}

// Enabled returns the spec of the enabled points, for a log line; "" when
// none is.
func Enabled() string {
	m := enabled.Load()
	if m == nil {
		return ""
	}
	var parts []string
	for _, n := range Names {
		if p, ok := (*m)[n]; ok {
			parts = append(parts, p.String())
		}
	}
	return strings.Join(parts, ";")
}

func (p *point) String() string {
	action := "kill"
	if !p.kill {
		action = "sleep(" + p.sleep.String() + ")"
	}
	if p.nth > 0 {
		action += "@" + strconv.FormatInt(p.nth, 10)
	}
	return p.name + "=" + action
}

// Inject runs the action of failpoint name when it is enabled and due.
func Inject(name string) {
	m := enabled.Load()
	if m == nil {
		return
	}
	p, ok := (*m)[name]
	if !ok {
		return
	}
	if hit := p.hits.Add(1); p.nth > 0 && hit != p.nth {
		return
	}
	if p.kill {
		// One line for the test to see where the process died.
		fmt.Fprintf(os.Stderr, "failpoint %s: killing the process (hit %d)\n", name, p.hits.Load())
		killSelf()
	}
	time.Sleep(p.sleep)
}

package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"
)

// A drain's work is shared by three kinds of processes: the workers,
// PostgreSQL and nats-server. The catch-up reports the CPU time each kind
// spent per message, read from /proc: the workers are the benchmark's
// children; PostgreSQL and NATS count only when they run on this machine
// (processes named postgres and nats-server), as on a development machine
// or the machine of docs/performance.md.

// Server process names, as /proc/PID/stat gives them.
const (
	postgresComm = "postgres"
	natsComm     = "nats-server"
)

// clockTicks is the unit of utime and stime in /proc/PID/stat: USER_HZ,
// 100 on every Linux architecture Go supports.
const clockTicks = 100

var errNoProc = errors.New("no /proc/PID/stat")

// parseStat returns the command name and the CPU time (user and system)
// of one /proc/PID/stat line. The name is in parentheses and may hold
// spaces and parentheses itself, so the fields are counted from the last
// ')'.
func parseStat(line []byte) (string, time.Duration, error) {
	open, end := bytes.IndexByte(line, '('), bytes.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return "", 0, fmt.Errorf("malformed stat line %q", line)
	}
	fields := bytes.Fields(line[end+1:])
	// After the name: state (field 3), ..., utime (14), stime (15).
	if len(fields) < 13 {
		return "", 0, fmt.Errorf("malformed stat line %q", line)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(string(f), 10, 64)
		if err != nil {
			return "", 0, fmt.Errorf("malformed stat line %q", line)
		}
		ticks += n
	}
	return string(line[open+1 : end]), time.Duration(ticks) * time.Second / clockTicks, nil
}

// pidCPU returns the CPU time process pid has used so far, all its
// threads together.
func pidCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errNoProc, err)
	}
	_, cpu, err := parseStat(b)
	return cpu, err
}

// serverCPU sums the CPU time of this machine's processes named postgres
// and nats-server, by name. A process that ends between two readings
// takes its time with it; the drain's backends and nats-server live
// through it.
func serverCPU() map[string]time.Duration {
	out := map[string]time.Duration{}
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // ended meanwhile
		}
		name, cpu, err := parseStat(b)
		if err == nil && (name == postgresComm || name == natsComm) {
			out[name] += cpu
		}
	}
	return out
}

// drainCPU is what the processes of a drain spent, and over how long.
type drainCPU struct {
	workers, postgres, nats time.Duration // the workers' together
	// postgresLocal and natsLocal say whether the servers run on this
	// machine; when one does not, its time is unknown, not zero.
	postgresLocal, natsLocal bool
	elapsed                  time.Duration
}

// measureServers starts measuring the servers' CPU; call the result
// before the workers stop, with the workers' own CPU.
func measureServers() func(workers, elapsed time.Duration) drainCPU {
	before := serverCPU()
	return func(workers, elapsed time.Duration) drainCPU {
		after := serverCPU()
		_, pg := after[postgresComm]
		_, nats := after[natsComm]
		return drainCPU{
			workers: workers, postgres: after[postgresComm] - before[postgresComm], nats: after[natsComm] - before[natsComm],
			postgresLocal: pg, natsLocal: nats, elapsed: elapsed,
		}
	}
}

// perMessage describes c for n messages: each kind's CPU time per message,
// and how busy the machine's cores were.
func (c drainCPU) perMessage(n int) string {
	us := func(d time.Duration) string {
		return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond)/float64(n))
	}
	s := "worker " + us(c.workers)
	total := c.workers
	for _, p := range []struct {
		name  string
		local bool
		cpu   time.Duration
	}{{"PostgreSQL", c.postgresLocal, c.postgres}, {"NATS", c.natsLocal, c.nats}} {
		if !p.local {
			s += ", " + p.name + " not on this machine"
			continue
		}
		s += ", " + p.name + " " + us(p.cpu)
		total += p.cpu
	}
	busy := float64(total) / float64(c.elapsed) / float64(runtime.NumCPU()) * 100
	return s + fmt.Sprintf("; %.0f%% of %d cores busy", busy, runtime.NumCPU())
}

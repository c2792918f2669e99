package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// workerProc is a tally worker running as a child process (tally run), so
// that its memory can be read from /proc like any deployment's.
type workerProc struct {
	cmd  *exec.Cmd
	logs *tail
	done chan struct{}
	err  error // set when done is closed
	stop sync.Once
}

// startWorker runs `tally run` for the world. The child is in a process
// group of its own, so that the terminal's Ctrl-C reaches the benchmark,
// which stops it in order; it is killed if the benchmark dies.
func (b *Bench) startWorker(ctx context.Context, w *world) (*workerProc, error) {
	cmd := exec.Command(b.Exe, "run")
	cmd.Env = w.workerEnv()
	p := &workerProc{cmd: cmd, logs: &tail{max: 64 << 10}, done: make(chan struct{})}
	var out io.Writer = p.logs
	if b.WorkerLog != nil {
		out = io.MultiWriter(p.logs, b.WorkerLog)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that started the child exits:
		// keep this goroutine on its thread for the child's life.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("%s: start the worker (%s run): %w", w.name, b.Exe, err)
	}
	b.onCleanup("stop the worker of "+w.name, func(context.Context) error { return p.terminate() })
	return p, nil
}

// exited returns an error when the worker is no longer running.
func (p *workerProc) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("the worker exited (%v); its last output:\n%s", p.err, p.logs.String())
	default:
		return nil
	}
}

// terminate stops the worker as an operator would (SIGTERM: finish the
// batch in flight, exit 0), killing it after 30 seconds. It returns an
// error when the worker did not exit cleanly.
func (p *workerProc) terminate() error {
	var err error
	p.stop.Do(func() {
		select {
		case <-p.done:
			err = p.exitError()
			return
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			err = p.exitError()
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			err = errors.New("the worker did not stop within 30s of SIGTERM and was killed")
		}
	})
	return err
}

func (p *workerProc) exitError() error {
	if p.err != nil {
		return fmt.Errorf("the worker exited with %v; its last output:\n%s", p.err, p.logs.String())
	}
	return nil
}

// memory reads the worker's peak and current resident set size, in bytes,
// from /proc/PID/status (VmHWM and VmRSS).
func (p *workerProc) memory() (peak, current int64, err error) {
	f, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0, fmt.Errorf("read the worker's memory: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(f))
	for sc.Scan() {
		name, value, _ := strings.Cut(sc.Text(), ":")
		switch name {
		case "VmHWM":
			peak = kilobytes(value)
		case "VmRSS":
			current = kilobytes(value)
		}
	}
	if peak == 0 || current == 0 {
		return 0, 0, errors.New("read the worker's memory: no VmHWM or VmRSS in /proc (Linux only)")
	}
	return peak, current, nil
}

// kilobytes parses a /proc value such as "  123456 kB" into bytes.
func kilobytes(s string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(s), " kB"), 10, 64)
	return n << 10
}

// tail keeps the last max bytes written to it: a worker's recent logs.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

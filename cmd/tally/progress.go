package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progressEvery is how often plain progress lines are written when stderr
// is not a terminal (logs, CI): often enough to see a rebuild move, rarely
// enough not to flood.
const progressEvery = 2 * time.Second

// progress shows how far a long command got on w: a bar on a terminal
// (events done, events per second, time left), plain lines otherwise,
// one at each change of phase and one every progressEvery.
type progress struct {
	w        io.Writer
	label    string
	unit     string // what is counted: events, messages
	bar      *progressbar.ProgressBar
	start    time.Time
	phase    string
	lastLine time.Time
	now      func() time.Time
}

func newProgress(w io.Writer, label, unit string) *progress {
	p := &progress{w: w, label: label, unit: unit, now: time.Now}
	p.start = p.now()
	if isTerminal(w) {
		p.bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(label),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString(unit),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionFullWidth(),
		)
	}
	return p
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// update shows that done of total events are through, in phase. It is
// called from one goroutine at a time.
func (p *progress) update(phase string, done, total int64) {
	if p.bar != nil {
		if total > 0 && total != p.bar.GetMax64() {
			p.bar.ChangeMax64(total)
		}
		if phase != p.phase {
			p.bar.Describe(p.label + " " + phase)
		}
		_ = p.bar.Set64(done)
		p.phase = phase
		return
	}
	now := p.now()
	if phase == p.phase && now.Sub(p.lastLine) < progressEvery {
		return
	}
	p.phase, p.lastLine = phase, now
	fmt.Fprintln(p.w, progressLine(p.label, phase, p.unit, done, total, now.Sub(p.start)))
}

// finish ends the bar, so that what follows starts on a line of its own.
func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		fmt.Fprintln(p.w)
	}
}

// progressLine renders one plain progress line, such as "rebuild: scan
// 120,000 of 480,000 events (25%), 98,500 events/s, about 4s left".
func progressLine(label, phase, unit string, done, total int64, elapsed time.Duration) string {
	s := fmt.Sprintf("%s: %s %s", label, phase, count(done))
	if total > 0 {
		s += fmt.Sprintf(" of %s %s (%d%%)", count(total), unit, min(100, done*100/total))
	} else {
		s += " " + unit
	}
	if elapsed < time.Second || done == 0 {
		return s
	}
	rate := float64(done) / elapsed.Seconds()
	s += fmt.Sprintf(", %s %s/s", count(int64(rate)), unit)
	if total > done {
		left := time.Duration(float64(total-done) / rate * float64(time.Second))
		s += ", about " + left.Round(time.Second).String() + " left"
	}
	return s
}

// count writes n with thousands separators: 1234567 -> 1,234,567.
func count(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + count(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

package bench

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what a run measured: a row per figure, with the target it is
// held to, and the checks that passed.
type Report struct {
	Machine []string
	Rows    []Row
	Checks  []string
}

// Row is one figure. Verdict is "met", "MISSED" or "" for figures without
// a target; Load is the 1-minute load average when its measurement began.
type Row struct {
	Scenario, Measure, Value, Target, Verdict string
	Load                                      float64
}

func (r *Report) add(scenario, measure, value, target string, met *bool, load float64) {
	verdict := ""
	if met != nil {
		verdict = map[bool]string{true: "met", false: "MISSED"}[*met]
	}
	r.Rows = append(r.Rows, Row{scenario, measure, value, target, verdict, load})
}

func (r *Report) check(scenario, what string) {
	r.Checks = append(r.Checks, scenario+": "+what)
}

// Missed returns the rows whose target was missed.
func (r *Report) Missed() []Row {
	var out []Row
	for _, row := range r.Rows {
		if row.Verdict == "MISSED" {
			out = append(out, row)
		}
	}
	return out
}

// Print writes the report as a table.
func (r *Report) Print(w io.Writer) {
	for _, line := range r.Machine {
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tMEASURE\tVALUE\tTARGET\tVERDICT\tLOAD")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.2f\n", row.Scenario, row.Measure, row.Value, row.Target, row.Verdict, row.Load)
	}
	_ = tw.Flush()
	if len(r.Checks) > 0 {
		fmt.Fprintln(w, "\nchecks passed:")
		for _, c := range r.Checks {
			fmt.Fprintln(w, "  "+c)
		}
	}
}

func is(ok bool) *bool { return &ok }

// catchUp reports the median drain (the verdict is on it) with every run,
// and returns the median rate.
func (r *Report) catchUp(workers int, runs []catchUpRun) float64 {
	who := map[bool]string{true: "one worker", false: fmt.Sprintf("%d workers", workers)}[workers == 1]
	byRate := slices.Clone(runs)
	slices.SortFunc(byRate, func(x, y catchUpRun) int { return cmp.Compare(x.rate(), y.rate()) })
	med := byRate[(len(byRate)-1)/2]
	measure := fmt.Sprintf("%s drain %s messages", who, count(med.messages))
	if len(runs) > 1 {
		measure += fmt.Sprintf(", median of %d runs", len(runs))
	}
	r.add(CatchUp, measure, fmt.Sprintf("%s events/s (%s, %s)", count(int(med.rate())), med.took.Round(10*time.Millisecond), med.checkpoints),
		">= 60,000 events/s", is(med.rate() >= 60_000), med.load)
	var peak int64
	for i, run := range runs {
		peak = max(peak, run.peak)
		if len(runs) > 1 {
			r.add(CatchUp, fmt.Sprintf("  run %d", i+1), fmt.Sprintf("%s events/s (%s, %s)", count(int(run.rate())),
				run.took.Round(10*time.Millisecond), run.checkpoints), "", nil, run.load)
		}
	}
	r.add(CatchUp, "worker peak RSS (VmHWM)", mib(peak), "<= 200 MiB", is(peak <= 200<<20), med.load)
	r.add(CatchUp, "CPU time per message in the median drain", med.cpu.perMessage(med.messages), "", nil, med.load)
	return med.rate()
}

func (r *Report) baseline(n int, rate, tallyRate float64, load float64) {
	r.add(CatchUp, fmt.Sprintf("baseline: one transaction per event (%s messages)", count(n)), count(int(rate))+" events/s", "", nil, load)
	ratio := tallyRate / rate
	r.add(CatchUp, "tally / baseline", fmt.Sprintf("%.1fx", ratio), ">= 10x", is(ratio >= 10), load)
}

func (r *Report) freshness(rate int, achieved float64, lat []time.Duration, peak int64, poll time.Duration, checkpoints string, load float64) {
	scenario := fmt.Sprintf("%s %s/s", Freshness, count(rate))
	p99 := quantile(lat, 0.99)
	target := map[bool]string{true: "p99 <= 250 ms", false: "p99 <= 1 s"}[rate <= 5000]
	limit := map[bool]time.Duration{true: 250 * time.Millisecond, false: time.Second}[rate <= 5000]
	r.add(scenario, fmt.Sprintf("publish to visible, %s events at %s/s (poll %s, %s)", count(len(lat)), count(int(achieved)), poll, checkpoints),
		fmt.Sprintf("p50 %s, p99 %s, max %s", ms(quantile(lat, 0.5)), ms(p99), ms(quantile(lat, 1))), target, is(len(lat) > 0 && p99 <= limit), load)
	r.add(scenario, "worker peak RSS (VmHWM)", mib(peak), "<= 200 MiB", is(peak <= 200<<20), load)
}

func (r *Report) load(n int, took time.Duration, days, cities int, load float64) {
	r.add(Reads, fmt.Sprintf("apply %s events (%d days, %d cities) in-process", count(n), days, cities),
		fmt.Sprintf("%s events/s (%s)", count(int(float64(n)/took.Seconds())), took.Round(time.Second)), "", nil, load)
}

func (r *Report) read(view string, rows int, fast, slow, refresh []time.Duration, load float64) {
	p99 := quantile(fast, 0.99)
	r.add(Reads, fmt.Sprintf("read tally.%s (%d rows)", view, rows), fmt.Sprintf("p50 %s, p99 %s", ms(quantile(fast, 0.5)), ms(p99)),
		"p99 <= 2 ms", is(p99 <= 2*time.Millisecond), load)
	r.add(Reads, "  the same aggregated from raw tables", fmt.Sprintf("p50 %s, p99 %s", ms(quantile(slow, 0.5)), ms(quantile(slow, 0.99))), "", nil, load)
	ratio := float64(quantile(slow, 0.5)) / float64(quantile(fast, 0.5))
	r.add(Reads, "  raw aggregate p50 / view p50", fmt.Sprintf("%.0fx", ratio), ">= 1,000x", is(ratio >= 1000), load)
	r.add(Reads, "  REFRESH MATERIALIZED VIEW of it", fmt.Sprintf("p50 %s, max %s", ms(quantile(refresh, 0.5)), ms(quantile(refresh, 1))), "", nil, load)
}

func (r *Report) rebuild(n int64, took time.Duration, rate float64, checkpoints string, load float64) {
	r.add(Rebuild, fmt.Sprintf("rebuild %s ledger events", count(int(n))), fmt.Sprintf("%s events/s (%s, %s)", count(int(rate)), took.Round(100*time.Millisecond), checkpoints),
		">= 100,000 events/s", is(rate >= 100_000), load)
}

func (r *Report) soak(rate int, ref, d time.Duration, atRef, end, peak, low, high int64, load float64) {
	change := float64(end-atRef) / float64(atRef) * 100
	r.add(Soak, fmt.Sprintf("worker RSS at %s/s: after %s, after %s", count(rate), ref, d),
		fmt.Sprintf("%s, %s (%+.1f%%; %s to %s since)", mib(atRef), mib(end), change, mib(low), mib(high)),
		"within 10%", is(atRef > 0 && change <= 10 && change >= -10), load)
	r.add(Soak, "worker peak RSS (VmHWM)", mib(peak), "<= 200 MiB", is(peak <= 200<<20), load)
}

// quantile returns the q-quantile of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	case d < 10*time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	}
	return d.Round(100 * time.Millisecond).String()
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// count writes n with thousands separators.
func count(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
